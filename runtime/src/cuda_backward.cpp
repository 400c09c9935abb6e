// nf_cuda_rms_norm_backward: the CPU function's checks, then on the caller's context and stream
// (cuda_call.h), for each piece of rows that fits a launch: dweight's per-block sums over the
// piece (blocks of kDweightBlockRows rows, each summed in row order), then dx (so dx may be
// exactly dy or x). Then the blocks are added by the same fixed pairwise tree as on the CPU
// (runtime/src/rms_norm_backward.cpp), one small kernel per level, the last one writing
// dweight. The kernels take rows on 8-byte boundaries only: a matrix whose rows are not is
// staged through device scratch with 256-byte-aligned rows (cuMemcpy2DAsync on the same
// stream), piece by piece, and an unaligned weight is copied once. Builds without CUDA kernels
// answer that there is no CUDA.
#include <inttypes.h>

#include <algorithm>

#include "checks.h"
#include "errors.h"
#include "row_blocks.h"

using namespace normforge;

#ifdef NF_WITH_CUDA
#include "cuda_call.h"

namespace {

// A 3-D float view of device memory (the tree's pairs: cols x 2 x pairs), detached on
// destruction.
struct PairsView {
    halide_dimension_t dims[3];
    halide_buffer_t buf{};
    void *uc;
    bool wrapped;
    PairsView(void *user_context, CUdeviceptr base, int64_t cols, int64_t step, int64_t pairs)
        : dims{{0, int32_t(cols), 1, 0},
               {0, 2, int32_t(step * cols), 0},
               {0, int32_t(pairs), int32_t(2 * step * cols), 0}},
          uc(user_context) {
        buf.type = halide_type_t(halide_type_float, 32);
        buf.dimensions = 3;
        buf.dim = dims;
        wrapped = halide_cuda_wrap_device_ptr(uc, &buf, base) == 0;
    }
    ~PairsView() {
        if (wrapped) halide_cuda_detach_device_ptr(uc, &buf);
    }
};

// A matrix argument as the kernels see it: the caller's memory, or (for rows off 8-byte
// boundaries) a piece of device scratch with aligned rows that is copied in before the kernels
// (inputs) or out after them (dx).
struct Staged {
    const nf_matrix *m;
    bool staged = false;
    CUdeviceptr scratch = 0;  // piece rows x pitch bytes
    int64_t pitch = 0;        // bytes
    // The view the kernels get for rows [r0, r0 + n).
    nf_matrix piece(int64_t r0, int64_t n) const {
        if (!staged) {
            nf_matrix v = *m;
            v.data = static_cast<char *>(m->data) + r0 * m->row_stride * int64_t(dtype_size(m->dtype));
            v.rows = n;
            return v;
        }
        return nf_matrix{reinterpret_cast<void *>(scratch), m->dtype, n, m->cols,
                         pitch / int64_t(dtype_size(m->dtype))};
    }
    // Copies rows [r0, r0 + n) between the caller's matrix and the scratch (to_scratch: in).
    CUresult copy(const CudaDriver *d, CUstream stream, int64_t r0, int64_t n, bool to_scratch) const {
        const int64_t es = int64_t(dtype_size(m->dtype));
        const CUdeviceptr user = reinterpret_cast<CUdeviceptr>(m->data) + CUdeviceptr(r0 * m->row_stride * es);
        CudaMemcpy2D c;
        c.srcMemoryType = c.dstMemoryType = kMemoryTypeDevice;
        c.srcDevice = to_scratch ? user : scratch;
        c.srcPitch = size_t(to_scratch ? m->row_stride * es : pitch);
        c.dstDevice = to_scratch ? scratch : user;
        c.dstPitch = size_t(to_scratch ? pitch : m->row_stride * es);
        c.WidthInBytes = size_t(m->cols * es);
        c.Height = size_t(n);
        return d->cuMemcpy2DAsync(&c, stream);
    }
};

nf_status zero_dweight(const char *fn, const CudaDriver *d, float *dweight, int64_t cols, void *stream,
                       const void *x_data) {
    const NamedSpan spans[] = {{"dweight", vector_span(dweight, cols, sizeof(float))}};
    CudaCall c;
    if (nf_status s = prepare_cuda_call(fn, d, NF_OP_RMS_NORM_DWEIGHT_PAIRS, NF_F32, NF_WEIGHT_SCALE,
                                        NF_ROUND_ONCE, 0, cols, x_data ? x_data : dweight, spans, 1, stream, &c))
        return s;
    ScopedContext scope(d, c.context.context);
    CUresult r = d->cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dweight), 0, size_t(cols), c.context.stream);
    if (r != kCudaSuccess) return fail(NF_DEVICE_ERROR, "%s: cannot zero dweight: %s", fn, cuda_error_name(r));
    return NF_OK;
}

}  // namespace

extern "C" nf_status nf_cuda_rms_norm_backward(const nf_matrix *dy, const nf_matrix *x, const void *weight,
                                               const nf_norm_params *p, const float *inv_rms, nf_matrix *dx,
                                               float *dweight, void *stream) {
    const char *fn = "nf_cuda_rms_norm_backward";
    if (nf_status s = check_backward_call(fn, dy, x, weight, p, inv_rms, dx, dweight)) return s;
    const CudaDriver *d = nullptr;
    if (nf_status s = cuda_driver_or_fail(fn, &d)) return s;
    const int64_t rows = dy->rows, cols = dy->cols;
    if (rows == 0) {
        // No rows: the gradient of the weight is zero.
        if (dweight == nullptr || cols == 0) return NF_OK;
        return zero_dweight(fn, d, dweight, cols, stream, nullptr);
    }
    const size_t es = dtype_size(dy->dtype);
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    // Only kernels for rows on 8-byte boundaries (the forward's gpu_unaligned schedule gave a
    // wrong last element in some fp16 rows on an H200: its output loop reads the row's statistic
    // with warp shuffles in a lane-dependent epilogue). Other rows are staged (see the top).
    Staged sdy{dy, !rows_aligned8(dy)}, sx{x, !rows_aligned8(x)}, sdx{dx, !rows_aligned8(dx)};
    const bool stage_weight = has_weight && !aligned8(weight);
    const bool staging = sdy.staged || sx.staged || sdx.staged || stage_weight;
    const NamedSpan spans[] = {
        {"dy", matrix_span(dy)},
        {"x", matrix_span(x)},
        {"dx", matrix_span(dx)},
        {"weight", has_weight ? vector_span(weight, cols, es) : Span{}},
        {"inv_rms", vector_span(inv_rms, rows, sizeof(float))},
        {"dweight", vector_span(dweight, cols, sizeof(float))}};
    CudaCall c;
    if (nf_status s = prepare_cuda_call(fn, d, NF_OP_RMS_NORM_BACKWARD, dy->dtype, p->weight_mode, NF_ROUND_ONCE,
                                        0, cols, x->data, spans, 6, stream, &c))
        return s;
    const KernelEntry *dx_kernel = c.kernel, *blocks_kernel = nullptr, *pairs_kernel = nullptr;

    int64_t step = launch_rows(dy, x, dx);
    const int64_t blocks = (rows + kDweightBlockRows - 1) / kDweightBlockRows;
    if (dweight) {
        blocks_kernel = find_cuda_kernel(NF_OP_RMS_NORM_DWEIGHT_BLOCKS, dy->dtype, NF_WEIGHT_SCALE, NF_ROUND_ONCE,
                                         0, cols, true, c.device_cc);
        pairs_kernel = find_cuda_kernel(NF_OP_RMS_NORM_DWEIGHT_PAIRS, NF_F32, NF_WEIGHT_SCALE, NF_ROUND_ONCE, 0,
                                        cols, true, c.device_cc);
        if (blocks_kernel == nullptr || pairs_kernel == nullptr)
            return fail(NF_UNSUPPORTED, "%s: no CUDA dweight kernel for this dtype", fn);
        // Launches hold whole blocks; the tree's views index blocks * cols floats with 32 bits.
        step = step / kDweightBlockRows * kDweightBlockRows;
        if (step == 0 || blocks > (int64_t(1) << 30) / cols)
            return fail(NF_UNSUPPORTED,
                        "%s: %" PRId64 " x %" PRId64 " (row stride %" PRId64 ") is too large for the CUDA "
                        "dweight (blocks of %" PRId64 " rows must fit one launch, and the per-block sums 2^30 "
                        "floats)", fn, rows, cols, dy->row_stride, kDweightBlockRows);
    }

    // Staged matrices: rows padded to 256 bytes, pieces of at most ~64 MiB per matrix (whole
    // dweight blocks), plus the weight.
    const int64_t pitch = (cols * int64_t(es) + 255) / 256 * 256;
    const int64_t wbytes = stage_weight ? pitch : 0;
    if (sdy.staged || sx.staged || sdx.staged) {
        const int64_t cap = std::max<int64_t>(1, (int64_t(64) << 20) / pitch / kDweightBlockRows) * kDweightBlockRows;
        step = std::min(step, cap);
    }
    DeviceScratch stage{d, c.context.context, c.context.stream};
    const void *weight_data = weight;
    if (staging) {
        const int64_t piece = std::min(step, rows);
        const int64_t matrices = int64_t(sdy.staged) + int64_t(sx.staged) + int64_t(sdx.staged);
        CUresult r = stage.alloc(size_t(matrices * piece * pitch + wbytes));
        if (r != kCudaSuccess)
            return fail(NF_DEVICE_ERROR, "%s: cannot allocate device scratch to stage rows that are not on "
                        "8-byte boundaries: %s", fn, cuda_error_name(r));
        CUdeviceptr next = stage.ptr;
        for (Staged *m : {&sdy, &sx, &sdx})
            if (m->staged) m->scratch = next, m->pitch = pitch, next += CUdeviceptr(piece * pitch);
        if (stage_weight) {
            ScopedContext scope(d, c.context.context);
            r = d->cuMemcpyDtoDAsync(next, reinterpret_cast<CUdeviceptr>(weight), size_t(cols) * es,
                                     c.context.stream);
            if (r != kCudaSuccess)
                return fail(NF_DEVICE_ERROR, "%s: cannot stage the weight: %s", fn, cuda_error_name(r));
            weight_data = reinterpret_cast<const void *>(next);
        }
    }

    // The per-block sums: dweight itself when there is one block, else device scratch.
    DeviceScratch scratch{d, c.context.context, c.context.stream};
    CUdeviceptr partial = reinterpret_cast<CUdeviceptr>(dweight);
    if (dweight && blocks > 1) {
        CUresult r = scratch.alloc(size_t(blocks) * size_t(cols) * sizeof(float));
        if (r != kCudaSuccess)
            return fail(NF_DEVICE_ERROR, "%s: cannot allocate %" PRId64 " x %" PRId64 " partial weight gradients "
                        "on the device: %s", fn, blocks, cols, cuda_error_name(r));
        partial = scratch.ptr;
    }

    const halide_type_t type = halide_type_of_dtype(dy->dtype);
    const halide_type_t f32 = halide_type_t(halide_type_float, 32);
    void *uc = &c.context;
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
        const int64_t n = rows - r0 < step ? rows - r0 : step;
        for (const Staged *m : {&sdy, &sx}) {
            if (!m->staged) continue;
            ScopedContext scope(d, c.context.context);
            CUresult r = m->copy(d, c.context.stream, r0, n, true);
            if (r != kCudaSuccess)
                return fail(NF_DEVICE_ERROR, "%s: cannot stage rows: %s", fn, cuda_error_name(r));
        }
        const nf_matrix dyp = sdy.piece(r0, n), xp = sx.piece(r0, n), dxp = sdx.piece(r0, n);
        DeviceView dyv = DeviceView::rows(uc, &dyp, 0, n), xv = DeviceView::rows(uc, &xp, 0, n);
        DeviceView iv(uc, inv_rms + r0, f32, 1, n, n, 1);
        int rc = -1;
        if (dweight) {
            const int64_t nb = (n + kDweightBlockRows - 1) / kDweightBlockRows;
            DeviceView pv(uc, reinterpret_cast<const void *>(partial + (r0 / kDweightBlockRows) * cols * 4), f32,
                          nb, cols, cols, 2);
            c.kernel = blocks_kernel;
            if (dyv.wrapped && xv.wrapped && iv.wrapped && pv.wrapped)
                rc = reinterpret_cast<RmsNormDweightBlocksFn>(blocks_kernel->fn)(uc, &dyv.buf, &xv.buf, &iv.buf,
                                                                                  &pv.buf);
            if (rc != 0) return kernel_failure(fn, c);
        }
        // A weight-less kernel never reads its weight: x's first row serves as a valid buffer.
        DeviceView wv(uc, has_weight ? weight_data : xp.data, type, 1, cols, cols, 1);
        DeviceView dxv = DeviceView::rows(uc, &dxp, 0, n);
        c.kernel = dx_kernel;
        rc = -1;
        if (dyv.wrapped && xv.wrapped && iv.wrapped && wv.wrapped && dxv.wrapped)
            rc = reinterpret_cast<RmsNormBackwardFn>(dx_kernel->fn)(uc, &dyv.buf, &xv.buf, &wv.buf, &iv.buf,
                                                                    &dxv.buf);
        if (rc != 0) return kernel_failure(fn, c);
        if (sdx.staged) {
            ScopedContext scope(d, c.context.context);
            CUresult r = sdx.copy(d, c.context.stream, r0, n, false);
            if (r != kCudaSuccess)
                return fail(NF_DEVICE_ERROR, "%s: cannot copy dx out of the staging rows: %s", fn,
                            cuda_error_name(r));
        }
    }

    // partial[0] += partial[1] + ... by the CPU's tree: at step s, block b (a multiple of 2s)
    // adds block b + s. The last level writes dweight.
    c.kernel = pairs_kernel;
    for (int64_t s = 1; dweight && s < blocks; s *= 2) {
        const int64_t pairs = (blocks - s - 1) / (2 * s) + 1;
        const bool last = 2 * s >= blocks;
        PairsView pv(uc, partial, cols, s, pairs);
        DeviceView out(uc, last ? static_cast<const void *>(dweight) : reinterpret_cast<const void *>(partial), f32,
                       pairs, cols, 2 * s * cols, 2);
        int rc = -1;
        if (pv.wrapped && out.wrapped)
            rc = reinterpret_cast<RmsNormDweightPairsFn>(pairs_kernel->fn)(uc, &pv.buf, &out.buf);
        if (rc != 0) return kernel_failure(fn, c);
    }
    return NF_OK;
}

#else  // no CUDA kernels in this build

extern "C" nf_status nf_cuda_rms_norm_backward(const nf_matrix *dy, const nf_matrix *x, const void *weight,
                                               const nf_norm_params *p, const float *inv_rms, nf_matrix *dx,
                                               float *dweight, void *) {
    const char *fn = "nf_cuda_rms_norm_backward";
    if (nf_status s = check_backward_call(fn, dy, x, weight, p, inv_rms, dx, dweight)) return s;
    return fail(NF_DEVICE_ERROR, "%s: this build of NormForge has no CUDA kernels (built for AArch64 or with "
                                 "NF_CUDA=OFF)", fn);
}

#endif
