// LayerNorm, the algorithm only (no schedule). Read this file for the math.
//
//   mean(r)    = sum_c x(c, r) / cols                                       (fp32)
//   inv_std(r) = 1 / sqrt(sum_c (x(c, r) - mean(r))^2 / cols + eps)         (biased variance)
//   y(c, r)    = (x(c, r) - mean(r)) * inv_std(r) * w(c) + b(c)              (w, b optional)
//
// Rows with a large mean (1e4 + small noise) keep fp32 accuracy: both sums work on d = x - x0,
// the row shifted by its first element (exact in fp32 for values within a factor 2 of x0), so
//   mean = x0 + m,  m = sum_c d_c / cols,  var = sum_c (d_c - m)^2 / cols,  y = (d_c - m) * ...
// The mean of the small d loses nothing to the offset, and the variance sums squared deviations
// (two passes over the row, which stays in cache), never sum(x^2) - mean^2. Both sums are
// fixed-order row sums (generators/row_sum.h): a row's result never depends on the schedule,
// the thread count or the other rows.
#pragma once

#include "Halide.h"
#include "generators/row_sum.h"
#include "generators/storage.h"

namespace normforge {

// The Funcs a schedule needs. Nothing in here says how anything is computed.
struct LayerNormFuncs {
    Halide::Var c{"c"}, r{"r"};
    Halide::Func x0{"x0"};            // x0(r): the row's first element, in fp32
    Halide::Func d{"d"};              // d = x - x0 in fp32
    RowSum sum;                       // sum of d
    Halide::Func m{"m"};              // m(r) = mean of d (the mean is x0 + m)
    Halide::Func dev2{"dev2"};        // (d - m)^2
    RowSum ss;                        // sum of squared deviations
    Halide::Func inv_std{"inv_std"};  // inv_std(r)
    Halide::Func mean{"mean"};        // mean(r) = x0 + m(r), the per-row output
    Halide::Func y{"y"};              // y(c, r) in the storage dtype
    Halide::Expr cols;
};

// x: (cols, rows) in the storage dtype; weight, bias: (cols) in the same dtype, read only when
// has_weight / has_bias.
inline LayerNormFuncs define_layer_norm(const Halide::Func &x, const Halide::Func &weight,
                                        const Halide::Func &bias, const Halide::Expr &cols,
                                        const Halide::Expr &eps, const Halide::Type &dtype,
                                        bool has_weight, bool has_bias) {
    using namespace Halide;
    LayerNormFuncs f;
    const Var &c = f.c, &r = f.r;
    f.cols = cols;
    f.x0(r) = to_f32(x(0, r));
    // strict_float: Halide lets LLVM reassociate float math, which turns (x - x0) - m into
    // x - (x0 + m) and rounds the mean back to the offset's precision.
    f.d(c, r) = strict_float(to_f32(x(c, r)) - f.x0(r));
    f.sum = define_row_sum("sum", f.d, cols, r);
    f.m(r) = strict_float(f.sum.total / cast<float>(cols));
    Expr dev = strict_float(f.d(c, r) - f.m(r));
    f.dev2(c, r) = dev * dev;
    f.ss = define_row_sum("dev2", f.dev2, cols, r);
    f.inv_std(r) = strict_float(1.0f / sqrt(f.ss.total / cast<float>(cols) + eps));
    f.mean(r) = f.x0(r) + f.m(r);

    Expr v = dev * f.inv_std(r);
    if (has_weight) v = v * to_f32(weight(c));
    if (has_bias) v = v + to_f32(bias(c));
    // strict: the same bits in every schedule and feature level (no reassociation, no FMA).
    f.y(c, r) = to_storage(dtype, strict_float(v));  // rounded once
    return f;
}

}  // namespace normforge
