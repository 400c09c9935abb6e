// RMSNorm, the algorithm only (no schedule). Read this file for the math.
//
//   inv_rms(r) = 1 / sqrt(sum_c x(c, r)^2 / cols + eps)      (fp32 whatever the dtype)
//   y(c, r)    = x(c, r) * inv_rms(r) * w'(c),  w' = 1 | w | 1 + w
//
// The row statistic is a fixed-order row sum (generators/row_sum.h), so a row's result never
// depends on the schedule, the thread count or the other rows in the call.
#pragma once

#include <map>
#include <string>

#include "Halide.h"
#include "generators/row_sum.h"
#include "generators/storage.h"

namespace normforge {

enum class WeightMode { None = 0, Scale = 1, OnePlus = 2 };
enum class Rounding { Once = 0, Llama = 1 };

// The generator params' spellings (weight_mode=none|scale|one_plus, rounding=once|llama).
inline std::map<std::string, WeightMode> weight_mode_names() {
    return {{"none", WeightMode::None}, {"scale", WeightMode::Scale}, {"one_plus", WeightMode::OnePlus}};
}
inline std::map<std::string, Rounding> rounding_names() {
    return {{"once", Rounding::Once}, {"llama", Rounding::Llama}};
}

// The Funcs, Vars and RDoms a schedule needs. Nothing in here says how anything is computed.
struct RmsNormFuncs {
    Halide::Var c{"c"}, r{"r"};
    Halide::Func sq{"sq"};           // sq(c, r): x^2 in fp32
    RowSum ss;                       // the row's sum of squares
    Halide::Func inv_rms{"inv_rms"}; // inv_rms(r)
    Halide::Func y{"y"};             // y(c, r), the normalized output in the storage dtype
    Halide::Expr cols;
    // The fused op's rounded sum x + residual (what the statistic and y read, and what is
    // stored back; on a CPU the pipeline output that replaces the residual); undefined for
    // plain rms_norm. Set by the generator.
    Halide::Func residual_sum;
};

// Fused residual add (vLLM's fused_add_rms_norm): s = x + residual, rounded to the dtype; the
// statistic and the output are computed from this rounded s (what is stored back).
inline void define_residual_sum(Halide::Func s, const Halide::Func &x, const Halide::Func &residual,
                                const Halide::Type &dtype) {
    using namespace Halide;
    Var c("c"), r("r");
    s(c, r) = to_storage(dtype, to_f32(x(c, r)) + to_f32(residual(c, r)));
}

// One output value: x * inv_rms * w' rounded to the dtype, in the order the variant prescribes.
// x and w are storage values, inv_rms fp32.
inline Halide::Expr normalized_value(const Halide::Expr &x, const Halide::Expr &inv_rms,
                                     const Halide::Expr &w_storage, const Halide::Type &dtype,
                                     WeightMode mode, Rounding rounding) {
    using namespace Halide;
    // strict_float: the product is evaluated left to right as written, in every schedule (LLVM
    // may otherwise reassociate it differently for different vector widths, and the kernels of
    // two shape classes would disagree in the last bit).
    Expr xf = to_f32(x);
    Expr wf = to_f32(w_storage);
    if (mode == WeightMode::None) return to_storage(dtype, strict_float(xf * inv_rms));
    if (rounding == Rounding::Once || dtype == Float(32)) {
        // fp32 weight multiply, one rounding (PyTorch, FlashInfer). For fp32 storage the HF-Llama
        // order is the same computation, so it shares this branch.
        Expr w = (mode == WeightMode::Scale) ? wf : 1.0f + wf;
        return to_storage(dtype, strict_float(xf * inv_rms * w));
    }
    // HF-Llama: round x * inv_rms to the dtype, then multiply by w' in the dtype (a 16-bit op
    // is the fp32 op rounded once: fp32 holds these sums and products of 16-bit operands
    // closely enough that the double rounding is harmless).
    Expr t = to_f32(to_storage(dtype, strict_float(xf * inv_rms)));
    Expr w = (mode == WeightMode::Scale) ? wf : to_f32(to_storage(dtype, 1.0f + wf));
    return to_storage(dtype, strict_float(t * w));
}

// The statistic from a row's sum of squares (every RMSNorm kernel computes it this way).
inline Halide::Expr inv_rms_of(const Halide::Expr &sum_of_squares, const Halide::Expr &cols,
                               const Halide::Expr &eps) {
    using namespace Halide;
    return strict_float(1.0f / sqrt(sum_of_squares / cast<float>(cols) + eps));
}

// x: (cols, rows) in the storage dtype; weight: (cols) in the same dtype (unused for None).
inline RmsNormFuncs define_rms_norm(const Halide::Func &x, const Halide::Func &weight,
                                    const Halide::Expr &cols, const Halide::Expr &eps,
                                    const Halide::Type &dtype, WeightMode mode, Rounding rounding) {
    using namespace Halide;
    RmsNormFuncs f;
    const Var &c = f.c, &r = f.r;
    f.cols = cols;
    f.sq(c, r) = to_f32(x(c, r)) * to_f32(x(c, r));
    f.ss = define_row_sum("ss", f.sq, cols, r);
    f.inv_rms(r) = inv_rms_of(f.ss.total, cols, eps);

    f.y(c, r) = normalized_value(x(c, r), f.inv_rms(r), weight(c), dtype, mode, rounding);
    return f;
}

// The pipelined kernel (what nf_rms_norm runs on medium calls): the same y as define_rms_norm,
// but a call normalizes rows of x with the statistic `inv_in` it is given (computed by the
// previous call) and computes the statistic of other rows, x_next, meanwhile (the next call's
// inv_in). The runtime chains the calls over a call's rows (runtime/src/pipelined_rows.cpp), so
// that the loads of the next row overlap the stores of this one: a single core keeps more
// memory traffic in flight than when each row is summed and then written. Bit for bit the
// results of define_rms_norm: the same y expression and the same summation order.
// `y` and `inv_next` (the pipeline outputs) are defined here.
struct RmsNormPipelinedFuncs {
    Halide::Var c{"c"}, r{"r"};
    RowDomain d;                        // the columns of a row, for y's updates and the sum's
    Halide::Func y;                     // undefined, then update 0 over d.R, update 1 over d.tail
    Halide::Func sq_next{"sq_next"};    // x_next^2 in fp32
    FlatRowSum ss_next;                 // the sum of squares of x_next's rows
    Halide::Func inv_next;              // inv_next(r): their statistic
};

inline RmsNormPipelinedFuncs define_rms_norm_pipelined(const Halide::Func &x, const Halide::Func &x_next,
                                                       const Halide::Func &inv_in,
                                                       const Halide::Func &weight, const Halide::Expr &cols,
                                                       const Halide::Expr &eps, const Halide::Type &dtype,
                                                       WeightMode mode, Rounding rounding,
                                                       Halide::Func y, Halide::Func inv_next) {
    using namespace Halide;
    RmsNormPipelinedFuncs f;
    f.y = y;  // the caller's Funcs (the pipeline outputs) are defined here
    f.inv_next = inv_next;
    const Var &c = f.c, &r = f.r;
    f.d = row_domain("cols", cols);
    const Expr &col = f.d.col, &tcol = f.d.tail.col;
    f.y(c, r) = undef(dtype);
    f.y(col, r) = normalized_value(x(col, r), inv_in(r), weight(col), dtype, mode, rounding);
    f.y(tcol, r) = normalized_value(x(tcol, r), inv_in(r), weight(tcol), dtype, mode, rounding);
    f.sq_next(c, r) = to_f32(x_next(c, r)) * to_f32(x_next(c, r));
    f.ss_next = define_row_sum_flat("ss_next", f.sq_next, f.d, r);
    f.inv_next(r) = inv_rms_of(f.ss_next.total, cols, eps);
    return f;
}

}  // namespace normforge
