// The RMSNorm generator: binds inputs/outputs, calls the algorithm, then hands the Funcs to the
// schedule of the target's family (or to a Halide autoscheduler when one is requested).
// op=rms_norm:          (eps, x, weight) -> y, inv_rms
// op=rms_norm_residual: (eps, x, residual, weight) -> inv_rms, y, residual_out, where
//                       residual_out = s = x + residual rounded to the dtype (the runtime passes
//                       the residual buffer as residual_out: it is updated in place). CPU: s is
//                       computed for all rows of the call, then read back by the statistic and
//                       y (the runtime calls it on cache-sized blocks of rows); GPU: one output
//                       y = {normalized, s} (a Tuple: both from the same loads).
// pairs=1 (dtype bfloat16, CPU): x, weight, y (and the fused op's residual and residual_out)
// are fp32 buffers of cols / 2 columns whose elements each hold two bf16 values
// (generators/bf16_pairs.h); same bits.
#include <cstdio>
#include <cstdlib>

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/arm.h"
#include "schedules/cuda.h"
#include "schedules/next_row_prefetch.h"
#include "schedules/x86.h"

namespace normforge {
namespace {

enum class Op { RmsNorm, RmsNormResidual };

class RmsNormGenerator : public Halide::Generator<RmsNormGenerator> {
public:
    GeneratorParam<Op> op{"op", Op::RmsNorm,
                          {{"rms_norm", Op::RmsNorm}, {"rms_norm_residual", Op::RmsNormResidual}}};
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<WeightMode> weight_mode{"weight_mode", WeightMode::Scale, weight_mode_names()};
    GeneratorParam<Rounding> rounding{"rounding", Rounding::Once, rounding_names()};
    GeneratorParam<bool> pairs{"pairs", false};
    // Knobs (schedules/knobs.h); defaults come from schedules/db via CMake.
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 4};
    GeneratorParam<int> parallel{"parallel", 1};
    GeneratorParam<int> unroll{"unroll", 1};
    GeneratorParam<int> prefetch{"prefetch", 0};  // x86, op rms_norm (schedules/next_row_prefetch.h)
    GeneratorParam<int> hoist_weight{"hoist_weight", 1};  // bf16 pairs (schedules/knobs.h)
    GeneratorParam<std::string> level_knobs{"level_knobs", ""};  // per-level knobs (schedules/knobs.h)
    GeneratorParam<int> rows_per_block{"rows_per_block", 4};  // CUDA only
    GeneratorParam<int> stage{"stage", 0};                    // CUDA only
    GeneratorParam<int> out_unroll{"out_unroll", 1};          // CUDA only
    GeneratorParam<int> aligned{"aligned", 1};                // CUDA only
    GeneratorParam<int> warps_per_row{"warps_per_row", 1};    // CUDA only
    GeneratorParam<int> split_chunks{"split_chunks", 0};      // CUDA only

    Input<Halide::Buffer<>> *x;
    Input<Halide::Buffer<>> *residual = nullptr;
    Input<Halide::Buffer<>> *weight;
    Input<float> eps{"eps"};
    Output<Halide::Buffer<>> *y;
    Output<Halide::Buffer<>> *residual_out = nullptr;  // the fused op on a CPU
    // (rows) floats; on a GPU (1, rows): a unit first dimension lets the CUDA schedule write it
    // from the loops of y (schedules/cuda.h).
    Output<Halide::Buffer<float>> inv_rms{"inv_rms"};

    void configure() {
        if (pairs && (dtype != Halide::BFloat(16) || get_target().has_gpu_feature())) {
            std::fprintf(stderr, "rms_norm generator: pairs=true needs dtype=bfloat16 and a CPU target\n");
            std::exit(1);
        }
        // The pair kernels' buffers: fp32 elements, two bf16 values each.
        const Halide::Type storage = pairs ? Halide::Float(32) : Halide::Type(dtype);
        inv_rms.set_dimensions(get_target().has_gpu_feature() ? 2 : 1);
        x = add_input<Halide::Buffer<>>("x", storage, 2);
        if (op == Op::RmsNormResidual) residual = add_input<Halide::Buffer<>>("residual", storage, 2);
        weight = add_input<Halide::Buffer<>>("weight", storage, 1);
        if (op == Op::RmsNormResidual && get_target().has_gpu_feature()) {
            // One loop computes both values from the same loads, so y may alias x and the
            // second output may alias the residual input.
            y = add_output<Halide::Buffer<>>("y", std::vector<Halide::Type>{dtype, dtype}, 2);
        } else if (op == Op::RmsNormResidual) {
            // s is stored (over the residual) before anything reads it back, and y only reads
            // s, so y may alias x.
            y = add_output<Halide::Buffer<>>("y", storage, 2);
            residual_out = add_output<Halide::Buffer<>>("residual_out", storage, 2);
        } else {
            y = add_output<Halide::Buffer<>>("y", storage, 2);
        }
    }

    bool prefetch_rows = false;  // set by generate() (CPU targets): the knobs' prefetch for this target

    // After generate(): the knob's next-row prefetch, a lowering pass over the output loop.
    void schedule() {
        if (prefetch_rows && !using_autoscheduler())
            get_pipeline().add_custom_lowering_pass(new NextRowPrefetch("x", ".s0.c.co"));
    }

    void generate() {
        using namespace Halide;
        bf16_conversion_via_bits() = get_target().has_gpu_feature();
        row_sum_full_chunks() = get_target().has_gpu_feature();
        Expr cols = x->dim(0).extent();
        Func input = *x;
        Func sum = residual_out ? Func(*residual_out) : Func("residual_sum");
        if (op == Op::RmsNormResidual) {
            input = sum;
            if (pairs) {
                define_residual_sum_pairs(sum, *x, *residual);
            } else {
                define_residual_sum(sum, *x, *residual, dtype);
            }
        }
        RmsNormFuncs f = pairs ? define_rms_norm_pairs(input, *weight, cols, eps, weight_mode, rounding)
                               : define_rms_norm(input, *weight, cols, eps, dtype, weight_mode, rounding);
        if (op == Op::RmsNormResidual) {
            f.residual_sum = sum;
            if (residual_out) {
                (*y)(f.c, f.r) = f.y(f.c, f.r);
                residual_out->dim(0).set_min(0);
                residual_out->set_estimates({{0, 4096}, {0, 4096}});
            } else {
                (*y)(f.c, f.r) = Tuple(f.y(f.c, f.r), sum(f.c, f.r));
            }
            residual->dim(0).set_min(0);
            residual->set_estimates({{0, 4096}, {0, 4096}});
        } else {
            (*y)(f.c, f.r) = f.y(f.c, f.r);
        }
        if (get_target().has_gpu_feature()) {
            inv_rms(f.c, f.r) = f.inv_rms(f.r);
        } else {
            inv_rms(f.r) = f.inv_rms(f.r);
        }

        x->dim(0).set_min(0);
        Func(*y).output_buffers()[0].dim(0).set_min(0);  // a Tuple's other buffers follow the first
        x->set_estimates({{0, 4096}, {0, 4096}});
        weight->set_estimates({{0, 4096}});
        y->set_estimates({{0, 4096}, {0, 4096}});
        if (get_target().has_gpu_feature()) {
            inv_rms.set_estimates({{0, 1}, {0, 4096}});
        } else {
            inv_rms.set_estimates({{0, 4096}});
        }
        eps.set_estimate(1e-6f);

        if (using_autoscheduler()) return;
        if (get_target().has_gpu_feature()) {
            GpuKnobs g{rows_per_block, unroll, stage, out_unroll, aligned, warps_per_row, split_chunks};
            if (g.aligned) {
                promise_gpu_alignment(*x);
                if (residual) promise_gpu_alignment(*residual);
                promise_gpu_alignment(*weight);
                std::vector<Halide::OutputImageParam> outs = Func(*y).output_buffers();
                for (size_t i = 0; i < outs.size(); i++) promise_gpu_alignment(outs[i], i == 0);
            }
            if (!check_gpu_knobs_or_report("rms_norm", g)) std::exit(1);
            schedule_rms_norm_cuda(f, *y, inv_rms, g, dtype, input);
            return;
        }
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        k.prefetch = prefetch;
        k.hoist_weight = hoist_weight;
        if (!apply_level_knobs_or_report("rms_norm", k, level_knobs, get_target())) std::exit(1);
        if (!check_knobs_or_report("rms_norm", k, get_target())) std::exit(1);
        if (residual_out && k.parallel != 0) {
            std::fprintf(stderr, "rms_norm generator: the fused op's CPU kernel is serial (parallel must be 0: "
                                 "the runtime runs its blocks of rows on the thread pool)\n");
            std::exit(1);
        }
        if (k.prefetch && (op != Op::RmsNorm || get_target().arch != Halide::Target::X86)) {
            std::fprintf(stderr, "rms_norm generator: prefetch=1 is for op=rms_norm on x86 targets\n");
            std::exit(1);
        }
        prefetch_rows = k.prefetch != 0;  // the db's prefetch, after this target's level knobs
        if (get_target().arch == Halide::Target::ARM) {
            schedule_rms_norm_arm(f, *y, inv_rms, k, get_target());
        } else {
            schedule_rms_norm_x86(f, *y, inv_rms, k, get_target());
        }
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::RmsNormGenerator, rms_norm)
