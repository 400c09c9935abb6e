// The x86-64 schedule. Only "how", never "what": it receives the Funcs of
// generators/rms_norm_algorithm.h and a knob record (schedules/knobs.h).
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"
#include "schedules/row_statistic.h"

namespace normforge {

// Rows split into parallel tasks of rows_per_task; each row's statistic, then its normalized
// values, vec_mult natural vectors at a time, unrolled. Vector widths: AVX-512 16 fp32 lanes
// (4 zmm accumulators for the 64 lanes at vec_mult 1), AVX2 8, SSE4.1 4. The ragged last vector
// is predicated (AVX-512 masked loads/stores). Large calls (stream_rows) are serial kernels that
// the runtime runs per tile. Measured on a 2-core AMD EPYC (Zen 4) VM: see README.
// y / inv_out are the pipeline outputs; f.y is inlined into y.
inline void schedule_rms_norm_x86(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out,
                                  const CpuKnobs &k, const Halide::Target &target) {
    using namespace Halide;
    const int w = std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
    Var ro("ro"), ri("ri"), co("co"), ci("ci"), li("li");

    y.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    y.split(f.c, co, ci, w * k.unroll, TailStrategy::GuardWithIf)
        .split(ci, ci, li, w, TailStrategy::GuardWithIf)
        .vectorize(li)
        .unroll(ci);
    if (k.parallel) y.parallel(ro);

    inv_out.split(f.r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    if (k.parallel) inv_out.parallel(ro);
    inv_out.compute_with(y, ri);

    schedule_row_statistic_cpu(f, y, ri, w);
}

}  // namespace normforge
