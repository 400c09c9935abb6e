// The LayerNorm generator: (eps, x, weight, bias) -> y, stats = {mean, inv_std}.
// weight / bias are read only when has_weight / has_bias (the runtime passes a dummy otherwise).
#include <cstdio>
#include <cstdlib>

#include "Halide.h"
#include "generators/layer_norm_algorithm.h"
#include "schedules/arm.h"
#include "schedules/cuda.h"
#include "schedules/x86.h"

namespace normforge {
namespace {

class LayerNormGenerator : public Halide::Generator<LayerNormGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<bool> has_weight{"has_weight", true};
    GeneratorParam<bool> has_bias{"has_bias", true};
    // Knobs (schedules/knobs.h); defaults come from schedules/db via CMake.
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 4};
    GeneratorParam<int> parallel{"parallel", 1};
    GeneratorParam<int> unroll{"unroll", 1};
    GeneratorParam<std::string> level_knobs{"level_knobs", ""};  // per-level knobs (schedules/knobs.h)
    GeneratorParam<int> rows_per_block{"rows_per_block", 4};  // CUDA only
    GeneratorParam<int> stage{"stage", 0};                    // CUDA only
    GeneratorParam<int> out_unroll{"out_unroll", 1};          // CUDA only
    GeneratorParam<int> aligned{"aligned", 1};                // CUDA only
    GeneratorParam<int> warps_per_row{"warps_per_row", 1};    // CUDA only

    Input<Halide::Buffer<>> x{"x", 2};
    Input<Halide::Buffer<>> weight{"weight", 1};
    Input<Halide::Buffer<>> bias{"bias", 1};
    Input<float> eps{"eps"};
    Output<Halide::Buffer<>> y{"y", 2};
    // (rows) pairs; on a GPU (1, rows), as rms_norm's inv_rms.
    Output<Halide::Buffer<>> stats{"stats", {Halide::Float(32), Halide::Float(32)}};

    void configure() {
        stats.set_dimensions(get_target().has_gpu_feature() ? 2 : 1);
        x.set_type(dtype);
        weight.set_type(dtype);
        bias.set_type(dtype);
        y.set_type(dtype);
    }

    void generate() {
        using namespace Halide;
        bf16_conversion_via_bits() = get_target().has_gpu_feature();
        row_sum_full_chunks() = get_target().has_gpu_feature();
        Expr cols = x.dim(0).extent();
        LayerNormFuncs f = define_layer_norm(x, weight, bias, cols, eps, dtype, has_weight, has_bias);
        y(f.c, f.r) = f.y(f.c, f.r);
        if (get_target().has_gpu_feature()) {
            stats(f.c, f.r) = Tuple(f.mean(f.r), f.inv_std(f.r));
        } else {
            stats(f.r) = Tuple(f.mean(f.r), f.inv_std(f.r));
        }

        x.dim(0).set_min(0);
        y.dim(0).set_min(0);
        x.set_estimates({{0, 4096}, {0, 4096}});
        weight.set_estimates({{0, 4096}});
        bias.set_estimates({{0, 4096}});
        y.set_estimates({{0, 4096}, {0, 4096}});
        if (get_target().has_gpu_feature()) {
            stats.set_estimates({{0, 1}, {0, 4096}});
        } else {
            stats.set_estimates({{0, 4096}});
        }
        eps.set_estimate(1e-5f);

        if (using_autoscheduler()) return;
        if (get_target().has_gpu_feature()) {
            GpuKnobs g{rows_per_block, unroll, stage, out_unroll, aligned, warps_per_row};
            if (g.aligned) {
                promise_gpu_alignment(x);
                promise_gpu_alignment(weight);
                promise_gpu_alignment(bias);
                promise_gpu_alignment(Halide::Func(y).output_buffers()[0]);
            }
            if (!check_gpu_knobs_or_report("layer_norm", g)) std::exit(1);
            schedule_layer_norm_cuda(f, y, stats, g, dtype, x);
            return;
        }
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        if (!apply_level_knobs_or_report("layer_norm", k, level_knobs, get_target())) std::exit(1);
        if (!check_knobs_or_report("layer_norm", k, get_target())) std::exit(1);
        if (get_target().arch == Halide::Target::ARM) {
            schedule_layer_norm_arm(f, y, stats, k, get_target());
        } else {
            schedule_layer_norm_x86(f, y, stats, k, get_target());
        }
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::LayerNormGenerator, layer_norm)
