// RMSNorm backward, the algorithm only (no schedule). Read this file for the math.
//
// Forward: y = x * inv * w', inv = 1 / sqrt(sum_c x_c^2 / cols + eps), w' = 1 | w | 1 + w.
// Given dy and the forward's inv (per row), with g_c = dy_c * w'_c (fp32):
//   dx_c = inv * g_c - x_c * inv^3 * (sum_k g_k * x_k) / cols
//   dw_c = dw_in_c + sum over the call's rows, in row order, of dy_c * (x_c * inv)
// (d/dw of w and of 1 + w are both 1, so dw is the same for SCALE and ONE_PLUS.)
// The row dot product is a fixed-order row sum (generators/row_sum.h): dx of a row never depends
// on the other rows or the schedule. dw is summed over rows strictly in order r = 0, 1, ...; the
// runtime calls it on fixed blocks of rows and adds the blocks by a fixed tree, so dw has the same
// bits for any thread count. The HF-Llama rounding order has the same gradient (casts are
// identity for the gradient, as in autograd).
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "generators/row_sum.h"
#include "generators/storage.h"

namespace normforge {

// The Funcs of dx a schedule needs. Nothing in here says how anything is computed.
struct RmsNormBackwardFuncs {
    Halide::Var c{"c"}, r{"r"};
    Halide::Func g{"g"};        // g(c, r) = dy * w' in fp32
    Halide::Func gx{"gx"};      // g * x, the row dot product's term
    RowSum dot;                 // sum_c g * x
    Halide::Func coef{"coef"};  // coef(r) = inv^3 * dot / cols
    Halide::Func dx{"dx"};      // dx(c, r) in the storage dtype
    Halide::Expr cols;
};

// dy, x: (cols, rows) in the storage dtype; weight: (cols) in the dtype (unused for None);
// inv: (rows) fp32 from the forward pass.
inline RmsNormBackwardFuncs define_rms_norm_backward(const Halide::Func &dy, const Halide::Func &x,
                                                     const Halide::Func &weight, const Halide::Func &inv,
                                                     const Halide::Expr &cols, const Halide::Type &dtype,
                                                     WeightMode mode) {
    using namespace Halide;
    RmsNormBackwardFuncs f;
    const Var &c = f.c, &r = f.r;
    f.cols = cols;
    Expr dyf = to_f32(dy(c, r)), xf = to_f32(x(c, r));
    Expr wf = to_f32(weight(c));
    // strict_float throughout: the same bits in every schedule and feature level.
    f.g(c, r) = strict_float(mode == WeightMode::None ? dyf : dyf * (mode == WeightMode::Scale ? wf : 1.0f + wf));
    f.gx(c, r) = strict_float(f.g(c, r) * xf);
    f.dot = define_row_sum("dot", f.gx, cols, r);
    Expr i = inv(r);
    f.coef(r) = strict_float(i * i * i * f.dot.total / cast<float>(cols));
    f.dx(c, r) = to_storage(dtype, strict_float(i * f.g(c, r) - xf * f.coef(r)));
    return f;
}

// dw: the Func to define (the pipeline's output): dw(c) = dw_in(c), then one update over the rows
// in order. Returns the RDom of that update.
inline Halide::RDom define_rms_norm_dweight(Halide::Func dw, const Halide::Func &dy,
                                            const Halide::Func &x, const Halide::Func &inv,
                                            const Halide::Func &dw_in, const Halide::Expr &rows) {
    using namespace Halide;
    Var c("c");
    RDom rr(0, rows, "rows");
    dw(c) = dw_in(c);
    dw(c) = strict_float(dw(c) + to_f32(dy(c, rr.x)) * (to_f32(x(c, rr.x)) * inv(rr.x)));
    return rr;
}

// dw on a GPU, in the CPU runtime's order (runtime/src/rms_norm_backward.cpp): per block of
// `block_rows` rows, acc(c, b) = 0 + the block's rows in order; the runtime then adds the
// blocks by the same fixed pairwise tree (define_pair_sum). rows: the rows of dy and x; a last
// partial block adds +0.0f for the missing rows (bit-identical: acc starts at +0 and so is never
// -0, and a + (+0) == a), read from a clamped row: the loop has a constant trip count.
struct DweightBlockFuncs {
    Halide::Var c{"c"}, b{"b"};
    Halide::Func acc{"dw_block"};
    Halide::RDom rows;
};

inline DweightBlockFuncs define_rms_norm_dweight_blocks(const Halide::Func &dy, const Halide::Func &x,
                                                        const Halide::Func &inv, const Halide::Expr &rows,
                                                        int block_rows) {
    using namespace Halide;
    DweightBlockFuncs f;
    const Var &c = f.c, &b = f.b;
    f.rows = RDom(0, block_rows, "rows");
    Expr row = b * block_rows + f.rows.x;
    Expr safe = min(row, rows - 1);
    Expr term = to_f32(dy(c, safe)) * (to_f32(x(c, safe)) * inv(safe));
    f.acc(c, b) = 0.0f;
    f.acc(c, b) = strict_float(f.acc(c, b) + select(row < rows, term, 0.0f));
    return f;
}

// One level of the pairwise tree over the blocks' partial sums: out(c, j) = p(c, 0, j) +
// p(c, 1, j) (the runtime lays the pairs out as p's last two dimensions).
inline Halide::Func define_pair_sum(const Halide::Func &p) {
    using namespace Halide;
    Var c("c"), j("j");
    Func out("pair_sum");
    out(c, j) = strict_float(p(c, 0, j) + p(c, 1, j));
    return out;
}

}  // namespace normforge
