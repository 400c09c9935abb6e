// nf_rms_norm and nf_rms_norm_residual: checks, kernel choice, then the row driver
// (row_driver.h) runs the kernel on views of the caller's memory, or, for nf_rms_norm's calls
// too large to be in cache (4 MiB of output and more, in rows of 8 KiB and more), the pipelined
// kernel runs chained over the rows (pipelined_rows.h), unless every call streams y
// (nf_set_output_stores).
#include <inttypes.h>

#include "bf16_pairs.h"
#include "checks.h"
#include "errors.h"
#include "halide_call.h"
#include "output_stores.h"
#include "pipelined_rows.h"
#include "row_driver.h"

using namespace normforge;

namespace {

struct RmsArgs {
    float eps;
    halide_buffer_t *weight;
    float *inv;  // rows floats (the caller's, or scratch)
};

int run_rms_norm(const RowCall &c, CallContext *ctx, int64_t r0, int64_t n, char *yd, int64_t yd_stride,
                 char *o2, int64_t o2_stride) {
    const RmsArgs &a = *static_cast<const RmsArgs *>(c.op);
    const int64_t es = static_cast<int64_t>(dtype_size(c.dtype));
    MatrixView xv(const_cast<char *>(c.x) + r0 * c.x_stride * es, c.dtype, n, c.cols, c.x_stride);
    MatrixView yv(yd, c.dtype, n, c.cols, yd_stride);
    VectorView iv(a.inv + r0, halide_type_t(halide_type_float, 32), n);
    if (c.in2 == nullptr)
        return reinterpret_cast<RmsNormFn>(c.kernel->fn)(ctx, a.eps, &xv.buf, a.weight, &iv.buf, &yv.buf);
    MatrixView rv(const_cast<char *>(c.in2) + r0 * c.in2_stride * es, c.dtype, n, c.cols, c.in2_stride);
    MatrixView rout(o2, c.dtype, n, c.cols, o2_stride);
    return reinterpret_cast<RmsNormResidualFn>(c.kernel->fn)(ctx, a.eps, &xv.buf, &rv.buf, a.weight,
                                                             &iv.buf, &yv.buf, &rout.buf);
}

// Both ops: checks, kernel choice, then the row driver. residual: NULL for nf_rms_norm (the
// fused op reads it and rewrites it in place).
nf_status normalize(const char *fn, KernelOp op, const nf_matrix *x, nf_matrix *residual,
                    const void *weight, const nf_norm_params *p, nf_matrix *y, float *inv_rms) {
    const bool fused = op == NF_OP_RMS_NORM_RESIDUAL;
    if (nf_status s = check_norm_call(fn, x, fused, residual, weight, p, y, inv_rms)) return s;
    if (x->rows == 0) return NF_OK;
    install_halide_handlers();

    RowScratch scratch;
    float *inv = inv_rms ? inv_rms : scratch.get(x->rows);
    if (inv == nullptr)
        return fail(NF_INTERNAL_ERROR, "%s: out of memory for %" PRId64 " inv_rms values", fn, x->rows);
    // A weight-less kernel never reads its weight input; it still needs a valid buffer.
    static const float kUnusedWeight[1] = {0.0f};
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;
    const void *wdata = has_weight ? weight : kUnusedWeight;

    // bf16 rows that the pair kernels can take (bf16_pairs.h), on the levels they are for: the
    // call then sees every matrix as fp32 pairs.
    const KernelEntry *k = nullptr;
    if (x->dtype == NF_BF16 && kBf16PairsAvailable && pairs_layout(*x) && pairs_layout(*y) && aligned4(wdata) &&
        (!fused || pairs_layout(*residual)))
        k = find_pairs_kernel(op, p->weight_mode, p->rounding, x->rows, x->cols);
    const bool pairs = k != nullptr;
    auto kernel = [&](KernelOp o) {
        return pairs ? find_pairs_kernel(o, p->weight_mode, p->rounding, x->rows, x->cols)
                     : find_kernel(o, x->dtype, p->weight_mode, p->rounding, 0, x->rows, x->cols);
    };
    if (!pairs) k = kernel(op);
    if (k == nullptr)
        return fail(NF_UNSUPPORTED, "%s: no kernel compiled for this dtype and variant", fn);
    const nf_matrix xv = pairs ? as_pairs(*x) : *x, yv = pairs ? as_pairs(*y) : *y;
    VectorView w(wdata, pairs ? halide_type_t(halide_type_float, 32) : halide_type_of_dtype(x->dtype),
                 has_weight ? xv.cols : 1);

    // nf_rms_norm's calls too large to be in cache: the pipelined kernel, chained over the rows
    // (pipelined_rows.h), where the large-call mode says so; not where every call streams y
    // (output_stores.h): that kernel stores y itself.
    if (!fused && !stream_every_output() && use_pipelined(x->rows, x->cols, static_cast<int64_t>(dtype_size(x->dtype)), two_pass_gain(*k))) {
        if (const KernelEntry *pk = kernel(NF_OP_RMS_NORM_PIPELINED))
            return run_pipelined_rows(fn, pk, &xv, &w.buf, p->eps, &yv, inv);
    }

    RmsArgs args{p->eps, &w.buf, inv};
    RowCall call = row_call(k, &run_rms_norm, &args, &xv, &yv);
    if (fused) {
        // Read, and updated in place.
        const nf_matrix rv = pairs ? as_pairs(*residual) : *residual;
        call.in2 = static_cast<const char *>(rv.data);
        call.in2_stride = rv.row_stride;
        call.out2 = static_cast<char *>(rv.data);
        call.out2_stride = rv.row_stride;
    }
    return run_rows(fn, call);
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
