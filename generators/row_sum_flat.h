// The fixed-order row sum of generators/row_sum.h, written as one reduction over a row's columns
// (a RowDomain), so that another update over the same columns can share its loop: the pipelined
// RMSNorm kernel writes one row while it sums the next. Algorithm only; the same additions in
// the same order as define_row_sum.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"
#include "generators/row_sum.h"

namespace normforge {

// The columns of one row as a single reduction domain: R.x = lane (64), R.y = lane group
// within its chunk (64), R.z = chunk, restricted to the full groups (the ragged tail of
// cols mod 64 elements is not in it). `col` is the column of (R.x, R.y, R.z). Two Funcs
// updated over the same RowDomain have the same loops, which a schedule may fuse
// (compute_with): the pipelined RMSNorm kernel writes one row while it sums the next.
// In the bf16 pairs layout (RowTerm), R.x is a pair of lanes (32 per group) and `col` a pair.
struct RowDomain {
    bool pairs = false;
    Halide::RDom R;
    Halide::Expr full_groups;  // cols / 64
    Halide::Expr group;        // the lane group of (R.y, R.z) in the row
    Halide::Expr col;          // the column (pair) of (R.x, R.y, R.z)
    RowTail tail;              // the last cols mod 64 elements
    RowTail out_tail;          // the same columns as output columns (pairs): what y's tail writes
};

// cols: elements (even for pairs).
inline RowDomain row_domain(const std::string &name, const Halide::Expr &cols, bool pairs = false) {
    using namespace Halide;
    RowDomain d;
    d.pairs = pairs;
    const int per_group = pairs ? kLanes / 2 : kLanes;  // R.x's extent
    Expr out_cols = pairs ? cols / 2 : cols;
    d.full_groups = cols / kLanes;
    Expr num_chunks = (d.full_groups + kGroups - 1) / kGroups;
    d.R = RDom(0, per_group, 0, kGroups, 0, num_chunks, name);
    d.group = d.R.z * kGroups + d.R.y;
    d.R.where(d.group < d.full_groups);
    // The where() clause keeps every index below full_groups * per_group <= out_cols (bounds
    // inference does not see through it).
    d.col = unsafe_promise_clamped(d.group * per_group + d.R.x, 0, out_cols - 1);
    d.tail = row_tail(name, cols);
    d.out_tail = d.tail;
    if (pairs) {
        d.out_tail.r = RDom(0, per_group, name + "_out_tail");
        d.out_tail.r.where(d.out_tail.r < out_cols - d.full_groups * per_group);
        d.out_tail.col = unsafe_promise_clamped(d.full_groups * per_group + d.out_tail.r, 0, out_cols - 1);
    }
    return d;
}

// The same sum as define_row_sum, bit for bit, written as one reduction over a RowDomain:
// acc(l, r) = {sum of the finished chunks, sum of the current chunk} (pairs layout: {the low
// lane's two, the high lane's two} for the pair of lanes l). A lane's chunk sum starts from 0 at
// the chunk's first group and is added to the finished chunks after its last group, so the
// additions are those of define_row_sum, in the same order. The tail and the 64 -> 1 tree are
// define_row_sum's; lane_sum holds the lanes in slots (RowTerm).
struct FlatRowSum {
    Halide::Var l{"l"};
    Halide::Func acc;       // acc(l, r): see above; update 0 over d.R
    Halide::Func lane_sum;  // lane_sum(l, r): acc's finished chunks, then the tail (update 0)
    std::vector<Halide::Func> tree;
    Halide::Expr total;     // the row's sum, as an Expr of r
};

inline FlatRowSum define_row_sum_flat(const std::string &name, const RowTerm &term, const RowDomain &d,
                                      const Halide::Var &r) {
    using namespace Halide;
    FlatRowSum s;
    const Var &l = s.l;
    s.acc = Func(name + "_acc");
    s.lane_sum = Func(name + "_lane_sum");
    Expr chunk_done = d.R.y == kGroups - 1 || d.group == d.full_groups - 1;
    // One lane's accumulators {finished, current} after adding `value`: acc[i], acc[i + 1].
    auto step = [&](int i, const Expr &value) {
        Expr chunk = strict_float(select(d.R.y == 0, 0.0f, s.acc(d.R.x, r)[i + 1]) + value);
        Expr finished = s.acc(d.R.x, r)[i];
        return std::vector<Expr>{select(chunk_done, strict_float(finished + chunk), finished), chunk};
    };
    if (!d.pairs) {
        s.acc(l, r) = Tuple(0.0f, 0.0f);
        s.acc(d.R.x, r) = Tuple(step(0, term.term(d.col, r)));
        s.lane_sum(l, r) = s.acc(l, r)[0];
    } else {
        s.acc(l, r) = Tuple(0.0f, 0.0f, 0.0f, 0.0f);
        std::vector<Expr> lo = step(0, term.low(d.col, r)), hi = step(2, term.high(d.col, r));
        s.acc(d.R.x, r) = Tuple(lo[0], lo[1], hi[0], hi[1]);
        const int half = kLanes / 2;
        s.lane_sum(l, r) = select(l < half, s.acc(clamp(l, 0, half - 1), r)[0],
                                  s.acc(clamp(l - half, 0, half - 1), r)[2]);
    }
    Expr slot = term.slot_of_lane(d.tail.r);
    s.lane_sum(slot, r) = strict_float(s.lane_sum(slot, r) + term.at_col(d.tail.col, r));
    s.total = halving_tree(name, s.lane_sum, term, l, r, s.tree);
    return s;
}

}  // namespace normforge
