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

// The pipelined RMSNorm kernel (runtime/src/pipelined_rows.h): a call's rows are cut into
// chains of consecutive rows, one per task: one chain on a single thread, else about two per
// thread (the pool balances them), none shorter than 16 rows (a chain costs one extra row).
inline int64_t pipelined_rows_per_chain(int64_t rows, int64_t threads) {
    const int64_t most = threads > 1 ? 2 * threads : 1;
    int64_t chains = rows / 16 < most ? rows / 16 : most;
    if (chains < 1) chains = 1;
    return (rows + chains - 1) / chains;
}

// The kernel calls of one chain, rows [first, end), in order: call(x_row, inv_in_row,
// x_next_row, y_row, inv_out_row), where -1 stands for the thread's scratch row (x_next or y)
// or a dropped statistic (inv_in or inv_out). The first call only sums the first row; each
// next call writes a row with its statistic and sums the row after it; the last writes the
// last row. Returns the first nonzero result of `call`, else 0.
template <typename Call>
int pipelined_chain(int64_t first, int64_t end, Call &&call) {
    if (int rc = call(first, int64_t(-1), first, int64_t(-1), first)) return rc;
    for (int64_t r = first; r < end; r++) {
        const int64_t next = r + 1 < end ? r + 1 : -1;
        if (int rc = call(r, r, next, r, next)) return rc;
    }
    return 0;
}

}  // namespace normforge
