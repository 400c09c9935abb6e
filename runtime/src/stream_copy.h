// Copies with non-temporal (streaming) stores: the destination is written without first being
// read into the cache (no read-for-ownership), so a large output costs one memory pass, not two.
// Halide 21 cannot emit such stores; large calls normalize a tile of rows into a cache-resident
// buffer, then this streams the tile to y (knob stream_rows in schedules/db).
#pragma once

#include <cstddef>

namespace normforge {

// While copying, also prefetches `prefetch_bytes` from `prefetch` and `prefetch2_bytes` from
// `prefetch2` (either may be NULL) into L2, a line of each per line stored: the next tile's
// inputs stream in while this tile's output streams out, which one thread cannot otherwise
// overlap.
void stream_copy(void *dst, const void *src, size_t bytes, const void *prefetch = nullptr,
                 size_t prefetch_bytes = 0, const void *prefetch2 = nullptr,
                 size_t prefetch2_bytes = 0);
// Makes the streaming stores of this thread visible before the call returns.
void stream_fence();

}  // namespace normforge
