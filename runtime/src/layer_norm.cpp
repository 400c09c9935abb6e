// nf_layer_norm: checks, kernel choice, then the row driver (row_driver.h).
#include <inttypes.h>

#include "checks.h"
#include "errors.h"
#include "halide_call.h"
#include "row_driver.h"

using namespace normforge;

namespace {

struct LayerNormArgs {
    float eps;
    halide_buffer_t *weight, *bias;
    float *mean, *inv_std;  // rows floats each (the caller's, or scratch)
};

int run_layer_norm(const RowCall &c, CallContext *ctx, int64_t r0, int64_t n, char *yd, int64_t yd_stride,
                   char *, int64_t) {
    const LayerNormArgs &a = *static_cast<const LayerNormArgs *>(c.op);
    const int64_t es = static_cast<int64_t>(dtype_size(c.dtype));
    MatrixView xv(const_cast<char *>(c.x) + r0 * c.x_stride * es, c.dtype, n, c.cols, c.x_stride);
    MatrixView yv(yd, c.dtype, n, c.cols, yd_stride);
    VectorView mv(a.mean + r0, halide_type_t(halide_type_float, 32), n);
    VectorView sv(a.inv_std + r0, halide_type_t(halide_type_float, 32), n);
    return reinterpret_cast<LayerNormFn>(c.kernel->fn)(ctx, &xv.buf, a.weight, a.bias, a.eps, &yv.buf,
                                                       &mv.buf, &sv.buf);
}

}  // namespace

extern "C" nf_status nf_layer_norm(const nf_matrix *x, const void *weight, const void *bias, float eps,
                                   nf_matrix *y, float *mean, float *inv_std) {
    const char *fn = "nf_layer_norm";
    if (nf_status s = check_layer_norm_call(fn, x, weight, bias, eps, y, mean, inv_std)) return s;
    if (x->rows == 0) return NF_OK;
    install_halide_handlers();

    const nf_weight_mode wm = weight ? NF_WEIGHT_SCALE : NF_WEIGHT_NONE;
    const KernelEntry *k = find_kernel(NF_OP_LAYER_NORM, x->dtype, wm, NF_ROUND_ONCE, bias ? 1 : 0,
                                       x->rows, x->cols);
    if (k == nullptr) return fail(NF_UNSUPPORTED, "%s: no kernel compiled for this dtype and variant", fn);

    // A kernel without weight (bias) never reads that input; it still needs a valid buffer.
    static const float kUnused[1] = {0.0f};
    const halide_type_t t = halide_type_of_dtype(x->dtype);
    VectorView w(weight ? weight : kUnused, t, weight ? x->cols : 1);
    VectorView b(bias ? bias : kUnused, t, bias ? x->cols : 1);
    RowScratch mean_scratch, inv_scratch;
    float *m = mean ? mean : mean_scratch.get(x->rows);
    float *s = inv_std ? inv_std : inv_scratch.get(x->rows);
    if (m == nullptr || s == nullptr)
        return fail(NF_INTERNAL_ERROR, "%s: out of memory for %" PRId64 " per-row statistics", fn, x->rows);

    LayerNormArgs args{eps, &w.buf, &b.buf, m, s};
    RowCall call = row_call(k, &run_layer_norm, &args, x, y);
    return run_rows(fn, call);
}
