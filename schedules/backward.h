// The RMSNorm backward schedules for the CPU families (x86 and ARM alike). Only "how": they
// receive the Funcs of generators/rms_norm_backward_algorithm.h and a knob record.
#pragma once

#include <algorithm>

#include "Halide.h"
#include "generators/rms_norm_backward_algorithm.h"
#include "schedules/knobs.h"
#include "schedules/row_statistic.h"

namespace normforge {

// Serial kernels (the runtime runs blocks of rows on the thread pool and keeps a block in L2
// between the two kernels). w = vec_mult natural vectors (must divide 64).
inline int backward_vector_lanes(const CpuKnobs &k, const Halide::Target &target) {
    return std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
}

// Columns in vectors of w lanes, unrolled k.unroll times, the ragged last vector guarded.
inline void split_columns_cpu(Halide::Stage s, const Halide::VarOrRVar &c, const CpuKnobs &k, int w) {
    using namespace Halide;
    Var co("co"), ci("ci"), li("li");
    s.split(c, co, ci, w * k.unroll, TailStrategy::GuardWithIf)
        .split(ci, ci, li, w, TailStrategy::GuardWithIf)
        .vectorize(li)
        .unroll(ci);
}

// dx: for each row, the row dot product sum(g * x) (fixed-order row sum, w-lane vectors), then dx
// of the row. A row is read completely before its dx is written, so dx may be exactly dy or x.
inline void schedule_rms_norm_backward_cpu(RmsNormBackwardFuncs &f, Halide::Func dx, const CpuKnobs &k,
                                           const Halide::Target &target) {
    const int w = backward_vector_lanes(k, target);
    split_columns_cpu(dx, f.c, k, w);
    Halide::LoopLevel row_loop(dx, f.r);
    f.coef.compute_at(row_loop).bound_storage(f.r, 1);
    schedule_row_sum_cpu(f.dot, row_loop, w);
}

// dw: dw = dw_in, then for each row in order, dw += dy * x * inv over the row's columns (the
// rows outermost: an update's reduction loop is innermost by default).
inline void schedule_rms_norm_dweight_cpu(Halide::Func dw, const Halide::RDom &rows, const CpuKnobs &k,
                                          const Halide::Target &target) {
    using namespace Halide;
    const int w = backward_vector_lanes(k, target);
    Var c = dw.args()[0];
    split_columns_cpu(dw, c, k, w);
    Var co("co"), ci("ci"), li("li");
    split_columns_cpu(dw.update(0), c, k, w);
    dw.update(0).reorder(li, ci, co, rows.x);
}

}  // namespace normforge
