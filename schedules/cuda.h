// The CUDA schedule. Only "how", never "what": it receives the Funcs of
// generators/rms_norm_algorithm.h and a knob record (schedules/knobs.h).
//
// One row per warp, rows_per_block warps per block (stage = 1: the rows first copied into shared
// memory, so x is read from global memory once; stage = 0: the output pass re-reads x, from L1/L2
// when the row is still there):
//   * the row's fixed-order sum (generators/row_sum.h) maps its 64 summation lanes onto the
//     warp's 32 lanes, two adjacent lanes per thread: every step of the chunk loop is one
//     coalesced load of 64 consecutive elements per warp, each thread accumulating in fp32
//     registers; the 64 -> 1 tree is done with warp shuffles (gpu_lanes), no shared memory and
//     no block barrier; the order of additions is exactly the CPU kernels' order;
//   * the output pass then streams the row again, 16-byte vectors per lane in Halide's code
//     (LLVM splits them into 2- or 4-byte accesses: the caller's pointers carry no alignment
//     guarantee), the statistic held in a register.
// Rows are independent, so a block is just rows_per_block independent warps.
#pragma once

#include <cstdio>

#include "Halide.h"
#include "generators/layer_norm_algorithm.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"

namespace normforge {

constexpr int kWarpLanes = 32;

// One fixed-order row sum computed at `at` (a loop over single rows, inside one warp).
inline void schedule_row_sum_cuda(RowSum &s, const Halide::LoopLevel &at, const GpuKnobs &k) {
    using namespace Halide;
    Var lt("lt"), lv("lv");
    RVar kt("kt"), kv("kv");
    const int per_lane = kLanes / kWarpLanes;  // 2 summation lanes per thread
    Var r = s.lane_sum.args()[1];
    s.lane_sum.compute_at(at).bound_storage(r, 1).split(s.l, lt, lv, per_lane).unroll(lv).gpu_lanes(lt);
    s.lane_sum.update(0).split(s.l, lt, lv, per_lane).reorder(lv, lt, s.chunks.x)
        .unroll(lv).gpu_lanes(lt);
    s.lane_sum.update(1).split(s.tail, kt, kv, per_lane, TailStrategy::GuardWithIf)
        .reorder(kv, kt).gpu_lanes(kt).unroll(kv);
    s.chunk_sum.compute_at(s.lane_sum, s.chunks.x).split(s.l, lt, lv, per_lane).unroll(lv).gpu_lanes(lt);
    s.chunk_sum.update().split(s.l, lt, lv, per_lane).reorder(lv, lt, s.k.x)
        .unroll(lv).gpu_lanes(lt).unroll(s.k.x, k.unroll);
    // The tree's levels live in lanes (32, 16, ... 2 values): each level reads the previous
    // level's values from other lanes with warp shuffles. The last add (2 -> 1) is inlined into
    // inv_rms, which every lane computes for itself.
    for (size_t i = 0; i + 1 < s.tree.size(); i++) {
        s.tree[i].compute_at(at).bound_storage(r, 1).gpu_lanes(s.tree[i].args()[0]);
    }
}

// y / inv_out are the pipeline outputs; f.y is inlined into y.
// The output loops every op shares: rows_per_block rows per block, a warp per row, 16-byte
// vectors per lane; the rows optionally staged in shared memory (k.stage); and the per-row
// statistic output `stat_out` written in the same loop. Returns the loop level of one row.
inline Halide::LoopLevel schedule_rows_cuda(Halide::Func y, Halide::Func stat_out, const Halide::Var &c,
                                            const Halide::Var &r, const GpuKnobs &k, const Halide::Type &dtype,
                                            Halide::Func input) {
    using namespace Halide;
    Var ro("ro"), ri("ri"), co("co"), t("t"), v("v");
    const int vec = 16 / dtype.bytes();
    y.split(r, ro, ri, k.rows_per_block, TailStrategy::GuardWithIf)
        .split(c, co, t, vec * kWarpLanes, TailStrategy::GuardWithIf)
        .split(t, t, v, vec, TailStrategy::GuardWithIf)
        .reorder(v, co, t, ri, ro)
        .gpu_blocks(ro)
        .gpu_threads(ri)
        .gpu_lanes(t)
        .vectorize(v);
    if (k.stage) {
        // The row is copied into shared memory once (16-byte vectors per lane, `unroll` loads in
        // flight), and both passes read it there. Computed at the block level (all its rows, a
        // warp per row) so that a block barrier separates the copy from the passes, whose lanes
        // read what other lanes wrote.
        Func staged = input.in();
        Var sc = staged.args()[0], sr = staged.args()[1];
        Var sco("sco"), scu("scu"), st("st"), sv("sv");
        staged.compute_at(y, ro)
            .store_in(MemoryType::GPUShared)
            .split(sc, sco, st, vec * kWarpLanes, TailStrategy::GuardWithIf)
            .split(st, st, sv, vec, TailStrategy::GuardWithIf)
            .split(sco, sco, scu, k.unroll, TailStrategy::GuardWithIf)
            .reorder(sv, scu, sco, st, sr)
            .gpu_threads(sr)
            .gpu_lanes(st)
            .unroll(scu)
            .vectorize(sv);
    }
    // One kernel writes both outputs (rows fused), so both must cover the same rows (a Tuple's
    // other buffers follow its first).
    OutputImageParam y_buf = y.output_buffers()[0];
    stat_out.output_buffers()[0].dim(0).set_bounds(y_buf.dim(1).min(), y_buf.dim(1).extent());
    stat_out.split(r, ro, ri, k.rows_per_block, TailStrategy::GuardWithIf)
        .gpu_blocks(ro)
        .gpu_threads(ri);
    stat_out.compute_with(y, ri);
    return LoopLevel(y, ri);
}

// The generators' check of the CUDA knobs they were given (a build-time error, like
// check_knobs_or_report for the CPU families).
inline bool check_gpu_knobs_or_report(const char *generator, const GpuKnobs &k) {
    if (valid_gpu_knobs(k)) return true;
    std::fprintf(stderr, "%s generator: invalid CUDA knobs rows_per_block=%d unroll=%d stage=%d\n", generator,
                 k.rows_per_block, k.unroll, k.stage);
    return false;
}

// RMSNorm and the fused residual op. y / inv_out are the pipeline outputs; f.y is inlined into
// y. input: the Func both passes read (x, or the fused op's rounded x + residual). inv_rms stays
// inlined: its few operations are hoisted out of the column loop.
inline void schedule_rms_norm_cuda(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out,
                                   const GpuKnobs &k, const Halide::Type &dtype, Halide::Func input) {
    Halide::LoopLevel row = schedule_rows_cuda(y, inv_out, f.c, f.r, k, dtype, input);
    schedule_row_sum_cuda(f.ss, row, k);
}

// LayerNorm: both row sums (of x - x0, then of the squared deviations) in the warp, one after
// the other; x0, the mean and inv_std inlined.
inline void schedule_layer_norm_cuda(LayerNormFuncs &f, Halide::Func y, Halide::Func stats,
                                     const GpuKnobs &k, const Halide::Type &dtype, Halide::Func input) {
    Halide::LoopLevel row = schedule_rows_cuda(y, stats, f.c, f.r, k, dtype, input);
    schedule_row_sum_cuda(f.sum, row, k);
    schedule_row_sum_cuda(f.ss, row, k);
}

}  // namespace normforge
