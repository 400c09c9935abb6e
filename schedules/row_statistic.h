// What the CPU families share: rows split into tasks, each row's statistic computed right
// before that row is normalized (x is read from memory once, then re-read from L1/L2).
// schedules/x86.h and schedules/arm.h choose the parameters for their hardware.
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"

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

// The output loops: rows in tasks of rows_per_task (parallel when k.parallel), each row's
// values w lanes at a time, unrolled k.unroll times, the ragged last vector guarded; then
// inv_rms fused into the same row loop and the row statistic scheduled at it.
// whole_vector_loop: also compile a loop without any tail check for rows whose length is a
// multiple of w * unroll (for targets where the guarded tail is expensive).
inline void schedule_rows_cpu(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out, const CpuKnobs &k,
                              int w, bool whole_vector_loop) {
    using namespace Halide;
    Var ro("ro"), ri("ri"), co("co"), ci("ci"), li("li");
    y.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    y.split(f.c, co, ci, w * k.unroll, TailStrategy::GuardWithIf)
        .split(ci, ci, li, w, TailStrategy::GuardWithIf)
        .vectorize(li)
        .unroll(ci);
    if (k.parallel) y.parallel(ro);
    if (f.residual_sum.defined()) {
        // The fused op's two outputs read x + residual once per vector group, into registers,
        // before either is stored: y may be x and the residual is rewritten in place, so no
        // load of x or residual may follow a store of this group (the statistic's pass, done
        // before any store of the row, keeps reading x + residual inline).
        Func s_out = f.residual_sum.in({y, f.y});
        s_out.compute_at(y, co)
            .bound_storage(f.r, 1)
            .bound_storage(f.c, w * k.unroll)
            .vectorize(f.c, w, TailStrategy::GuardWithIf);
    }
    if (whole_vector_loop) y.specialize(f.cols % (w * k.unroll) == 0);  // copies the schedule so far

    inv_out.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    if (k.parallel) inv_out.parallel(ro);
    inv_out.compute_with(y, ri);

    schedule_row_statistic_cpu(f, y, ri, w);
}

}  // namespace normforge
