// RMSNorm, the algorithm only (no schedule). Read this file for the math.
//
//   inv_rms(r) = 1 / sqrt(sum_c x(c, r)^2 / cols + eps)      (fp32 whatever the dtype)
//   y(c, r)    = x(c, r) * inv_rms(r) * w'(c),  w' = 1 | w | 1 + w
//
// The order of additions is fixed by the row length alone, so a row's result never depends on
// the schedule, the thread count or the other rows in the call (batch invariance):
//   * element c of the row feeds lane c mod kLanes (kLanes = 64);
//   * lanes accumulate chunk by chunk: chunk j holds lane groups [j*kGroups, (j+1)*kGroups),
//     each chunk starts from 0, and the chunks of a lane are added in order j = 0, 1, ...;
//   * the ragged tail (cols mod kLanes elements) is added last, into lanes 0..tail-1;
//   * the 64 lanes combine by a fixed halving tree (l + 32, l + 16, ..., l + 1).
// A schedule may vectorise lanes, unroll, parallelise chunks or rows: never reorder a sum.
#pragma once

#include "Halide.h"

namespace normforge {

enum class WeightMode { None = 0, Scale = 1, OnePlus = 2 };
enum class Rounding { Once = 0, Llama = 1 };

constexpr int kLanes = 64;   // independent partial sums per row
constexpr int kGroups = 64;  // lane groups per chunk: a chunk is kLanes * kGroups = 4096 elements

// The Funcs, Vars and RDoms a schedule needs. Nothing in here says how anything is computed.
struct RmsNormFuncs {
    Halide::Var c{"c"}, r{"r"}, l{"l"}, j{"j"};
    Halide::Func sq{"sq"};           // sq(c, r): x^2 in fp32
    Halide::Func chunk_sum{"chunk_sum"};  // chunk_sum(l, j, r): one chunk's lane sums
    Halide::RDom k;                  // lane groups within one chunk (update of chunk_sum)
    Halide::Func lane_sum{"lane_sum"};    // lane_sum(l, r): chunks added in order, then the tail
    Halide::RDom chunks;             // chunk index (update 0 of lane_sum)
    Halide::RDom tail;               // the last cols mod 64 elements (update 1 of lane_sum)
    std::vector<Halide::Func> tree;  // tree[i](l, r): lanes halved i+1 times; tree.back()(0, r) is the total
    Halide::Func inv_rms{"inv_rms"}; // inv_rms(r)
    Halide::Func y{"y"};             // y(c, r), the normalized output in the storage dtype
    Halide::Expr cols;
    // The fused op's rounded sum x + residual (what the statistic and y read, and what is
    // stored back); undefined for plain rms_norm. Set by the generator.
    Halide::Func residual_sum;
};

// Rounds an fp32 value to the storage dtype (IEEE round to nearest even; NaN stays NaN: Halide's
// emulated fp16 conversion, used where the CPU has none (SSE4.1, baseline AArch64), turns NaN
// into Inf, so NaN is passed through explicitly; is_nan() is always evaluated strictly).
inline Halide::Expr to_storage(const Halide::Type &dtype, const Halide::Expr &v) {
    using namespace Halide;
    if (dtype != Float(16)) return cast(dtype, v);
    return select(is_nan(v), reinterpret(Float(16), cast<uint16_t>(0x7E00)), cast(dtype, v));
}

// Fused residual add (vLLM's fused_add_rms_norm): s = x + residual, rounded to the dtype; the
// statistic and the output are computed from this rounded s (what is stored back).
inline void define_residual_sum(Halide::Func s, const Halide::Func &x, const Halide::Func &residual,
                                const Halide::Type &dtype) {
    using namespace Halide;
    Var c("c"), r("r");
    s(c, r) = to_storage(dtype, cast<float>(x(c, r)) + cast<float>(residual(c, r)));
}

// x: (cols, rows) in the storage dtype; weight: (cols) in the same dtype (unused for None).
inline RmsNormFuncs define_rms_norm(const Halide::Func &x, const Halide::Func &weight,
                                    const Halide::Expr &cols, const Halide::Expr &eps,
                                    const Halide::Type &dtype, WeightMode mode, Rounding rounding) {
    using namespace Halide;
    RmsNormFuncs f;
    const Var &c = f.c, &r = f.r, &l = f.l, &j = f.j;
    f.cols = cols;

    f.sq(c, r) = cast<float>(x(c, r)) * cast<float>(x(c, r));

    Expr full_groups = cols / kLanes;                       // complete groups of 64
    Expr num_chunks = (full_groups + kGroups - 1) / kGroups;
    f.k = RDom(0, kGroups, "k");
    f.k.where(j * kGroups + f.k < full_groups);
    f.chunk_sum(l, j, r) = 0.0f;
    // The where() clause keeps every index below full_groups * kLanes <= cols; bounds
    // inference does not see through it, so say so (no clamp is generated).
    Expr col = unsafe_promise_clamped((j * kGroups + f.k) * kLanes + l, 0, cols - 1);
    f.chunk_sum(l, j, r) += f.sq(col, r);

    f.chunks = RDom(0, num_chunks, "chunks");
    f.tail = RDom(0, kLanes, "tail");
    f.tail.where(f.tail < cols - full_groups * kLanes);
    Expr tail_col = unsafe_promise_clamped(full_groups * kLanes + f.tail, 0, cols - 1);
    f.lane_sum(l, r) = 0.0f;
    f.lane_sum(l, r) += f.chunk_sum(l, f.chunks, r);
    f.lane_sum(f.tail, r) += f.sq(tail_col, r);

    Func prev = f.lane_sum;
    for (int half = kLanes / 2; half >= 1; half /= 2) {
        Func t("tree" + std::to_string(half));
        t(l, r) = prev(l, r) + prev(l + half, r);
        f.tree.push_back(t);
        prev = t;
    }
    Expr total = prev(0, r);
    f.inv_rms(r) = 1.0f / sqrt(total / cast<float>(cols) + eps);

    Expr xf = cast<float>(x(c, r));
    Expr wf = cast<float>(weight(c));
    Expr normalized;
    if (mode == WeightMode::None) {
        normalized = to_storage(dtype, xf * f.inv_rms(r));
    } else if (rounding == Rounding::Once || dtype == Float(32)) {
        // fp32 weight multiply, one rounding (PyTorch, FlashInfer). For fp32 storage the HF-Llama
        // order is the same computation, so it shares this branch.
        Expr w = (mode == WeightMode::Scale) ? wf : 1.0f + wf;
        normalized = to_storage(dtype, xf * f.inv_rms(r) * w);
    } else {
        // HF-Llama: round x * inv_rms to the dtype, then multiply by w' in the dtype (a 16-bit op
        // is the fp32 op rounded once: fp32 holds these sums and products of 16-bit operands
        // closely enough that the double rounding is harmless).
        Expr t = cast<float>(to_storage(dtype, xf * f.inv_rms(r)));
        Expr w = (mode == WeightMode::Scale) ? wf : cast<float>(to_storage(dtype, 1.0f + wf));
        normalized = to_storage(dtype, t * w);
    }
    f.y(c, r) = normalized;
    return f;
}

}  // namespace normforge
