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
#include <utility>

#include "Halide.h"
#include "generators/bf16_pairs.h"
#include "generators/row_sum.h"
#include "generators/row_sum_flat.h"
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
    Halide::Func sq{"sq"};           // sq(c, r): x^2 in fp32 (undefined in the pairs layout)
    RowSum ss;                       // the row's sum of squares
    Halide::Func inv_rms{"inv_rms"}; // inv_rms(r)
    Halide::Func y{"y"};             // y(c, r), the normalized output in the storage dtype
    // The pairs layout's weight operands w'(2p) and w'(2p + 1) as fp32 (weight_operand), which
    // y reads; undefined in the natural layout and for WeightMode::None.
    Halide::Func w_low{"w_low"}, w_high{"w_high"};
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

// The same in the bf16 pairs layout (define_rms_norm_pairs): s, x and residual are fp32 buffers
// whose elements each hold two bf16 values; the same sums, rounded the same way.
inline void define_residual_sum_pairs(Halide::Func s, const Halide::Func &x, const Halide::Func &residual) {
    using namespace Halide;
    Var c("c"), r("r");
    Expr xb = pair_bits(x(c, r)), rb = pair_bits(residual(c, r));
    s(c, r) = pack_bf16_pair(pair_low_f32(xb) + pair_low_f32(rb), pair_high_f32(xb) + pair_high_f32(rb));
}

// The weight operand w' of one column as fp32: w, or 1 + w (Gemma), rounded to the dtype in the
// HF-Llama order (a 16-bit add is the fp32 add rounded once); undefined for WeightMode::None.
// wf: the stored weight as fp32; round(v): v rounded to the dtype, as fp32.
template <typename RoundFn>
Halide::Expr weight_operand(const Halide::Expr &wf, const Halide::Type &dtype, WeightMode mode,
                            Rounding rounding, RoundFn round) {
    using namespace Halide;
    if (mode == WeightMode::None) return Expr();
    if (mode == WeightMode::Scale) return wf;
    Expr w = strict_float(1.0f + wf);
    return (rounding == Rounding::Once || dtype == Float(32)) ? w : round(w);
}

// The fp32 value one output is rounded from: x * inv_rms * w' in the order the variant
// prescribes. xf: the stored value as fp32; w: the weight operand (weight_operand; undefined
// for None); round(v) as above (the HF-Llama order's intermediate rounding).
template <typename RoundFn>
Halide::Expr normalized_f32(const Halide::Expr &xf, const Halide::Expr &inv_rms, const Halide::Expr &w,
                            const Halide::Type &dtype, WeightMode mode, Rounding rounding, RoundFn round) {
    using namespace Halide;
    // strict_float: the product is evaluated left to right as written, in every schedule (LLVM
    // may otherwise reassociate it differently for different vector widths, and the kernels of
    // two shape classes would disagree in the last bit).
    if (mode == WeightMode::None) return strict_float(xf * inv_rms);
    // fp32 weight multiply, one rounding (PyTorch, FlashInfer). For fp32 storage the HF-Llama
    // order is the same computation, so it shares this branch.
    if (rounding == Rounding::Once || dtype == Float(32)) return strict_float(xf * inv_rms * w);
    // HF-Llama: round x * inv_rms to the dtype, then multiply by w' in the dtype (a 16-bit op
    // is the fp32 op rounded once: fp32 holds these sums and products of 16-bit operands
    // closely enough that the double rounding is harmless).
    return strict_float(round(strict_float(xf * inv_rms)) * w);
}

// One output value in the storage dtype. x and w are storage values, inv_rms fp32.
inline Halide::Expr normalized_value(const Halide::Expr &x, const Halide::Expr &inv_rms,
                                     const Halide::Expr &w_storage, const Halide::Type &dtype,
                                     WeightMode mode, Rounding rounding) {
    auto round = [&](const Halide::Expr &v) { return to_f32(to_storage(dtype, v)); };
    Halide::Expr w = weight_operand(to_f32(w_storage), dtype, mode, rounding, round);
    return to_storage(dtype, normalized_f32(to_f32(x), inv_rms, w, dtype, mode, rounding, round));
}

// The weight operands of a pair of columns (2p: low half, 2p + 1: high half) from the weight's
// pair w (an fp32 element holding two bf16 values); undefined Exprs for WeightMode::None.
inline std::pair<Halide::Expr, Halide::Expr> pair_weight_operands(const Halide::Expr &w, WeightMode mode,
                                                                  Rounding rounding) {
    using namespace Halide;
    auto round = [](const Expr &v) { return round_to_bf16_f32(v); };
    Expr wb = pair_bits(w);
    return {weight_operand(pair_low_f32(wb), BFloat(16), mode, rounding, round),
            weight_operand(pair_high_f32(wb), BFloat(16), mode, rounding, round)};
}

// One pair of bf16 outputs (generators/bf16_pairs.h) as the buffer's fp32 element: columns 2p
// and 2p + 1 of y from the pair x (an fp32 element holding two bf16 values) and the two columns'
// weight operands (pair_weight_operands).
inline Halide::Expr normalized_pair(const Halide::Expr &x, const Halide::Expr &inv_rms, const Halide::Expr &w_low,
                                    const Halide::Expr &w_high, WeightMode mode, Rounding rounding) {
    using namespace Halide;
    Expr xb = pair_bits(x);
    auto round = [](const Expr &v) { return round_to_bf16_f32(v); };
    const Type bf16 = BFloat(16);
    return pack_bf16_pair(normalized_f32(pair_low_f32(xb), inv_rms, w_low, bf16, mode, rounding, round),
                          normalized_f32(pair_high_f32(xb), inv_rms, w_high, bf16, mode, rounding, round));
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

// The squares of a matrix of bf16 pairs in fp32, as a row sum's term (RowTerm's pairs layout).
inline RowTerm pair_squares(const std::string &name, const Halide::Func &xp) {
    using namespace Halide;
    Var c("c"), r("r");
    Func low(name + "_low"), high(name + "_high");
    Expr lo = pair_low_f32(pair_bits(xp(c, r))), hi = pair_high_f32(pair_bits(xp(c, r)));
    low(c, r) = lo * lo;
    high(c, r) = hi * hi;
    return RowTerm(low, high);
}

// The same RMSNorm over bf16 pairs (generators/bf16_pairs.h): xp (pairs, rows) and wp (pairs)
// are fp32 buffers whose elements each hold two bf16 values; y(p, r) is such an element too.
// Bit for bit define_rms_norm with dtype bf16 (the row sum in the pairs layout of RowTerm).
// f.c runs over pairs, and f.cols is the number of pairs (y's columns).
inline RmsNormFuncs define_rms_norm_pairs(const Halide::Func &xp, const Halide::Func &wp,
                                          const Halide::Expr &pairs, const Halide::Expr &eps,
                                          WeightMode mode, Rounding rounding) {
    using namespace Halide;
    RmsNormFuncs f;
    const Var &c = f.c, &r = f.r;
    f.cols = pairs;
    f.ss = define_row_sum("ss", pair_squares("sq", xp), 2 * pairs, r);
    f.inv_rms(r) = inv_rms_of(f.ss.total, 2 * pairs, eps);
    // The weight operands as Funcs of their own: a schedule may compute them once for many rows
    // (schedules/row_statistic.h) instead of widening the weight again for every row.
    Expr w_low, w_high;
    if (mode != WeightMode::None) {
        std::pair<Expr, Expr> w = pair_weight_operands(wp(c), mode, rounding);
        f.w_low(c) = w.first;
        f.w_high(c) = w.second;
        w_low = f.w_low(c);
        w_high = f.w_high(c);
    }
    f.y(c, r) = normalized_pair(xp(c, r), f.inv_rms(r), w_low, w_high, mode, rounding);
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
    Halide::Func sq_next{"sq_next"};    // x_next^2 in fp32 (undefined in the pairs layout)
    FlatRowSum ss_next;                 // the sum of squares of x_next's rows
    Halide::Func inv_next;              // inv_next(r): their statistic
};

// pairs: x, x_next, weight and y in the bf16 pairs layout (define_rms_norm_pairs), dtype bf16;
// cols is then the number of elements (twice the buffers' columns).
inline RmsNormPipelinedFuncs define_rms_norm_pipelined(const Halide::Func &x, const Halide::Func &x_next,
                                                       const Halide::Func &inv_in,
                                                       const Halide::Func &weight, const Halide::Expr &cols,
                                                       const Halide::Expr &eps, const Halide::Type &dtype,
                                                       WeightMode mode, Rounding rounding,
                                                       Halide::Func y, Halide::Func inv_next, bool pairs = false) {
    using namespace Halide;
    RmsNormPipelinedFuncs f;
    f.y = y;  // the caller's Funcs (the pipeline outputs) are defined here
    f.inv_next = inv_next;
    const Var &c = f.c, &r = f.r;
    f.d = row_domain("cols", cols, pairs);
    const Expr &col = f.d.col, &tcol = f.d.out_tail.col;
    auto value = [&](const Expr &at) {
        if (!pairs) return normalized_value(x(at, r), inv_in(r), weight(at), dtype, mode, rounding);
        std::pair<Expr, Expr> w = pair_weight_operands(weight(at), mode, rounding);
        return normalized_pair(x(at, r), inv_in(r), w.first, w.second, mode, rounding);
    };
    f.y(c, r) = undef(pairs ? Float(32) : dtype);
    f.y(col, r) = value(col);
    f.y(tcol, r) = value(tcol);
    if (pairs) {
        f.ss_next = define_row_sum_flat("ss_next", pair_squares("sq_next", x_next), f.d, r);
    } else {
        f.sq_next(c, r) = to_f32(x_next(c, r)) * to_f32(x_next(c, r));
        f.ss_next = define_row_sum_flat("ss_next", f.sq_next, f.d, r);
    }
    f.inv_next(r) = inv_rms_of(f.ss_next.total, cols, eps);
    return f;
}

}  // namespace normforge
