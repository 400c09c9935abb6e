// The fixed-order row sum every op's row statistic uses (RMSNorm's sum of squares, LayerNorm's
// sum and sum of squared deviations, the backward pass's row dot product). Algorithm only.
//
// The order of additions is fixed by the row length alone, so a row's result never depends on
// the schedule, the thread count or the other rows in the call (batch invariance):
//   * element c of the row feeds lane c mod kLanes (kLanes = 64);
//   * lanes accumulate chunk by chunk: chunk j holds lane groups [j*kGroups, (j+1)*kGroups),
//     each chunk starts from 0, and the chunks of a lane are added in order j = 0, 1, ...;
//   * the ragged tail (cols mod kLanes elements) is added last, into lanes 0..tail-1;
//   * the 64 lanes combine by a fixed halving tree (l + 32, l + 16, ..., l + 1).
// A schedule may vectorise lanes, unroll, parallelise chunks or rows: never reorder a sum.
// Every add of the sum is strict_float: Halide otherwise lets LLVM reassociate float math (and
// fuse a multiply into the add), and LLVM did so differently for different vector widths, which
// broke the bitwise equality of kernels whose knobs differ (found at SSE4.1 by the batch
// invariance tests). Strict adds keep this order exactly in every schedule and feature level.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "Halide.h"

namespace normforge {

constexpr int kLanes = 64;   // independent partial sums per row
constexpr int kGroups = 64;  // lane groups per chunk: a chunk is kLanes * kGroups = 4096 elements

// How the last, partial chunk is expressed (the sum is the same bit for bit either way):
// false: its missing groups are skipped (an RDom predicate: no wasted work, what the CPU kernels
// use); true: every chunk has all kGroups groups and a missing group adds +0.0f. Adding +0.0f
// never changes an accumulator that starts at +0.0f (it cannot become -0.0f, and x + 0 = x for
// every other x, Inf and NaN included), so the bits agree; the group loop then has a constant
// trip count, which GPU kernels need to unroll it without a branch per load (each branch
// serialises the loads behind it). Set by generators compiling for a GPU.
inline bool &row_sum_full_chunks() {
    static bool on = false;
    return on;
}

// What a row sum adds, the fp32 term of each column, in one of two layouts:
//  * natural: term(c, r);
//  * bf16 pairs (generators/bf16_pairs.h): low(p, r) and high(p, r), the terms of columns 2p and
//    2p + 1 (cols is even). The sum's 64 lanes are then stored in "slots": slots 0..31 hold the
//    even lanes 0, 2, ..., 62 and slots 32..63 the odd lanes, so that a vector of consecutive
//    slots reads consecutive pairs. Each lane still receives its columns in the same order, and
//    the tree reads the lanes in lane order: the sum is the natural layout's, bit for bit.
struct RowTerm {
    Halide::Func term;       // natural layout
    Halide::Func low, high;  // pairs layout
    RowTerm(Halide::Func t) : term(std::move(t)) {}
    RowTerm(Halide::Func lo, Halide::Func hi) : low(std::move(lo)), high(std::move(hi)) {}
    bool pairs() const { return low.defined(); }

    // The term of lane slot `slot` of lane group `group` (a full group of 64 columns).
    Halide::Expr at_slot(const Halide::Expr &group, const Halide::Expr &slot, const Halide::Expr &cols,
                         const Halide::Expr &r) const {
        using namespace Halide;
        // Callers keep group below cols / 64 (a where() clause bounds inference does not see
        // through), so say so (no clamp is generated).
        if (!pairs()) return term(unsafe_promise_clamped(group * kLanes + slot, 0, cols - 1), r);
        const int half = kLanes / 2;
        Expr base = group * half;
        Expr pl = unsafe_promise_clamped(base + slot, 0, cols / 2 - 1);
        Expr ph = unsafe_promise_clamped(base + slot - half, 0, cols / 2 - 1);
        return select(slot < half, low(pl, r), high(ph, r));
    }
    // The term of column `col` (the ragged tail's scalar loop).
    Halide::Expr at_col(const Halide::Expr &col, const Halide::Expr &r) const {
        if (!pairs()) return term(col, r);
        return Halide::select(col % 2 == 0, low(col / 2, r), high(col / 2, r));
    }
    // Where lane l is stored.
    Halide::Expr slot_of_lane(const Halide::Expr &l) const {
        return pairs() ? (l % 2) * (kLanes / 2) + l / 2 : l;
    }
};

// The Funcs and RDoms of one row sum, for the schedule. Nothing in here says how anything is
// computed. Lane indices below are slots (RowTerm): the lanes themselves in the natural layout.
struct RowSum {
    Halide::Var l{"l"}, j{"j"};
    Halide::Func chunk_sum;   // chunk_sum(l, j, r): one chunk's lane sums
    Halide::RDom k;           // lane groups within one chunk (update of chunk_sum)
    Halide::Func lane_sum;    // lane_sum(l, r): chunks added in order, then the tail
    Halide::RDom chunks;      // chunk index (update 0 of lane_sum)
    Halide::RDom tail;        // the last cols mod 64 elements (update 1 of lane_sum)
    std::vector<Halide::Func> tree;  // tree[i](l, r): lanes halved i+1 times
    Halide::Expr total;       // the row's sum, tree.back()(0, r), as an Expr of r
};

// The 64 lanes combined by the fixed halving tree (l + 32, l + 16, ..., l + 1): appends the
// tree's Funcs to `tree` and returns the row's sum as an Expr of r. lane_sum holds lane l at
// slot term.slot_of_lane(l).
inline Halide::Expr halving_tree(const std::string &name, const Halide::Func &lane_sum, const RowTerm &term,
                                 const Halide::Var &l, const Halide::Var &r,
                                 std::vector<Halide::Func> &tree) {
    using namespace Halide;
    Func prev = lane_sum;
    if (term.pairs()) {
        prev = Func(name + "_lanes");
        prev(l, r) = lane_sum(term.slot_of_lane(l), r);
    }
    for (int half = kLanes / 2; half >= 1; half /= 2) {
        Func t(name + "_tree" + std::to_string(half));
        t(l, r) = strict_float(prev(l, r) + prev(l + half, r));
        tree.push_back(t);
        prev = t;
    }
    return prev(0, r);
}

// The ragged tail of a row, its last cols mod 64 elements: an RDom over them and the column of
// r.x (added last, into lanes 0..tail-1).
struct RowTail {
    Halide::RDom r;
    Halide::Expr col;
};

inline RowTail row_tail(const std::string &name, const Halide::Expr &cols) {
    using namespace Halide;
    RowTail t;
    Expr full_groups = cols / kLanes;
    t.r = RDom(0, kLanes, name + "_tail");
    t.r.where(t.r < cols - full_groups * kLanes);
    t.col = unsafe_promise_clamped(full_groups * kLanes + t.r, 0, cols - 1);
    return t;
}

// The sum over c in [0, cols) of the term in the fixed order above. `name` prefixes the Funcs.
inline RowSum define_row_sum(const std::string &name, const RowTerm &term, const Halide::Expr &cols,
                             const Halide::Var &r) {
    using namespace Halide;
    RowSum s;
    s.chunk_sum = Func(name + "_chunk_sum");
    s.lane_sum = Func(name + "_lane_sum");
    const Var &l = s.l, &j = s.j;

    Expr full_groups = cols / kLanes;  // complete groups of 64
    Expr num_chunks = (full_groups + kGroups - 1) / kGroups;
    s.k = RDom(0, kGroups, name + "_k");
    s.chunk_sum(l, j, r) = 0.0f;
    if (row_sum_full_chunks()) {
        Expr group = j * kGroups + s.k;
        Expr col = clamp(group * kLanes + l, 0, cols - 1);  // a missing group reads a valid element
        s.chunk_sum(l, j, r) =
            strict_float(s.chunk_sum(l, j, r) + select(group < full_groups, term.term(col, r), 0.0f));
    } else {
        s.k.where(j * kGroups + s.k < full_groups);
        s.chunk_sum(l, j, r) = strict_float(s.chunk_sum(l, j, r) + term.at_slot(j * kGroups + s.k, l, cols, r));
    }

    s.chunks = RDom(0, num_chunks, name + "_chunks");
    const RowTail tail = row_tail(name, cols);
    s.tail = tail.r;
    s.lane_sum(l, r) = 0.0f;
    s.lane_sum(l, r) = strict_float(s.lane_sum(l, r) + s.chunk_sum(l, s.chunks, r));
    Expr slot = term.slot_of_lane(s.tail);
    s.lane_sum(slot, r) = strict_float(s.lane_sum(slot, r) + term.at_col(tail.col, r));

    s.total = halving_tree(name, s.lane_sum, term, l, r, s.tree);
    return s;
}

}  // namespace normforge
