// The per-row statistic's schedule, shared by the CPU families: computed for one row right
// before that row is normalized (x is read from memory once, then re-read from L1/L2).
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"

namespace normforge {

// at: the loop (of the output) over single rows. w: lanes per vector (must divide 64): the
// 64 summation lanes become 64/w independent vector accumulators.
inline void schedule_row_statistic_cpu(RmsNormFuncs &f, Halide::Func y, Halide::Var at, int w) {
    using namespace Halide;
    Var lo("lo"), li("li");
    // Constant-size storage keeps the statistic on the stack (a dynamic size would be a heap
    // allocation per row).
    f.inv_rms.compute_at(y, at).bound_storage(f.r, 1);
    f.lane_sum.compute_at(y, at).bound_storage(f.r, 1).vectorize(f.l, w);
    // lane_sum.update(0): for each chunk (in order), for each vector of lanes.
    f.lane_sum.update(0).split(f.l, lo, li, w).reorder(li, lo, f.chunks.x).vectorize(li).unroll(lo);
    // update(1), the ragged tail, stays a scalar loop of at most 63 elements.
    f.lane_sum.update(1).unscheduled();
    // chunk_sum: 64/w vector accumulators, one pass over the chunk's lane groups.
    f.chunk_sum.compute_at(f.lane_sum, f.chunks.x).vectorize(f.l, w);
    f.chunk_sum.update().split(f.l, lo, li, w).reorder(li, lo, f.k.x).vectorize(li).unroll(lo);
    // The 64 -> 1 tree is inlined into inv_rms: 63 scalar adds per row, in the fixed order.
}

}  // namespace normforge
