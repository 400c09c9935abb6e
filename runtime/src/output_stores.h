// How the CPU kernels store the normalized rows (nf_set_output_stores): "auto" (the default)
// streams them past the cache only in the large class's kernels whose db entry sets
// stream_rows (output of 16 MiB and more, in fp32 and fp16: such a y cannot stay in cache for
// the next op anyway); "streaming" streams every call's y with non-temporal stores out of a
// cache-resident tile buffer (row_driver.h), for callers whose next op does not read y soon.
// Measured on a Zen 4 (README "Streaming output"): fp32 calls below the large class 1.2-1.75x
// faster with x and y out of cache, 0.56-0.64x with them in cache (before the next op reads y
// back from memory); bf16 0.6-0.85x on one core, where the copy through the tile costs more
// than the read for ownership it saves.
#pragma once

namespace normforge {

// Whether every call streams y (the mode "streaming").
bool stream_every_output();

}  // namespace normforge
