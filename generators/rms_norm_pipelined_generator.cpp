// The pipelined RMSNorm generator (CPU): (eps, x, x_next, inv_in, weight) -> y, inv_next.
// One call normalizes the row of x with the statistic inv_in (1 / rms of that row, computed by
// the previous call) and sums the row of x_next (the next call's inv_in) in the same loop; the
// runtime chains the calls over the rows of an nf_rms_norm call (runtime/src/pipelined_rows.cpp).
// Each buffer has one row: constant bounds keep the row sum's 64 lanes in registers. y may be
// exactly x; x_next must not overlap y.
// pairs=true (dtype bfloat16): x, x_next, weight and y are fp32 buffers of cols / 2 columns whose
// elements each hold two bf16 values (generators/bf16_pairs.h); same bits.
#include <cstdio>
#include <cstdlib>

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/pipelined.h"

namespace normforge {
namespace {

class RmsNormPipelinedGenerator : public Halide::Generator<RmsNormPipelinedGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<WeightMode> weight_mode{"weight_mode", WeightMode::Scale, weight_mode_names()};
    GeneratorParam<Rounding> rounding{"rounding", Rounding::Once, rounding_names()};
    GeneratorParam<bool> pairs{"pairs", false};
    // Knobs (schedules/knobs.h): vec_mult and unroll; the kernel is serial (the runtime runs
    // chains of calls on the thread pool), so parallel must be 0 and rows_per_task is unused.
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 1};
    GeneratorParam<int> parallel{"parallel", 0};
    GeneratorParam<int> unroll{"unroll", 1};
    GeneratorParam<std::string> level_knobs{"level_knobs", ""};  // per-level knobs (schedules/knobs.h)

    Input<float> eps{"eps"};
    Input<Halide::Buffer<>> x{"x", 2};
    Input<Halide::Buffer<>> x_next{"x_next", 2};
    Input<Halide::Buffer<float, 1>> inv_in{"inv_in"};
    Input<Halide::Buffer<>> weight{"weight", 1};
    Output<Halide::Buffer<>> y{"y", 2};
    Output<Halide::Buffer<float, 1>> inv_next{"inv_next"};

    void configure() {
        if (pairs && dtype != Halide::BFloat(16)) {
            std::fprintf(stderr, "rms_norm_pipelined generator: pairs=true needs dtype=bfloat16\n");
            std::exit(1);
        }
        const Halide::Type storage = pairs ? Halide::Float(32) : Halide::Type(dtype);
        x.set_type(storage);
        x_next.set_type(storage);
        weight.set_type(storage);
        y.set_type(storage);
    }

    void generate() {
        using namespace Halide;
        Expr cols = x.dim(0).extent();  // the buffers' columns (pairs, or elements)
        RmsNormPipelinedFuncs f = define_rms_norm_pipelined(x, x_next, inv_in, weight, pairs ? 2 * cols : cols, eps,
                                                            dtype, weight_mode, rounding, y, inv_next, pairs);

        // One row per buffer, columns from 0; x_next has the columns of x.
        x.dim(0).set_min(0);
        x.dim(1).set_bounds(0, 1);
        x_next.dim(0).set_bounds(0, cols);
        x_next.dim(1).set_bounds(0, 1);
        inv_in.dim(0).set_bounds(0, 1);
        weight.dim(0).set_min(0);
        y.dim(0).set_bounds(0, cols);
        y.dim(1).set_bounds(0, 1);
        inv_next.dim(0).set_bounds(0, 1);
        x.set_estimates({{0, 4096}, {0, 1}});
        x_next.set_estimates({{0, 4096}, {0, 1}});
        inv_in.set_estimates({{0, 1}});
        weight.set_estimates({{0, 4096}});
        y.set_estimates({{0, 4096}, {0, 1}});
        inv_next.set_estimates({{0, 1}});
        eps.set_estimate(1e-6f);

        if (using_autoscheduler()) return;
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        if (!apply_level_knobs_or_report("rms_norm_pipelined", k, level_knobs, get_target())) std::exit(1);
        if (!check_knobs_or_report("rms_norm_pipelined", k, get_target())) std::exit(1);
        if (k.parallel != 0) {
            std::fprintf(stderr, "rms_norm_pipelined generator: the kernel is serial (parallel must be 0)\n");
            std::exit(1);
        }
        const int w = std::min(kLanes, get_target().natural_vector_size<float>() * k.vec_mult);
        schedule_rms_norm_pipelined_cpu(f, y, inv_next, k, w);
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::RmsNormPipelinedGenerator, rms_norm_pipelined)
