// The CUDA entry points: nf_cuda_rms_norm, nf_cuda_rms_norm_residual, nf_cuda_layer_norm
// (nf_cuda_available is in cuda_call.cpp). The caller's device pointers are wrapped in
// halide_buffer_t's without copies; the kernels run on the caller's context and stream
// (cuda_call.h). Builds without CUDA kernels (AArch64, or -DNF_CUDA=OFF) get the same functions,
// answering that there is no CUDA (the end of this file).
#include <inttypes.h>

#include "checks.h"
#include "errors.h"

using namespace normforge;

#ifdef NF_WITH_CUDA
#include "cuda_call.h"

namespace {

// rows floats for an optional per-row output: the caller's, or a scratch on the call's stream.
nf_status row_output(const char *fn, float *given, int64_t rows, DeviceScratch &scratch,
                     CUdeviceptr *out) {
    *out = reinterpret_cast<CUdeviceptr>(given);
    if (given != nullptr) return NF_OK;
    CUresult r = scratch.alloc(static_cast<size_t>(rows) * sizeof(float));
    if (r != kCudaSuccess)
        return fail(NF_DEVICE_ERROR, "%s: cannot allocate %" PRId64 " per-row values on the device: %s", fn, rows,
                    cuda_error_name(r));
    *out = scratch.ptr;
    return NF_OK;
}

nf_status cuda_rms(const char *fn, KernelOp op, const nf_matrix *x, nf_matrix *residual, const void *weight,
                   const nf_norm_params *p, nf_matrix *y, float *inv_rms, void *stream) {
    const bool fused = op == NF_OP_RMS_NORM_RESIDUAL;
    if (nf_status s = check_norm_call(fn, x, fused, residual, weight, p, y, inv_rms)) return s;
    const CudaDriver *d = nullptr;
    if (nf_status s = cuda_driver_or_fail(fn, &d)) return s;
    if (x->rows == 0) return NF_OK;
    const size_t es = dtype_size(x->dtype);
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    const NamedSpan spans[] = {{"x", matrix_span(x), rows_aligned8(x)},
                               {"y", matrix_span(y), rows_aligned8(y)},
                               {"residual", matrix_span(residual), rows_aligned8(residual)},
                               {"weight", has_weight ? vector_span(weight, x->cols, es) : Span{},
                                !has_weight || aligned8(weight)},
                               {"inv_rms", vector_span(inv_rms, x->rows, sizeof(float))}};
    CudaCall c;
    if (nf_status s = prepare_cuda_call(fn, d, op, x->dtype, p->weight_mode, p->rounding, 0, x->cols, x->data,
                                        spans, 5, stream, &c))
        return s;
    DeviceScratch scratch{d, c.context.context, c.context.stream};
    CUdeviceptr inv = 0;
    if (nf_status s = row_output(fn, inv_rms, x->rows, scratch, &inv)) return s;

    const halide_type_t type = halide_type_of_dtype(x->dtype);
    const int64_t step = launch_rows(x, y, fused ? residual : nullptr);
    void *uc = &c.context;
    for (int64_t r0 = 0; r0 < x->rows; r0 += step) {
        const int64_t n = x->rows - r0 < step ? x->rows - r0 : step;
        DeviceView xv = DeviceView::rows(uc, x, r0, n), yv = DeviceView::rows(uc, y, r0, n);
        // A weight-less kernel never reads its weight: x's first row serves as a valid buffer.
        DeviceView wv(uc, has_weight ? weight : x->data, type, 1, x->cols, x->cols, 1);
        DeviceView iv = DeviceView::row_floats(uc, inv, r0, n);
        int rc = -1;
        if (!fused) {
            if (xv.wrapped && yv.wrapped && wv.wrapped && iv.wrapped)
                rc = reinterpret_cast<RmsNormFn>(c.kernel->fn)(uc, p->eps, &xv.buf, &wv.buf, &iv.buf, &yv.buf);
        } else {
            // The residual is read and rewritten in place: two views of the same rows.
            DeviceView rv = DeviceView::rows(uc, residual, r0, n), rout = DeviceView::rows(uc, residual, r0, n);
            if (xv.wrapped && yv.wrapped && wv.wrapped && iv.wrapped && rv.wrapped && rout.wrapped)
                rc = reinterpret_cast<RmsNormResidualFn>(c.kernel->fn)(uc, p->eps, &xv.buf, &rv.buf, &wv.buf,
                                                                        &iv.buf, &yv.buf, &rout.buf);
        }
        if (rc != 0) return kernel_failure(fn, c);
    }
    return NF_OK;
}

}  // namespace

extern "C" nf_status nf_cuda_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                      nf_matrix *y, float *inv_rms, void *stream) {
    return cuda_rms("nf_cuda_rms_norm", NF_OP_RMS_NORM, x, nullptr, weight, p, y, inv_rms, stream);
}

extern "C" nf_status nf_cuda_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                                               const nf_norm_params *p, nf_matrix *y, float *inv_rms,
                                               void *stream) {
    return cuda_rms("nf_cuda_rms_norm_residual", NF_OP_RMS_NORM_RESIDUAL, x, residual, weight, p, y, inv_rms,
                    stream);
}

extern "C" nf_status nf_cuda_layer_norm(const nf_matrix *x, const void *weight, const void *bias, float eps,
                                        nf_matrix *y, float *mean, float *inv_std, void *stream) {
    const char *fn = "nf_cuda_layer_norm";
    if (nf_status s = check_layer_norm_call(fn, x, weight, bias, eps, y, mean, inv_std)) return s;
    const CudaDriver *d = nullptr;
    if (nf_status s = cuda_driver_or_fail(fn, &d)) return s;
    if (x->rows == 0) return NF_OK;
    const size_t es = dtype_size(x->dtype);
    const NamedSpan spans[] = {{"x", matrix_span(x), rows_aligned8(x)},
                               {"y", matrix_span(y), rows_aligned8(y)},
                               {"weight", vector_span(weight, x->cols, es), aligned8(weight)},
                               {"bias", vector_span(bias, x->cols, es), aligned8(bias)},
                               {"mean", vector_span(mean, x->rows, sizeof(float))},
                               {"inv_std", vector_span(inv_std, x->rows, sizeof(float))}};
    CudaCall c;
    const nf_weight_mode wm = weight ? NF_WEIGHT_SCALE : NF_WEIGHT_NONE;
    if (nf_status s = prepare_cuda_call(fn, d, NF_OP_LAYER_NORM, x->dtype, wm, NF_ROUND_ONCE, bias ? 1 : 0,
                                        x->cols, x->data, spans, 6, stream, &c))
        return s;
    DeviceScratch mean_scratch{d, c.context.context, c.context.stream};
    DeviceScratch inv_scratch{d, c.context.context, c.context.stream};
    CUdeviceptr m = 0, is = 0;
    if (nf_status s = row_output(fn, mean, x->rows, mean_scratch, &m)) return s;
    if (nf_status s = row_output(fn, inv_std, x->rows, inv_scratch, &is)) return s;

    const halide_type_t type = halide_type_of_dtype(x->dtype);
    const int64_t step = launch_rows(x, y, nullptr);
    void *uc = &c.context;
    for (int64_t r0 = 0; r0 < x->rows; r0 += step) {
        const int64_t n = x->rows - r0 < step ? x->rows - r0 : step;
        DeviceView xv = DeviceView::rows(uc, x, r0, n), yv = DeviceView::rows(uc, y, r0, n);
        // A kernel without weight (bias) never reads it: x's first row serves as a valid buffer.
        DeviceView wv(uc, weight ? weight : x->data, type, 1, x->cols, x->cols, 1);
        DeviceView bv(uc, bias ? bias : x->data, type, 1, x->cols, x->cols, 1);
        DeviceView mv = DeviceView::row_floats(uc, m, r0, n), sv = DeviceView::row_floats(uc, is, r0, n);
        int rc = -1;
        if (xv.wrapped && yv.wrapped && wv.wrapped && bv.wrapped && mv.wrapped && sv.wrapped)
            rc = reinterpret_cast<LayerNormFn>(c.kernel->fn)(uc, &xv.buf, &wv.buf, &bv.buf, eps, &yv.buf, &mv.buf,
                                                             &sv.buf);
        if (rc != 0) return kernel_failure(fn, c);
    }
    return NF_OK;
}

#else  // no CUDA kernels in this build

namespace {
nf_status no_cuda(const char *fn) {
    return fail(NF_DEVICE_ERROR, "%s: this build of NormForge has no CUDA kernels (built for AArch64 or with "
                                 "NF_CUDA=OFF)", fn);
}
}  // namespace

extern "C" int nf_cuda_available(void) { return 0; }

extern "C" nf_status nf_cuda_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                      nf_matrix *y, float *inv_rms, void *) {
    const char *fn = "nf_cuda_rms_norm";
    if (nf_status s = check_norm_call(fn, x, false, nullptr, weight, p, y, inv_rms)) return s;
    return no_cuda(fn);
}

extern "C" nf_status nf_cuda_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                                               const nf_norm_params *p, nf_matrix *y, float *inv_rms, void *) {
    const char *fn = "nf_cuda_rms_norm_residual";
    if (nf_status s = check_norm_call(fn, x, true, residual, weight, p, y, inv_rms)) return s;
    return no_cuda(fn);
}

extern "C" nf_status nf_cuda_layer_norm(const nf_matrix *x, const void *weight, const void *bias, float eps,
                                        nf_matrix *y, float *mean, float *inv_std, void *) {
    const char *fn = "nf_cuda_layer_norm";
    if (nf_status s = check_layer_norm_call(fn, x, weight, bias, eps, y, mean, inv_std)) return s;
    return no_cuda(fn);
}

#endif
