// The RMSNorm generator: binds inputs/outputs, calls the algorithm, then hands the Funcs to the
// schedule of the target's family (or to a Halide autoscheduler when one is requested).
#include <cstdio>
#include <cstdlib>

#include "Halide.h"
#include "generators/rms_norm_algorithm.h"
#include "schedules/arm.h"
#include "schedules/x86.h"

namespace normforge {
namespace {

class RmsNormGenerator : public Halide::Generator<RmsNormGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<WeightMode> weight_mode{"weight_mode", WeightMode::Scale,
                                           {{"none", WeightMode::None},
                                            {"scale", WeightMode::Scale},
                                            {"one_plus", WeightMode::OnePlus}}};
    GeneratorParam<Rounding> rounding{"rounding", Rounding::Once,
                                      {{"once", Rounding::Once}, {"llama", Rounding::Llama}}};
    // Knobs (schedules/knobs.h); defaults come from schedules/db via CMake.
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 4};
    GeneratorParam<int> parallel{"parallel", 1};
    GeneratorParam<int> unroll{"unroll", 1};

    Input<Halide::Buffer<>> *x;
    Input<Halide::Buffer<>> *weight;
    Input<float> eps{"eps"};
    Output<Halide::Buffer<>> *y;
    Output<Halide::Buffer<float, 1>> inv_rms{"inv_rms"};

    void configure() {
        x = add_input<Halide::Buffer<>>("x", dtype, 2);
        weight = add_input<Halide::Buffer<>>("weight", dtype, 1);
        y = add_output<Halide::Buffer<>>("y", dtype, 2);
    }

    void generate() {
        using namespace Halide;
        Expr cols = x->dim(0).extent();
        RmsNormFuncs f = define_rms_norm(*x, *weight, cols, eps, dtype, weight_mode, rounding);
        (*y)(f.c, f.r) = f.y(f.c, f.r);
        inv_rms(f.r) = f.inv_rms(f.r);

        x->dim(0).set_min(0);
        y->dim(0).set_min(0);
        x->set_estimates({{0, 4096}, {0, 4096}});
        weight->set_estimates({{0, 4096}});
        y->set_estimates({{0, 4096}, {0, 4096}});
        inv_rms.set_estimates({{0, 4096}});
        eps.set_estimate(1e-6f);

        if (using_autoscheduler()) return;
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        const int natural = get_target().natural_vector_size<float>();
        if (!valid_cpu_knobs(k, natural)) {
            // A build-time error: the db or a tuner produced knobs outside the search space.
            std::fprintf(stderr,
                         "rms_norm generator: invalid knobs for %s: vec_mult=%d (x%d lanes must "
                         "divide 64) rows_per_task=%d parallel=%d unroll=%d\n",
                         get_target().to_string().c_str(), k.vec_mult, natural, k.rows_per_task,
                         k.parallel, k.unroll);
            std::exit(1);
        }
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
