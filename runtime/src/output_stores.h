// How the CPU kernels store the normalized rows (nf_set_output_stores): "auto" (the default)
// streams them past the cache only in the large class's kernels whose db entry sets
// stream_rows (output of 16 MiB and more, in fp32 and fp16: such a y cannot stay in cache for
// the next op anyway); "streaming" streams every call's y with non-temporal stores out of a
// cache-resident tile buffer (row_driver.h), for callers whose next op does not read y soon.
// Measured on a Zen 4, 64x4096 fp32, 1 thread (README "Streaming output"): 1.5-1.6x faster
// with x and y out of cache, 1.7x slower for the kernel plus a read of y with both in cache.
#pragma once

namespace normforge {

// Whether every call streams y (the mode "streaming").
bool stream_every_output();

}  // namespace normforge
