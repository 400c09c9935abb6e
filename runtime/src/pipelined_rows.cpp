#include "pipelined_rows.h"

#include <stdio.h>

#include <algorithm>

#include "checks.h"
#include "errors.h"
#include "halide_call.h"
#include "row_blocks.h"

namespace normforge {
namespace {

struct ChainJob {
    const KernelEntry *kernel;
    const nf_matrix *x;
    const nf_matrix *y;
    halide_buffer_t *weight;
    float eps;
    float *inv;
    int64_t rows_per_chain;
    CallContext *ctx;
};

int run_chain(void *, int task, uint8_t *closure) {
    const ChainJob &j = *reinterpret_cast<const ChainJob *>(closure);
    const nf_matrix &x = *j.x;
    const int64_t es = static_cast<int64_t>(dtype_size(x.dtype));
    const int64_t first = int64_t(task) * j.rows_per_chain;
    const int64_t end = std::min(x.rows, first + j.rows_per_chain);
    const char *xd = static_cast<const char *>(x.data);
    char *yd = static_cast<char *>(j.y->data);
    const int64_t xs = x.row_stride * es, ys = j.y->row_stride * es;
    // One row of scratch: the output of the first call and the summed row of the last one.
    char *scratch = static_cast<char *>(thread_scratch(size_t(x.cols * es)));
    if (scratch == nullptr) {
        pthread_mutex_lock(&j.ctx->mutex);
        snprintf(j.ctx->halide_error, sizeof j.ctx->halide_error, "out of memory for a row of scratch");
        pthread_mutex_unlock(&j.ctx->mutex);
        return -1;
    }
    float dropped = 0.0f;
    const halide_type_t f32(halide_type_float, 32);
    return pipelined_chain(first, end, [&](int64_t xr, int64_t in, int64_t nr, int64_t yr, int64_t out) {
        MatrixView xv(const_cast<char *>(xd + xr * xs), x.dtype, 1, x.cols, x.cols);
        MatrixView nv(nr < 0 ? scratch : const_cast<char *>(xd + nr * xs), x.dtype, 1, x.cols, x.cols);
        MatrixView yv(yr < 0 ? scratch : yd + yr * ys, x.dtype, 1, x.cols, x.cols);
        VectorView iv(in < 0 ? &dropped : j.inv + in, f32, 1);
        VectorView ov(out < 0 ? &dropped : j.inv + out, f32, 1);
        return reinterpret_cast<RmsNormPipelinedFn>(j.kernel->fn)(j.ctx, j.eps, &xv.buf, &nv.buf, &iv.buf,
                                                                  j.weight, &yv.buf, &ov.buf);
    });
}

}  // namespace

nf_status run_pipelined_rows(const char *fn, const KernelEntry *kernel, const nf_matrix *x,
                             halide_buffer_t *weight, float eps, const nf_matrix *y, float *inv) {
    CallContext ctx;
    ChainJob job{kernel, x, y, weight, eps, inv, pipelined_rows_per_chain(x->rows, thread_count()), &ctx};
    const int tasks = static_cast<int>((x->rows + job.rows_per_chain - 1) / job.rows_per_chain);
    uint8_t *closure = reinterpret_cast<uint8_t *>(&job);
    const int rc = tasks == 1 ? run_chain(nullptr, 0, closure) : halide_do_par_for(&ctx, &run_chain, 0, tasks, closure);
    if (rc != 0)
        return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", fn, kernel->name, ctx.halide_error);
    return NF_OK;
}

}  // namespace normforge
