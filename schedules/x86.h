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
    const int w = std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
    // AVX-512 predicates the ragged last vector with masked loads and stores, so one loop
    // serves every row length.
    schedule_rows_cpu(f, y, inv_out, k, w, /*whole_vector_loop=*/false);
}

// LayerNorm: the same row loops and vector width; three passes over each row (sum, squared
// deviations, output), the row re-read from L1/L2.
inline void schedule_layer_norm_x86(LayerNormFuncs &f, Halide::Func y, Halide::Func stats,
                                   const CpuKnobs &k, const Halide::Target &target) {
    const int w = std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
    schedule_layer_norm_rows_cpu(f, y, stats, k, w, /*whole_vector_loop=*/false);
}

}  // namespace normforge
