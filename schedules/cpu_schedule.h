// CPU schedules (x86 family; the ARM family adds its own file). Only "how", never "what":
// this file receives the Funcs of generators/rms_norm_algorithm.h and a knob record.
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"

namespace normforge {

// x86-64: one row's statistic is computed right before that row is normalized, so x is read from
// memory once and re-read from L1/L2. Rows are split into parallel tasks of rows_per_task.
// The 64 summation lanes become 64/W independent vector accumulators (W = vector width),
// which hides FMA latency: AVX-512 -> 4 zmm accumulators, AVX2 -> 8 ymm, SSE4.1 -> 16 xmm.
// Measured on a 2-core AMD EPYC (Zen 4) VM: see README's benchmark table.
// y / inv_out are the pipeline outputs; f.y is inlined into y, f.inv_rms is computed per row.
inline void schedule_rms_norm_x86(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out,
                                  const CpuKnobs &k, const Halide::Target &target) {
    using namespace Halide;
    const int natural = target.natural_vector_size<float>();
    const int w = std::min(kLanes, natural * k.vec_mult);
    Var ro("ro"), ri("ri"), co("co"), ci("ci"), lo("lo"), li("li");

    y.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    y.split(f.c, co, ci, w * k.unroll, TailStrategy::GuardWithIf)
        .split(ci, ci, li, w, TailStrategy::GuardWithIf)
        .vectorize(li)
        .unroll(ci);
    if (k.parallel) y.parallel(ro);

    inv_out.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    if (k.parallel) inv_out.parallel(ro);
    inv_out.compute_with(y, ri);

    // One row's statistic at a time; constant-size storage keeps it on the stack (a
    // dynamic size would be a heap allocation per row).
    f.inv_rms.compute_at(y, ri).bound_storage(f.r, 1);
    f.lane_sum.compute_at(y, ri).bound_storage(f.r, 1).vectorize(f.l, w);
    // lane_sum.update(0): for each chunk (in order), for each vector of lanes.
    f.lane_sum.update(0).split(f.l, lo, li, w).reorder(li, lo, f.chunks.x).vectorize(li).unroll(lo);
    // update(1), the ragged tail, stays a scalar loop of at most 63 elements.
    f.lane_sum.update(1).unscheduled();
    // chunk_sum: 64/w independent vector accumulators, one pass over the chunk's lane groups.
    f.chunk_sum.compute_at(f.lane_sum, f.chunks.x).vectorize(f.l, w);
    f.chunk_sum.update().split(f.l, lo, li, w).reorder(li, lo, f.k.x).vectorize(li).unroll(lo);
    // The 64 -> 1 tree is inlined into inv_rms: 63 scalar adds per row, in the fixed order.
}

}  // namespace normforge
