// The CUDA schedule. Only "how", never "what": it receives the Funcs of
// generators/rms_norm_algorithm.h and a knob record (schedules/knobs.h).
//
// Two layouts (knob warps_per_row):
//   * warps_per_row > 1 (the staged class): one row per block of that many warps, which copy it
//     into shared memory together (x read from global memory once) and share the output pass;
//     the row sum runs from the staged row (schedule_rows_cuda_wide);
//   * warps_per_row = 1: one row per warp, rows_per_block warps per block (stage = 1: the rows
//     first copied into shared memory; stage = 0: the output pass re-reads x, from L1/L2 when
//     the row is still there).
// In both, the row's fixed-order sum (generators/row_sum.h) maps its 64 summation lanes onto a
// warp's 32 lanes, two adjacent lanes per thread, accumulating in fp32 registers, and the
// 64 -> 1 tree runs with warp shuffles (gpu_lanes); the order of additions is the CPU kernels'.
// The output pass writes 16-byte vectors per lane, emitted as 8-byte accesses for rows on
// 8-byte boundaries (promise_gpu_alignment) and narrower ones otherwise (aligned = 0).
#pragma once

#include <algorithm>
#include <cstdio>
#include <vector>

#include "Halide.h"
#include "generators/layer_norm_algorithm.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"

namespace normforge {

constexpr int kWarpLanes = 32;

// One fixed-order row sum whose lane sums and tree are computed at `row` (a loop over single
// rows, inside one warp). Its chunks are summed either there too, in turn (the warp reads the
// whole row), or, with `chunks_by_warp` (several warps per row: the wide kernels), at `block`:
// the 4096-element chunks of the fixed order are independent sums, so warp w sums chunks w,
// w + W, ... of the staged row in its registers and leaves their 64 lane sums in shared memory,
// and every warp then adds the chunks' lane sums in order, the tail and the tree (the staged
// row is read once, not once per warp).
inline void schedule_row_sum_cuda(RowSum &s, const Halide::LoopLevel &row, const GpuKnobs &k,
                                  bool chunks_by_warp = false,
                                  const Halide::LoopLevel &block = Halide::LoopLevel::root(),
                                  int inlined_levels = 1) {
    using namespace Halide;
    Var lt("lt"), lv("lv"), jo("jo"), ji("ji");
    RVar kt("kt"), kv("kv");
    const int per_lane = kLanes / kWarpLanes;  // 2 summation lanes per thread
    Var r = s.lane_sum.args()[1];
    s.lane_sum.compute_at(row).bound_storage(r, 1).split(s.l, lt, lv, per_lane).unroll(lv).gpu_lanes(lt);
    s.lane_sum.update(0).split(s.l, lt, lv, per_lane).reorder(lv, lt, s.chunks.x)
        .unroll(lv).gpu_lanes(lt);
    s.lane_sum.update(1).split(s.tail, kt, kv, per_lane, TailStrategy::GuardWithIf)
        .reorder(kv, kt).gpu_lanes(kt).unroll(kv);
    if (chunks_by_warp) {
        Func chunks = s.chunk_sum.in(s.lane_sum);
        Var cl = chunks.args()[0], cj = chunks.args()[1], cr = chunks.args()[2];
        chunks.compute_at(block)
            .store_in(MemoryType::GPUShared)
            .split(cj, jo, ji, k.warps_per_row, TailStrategy::GuardWithIf)
            .split(cl, lt, lv, per_lane)
            .reorder(lv, lt, ji, jo, cr)
            .gpu_threads(ji)
            .gpu_lanes(lt)
            .vectorize(lv);
        s.chunk_sum.compute_at(chunks, ji);
    } else {
        s.chunk_sum.compute_at(s.lane_sum, s.chunks.x);
    }
    s.chunk_sum.split(s.l, lt, lv, per_lane).unroll(lv).gpu_lanes(lt);
    // A constant trip count (row_sum_full_chunks): the unrolled loads are issued back to back.
    s.chunk_sum.update().split(s.l, lt, lv, per_lane).reorder(lv, lt, s.k.x)
        .vectorize(lv).gpu_lanes(lt).unroll(s.k.x, k.unroll, TailStrategy::GuardWithIf);
    // The tree's levels live in lanes (32, 16, ... values): each level reads the previous
    // level's values from other lanes with warp shuffles. The last `inlined_levels` adds are
    // inlined into the statistic, which every lane computes for itself: the last one (2 -> 1)
    // for the forward ops; the last two (4 -> 2 -> 1, same order) for the backward pass, where
    // Halide 21's shuffle lowering read both values of the 2-lane level from lane 0 (found on an
    // H200: dx off by about 1%; it takes a store guarded by "lane < 2" for a single lane's).
    for (size_t i = 0; i + inlined_levels < s.tree.size(); i++) {
        s.tree[i].compute_at(row).bound_storage(r, 1).gpu_lanes(s.tree[i].args()[0]);
    }
}

// One kernel writes y and the per-row statistic (1 x rows: schedules write it from y's loops),
// so both must cover the same rows (a Tuple's other buffers follow its first).
inline void constrain_stat_out(Halide::Func y, Halide::Func stat_out) {
    Halide::OutputImageParam y_buf = y.output_buffers()[0], s_buf = stat_out.output_buffers()[0];
    s_buf.dim(0).set_bounds(0, 1);
    s_buf.dim(1).set_bounds(y_buf.dim(1).min(), y_buf.dim(1).extent());
}

// The block's rows of `input` copied into shared memory once (16-byte vectors per lane, `unroll`
// of them in flight), for both passes to read there. Computed at the block level `at`, so that a
// block barrier separates the copy from the passes, whose lanes read what other lanes wrote.
// warps == 1: a warp copies each row (rows on the block's warps); warps > 1: one row, shared by
// that many warps.
inline void stage_rows_in_shared(Halide::Func y, Halide::Func input, const Halide::LoopLevel &at, int vec,
                                 int warps, int unroll) {
    using namespace Halide;
    Func staged = input.in();
    Var sc = staged.args()[0], sr = staged.args()[1];
    Var sco("sco"), scu("scu"), sw("sw"), st("st"), sv("sv");
    // Exactly the row (bounds inference widens it by a clamp's slack, and the copy would then
    // start off the vector alignment).
    OutputImageParam out = y.output_buffers()[0];
    staged.bound(sc, 0, out.dim(0).extent())
        .compute_at(at)
        .store_in(MemoryType::GPUShared)
        .align_storage(sc, vec)
        .split(sc, sco, st, vec * kWarpLanes * warps, TailStrategy::GuardWithIf);
    if (warps > 1) staged.split(st, sw, st, vec * kWarpLanes, TailStrategy::GuardWithIf);
    staged.split(st, st, sv, vec, TailStrategy::GuardWithIf)
        .split(sco, sco, scu, unroll, TailStrategy::GuardWithIf)
        .gpu_lanes(st)
        .unroll(scu)
        .vectorize(sv);
    if (warps > 1) {
        staged.reorder(sv, scu, sco, st, sw, sr).gpu_threads(sw);
    } else {
        staged.reorder(sv, scu, sco, st, sr).gpu_threads(sr);
    }
}

struct GpuRowLoops {
    Halide::LoopLevel block, row;  // one thread block (rows_per_block rows), one row (a warp)
};

// One row per block of warps_per_row warps: all of them copy the row into shared memory (many
// loads in flight per row) and share the output pass; the row sum is scheduled by the caller
// (schedule_row_sum_cuda: each warp sums the whole staged row, or the warps share its chunks).
inline GpuRowLoops schedule_rows_cuda_wide(Halide::Func y, Halide::Func stat_out, const Halide::Var &c,
                                           const Halide::Var &r, const GpuKnobs &k, const Halide::Type &dtype,
                                           const std::vector<Halide::Func> &inputs) {
    using namespace Halide;
    Var co("co"), cu("cu"), w("w"), t("t"), v("v");
    const int vec = 16 / dtype.bytes();
    const int W = k.warps_per_row;
    y.split(c, co, t, vec * kWarpLanes * W, TailStrategy::GuardWithIf)
        .split(t, w, t, vec * kWarpLanes, TailStrategy::GuardWithIf)
        .split(t, t, v, vec, TailStrategy::GuardWithIf)
        .split(co, co, cu, k.out_unroll, TailStrategy::GuardWithIf)
        .reorder(v, cu, co, t, w, r)
        .unroll(cu)
        .gpu_blocks(r)
        .gpu_threads(w)
        .gpu_lanes(t)
        .vectorize(v);
    for (const Func &input : inputs) stage_rows_in_shared(y, input, LoopLevel(y, r), vec, W, k.unroll);
    if (!stat_out.defined()) return {LoopLevel(y, r), LoopLevel(y, w)};
    constrain_stat_out(y, stat_out);
    // Every warp ends with the row's statistic in its registers (schedule_row_sum_cuda). The
    // statistic (1 x rows) is split like y's columns (the same loop names, as compute_with
    // needs), so that its one element is written in y's warp loop.
    Var sco2("co"), st2("t"), sw2("w"), sv2("v");
    stat_out.split(c, sco2, st2, vec * kWarpLanes * W, TailStrategy::GuardWithIf)
        .split(st2, sw2, st2, vec * kWarpLanes, TailStrategy::GuardWithIf)
        .split(st2, st2, sv2, vec, TailStrategy::GuardWithIf)
        .reorder(sv2, sco2, st2, sw2, r)
        .gpu_blocks(r)
        .gpu_threads(sw2)
        .gpu_lanes(st2);
    stat_out.compute_with(y, w);
    return {LoopLevel(y, r), LoopLevel(y, w)};
}

// The output loops every op shares (y and inv_out are the pipeline outputs; f.y is inlined
// into y): rows_per_block rows per block, a warp per row, 16-byte vectors per lane; the rows of
// `inputs` (the Funcs both passes read) optionally staged in shared memory (k.stage); and the
// per-row statistic output `stat_out` (if defined) written in the same loop. With warps_per_row
// > 1: schedule_rows_cuda_wide. Returns the loop levels of one block and one row.
inline GpuRowLoops schedule_rows_cuda(Halide::Func y, Halide::Func stat_out, const Halide::Var &c,
                                      const Halide::Var &r, const GpuKnobs &k, const Halide::Type &dtype,
                                      const std::vector<Halide::Func> &inputs) {
    using namespace Halide;
    if (k.warps_per_row > 1) return schedule_rows_cuda_wide(y, stat_out, c, r, k, dtype, inputs);
    Var ro("ro"), ri("ri"), co("co"), cu("cu"), t("t"), v("v");
    const int vec = 16 / dtype.bytes();
    y.split(r, ro, ri, k.rows_per_block, TailStrategy::GuardWithIf)
        .split(c, co, t, vec * kWarpLanes, TailStrategy::GuardWithIf)
        .split(t, t, v, vec, TailStrategy::GuardWithIf)
        .split(co, co, cu, k.out_unroll, TailStrategy::GuardWithIf)
        .reorder(v, cu, co, t, ri, ro)
        .unroll(cu)
        .gpu_blocks(ro)
        .gpu_threads(ri)
        .gpu_lanes(t)
        .vectorize(v);
    if (k.stage)
        for (const Func &input : inputs) stage_rows_in_shared(y, input, LoopLevel(y, ro), vec, 1, k.unroll);
    if (!stat_out.defined()) return {LoopLevel(y, ro), LoopLevel(y, ri)};
    constrain_stat_out(y, stat_out);
    stat_out.split(r, ro, ri, k.rows_per_block, TailStrategy::GuardWithIf)
        .reorder(c, ri, ro)
        .gpu_blocks(ro)
        .gpu_threads(ri);
    stat_out.compute_with(y, ri);
    return {LoopLevel(y, ro), LoopLevel(y, ri)};
}

// Halide's PTX code generator accesses memory in pieces of at most 8 bytes, and only as wide as
// it can prove the address aligned. The CUDA kernels therefore assume every row starts on an
// 8-byte boundary (base pointer and row stride in bytes both multiples of 8): the runtime checks
// this and picks the unaligned kernel otherwise. Call on each buffer parameter.
constexpr int kGpuAlignBytes = 8;
// (A Tuple output's buffers after the first take their bounds from it: pass set_min = false.)
inline void promise_gpu_alignment(Halide::OutputImageParam b, bool set_min = true) {
    const int elems = std::max(1, kGpuAlignBytes / b.type().bytes());
    b.set_host_alignment(kGpuAlignBytes);
    // The aligned address is element 0 (without this a weight is read 2 bytes at a time).
    if (set_min) b.dim(0).set_min(0);
    if (b.dimensions() > 1) b.dim(1).set_stride((b.dim(1).stride() / elems) * elems);
}

// The generators' check of the CUDA knobs they were given (a build-time error, like
// check_knobs_or_report for the CPU families).
inline bool check_gpu_knobs_or_report(const char *generator, const GpuKnobs &k) {
    if (valid_gpu_knobs(k)) return true;
    std::fprintf(stderr,
                 "%s generator: invalid CUDA knobs rows_per_block=%d unroll=%d stage=%d out_unroll=%d aligned=%d "
                 "warps_per_row=%d split_chunks=%d\n",
                 generator, k.rows_per_block, k.unroll, k.stage, k.out_unroll, k.aligned, k.warps_per_row,
                 k.split_chunks);
    return false;
}

// RMSNorm and the fused residual op. y / inv_out are the pipeline outputs; f.y is inlined into
// y. input: the Func both passes read (x, or the fused op's rounded x + residual). inv_rms stays
// inlined: its few operations are hoisted out of the column loop.
inline void schedule_rms_norm_cuda(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out,
                                   const GpuKnobs &k, const Halide::Type &dtype, Halide::Func input) {
    GpuRowLoops loops = schedule_rows_cuda(y, inv_out, f.c, f.r, k, dtype, {input});
    schedule_row_sum_cuda(f.ss, loops.row, k, k.warps_per_row > 1 && k.split_chunks, loops.block);
}

// LayerNorm: both row sums (of x - x0, then of the squared deviations) in the warp, one after
// the other; the mean and inv_std inlined; x0 in shared memory.
inline void schedule_layer_norm_cuda(LayerNormFuncs &f, Halide::Func y, Halide::Func stats,
                                     const GpuKnobs &k, const Halide::Type &dtype, Halide::Func input) {
    GpuRowLoops loops = schedule_rows_cuda(y, stats, f.c, f.r, k, dtype, {input});
    schedule_row_sum_cuda(f.sum, loops.row, k);
    schedule_row_sum_cuda(f.ss, loops.row, k);
    // The shift x0 = x(0, r) is read once per row into shared memory before any output is
    // written: inlined, the output pass would re-read it from x, which an in-place call has
    // already overwritten by then (found on an H200: 9 x 8195 f32 in place).
    f.x0.compute_at(loops.block).store_in(Halide::MemoryType::GPUShared).gpu_threads(f.x0.args()[0]);
}

}  // namespace normforge
