// Running a row-wise forward kernel (RMSNorm, fused residual RMSNorm, LayerNorm) over a call's
// rows: batches of at most kMaxRowsPerCall rows, or, for large calls whose kernel has the
// stream_rows knob (and every call with nf_set_output_stores("streaming"), output_stores.h),
// tiles of rows normalized into a cache-resident buffer and streamed out. The fused residual op
// always runs on blocks of rows (row_blocks.h): its serial kernel stores a block's new residual,
// then reads it back for the statistic and y.
#pragma once

#include <cstdint>

#include "errors.h"
#include "kernel_table.h"
#include "normforge/normforge.h"

namespace normforge {

struct RowCall;

// Runs the kernel on rows [r0, r0 + n) of the call. The normalized rows go to `yd` (row stride
// yd_stride elements) and the op's second matrix output, if any, to `o2` (stride o2_stride);
// per-row outputs (inv_rms, mean, ...) are written by the op itself at r0. Returns Halide's code.
using RowRunFn = int (*)(const RowCall &call, CallContext *ctx, int64_t r0, int64_t n, char *yd,
                         int64_t yd_stride, char *o2, int64_t o2_stride);

struct RowCall {
    const KernelEntry *kernel;
    RowRunFn run;
    const void *op;  // op-specific arguments, for `run`
    nf_dtype dtype;
    int64_t rows, cols;
    // The matrix inputs (prefetched while a tile is streamed out): x, and an optional second one
    // (the fused op's residual).
    const char *x;
    int64_t x_stride;
    const char *in2;
    int64_t in2_stride;
    // The destinations: y, and an optional second matrix output (the fused op's new residual).
    char *y;
    int64_t y_stride;
    char *out2;
    int64_t out2_stride;
};

// A call over x -> y with no second input or output (fill in in2/out2 for the fused op).
RowCall row_call(const KernelEntry *kernel, RowRunFn run, const void *op, const nf_matrix *x,
                 const nf_matrix *y);

// Runs the whole call; on a kernel failure returns NF_INTERNAL_ERROR with a message naming `fn`.
nf_status run_rows(const char *fn, const RowCall &call);

// Per-row float outputs the caller did not ask for: written to the stack for up to kStackRows
// rows, else to one heap block for the call.
struct RowScratch {
    static constexpr int64_t kStackRows = 1024;
    float stack[kStackRows];
    float *heap = nullptr;
    ~RowScratch();
    float *get(int64_t n);  // nullptr when out of memory
};

}  // namespace normforge
