// What the CPU families share: rows split into tasks, each row's statistic computed right
// before that row is normalized (x is read from memory once, then re-read from L1/L2).
// schedules/x86.h and schedules/arm.h choose the parameters for their hardware.
#pragma once

#include "Halide.h"
#include <cstdio>

#include "generators/layer_norm_algorithm.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/knobs.h"

namespace normforge {

// One fixed-order row sum (generators/row_sum.h), computed at `at` (a loop over single rows). w: lanes per vector (must divide 64): the 64 summation lanes become 64/w
// independent vector accumulators.
inline void schedule_row_sum_cpu(RowSum &s, const Halide::LoopLevel &at, int w) {
    using namespace Halide;
    Var lo("lo"), li("li"), r = s.lane_sum.args()[1];
    // Constant-size storage keeps the statistic on the stack (a dynamic size would be a heap
    // allocation per row).
    s.lane_sum.compute_at(at).bound_storage(r, 1).vectorize(s.l, w);
    // lane_sum.update(0): for each chunk (in order), for each vector of lanes.
    s.lane_sum.update(0).split(s.l, lo, li, w).reorder(li, lo, s.chunks.x).vectorize(li).unroll(lo);
    // update(1), the ragged tail, stays a scalar loop of at most 63 elements.
    s.lane_sum.update(1).unscheduled();
    // chunk_sum: 64/w vector accumulators, one pass over the chunk's lane groups.
    s.chunk_sum.compute_at(s.lane_sum, s.chunks.x).vectorize(s.l, w);
    s.chunk_sum.update().split(s.l, lo, li, w).reorder(li, lo, s.k.x).vectorize(li).unroll(lo);
    // The 64 -> 1 tree is inlined into its consumer: 63 scalar adds per row, in the fixed order.
}

// The RMSNorm statistic at `at`: the sum of squares, then inv_rms (one value per row).
inline void schedule_row_statistic_cpu(RmsNormFuncs &f, Halide::Func y, Halide::Var at, int w) {
    f.inv_rms.compute_at(y, at).bound_storage(f.r, 1);
    schedule_row_sum_cpu(f.ss, Halide::LoopLevel(y, at), w);
}

// The output loops shared by every row-wise op: rows in tasks of rows_per_task (parallel when
// k.parallel), each row's values w lanes at a time, unrolled k.unroll times, the ragged last
// vector guarded. split_row_loops_cpu makes the loops; finish_row_loops_cpu (called after any
// op-specific scheduling inside them) optionally specializes whole-vector rows and fuses the
// per-row statistic output into the same row loop.
struct RowLoops {
    Halide::Var ro{"ro"}, ri{"ri"}, co{"co"}, ci{"ci"}, li{"li"};
};

inline RowLoops split_row_loops_cpu(Halide::Func y, const Halide::Var &c, const Halide::Var &r,
                                    const CpuKnobs &k, int w) {
    using namespace Halide;
    RowLoops L;
    y.split(r, L.ro, L.ri, k.rows_per_task, TailStrategy::GuardWithIf);
    y.split(c, L.co, L.ci, w * k.unroll, TailStrategy::GuardWithIf)
        .split(L.ci, L.ci, L.li, w, TailStrategy::GuardWithIf)
        .vectorize(L.li)
        .unroll(L.ci);
    if (k.parallel) y.parallel(L.ro);
    return L;
}

// whole_vector_loop: also compile a loop without any tail check for rows whose length is a
// multiple of w * unroll (for targets where the guarded tail is expensive). stat_out: the
// pipeline's per-row output (inv_rms, or LayerNorm's {mean, inv_std}).
inline void finish_row_loops_cpu(Halide::Func y, Halide::Func stat_out, const Halide::Var &r,
                                 const Halide::Expr &cols, const CpuKnobs &k, int w,
                                 bool whole_vector_loop, const RowLoops &L) {
    using namespace Halide;
    if (whole_vector_loop) y.specialize(cols % (w * k.unroll) == 0);  // copies the schedule so far
    Var ro("ro"), ri("ri");
    stat_out.split(r, ro, ri, k.rows_per_task, TailStrategy::GuardWithIf);
    if (k.parallel) stat_out.parallel(ro);
    stat_out.compute_with(y, L.ri);
}

// Tasks of at least this many rows compute the bf16 pair kernels' weight operands once per task
// (on shorter tasks the output loop widens the weight itself: a task of one row would widen it
// and then store and reload it), unless knob hoist_weight is 0 (the operands, fp32, then stay out
// of L1: on a Zen 4, 32 KiB of L1, a 4096-column row of x and of y plus the operands filled it).
constexpr int kWeightOperandsMinRows = 2;

// RMSNorm (and the fused residual op): the row loops, then the statistic at each row.
inline void schedule_rows_cpu(RmsNormFuncs &f, Halide::Func y, Halide::Func inv_out, const CpuKnobs &k,
                              int w, bool whole_vector_loop) {
    using namespace Halide;
    RowLoops L = split_row_loops_cpu(y, f.c, f.r, k, w);
    if (f.residual_sum.defined()) {
        // The fused op: the rounded sum x + residual is a pipeline output (the new residual,
        // written over the old one), computed for all rows of the call before the statistic
        // and y read it back: one load stream, no recomputation or re-rounding. The runtime
        // calls the kernel on blocks of rows that stay in L1/L2 meanwhile (row_driver.cpp),
        // and runs the blocks on the thread pool, so the kernel is serial (parallel = 0).
        Var so("so"), si("si"), sv("sv");
        f.residual_sum.split(f.c, so, si, w * k.unroll, TailStrategy::GuardWithIf)
            .split(si, si, sv, w, TailStrategy::GuardWithIf)
            .vectorize(sv)
            .unroll(si);
    }
    finish_row_loops_cpu(y, inv_out, f.r, f.cols, k, w, whole_vector_loop, L);
    schedule_row_statistic_cpu(f, y, L.ri, w);
    if (f.w_low.defined() && k.rows_per_task >= kWeightOperandsMinRows && k.hoist_weight) {
        // The bf16 pair kernels' weight operands (two fp32 values per weight pair), once per
        // task of rows instead of once per row: the output loop then loads them instead of
        // widening the weight (and adding 1 for Gemma's 1 + w) in every row.
        for (Halide::Func wf : {f.w_low, f.w_high})
            wf.compute_at(y, L.ro).vectorize(f.c, w, Halide::TailStrategy::GuardWithIf);
    }
}

// LayerNorm: the row loops, then at each row the sum, the mean, the sum of squared
// deviations and inv_std (two passes over the row while it is in cache, then the output pass).
inline void schedule_layer_norm_rows_cpu(LayerNormFuncs &f, Halide::Func y, Halide::Func stats,
                                         const CpuKnobs &k, int w, bool whole_vector_loop) {
    RowLoops L = split_row_loops_cpu(y, f.c, f.r, k, w);
    finish_row_loops_cpu(y, stats, f.r, f.cols, k, w, whole_vector_loop, L);
    f.x0.compute_at(y, L.ri).bound_storage(f.r, 1);
    f.m.compute_at(y, L.ri).bound_storage(f.r, 1);
    f.inv_std.compute_at(y, L.ri).bound_storage(f.r, 1);
    schedule_row_sum_cpu(f.sum, Halide::LoopLevel(y, L.ri), w);
    schedule_row_sum_cpu(f.ss, Halide::LoopLevel(y, L.ri), w);
}

// The db's per-level knobs (knobs.h: apply_target_knobs) for this target: on x86 its level by
// vector width (Halide's avx512_skylake, _zen4, ... targets do not set its plain avx512 feature),
// then its AVX-512 flavour; none on other architectures.
inline bool apply_level_knobs_or_report(const char *generator, CpuKnobs &k, const std::string &spec,
                                        const Halide::Target &t) {
    const char *level =
        t.arch == Halide::Target::X86 ? knob_level_of_lanes(t.natural_vector_size<float>()) : "";
    std::string err;
    if (apply_target_knobs(k, spec, level, t.to_string(), &err)) return true;
    std::fprintf(stderr, "%s generator: %s\n", generator, err.c_str());
    return false;
}

// The generators' check of the knobs they were given (a build-time error: the db or a tuner
// produced knobs outside the search space).
inline bool check_knobs_or_report(const char *generator, const CpuKnobs &k, const Halide::Target &t) {
    const int natural = t.natural_vector_size<float>();
    if (valid_cpu_knobs(k, natural)) return true;
    std::fprintf(stderr,
                 "%s generator: invalid knobs for %s: vec_mult=%d (x%d lanes must divide 64) "
                 "rows_per_task=%d parallel=%d unroll=%d\n",
                 generator, t.to_string().c_str(), k.vec_mult, natural, k.rows_per_task, k.parallel,
                 k.unroll);
    return false;
}

}  // namespace normforge
