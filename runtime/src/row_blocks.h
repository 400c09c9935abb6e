// Rows per kernel call for the fused residual op on a CPU. Its kernel stores the new residual
// of all the rows it is given before it reads them back (the statistic, then y), so it is
// called on blocks small enough that they are still in L1/L2 when read back: about 64 KiB of
// one matrix, at least one row. Shared by the runtime (row_driver.cpp) and the tuner's runner,
// which must time the kernel the way the runtime runs it.
#pragma once

#include <stdint.h>

namespace normforge {

constexpr int64_t kFusedBlockBytes = int64_t(64) << 10;

inline int64_t fused_block_rows(int64_t row_bytes) {
    const int64_t rows = row_bytes > 0 ? kFusedBlockBytes / row_bytes : 1;
    return rows > 0 ? rows : 1;
}

}  // namespace normforge
