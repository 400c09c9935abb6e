// nf_rms_norm: checks, then one kernel call per batch of rows on views of the caller's memory.
#include <inttypes.h>
#include <stdlib.h>

#include <algorithm>

#include "checks.h"
#include "errors.h"
#include "halide_call.h"

using namespace normforge;

namespace {

constexpr const char *kFn = "nf_rms_norm";

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

nf_status check_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                         const nf_matrix *y, const float *inv_rms) {
    if (nf_status s = check_matrix(kFn, "x", x)) return s;
    if (nf_status s = check_params(kFn, p)) return s;
    if (nf_status s = check_matrix(kFn, "y", y)) return s;
    if (nf_status s = check_same_shape(kFn, "y", y, x)) return s;
    if (x->rows == 0) return NF_OK;
    if (p->weight_mode != NF_WEIGHT_NONE && weight == nullptr)
        return fail(NF_INVALID_ARGUMENT, "%s: weight is NULL but params->weight_mode needs %s",
                    kFn, "cols weights");
    if (nf_status s = check_limits(kFn, "x", x)) return s;
    if (nf_status s = check_limits(kFn, "y", y)) return s;
    if (nf_status s = check_in_place_or_disjoint(kFn, "y", y, "x", x)) return s;
    const size_t es = dtype_size(x->dtype);
    const Span ys = matrix_span(y), xs = matrix_span(x);
    const Span ws = p->weight_mode == NF_WEIGHT_NONE ? Span{} : vector_span(weight, x->cols, es);
    const Span is = vector_span(inv_rms, x->rows, sizeof(float));
    if (nf_status s = check_disjoint(kFn, "y", ys, "weight", ws)) return s;
    if (nf_status s = check_disjoint(kFn, "inv_rms", is, "x", xs)) return s;
    if (nf_status s = check_disjoint(kFn, "inv_rms", is, "y", ys)) return s;
    if (nf_status s = check_disjoint(kFn, "inv_rms", is, "weight", ws)) return s;
    return NF_OK;
}

}  // namespace

extern "C" nf_status nf_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                 nf_matrix *y, float *inv_rms) {
    if (nf_status s = check_rms_norm(x, weight, p, y, inv_rms)) return s;
    if (x->rows == 0) return NF_OK;
    install_halide_handlers();

    const KernelEntry *k =
        find_kernel(NF_OP_RMS_NORM, x->dtype, p->weight_mode, p->rounding, x->rows, x->cols);
    if (k == nullptr)
        return fail(NF_UNSUPPORTED, "%s: no kernel compiled for this dtype and variant", kFn);

    const size_t es = dtype_size(x->dtype);
    // A weight-less kernel never reads its weight input; it still needs a valid buffer.
    static const float kUnusedWeight[1] = {0.0f};
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    VectorView w(has_weight ? weight : kUnusedWeight, halide_type_of_dtype(x->dtype),
                 has_weight ? x->cols : 1);
    InvRmsScratch scratch;
    float *inv = inv_rms ? inv_rms : scratch.get(std::min(x->rows, kMaxRowsPerCall));
    if (inv == nullptr)
        return fail(NF_INTERNAL_ERROR, "%s: out of memory for %" PRId64 " inv_rms values", kFn,
                    x->rows);

    for (int64_t r0 = 0; r0 < x->rows; r0 += kMaxRowsPerCall) {
        const int64_t n = std::min(kMaxRowsPerCall, x->rows - r0);
        char *xp = static_cast<char *>(x->data) + r0 * x->row_stride * static_cast<int64_t>(es);
        char *yp = static_cast<char *>(y->data) + r0 * y->row_stride * static_cast<int64_t>(es);
        MatrixView xv(xp, x->dtype, n, x->cols, x->row_stride);
        MatrixView yv(yp, y->dtype, n, y->cols, y->row_stride);
        VectorView iv(inv_rms ? inv + r0 : inv, halide_type_t(halide_type_float, 32), n);
        CallContext ctx;
        int rc = k->fn(&ctx, p->eps, &xv.buf, &w.buf, &iv.buf, &yv.buf);
        if (rc != 0) {
            return fail(NF_INTERNAL_ERROR, "%s: kernel %s failed: %s", kFn, k->name,
                        ctx.halide_error);
        }
    }
    return NF_OK;
}
