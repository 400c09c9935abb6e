// nf_cuda_rms_norm_backward: the CPU function's checks, then on the caller's context and stream
// (cuda_call.h), for each piece of rows that fits a launch: dweight's per-block sums over the
// piece (blocks of kDweightBlockRows rows, each summed in row order), then dx (so dx may be
// exactly dy or x). Then the blocks are added by the same fixed pairwise tree as on the CPU
// (runtime/src/rms_norm_backward.cpp), one small kernel per level, the last one writing
// dweight. Builds without CUDA kernels answer that there is no CUDA.
#include <inttypes.h>

#include "checks.h"
#include "errors.h"

using namespace normforge;

#ifdef NF_WITH_CUDA
#include "cuda_call.h"

namespace {

// Rows per dweight block: the CPU runtime's block (rms_norm_backward.cpp), and the generator's
// block_rows (rms_norm_dweight_blocks): part of the summation order.
constexpr int64_t kDweightBlockRows = 128;

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
    // Only kernels for rows on 8-byte boundaries: the one for other rows (the forward's
    // gpu_unaligned schedule) gave a wrong last element in some fp16 rows on an H200 (its output
    // loop reads the row's statistic with warp shuffles in a lane-dependent epilogue).
    if (!rows_aligned8(dy) || !rows_aligned8(x) || !rows_aligned8(dx) ||
        (has_weight && !aligned8(weight)))
        return fail(NF_UNSUPPORTED,
                    "%s: dy, x, dx and weight must start on 8-byte boundaries, with row strides that are "
                    "multiples of 8 bytes (the CUDA backward pass has no kernel for other alignments yet)",
                    fn);
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
        DeviceView dyv = DeviceView::rows(uc, dy, r0, n), xv = DeviceView::rows(uc, x, r0, n);
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
        DeviceView wv(uc, has_weight ? weight : x->data, type, 1, cols, cols, 1);
        DeviceView dxv = DeviceView::rows(uc, dx, r0, n);
        c.kernel = dx_kernel;
        rc = -1;
        if (dyv.wrapped && xv.wrapped && iv.wrapped && wv.wrapped && dxv.wrapped)
            rc = reinterpret_cast<RmsNormBackwardFn>(dx_kernel->fn)(uc, &dyv.buf, &xv.buf, &wv.buf, &iv.buf,
                                                                    &dxv.buf);
        if (rc != 0) return kernel_failure(fn, c);
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
