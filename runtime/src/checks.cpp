#include "checks.h"

#include <inttypes.h>
#include <math.h>

#include <limits>

#include "errors.h"

namespace normforge {

const char *dtype_name(nf_dtype d) {
    switch (d) {
    case NF_F32: return "NF_F32";
    case NF_F16: return "NF_F16";
    case NF_BF16: return "NF_BF16";
    }
    return "unknown";
}

nf_status check_matrix(const char *fn, const char *name, const nf_matrix *m) {
    if (m == nullptr) return fail(NF_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
    if (dtype_size(m->dtype) == 0)
        return fail(NF_INVALID_ARGUMENT, "%s: %s->dtype = %d is not an nf_dtype (NF_F32, NF_F16 or NF_BF16)",
                    fn, name, static_cast<int>(m->dtype));
    if (m->rows < 0)
        return fail(NF_INVALID_ARGUMENT, "%s: %s->rows = %" PRId64 " is negative", fn, name, m->rows);
    if (m->rows == 0) return NF_OK;  // nothing is read or written: cols/stride/data are not used
    if (m->cols <= 0)
        return fail(NF_INVALID_ARGUMENT, "%s: %s->cols = %" PRId64 " must be positive when rows > 0",
                    fn, name, m->cols);
    if (m->row_stride < m->cols)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: %s->row_stride = %" PRId64 " is smaller than %s->cols = %" PRId64, fn, name,
                    m->row_stride, name, m->cols);
    if (m->data == nullptr) return fail(NF_INVALID_ARGUMENT, "%s: %s->data is NULL", fn, name);
    // rows * row_stride * 8 must not overflow (a multiplication: a 64-bit division costs as much
    // as the rest of a decode row's checks).
    int64_t elems = 0;
    if (__builtin_mul_overflow(m->row_stride, m->rows, &elems) ||
        elems > std::numeric_limits<int64_t>::max() / 8)
        return fail(NF_INVALID_ARGUMENT, "%s: %s is too large to address (rows * row_stride overflows)",
                    fn, name);
    return NF_OK;
}

nf_status check_same_shape(const char *fn, const char *name, const nf_matrix *out,
                           const nf_matrix *x) {
    if (out->dtype != x->dtype)
        return fail(NF_INVALID_ARGUMENT, "%s: %s->dtype (%s) does not match x->dtype (%s)", fn, name,
                    dtype_name(out->dtype), dtype_name(x->dtype));
    if (out->rows != x->rows || (x->rows > 0 && out->cols != x->cols))
        return fail(NF_INVALID_ARGUMENT,
                    "%s: %s is %" PRId64 "x%" PRId64 " but x is %" PRId64 "x%" PRId64, fn, name,
                    out->rows, out->cols, x->rows, x->cols);
    return NF_OK;
}

nf_status check_eps(const char *fn, float eps) {
    if (!isfinite(eps) || eps < 0.0f)
        return fail(NF_INVALID_ARGUMENT, "%s: eps = %g must be finite and >= 0", fn,
                    static_cast<double>(eps));
    return NF_OK;
}

nf_status check_params(const char *fn, const nf_norm_params *p) {
    if (p == nullptr) return fail(NF_INVALID_ARGUMENT, "%s: params is NULL", fn);
    if (nf_status s = check_eps(fn, p->eps)) return s;
    if (p->weight_mode != NF_WEIGHT_NONE && p->weight_mode != NF_WEIGHT_SCALE &&
        p->weight_mode != NF_WEIGHT_ONE_PLUS)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: params->weight_mode = %d is not an nf_weight_mode (NONE, SCALE or ONE_PLUS)",
                    fn, static_cast<int>(p->weight_mode));
    if (p->rounding != NF_ROUND_ONCE && p->rounding != NF_ROUND_LLAMA)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: params->rounding = %d is not an nf_rounding (NF_ROUND_ONCE or NF_ROUND_LLAMA)",
                    fn, static_cast<int>(p->rounding));
    return NF_OK;
}

nf_status check_limits(const char *fn, const char *name, const nf_matrix *m) {
    const int64_t kMax = std::numeric_limits<int32_t>::max();
    if (m->cols > kMax || m->row_stride > kMax)
        return fail(NF_UNSUPPORTED,
                    "%s: %s->cols and ->row_stride must be below 2^31 (got cols = %" PRId64
                    ", row_stride = %" PRId64 ")",
                    fn, name, m->cols, m->row_stride);
    return NF_OK;
}

nf_status check_in_place_or_disjoint(const char *fn, const char *out_name, const nf_matrix *out,
                                     const char *in_name, const nf_matrix *in) {
    if (out->data == in->data && out->row_stride == in->row_stride) return NF_OK;  // in place
    if (matrix_span(out).overlaps(matrix_span(in)))
        return fail(NF_INVALID_ARGUMENT,
                    "%s: %s partially overlaps %s (it may be exactly %s: same data and "
                    "row_stride, or not overlap it at all)",
                    fn, out_name, in_name, in_name);
    return NF_OK;
}

nf_status check_disjoint(const char *fn, const char *a_name, Span a, const char *b_name, Span b) {
    if (a.overlaps(b)) return fail(NF_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, a_name, b_name);
    return NF_OK;
}

nf_status check_norm_call(const char *fn, const nf_matrix *x, bool with_residual,
                          const nf_matrix *residual, const void *weight, const nf_norm_params *p,
                          const nf_matrix *y, const float *inv_rms) {
    if (nf_status s = check_matrix(fn, "x", x)) return s;
    if (with_residual) {
        if (nf_status s = check_matrix(fn, "residual", residual)) return s;
        if (nf_status s = check_same_shape(fn, "residual", residual, x)) return s;
    }
    if (nf_status s = check_params(fn, p)) return s;
    if (nf_status s = check_matrix(fn, "y", y)) return s;
    if (nf_status s = check_same_shape(fn, "y", y, x)) return s;
    if (x->rows == 0) return NF_OK;
    if (p->weight_mode != NF_WEIGHT_NONE && weight == nullptr)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: weight is NULL but params->weight_mode needs cols weights", fn);
    if (nf_status s = check_limits(fn, "x", x)) return s;
    if (with_residual)
        if (nf_status s = check_limits(fn, "residual", residual)) return s;
    if (nf_status s = check_limits(fn, "y", y)) return s;
    if (nf_status s = check_in_place_or_disjoint(fn, "y", y, "x", x)) return s;
    const size_t es = dtype_size(x->dtype);
    const Span ys = matrix_span(y), xs = matrix_span(x), rs = matrix_span(residual);
    const Span ws = p->weight_mode == NF_WEIGHT_NONE ? Span{} : vector_span(weight, x->cols, es);
    const Span is = vector_span(inv_rms, x->rows, sizeof(float));
    if (nf_status s = check_disjoint(fn, "residual", rs, "x", xs)) return s;
    if (nf_status s = check_disjoint(fn, "residual", rs, "y", ys)) return s;
    if (nf_status s = check_disjoint(fn, "residual", rs, "weight", ws)) return s;
    if (nf_status s = check_disjoint(fn, "y", ys, "weight", ws)) return s;
    if (nf_status s = check_disjoint(fn, "inv_rms", is, "x", xs)) return s;
    if (nf_status s = check_disjoint(fn, "inv_rms", is, "y", ys)) return s;
    if (nf_status s = check_disjoint(fn, "inv_rms", is, "weight", ws)) return s;
    if (nf_status s = check_disjoint(fn, "inv_rms", is, "residual", rs)) return s;
    return NF_OK;
}

nf_status check_layer_norm_call(const char *fn, const nf_matrix *x, const void *weight, const void *bias,
                                float eps, const nf_matrix *y, const float *mean, const float *inv_std) {
    if (nf_status s = check_matrix(fn, "x", x)) return s;
    if (nf_status s = check_eps(fn, eps)) return s;
    if (nf_status s = check_matrix(fn, "y", y)) return s;
    if (nf_status s = check_same_shape(fn, "y", y, x)) return s;
    if (x->rows == 0) return NF_OK;
    if (nf_status s = check_limits(fn, "x", x)) return s;
    if (nf_status s = check_limits(fn, "y", y)) return s;
    if (nf_status s = check_in_place_or_disjoint(fn, "y", y, "x", x)) return s;
    const size_t es = dtype_size(x->dtype);
    const Span ys = matrix_span(y), xs = matrix_span(x);
    const Span ws = vector_span(weight, x->cols, es), bs = vector_span(bias, x->cols, es);
    const Span ms = vector_span(mean, x->rows, sizeof(float));
    const Span is = vector_span(inv_std, x->rows, sizeof(float));
    if (nf_status s = check_disjoint(fn, "y", ys, "weight", ws)) return s;
    if (nf_status s = check_disjoint(fn, "y", ys, "bias", bs)) return s;
    const struct { const char *name; Span span; } others[] = {
        {"x", xs}, {"y", ys}, {"weight", ws}, {"bias", bs}};
    for (const auto &o : others) {
        if (nf_status s = check_disjoint(fn, "mean", ms, o.name, o.span)) return s;
        if (nf_status s = check_disjoint(fn, "inv_std", is, o.name, o.span)) return s;
    }
    return check_disjoint(fn, "mean", ms, "inv_std", is);
}

nf_status check_backward_call(const char *fn, const nf_matrix *dy, const nf_matrix *x, const void *weight,
                              const nf_norm_params *p, const float *inv_rms, const nf_matrix *dx,
                              const float *dweight) {
    if (nf_status s = check_matrix(fn, "dy", dy)) return s;
    if (nf_status s = check_matrix(fn, "x", x)) return s;
    if (nf_status s = check_same_shape(fn, "x", x, dy)) return s;
    if (nf_status s = check_params(fn, p)) return s;
    if (nf_status s = check_matrix(fn, "dx", dx)) return s;
    if (nf_status s = check_same_shape(fn, "dx", dx, dy)) return s;
    if (p->weight_mode == NF_WEIGHT_NONE && dweight != nullptr)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: dweight must be NULL when params->weight_mode is NONE (there is no weight)", fn);
    if (dy->rows == 0) return NF_OK;
    if (p->weight_mode != NF_WEIGHT_NONE && weight == nullptr)
        return fail(NF_INVALID_ARGUMENT, "%s: weight is NULL but params->weight_mode needs cols weights", fn);
    if (inv_rms == nullptr)
        return fail(NF_INVALID_ARGUMENT, "%s: inv_rms is NULL (pass the rows values the forward pass wrote)",
                    fn);
    if (nf_status s = check_limits(fn, "dy", dy)) return s;
    if (nf_status s = check_limits(fn, "x", x)) return s;
    if (nf_status s = check_limits(fn, "dx", dx)) return s;
    if (nf_status s = check_in_place_or_disjoint(fn, "dx", dx, "dy", dy)) return s;
    if (nf_status s = check_in_place_or_disjoint(fn, "dx", dx, "x", x)) return s;
    const size_t es = dtype_size(dy->dtype);
    const Span dxs = matrix_span(dx);
    const Span ws = p->weight_mode == NF_WEIGHT_NONE ? Span{} : vector_span(weight, dy->cols, es);
    const Span is = vector_span(inv_rms, dy->rows, sizeof(float));
    const Span dws = vector_span(dweight, dy->cols, sizeof(float));
    if (nf_status s = check_disjoint(fn, "dx", dxs, "weight", ws)) return s;
    if (nf_status s = check_disjoint(fn, "dx", dxs, "inv_rms", is)) return s;
    const struct { const char *name; Span span; } others[] = {
        {"dy", matrix_span(dy)}, {"x", matrix_span(x)}, {"dx", dxs}, {"weight", ws}, {"inv_rms", is}};
    for (const auto &o : others)
        if (nf_status s = check_disjoint(fn, "dweight", dws, o.name, o.span)) return s;
    return NF_OK;
}


}  // namespace normforge
