// nf_rms_norm_backward: checks, then fixed blocks of rows on the thread pool. For each block,
// in sub-blocks small enough to stay in L2: the dweight kernel adds the sub-block's rows to the
// block's partial dweight (in row order), then the dx kernel writes the sub-block's dx (so dx
// may be exactly dy or x). The blocks' partials are then added by a fixed pairwise tree. Block
// boundaries and the tree depend only on the number of rows, so dweight has the same bits for
// any thread count and any machine load.
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "checks.h"
#include "errors.h"
#include "halide_call.h"
#include "row_blocks.h"

using namespace normforge;

namespace {

struct BackwardJob {
    const KernelEntry *dx_kernel, *dw_kernel;  // dw_kernel: nullptr when no dweight is wanted
    CallContext *ctx;
    nf_dtype dtype;
    int64_t rows, cols, sub_rows;
    const char *dy, *x;
    char *dx;
    int64_t dy_stride, x_stride, dx_stride;
    halide_buffer_t *weight;
    const float *inv;
    float *const *partial;  // partial[block]: cols floats
};

int run_backward_block(void *, int block, uint8_t *closure) {
    const BackwardJob &j = *reinterpret_cast<const BackwardJob *>(closure);
    const int64_t es = static_cast<int64_t>(dtype_size(j.dtype));
    const int64_t first = int64_t(block) * kDweightBlockRows;
    const int64_t end = std::min(j.rows, first + kDweightBlockRows);
    float *acc = j.dw_kernel ? j.partial[block] : nullptr;
    if (acc) memset(acc, 0, size_t(j.cols) * sizeof(float));
    for (int64_t r0 = first; r0 < end; r0 += j.sub_rows) {
        const int64_t n = std::min(j.sub_rows, end - r0);
        MatrixView dyv(const_cast<char *>(j.dy) + r0 * j.dy_stride * es, j.dtype, n, j.cols, j.dy_stride);
        MatrixView xv(const_cast<char *>(j.x) + r0 * j.x_stride * es, j.dtype, n, j.cols, j.x_stride);
        VectorView iv(j.inv + r0, halide_type_t(halide_type_float, 32), n);
        if (acc) {
            VectorView accv(acc, halide_type_t(halide_type_float, 32), j.cols);
            int rc = reinterpret_cast<RmsNormDweightFn>(j.dw_kernel->fn)(j.ctx, &dyv.buf, &xv.buf, &iv.buf,
                                                                         &accv.buf, &accv.buf);
            if (rc != 0) return rc;
        }
        MatrixView dxv(j.dx + r0 * j.dx_stride * es, j.dtype, n, j.cols, j.dx_stride);
        int rc = reinterpret_cast<RmsNormBackwardFn>(j.dx_kernel->fn)(j.ctx, &dyv.buf, &xv.buf, j.weight,
                                                                      &iv.buf, &dxv.buf);
        if (rc != 0) return rc;
    }
    return 0;
}

// partial[0] += partial[1] + ... by a fixed pairwise tree over the block index.
void add_partials(float *const *partial, int64_t blocks, int64_t cols) {
    for (int64_t step = 1; step < blocks; step *= 2)
        for (int64_t b = 0; b + step < blocks; b += 2 * step) {
            float *dst = partial[b];
            const float *src = partial[b + step];
            for (int64_t c = 0; c < cols; c++) dst[c] += src[c];
        }
}

}  // namespace

extern "C" nf_status nf_rms_norm_backward(const nf_matrix *dy, const nf_matrix *x, const void *weight,
                                          const nf_norm_params *p, const float *inv_rms, nf_matrix *dx,
                                          float *dweight) {
    const char *fn = "nf_rms_norm_backward";
    if (nf_status s = check_backward_call(fn, dy, x, weight, p, inv_rms, dx, dweight)) return s;
    if (dy->rows == 0) {
        // No rows: the gradient of the weight is zero.
        if (dweight && dy->cols > 0 && dy->cols <= INT32_MAX) memset(dweight, 0, size_t(dy->cols) * sizeof(float));
        return NF_OK;
    }
    install_halide_handlers();

    const KernelEntry *dxk = find_kernel(NF_OP_RMS_NORM_BACKWARD, dy->dtype, p->weight_mode, NF_ROUND_ONCE, 0,
                                         dy->rows, dy->cols);
    const KernelEntry *dwk = dweight ? find_kernel(NF_OP_RMS_NORM_DWEIGHT, dy->dtype, NF_WEIGHT_SCALE,
                                                   NF_ROUND_ONCE, 0, dy->rows, dy->cols)
                                     : nullptr;
    if (dxk == nullptr || (dweight && dwk == nullptr))
        return fail(NF_UNSUPPORTED, "%s: no kernel compiled for this dtype and variant", fn);

    const int64_t blocks = (dy->rows + kDweightBlockRows - 1) / kDweightBlockRows;
    // Block 0 accumulates in dweight itself; the others in one scratch allocation.
    float **partial = nullptr;
    float *scratch = nullptr;
    if (dweight) {
        partial = static_cast<float **>(malloc(size_t(blocks) * sizeof(float *)));
        if (blocks > 1)
            scratch = static_cast<float *>(malloc(size_t(blocks - 1) * size_t(dy->cols) * sizeof(float)));
        if (partial == nullptr || (blocks > 1 && scratch == nullptr)) {
            free(partial);
            free(scratch);
            return fail(NF_INTERNAL_ERROR, "%s: out of memory for %" PRId64 " partial weight gradients", fn,
                        blocks);
        }
        partial[0] = dweight;
        for (int64_t b = 1; b < blocks; b++) partial[b] = scratch + (b - 1) * dy->cols;
    }

    static const float kUnusedWeight[1] = {0.0f};
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    VectorView w(has_weight ? weight : kUnusedWeight, halide_type_of_dtype(dy->dtype),
                 has_weight ? dy->cols : 1);
    const int64_t es = static_cast<int64_t>(dtype_size(dy->dtype));
    const int64_t sub_rows = backward_sub_rows(dy->cols * es);
    CallContext ctx;
    BackwardJob job{dxk, dwk, &ctx, dy->dtype, dy->rows, dy->cols, sub_rows,
                    static_cast<const char *>(dy->data), static_cast<const char *>(x->data),
                    static_cast<char *>(dx->data), dy->row_stride, x->row_stride, dx->row_stride,
                    &w.buf, inv_rms, partial};
    int rc = halide_do_par_for(&ctx, &run_backward_block, 0, static_cast<int>(blocks),
                               reinterpret_cast<uint8_t *>(&job));
    if (rc == 0 && dweight) add_partials(partial, blocks, dy->cols);
    free(partial);
    free(scratch);
    if (rc != 0)
        return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", fn, dxk->name, ctx.halide_error);
    return NF_OK;
}
