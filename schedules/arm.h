// The AArch64 NEON schedule. Only "how", never "what": it receives the Funcs of
// generators/rms_norm_algorithm.h and a knob record (schedules/knobs.h).
#pragma once

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"
#include "schedules/row_statistic.h"

namespace normforge {

// NEON has 128-bit registers (4 fp32 lanes) and 32 of them, no masked loads or stores, and no
// streaming stores that Halide can emit. So, unlike x86:
//  * the statistic keeps all 64 lanes in registers: w = 4 * vec_mult lanes per operation,
//    64/w operations per lane group; with vec_mult = 4 LLVM uses ld1 {4 registers} and 16
//    independent fmul + fadd .4s accumulators (strict_float sums: no fused fmla), which
//    covers the add latency of big cores (2-4 cycles x 2-4 pipes);
//  * the ragged end of a row cannot be predicated cheaply (it is scalarised), so rows whose
//    length is a multiple of the unrolled vector get their own loop without any tail check
//    (specialize), and other lengths pay only for the last, scalar, part;
//  * no tile-and-stream path: large calls use the thread pool directly (rows_per_task);
//  * fp16 and bf16 are converted to fp32 for all arithmetic (fp16: fcvtl/fcvtn on the
//    arm_fp16 variant, integer widening on plain ARMv8.0; bf16: shll), never summed in half.
// Verified for correctness under qemu-aarch64; timing needs real hardware (normforge tune).
inline void schedule_rms_norm_arm(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out,
                                  const CpuKnobs &k, const Halide::Target &target) {
    const int w = std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
    schedule_rows_cpu(f, y, inv_out, k, w, /*whole_vector_loop=*/true);
}

// LayerNorm: the same row loops and vector width; three passes over each row (sum, squared
// deviations, output), the row re-read from L1/L2.
inline void schedule_layer_norm_arm(LayerNormFuncs &f, Halide::Func y, Halide::Func stats,
                                   const CpuKnobs &k, const Halide::Target &target) {
    const int w = std::min(kLanes, target.natural_vector_size<float>() * k.vec_mult);
    schedule_layer_norm_rows_cpu(f, y, stats, k, w, /*whole_vector_loop=*/true);
}

}  // namespace normforge
