// The pipelined RMSNorm kernel's schedule (CPU, x86 and AArch64 alike). Only "how": it receives
// the Funcs of define_rms_norm_pipelined (generators/rms_norm_algorithm.h) and the knobs.
//
// The kernel's point is one loop: for each lane group of 64 columns (kLanes), the 64 outputs of
// this row are written and the 64 elements of the next row are added to their lanes, so the
// loads of the next row and the stores of this one are in flight together (two separate passes
// leave one core's memory traffic idle half the time: about 0.75-0.8x of a copy's speed cold,
// against 0.9-1.0x for this loop on a Zen 2). Both are updates over the same RowDomain, fused
// with compute_with down to the group loop; the statistic for the row being written comes in
// as an input, so the two fused stages do not depend on each other (Halide requires that).
#pragma once

#include <algorithm>

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"
#include "schedules/row_statistic.h"  // check_knobs_or_report

namespace normforge {

// w: lanes per vector (divides 64). k.unroll: lane groups per iteration of the fused loop.
inline void schedule_rms_norm_pipelined_cpu(RmsNormPipelinedFuncs &f, Halide::Func y, Halide::Func inv_out,
                                            const CpuKnobs &k, int w) {
    using namespace Halide;
    const RDom &R = f.d.R;
    RVar lo("lo"), li("li"), go("go"), gi("gi");
    // y's update writes column col(R.x, R.y, R.z), distinct for distinct (R.x, R.y, R.z), so its
    // lanes may be vectorized; Halide cannot prove that through the clamp of col and assumes a
    // race, hence allow_race_conditions (no two iterations write the same element).
    Stage yu = y.update(0);
    yu.allow_race_conditions();
    // The row sum's accumulators: 64 lanes x {finished chunks, current chunk}, at constant
    // indices once the lane loop is unrolled and the buffers have one row, so they live in
    // registers across the fused loop.
    FlatRowSum &s = f.ss_next;
    s.acc.compute_root().store_in(MemoryType::Register).vectorize(s.l, w);
    Stage au = s.acc.update(0);
    for (Stage *st : {&yu, &au}) {
        st->split(R.x, lo, li, w).vectorize(li).unroll(lo);
        if (k.unroll > 1) {
            st->split(R.y, go, gi, k.unroll, TailStrategy::GuardWithIf).reorder(li, lo, gi, go, R.z).unroll(gi);
        } else {
            st->reorder(li, lo, R.y, R.z);
        }
    }
    au.compute_with(yu, k.unroll > 1 ? go : RVar(R.y));
    // The ragged tail (< 64 columns) of both: scalar loops.
    y.update(1).unscheduled();
    s.lane_sum.compute_at(inv_out, f.r).vectorize(s.l, w);
    s.lane_sum.update(0).unscheduled();
    // The 64 -> 1 tree is inlined into inv_out: 63 scalar adds in the fixed order.
}

}  // namespace normforge
