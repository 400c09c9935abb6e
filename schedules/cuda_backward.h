// The CUDA schedules of the RMSNorm backward pass. Only "how": they receive the Funcs of
// generators/rms_norm_backward_algorithm.h and a knob record.
//   dx: the forward's row layouts (schedules/cuda.h), with dy and x both staged in the staged
//       class; the row dot product sum(g * x) is the forward's fixed-order row sum.
//   dw: per block of rows, one thread per 16 bytes of columns adds the block's rows in order in
//       registers (rows_per_block = warps per thread block, unroll = rows in flight); then one
//       small kernel per level of the runtime's pairwise tree over the blocks.
#pragma once

#include "Halide.h"
#include "generators/rms_norm_backward_algorithm.h"
#include "schedules/cuda.h"
#include "schedules/knobs.h"

namespace normforge {

// dx may be exactly dy or x: a warp (or the staged block) reads its whole row for the dot
// product before the output pass, which reads and writes each element in the same lane.
inline void schedule_rms_norm_backward_cuda(RmsNormBackwardFuncs &f, Halide::Func dx, const GpuKnobs &k,
                                            const Halide::Type &dtype, Halide::Func dy, Halide::Func x) {
    GpuRowLoops loops = schedule_rows_cuda(dx, Halide::Func(), f.c, f.r, k, dtype, {dy, x});
    schedule_row_sum_cuda(f.dot, loops.row, k, k.warps_per_row > 1 && k.split_chunks, loops.block, 2);
}

inline void schedule_dweight_blocks_cuda(DweightBlockFuncs &f, Halide::Func out, const GpuKnobs &k,
                                         const Halide::Type &dtype) {
    using namespace Halide;
    const int vec = 16 / dtype.bytes();
    Var co("co"), t("t"), v("v"), ao("ao"), av("av");
    RVar ro("ro"), ri("ri");
    out.split(f.c, co, t, vec * kWarpLanes * k.rows_per_block, TailStrategy::GuardWithIf)
        .split(t, t, v, vec, TailStrategy::GuardWithIf)
        .reorder(v, t, co, f.b)
        .gpu_blocks(co, f.b)
        .gpu_threads(t)
        .vectorize(v);
    // The thread's columns accumulate in registers; the rows stay in order (unrolled only).
    // (bound_storage: a constant size, else Halide puts it in global memory for the ragged
    // last vector; GuardWithIf: rounding that vector up would read past the row's end.)
    f.acc.compute_at(out, t)
        .store_in(MemoryType::Register)
        .bound_storage(f.c, vec)
        .bound_storage(f.b, 1)
        .split(f.c, ao, av, vec, TailStrategy::GuardWithIf)
        .vectorize(av);
    f.acc.update()
        .split(f.c, ao, av, vec, TailStrategy::GuardWithIf)
        .split(f.rows.x, ro, ri, k.unroll, TailStrategy::GuardWithIf)
        .reorder(av, ri, ro, ao, f.b)
        .vectorize(av)
        .unroll(ri);
}

inline void schedule_pair_sum_cuda(Halide::Func out, int warps) {
    using namespace Halide;
    Var c = out.args()[0], j = out.args()[1], co("co"), t("t");
    out.split(c, co, t, warps * kWarpLanes, TailStrategy::GuardWithIf).gpu_blocks(co, j).gpu_threads(t);
}

}  // namespace normforge
