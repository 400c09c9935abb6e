// How the runtime cuts a call's rows into kernel calls where the cut is part of the algorithm's
// contract or of its speed. Shared by the runtime and the tuner's runner, which must time the
// kernels the way the runtime runs them.
//
// The fused residual op on a CPU: its kernel stores the new residual of all the rows it is given
// before it reads them back (the statistic, then y), so it is called on blocks small enough that
// they are still in L1/L2 when read back: about 64 KiB of one matrix, at least one row.
#pragma once

#include <stdint.h>

namespace normforge {

constexpr int64_t kFusedBlockBytes = int64_t(64) << 10;

inline int64_t fused_block_rows(int64_t row_bytes) {
    const int64_t rows = row_bytes > 0 ? kFusedBlockBytes / row_bytes : 1;
    return rows > 0 ? rows : 1;
}

// The RMSNorm backward pass: dweight is summed in row order within blocks of this many rows,
// then the blocks by a fixed pairwise tree (part of the summation order: CPU and CUDA alike;
// the CUDA generator rms_norm_dweight_blocks has the same block_rows).
constexpr int64_t kDweightBlockRows = 128;

// CPU: each block runs in sub-blocks whose dy and x (about 256 KiB) stay in L2 between the
// dweight kernel and the dx kernel.
inline int64_t backward_sub_rows(int64_t row_bytes) {
    const int64_t rows = row_bytes > 0 ? (int64_t(256) << 10) / (2 * row_bytes) : 1;
    return rows < 1 ? 1 : rows > kDweightBlockRows ? kDweightBlockRows : rows;
}

}  // namespace normforge
