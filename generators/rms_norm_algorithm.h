// RMSNorm, the algorithm only (no schedule). Read this file for the math.
//
//   inv_rms(r) = 1 / sqrt(sum_c x(c, r)^2 / cols + eps)      (fp32 whatever the dtype)
//   y(c, r)    = x(c, r) * inv_rms(r) * w'(c),  w' = 1 | w | 1 + w
//
// The row statistic is a fixed-order row sum (generators/row_sum.h), so a row's result never
// depends on the schedule, the thread count or the other rows in the call.
#pragma once

#include "Halide.h"
#include "generators/row_sum.h"
#include "generators/storage.h"

namespace normforge {

enum class WeightMode { None = 0, Scale = 1, OnePlus = 2 };
enum class Rounding { Once = 0, Llama = 1 };

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
    Expr total = f.ss.total;
    f.inv_rms(r) = strict_float(1.0f / sqrt(total / cast<float>(cols) + eps));

    // strict_float: the product is evaluated left to right as written, in every schedule (LLVM
    // may otherwise reassociate it differently for different vector widths, and the kernels of
    // two shape classes would disagree in the last bit).
    Expr xf = to_f32(x(c, r));
    Expr wf = to_f32(weight(c));
    Expr normalized;
    if (mode == WeightMode::None) {
        normalized = to_storage(dtype, strict_float(xf * f.inv_rms(r)));
    } else if (rounding == Rounding::Once || dtype == Float(32)) {
        // fp32 weight multiply, one rounding (PyTorch, FlashInfer). For fp32 storage the HF-Llama
        // order is the same computation, so it shares this branch.
        Expr w = (mode == WeightMode::Scale) ? wf : 1.0f + wf;
        normalized = to_storage(dtype, strict_float(xf * f.inv_rms(r) * w));
    } else {
        // HF-Llama: round x * inv_rms to the dtype, then multiply by w' in the dtype (a 16-bit op
        // is the fp32 op rounded once: fp32 holds these sums and products of 16-bit operands
        // closely enough that the double rounding is harmless).
        Expr t = to_f32(to_storage(dtype, strict_float(xf * f.inv_rms(r))));
        Expr w = (mode == WeightMode::Scale) ? wf : to_f32(to_storage(dtype, 1.0f + wf));
        normalized = to_storage(dtype, strict_float(t * w));
    }
    f.y(c, r) = normalized;
    return f;
}

}  // namespace normforge
