// The RMSNorm backward generators, serial kernels over a block of rows that the runtime
// (runtime/src/rms_norm_backward.cpp) runs on the thread pool:
//   rms_norm_backward: (dy, x, weight, inv_rms) -> dx         (dx may be exactly dy or x)
//   rms_norm_dweight:  (dy, x, inv_rms, dw_in) -> dw          (dw may alias dw_in)
// Two kernels, so that the runtime can run dw over a block before dx overwrites it in place.
#include <cstdlib>

#include "Halide.h"
#include "generators/rms_norm_backward_algorithm.h"
#include "schedules/backward.h"

namespace normforge {
namespace {

bool serial_knobs_ok(const char *name, const CpuKnobs &k, const Halide::Target &t) {
    if (!check_knobs_or_report(name, k, t)) return false;
    if (k.parallel == 0) return true;
    std::fprintf(stderr, "%s generator: the kernel is serial (parallel must be 0)\n", name);
    return false;
}

void set_matrix_estimates(Halide::GeneratorInput<Halide::Buffer<>> &m) {
    m.dim(0).set_min(0);
    m.dim(1).set_min(0);
    m.set_estimates({{0, 4096}, {0, 16}});
}

class RmsNormBackwardGenerator : public Halide::Generator<RmsNormBackwardGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<WeightMode> weight_mode{"weight_mode", WeightMode::Scale,
                                           {{"none", WeightMode::None},
                                            {"scale", WeightMode::Scale},
                                            {"one_plus", WeightMode::OnePlus}}};
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 1};
    GeneratorParam<int> parallel{"parallel", 0};
    GeneratorParam<int> unroll{"unroll", 1};

    Input<Halide::Buffer<>> dy{"dy", 2};
    Input<Halide::Buffer<>> x{"x", 2};
    Input<Halide::Buffer<>> weight{"weight", 1};
    Input<Halide::Buffer<float, 1>> inv_rms{"inv_rms"};
    Output<Halide::Buffer<>> dx{"dx", 2};

    void configure() {
        dy.set_type(dtype);
        x.set_type(dtype);
        weight.set_type(dtype);
        dx.set_type(dtype);
    }

    void generate() {
        using namespace Halide;
        RmsNormBackwardFuncs f = define_rms_norm_backward(dy, x, weight, inv_rms, x.dim(0).extent(),
                                                          dtype, weight_mode);
        dx(f.c, f.r) = f.dx(f.c, f.r);
        set_matrix_estimates(dy);
        set_matrix_estimates(x);
        dx.dim(0).set_min(0);
        weight.set_estimates({{0, 4096}});
        inv_rms.set_estimates({{0, 16}});
        dx.set_estimates({{0, 4096}, {0, 16}});
        if (using_autoscheduler()) return;
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        if (!serial_knobs_ok("rms_norm_backward", k, get_target())) std::exit(1);
        schedule_rms_norm_backward_cpu(f, dx, k, get_target());
    }
};

class RmsNormDweightGenerator : public Halide::Generator<RmsNormDweightGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 1};
    GeneratorParam<int> parallel{"parallel", 0};
    GeneratorParam<int> unroll{"unroll", 1};

    Input<Halide::Buffer<>> dy{"dy", 2};
    Input<Halide::Buffer<>> x{"x", 2};
    Input<Halide::Buffer<float, 1>> inv_rms{"inv_rms"};
    Input<Halide::Buffer<float, 1>> dw_in{"dw_in"};
    Output<Halide::Buffer<float, 1>> dw{"dw"};

    void configure() {
        dy.set_type(dtype);
        x.set_type(dtype);
    }

    void generate() {
        using namespace Halide;
        Func dwf = dw;
        RDom rows = define_rms_norm_dweight(dwf, dy, x, inv_rms, dw_in, x.dim(1).extent());
        set_matrix_estimates(dy);
        set_matrix_estimates(x);
        inv_rms.set_estimates({{0, 16}});
        dw_in.set_estimates({{0, 4096}});
        dw.set_estimates({{0, 4096}});
        if (using_autoscheduler()) return;
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        if (!serial_knobs_ok("rms_norm_dweight", k, get_target())) std::exit(1);
        schedule_rms_norm_dweight_cpu(dwf, rows, k, get_target());
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::RmsNormBackwardGenerator, rms_norm_backward)
HALIDE_REGISTER_GENERATOR(normforge::RmsNormDweightGenerator, rms_norm_dweight)
