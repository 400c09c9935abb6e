// nf_rms_norm and nf_rms_norm_residual: checks, then one kernel call per batch of rows on views
// of the caller's memory.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>

#include "checks.h"
#include "errors.h"
#include "halide_call.h"
#include "stream_copy.h"

using namespace normforge;

namespace {

// A large call is split into about this many tasks of consecutive tiles (enough to balance
// the thread pool, few enough that each task streams a long run of rows).
constexpr int64_t kTileTasks = 64;

// Where the kernel writes inv_rms when the caller passes NULL: the stack for up to
// kStackRows rows, else one heap block for the call.
constexpr int64_t kStackRows = 1024;
struct InvRmsScratch {
    float stack[kStackRows];
    float *heap = nullptr;
    ~InvRmsScratch() { free(heap); }
    float *get(int64_t n) {
        if (n <= kStackRows) return stack;
        heap = static_cast<float *>(malloc(static_cast<size_t>(n) * sizeof(float)));
        return heap;
    }
};


// A large call with stream_rows > 0: the thread pool runs one task per block of consecutive
// tiles; each tile is normalized into the thread's cache-resident buffer, then streamed to y
// while the next tile of x is prefetched.
struct TileJob {
    const KernelEntry *kernel;
    CallContext *ctx;
    float eps;
    nf_dtype dtype;
    int64_t rows, cols, tile_rows, tiles_per_task, x_stride, y_stride, residual_stride;
    const char *x;
    char *y;
    char *residual;  // the fused op's residual (read, then rewritten), else nullptr
    halide_buffer_t *weight;
    float *inv;  // rows floats
};

int run_tile_block(void *, int task, uint8_t *closure) {
    const TileJob &j = *reinterpret_cast<const TileJob *>(closure);
    const int64_t es = static_cast<int64_t>(dtype_size(j.dtype));
    const int64_t row_bytes = j.cols * es, tile_bytes = j.tile_rows * row_bytes;
    // One tile of y, and for the fused op one tile of the new residual after it.
    char *buf = static_cast<char *>(thread_scratch(size_t(tile_bytes * (j.residual ? 2 : 1))));
    if (buf == nullptr) {
        pthread_mutex_lock(&j.ctx->mutex);
        snprintf(j.ctx->halide_error, sizeof j.ctx->halide_error, "out of memory for a tile buffer");
        pthread_mutex_unlock(&j.ctx->mutex);
        return -1;
    }
    char *rbuf = buf + tile_bytes;
    const int64_t first = int64_t(task) * j.tiles_per_task * j.tile_rows;
    const int64_t end = std::min(j.rows, first + j.tiles_per_task * j.tile_rows);
    for (int64_t r0 = first; r0 < end; r0 += j.tile_rows) {
        const int64_t n = std::min(j.tile_rows, end - r0);
        MatrixView xv(const_cast<char *>(j.x) + r0 * j.x_stride * es, j.dtype, n, j.cols, j.x_stride);
        MatrixView tv(buf, j.dtype, n, j.cols, j.cols);
        VectorView iv(j.inv + r0, halide_type_t(halide_type_float, 32), n);
        int rc;
        if (j.residual) {
            MatrixView rv(j.residual + r0 * j.residual_stride * es, j.dtype, n, j.cols, j.residual_stride);
            MatrixView rt(rbuf, j.dtype, n, j.cols, j.cols);
            rc = reinterpret_cast<RmsNormResidualFn>(j.kernel->fn)(j.ctx, j.eps, &xv.buf, &rv.buf, j.weight,
                                                                   &iv.buf, &tv.buf, &rt.buf);
        } else {
            rc = reinterpret_cast<RmsNormFn>(j.kernel->fn)(j.ctx, j.eps, &xv.buf, j.weight, &iv.buf, &tv.buf);
        }
        if (rc != 0) return rc;
        const int64_t next_n = std::min(j.tile_rows, end - (r0 + n));
        for (int64_t i = 0; i < n; i++) {
            // Row i of the next tile is prefetched while row i of this one is stored.
            const char *pf = i < next_n ? j.x + (r0 + n + i) * j.x_stride * es : nullptr;
            stream_copy(j.y + (r0 + i) * j.y_stride * es, buf + i * row_bytes, size_t(row_bytes),
                        pf, pf ? size_t(row_bytes) : 0);
            if (j.residual) {
                const char *rpf = i < next_n ? j.residual + (r0 + n + i) * j.residual_stride * es : nullptr;
                stream_copy(j.residual + (r0 + i) * j.residual_stride * es, rbuf + i * row_bytes,
                            size_t(row_bytes), rpf, rpf ? size_t(row_bytes) : 0);
            }
        }
    }
    stream_fence();
    return 0;
}

// Both ops: checks, kernel choice, then one kernel call per batch of rows (tiles and streaming
// stores for large calls when the kernel's stream_rows knob is set). residual: NULL for
// nf_rms_norm.
nf_status normalize(const char *fn, KernelOp op, const nf_matrix *x, nf_matrix *residual,
                    const void *weight, const nf_norm_params *p, nf_matrix *y, float *inv_rms) {
    const bool fused = op == NF_OP_RMS_NORM_RESIDUAL;
    if (nf_status s = check_norm_call(fn, x, fused, residual, weight, p, y, inv_rms)) return s;
    if (x->rows == 0) return NF_OK;
    install_halide_handlers();

    const KernelEntry *k = find_kernel(op, x->dtype, p->weight_mode, p->rounding, x->rows, x->cols);
    if (k == nullptr)
        return fail(NF_UNSUPPORTED, "%s: no kernel compiled for this dtype and variant", fn);

    const int64_t es = static_cast<int64_t>(dtype_size(x->dtype));
    // A weight-less kernel never reads its weight input; it still needs a valid buffer.
    static const float kUnusedWeight[1] = {0.0f};
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    VectorView w(has_weight ? weight : kUnusedWeight, halide_type_of_dtype(x->dtype),
                 has_weight ? x->cols : 1);
    InvRmsScratch scratch;
    float *inv = inv_rms ? inv_rms : scratch.get(std::min(x->rows, kMaxRowsPerCall));
    if (inv == nullptr)
        return fail(NF_INTERNAL_ERROR, "%s: out of memory for %" PRId64 " inv_rms values", fn,
                    x->rows);

    for (int64_t r0 = 0; r0 < x->rows; r0 += kMaxRowsPerCall) {
        const int64_t n = std::min(kMaxRowsPerCall, x->rows - r0);
        char *xp = static_cast<char *>(x->data) + r0 * x->row_stride * es;
        char *yp = static_cast<char *>(y->data) + r0 * y->row_stride * es;
        float *inv_batch = inv_rms ? inv + r0 : inv;
        CallContext ctx;
        int rc;
        char *rp = fused ? static_cast<char *>(residual->data) + r0 * residual->row_stride * es : nullptr;
        if (k->stream_rows > 0) {
            const int64_t tiles = (n + k->stream_rows - 1) / k->stream_rows;
            const int64_t tiles_per_task = std::max<int64_t>(1, tiles / kTileTasks);
            TileJob job{k, &ctx, p->eps, x->dtype, n, x->cols, k->stream_rows, tiles_per_task,
                        x->row_stride, y->row_stride, fused ? residual->row_stride : 0,
                        xp, yp, rp, &w.buf, inv_batch};
            const int tasks = static_cast<int>((tiles + tiles_per_task - 1) / tiles_per_task);
            rc = halide_do_par_for(&ctx, &run_tile_block, 0, tasks, reinterpret_cast<uint8_t *>(&job));
        } else if (fused) {
            MatrixView xv(xp, x->dtype, n, x->cols, x->row_stride);
            MatrixView rv(rp, x->dtype, n, x->cols, residual->row_stride);
            MatrixView rout(rp, x->dtype, n, x->cols, residual->row_stride);  // updated in place
            MatrixView yv(yp, y->dtype, n, y->cols, y->row_stride);
            VectorView iv(inv_batch, halide_type_t(halide_type_float, 32), n);
            rc = reinterpret_cast<RmsNormResidualFn>(k->fn)(&ctx, p->eps, &xv.buf, &rv.buf, &w.buf,
                                                            &iv.buf, &yv.buf, &rout.buf);
        } else {
            MatrixView xv(xp, x->dtype, n, x->cols, x->row_stride);
            MatrixView yv(yp, y->dtype, n, y->cols, y->row_stride);
            VectorView iv(inv_batch, halide_type_t(halide_type_float, 32), n);
            rc = reinterpret_cast<RmsNormFn>(k->fn)(&ctx, p->eps, &xv.buf, &w.buf, &iv.buf, &yv.buf);
        }
        if (rc != 0)
            return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", fn, k->name, ctx.halide_error);
    }
    return NF_OK;
}

}  // namespace

extern "C" nf_status nf_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                 nf_matrix *y, float *inv_rms) {
    return normalize("nf_rms_norm", NF_OP_RMS_NORM, x, nullptr, weight, p, y, inv_rms);
}

extern "C" nf_status nf_rms_norm_residual(const nf_matrix *x, nf_matrix *residual,
                                          const void *weight, const nf_norm_params *p,
                                          nf_matrix *y, float *inv_rms) {
    return normalize("nf_rms_norm_residual", NF_OP_RMS_NORM_RESIDUAL, x, residual, weight, p, y,
                     inv_rms);
}
