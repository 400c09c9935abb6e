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

// The Funcs and RDoms of one row sum, for the schedule. Nothing in here says how anything is
// computed.
struct RowSum {
    Halide::Var l{"l"}, j{"j"};
    Halide::Func term;        // term(c, r): the fp32 value summed (inlined)
    Halide::Func chunk_sum;   // chunk_sum(l, j, r): one chunk's lane sums
    Halide::RDom k;           // lane groups within one chunk (update of chunk_sum)
    Halide::Func lane_sum;    // lane_sum(l, r): chunks added in order, then the tail
    Halide::RDom chunks;      // chunk index (update 0 of lane_sum)
    Halide::RDom tail;        // the last cols mod 64 elements (update 1 of lane_sum)
    std::vector<Halide::Func> tree;  // tree[i](l, r): lanes halved i+1 times
    Halide::Expr total;       // the row's sum, tree.back()(0, r), as an Expr of r
};

// The 64 lanes combined by the fixed halving tree (l + 32, l + 16, ..., l + 1): appends the
// tree's Funcs to `tree` and returns the row's sum as an Expr of r.
inline Halide::Expr halving_tree(const std::string &name, const Halide::Func &lane_sum,
                                 const Halide::Var &l, const Halide::Var &r,
                                 std::vector<Halide::Func> &tree) {
    using namespace Halide;
    Func prev = lane_sum;
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

// The sum over c in [0, cols) of term(c, r) in the fixed order above. `name` prefixes the Funcs.
inline RowSum define_row_sum(const std::string &name, const Halide::Func &term,
                             const Halide::Expr &cols, const Halide::Var &r) {
    using namespace Halide;
    RowSum s;
    s.term = term;
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
            strict_float(s.chunk_sum(l, j, r) + select(group < full_groups, term(col, r), 0.0f));
    } else {
        s.k.where(j * kGroups + s.k < full_groups);
        // The where() clause keeps every index below full_groups * kLanes <= cols; bounds
        // inference does not see through it, so say so (no clamp is generated).
        Expr col = unsafe_promise_clamped((j * kGroups + s.k) * kLanes + l, 0, cols - 1);
        s.chunk_sum(l, j, r) = strict_float(s.chunk_sum(l, j, r) + term(col, r));
    }

    s.chunks = RDom(0, num_chunks, name + "_chunks");
    const RowTail tail = row_tail(name, cols);
    s.tail = tail.r;
    s.lane_sum(l, r) = 0.0f;
    s.lane_sum(l, r) = strict_float(s.lane_sum(l, r) + s.chunk_sum(l, s.chunks, r));
    s.lane_sum(s.tail, r) = strict_float(s.lane_sum(s.tail, r) + term(tail.col, r));

    s.total = halving_tree(name, s.lane_sum, l, r, s.tree);
    return s;
}

// The columns of one row as a single reduction domain: R.x = lane (64), R.y = lane group
// within its chunk (64), R.z = chunk, restricted to the full groups (the ragged tail of
// cols mod 64 elements is not in it). `col` is the column of (R.x, R.y, R.z). Two Funcs
// updated over the same RowDomain have the same loops, which a schedule may fuse
// (compute_with): the pipelined RMSNorm kernel writes one row while it sums the next.
struct RowDomain {
    Halide::RDom R;
    Halide::Expr full_groups;  // cols / 64
    Halide::Expr group;        // the lane group of (R.y, R.z) in the row
    Halide::Expr col;
    RowTail tail;              // the last cols mod 64 elements
};

inline RowDomain row_domain(const std::string &name, const Halide::Expr &cols) {
    using namespace Halide;
    RowDomain d;
    d.full_groups = cols / kLanes;
    Expr num_chunks = (d.full_groups + kGroups - 1) / kGroups;
    d.R = RDom(0, kLanes, 0, kGroups, 0, num_chunks, name);
    d.group = d.R.z * kGroups + d.R.y;
    d.R.where(d.group < d.full_groups);
    // The where() clause keeps every index below full_groups * kLanes <= cols (bounds
    // inference does not see through it).
    d.col = unsafe_promise_clamped(d.group * kLanes + d.R.x, 0, cols - 1);
    d.tail = row_tail(name, cols);
    return d;
}

// The same sum as define_row_sum, bit for bit, written as one reduction over a RowDomain:
// acc(l, r) = {sum of the finished chunks, sum of the current chunk}. A lane's chunk sum starts
// from 0 at the chunk's first group and is added to the finished chunks after its last group,
// so the additions are those of define_row_sum, in the same order. The tail and the 64 -> 1
// tree are define_row_sum's.
struct FlatRowSum {
    Halide::Var l{"l"};
    Halide::Func acc;       // acc(l, r): {finished chunks, current chunk}; update 0 over d.R
    Halide::Func lane_sum;  // lane_sum(l, r): acc's finished chunks, then the tail (update 0)
    std::vector<Halide::Func> tree;
    Halide::Expr total;     // the row's sum, as an Expr of r
};

inline FlatRowSum define_row_sum_flat(const std::string &name, const Halide::Func &term,
                                      const RowDomain &d, const Halide::Var &r) {
    using namespace Halide;
    FlatRowSum s;
    const Var &l = s.l;
    s.acc = Func(name + "_acc");
    s.lane_sum = Func(name + "_lane_sum");
    s.acc(l, r) = Tuple(0.0f, 0.0f);
    Expr chunk = strict_float(select(d.R.y == 0, 0.0f, s.acc(d.R.x, r)[1]) + term(d.col, r));
    Expr chunk_done = d.R.y == kGroups - 1 || d.group == d.full_groups - 1;
    Expr finished = s.acc(d.R.x, r)[0];
    s.acc(d.R.x, r) = Tuple(select(chunk_done, strict_float(finished + chunk), finished), chunk);

    s.lane_sum(l, r) = s.acc(l, r)[0];
    s.lane_sum(d.tail.r, r) = strict_float(s.lane_sum(d.tail.r, r) + term(d.tail.col, r));
    s.total = halving_tree(name, s.lane_sum, l, r, s.tree);
    return s;
}

}  // namespace normforge
