// The RMSNorm backward generators. CPU: serial kernels over a block of rows that the runtime
// (runtime/src/rms_norm_backward.cpp) runs on the thread pool; CUDA: whole calls
// (runtime/src/cuda_backward.cpp):
//   rms_norm_backward: (dy, x, weight, inv_rms) -> dx         (dx may be exactly dy or x)
//   rms_norm_dweight:  (dy, x, inv_rms, dw_in) -> dw          (CPU; dw may alias dw_in)
//   rms_norm_dweight_blocks: (dy, x, inv_rms) -> dw per block of 128 rows      (CUDA)
//   rms_norm_dweight_pairs:  (p: cols x 2 x pairs) -> p(c, 0, j) + p(c, 1, j)  (CUDA)
// Separate kernels, so that the runtime can sum dw over rows before dx overwrites them in place.
#include <cstdlib>

#include "Halide.h"
#include "generators/rms_norm_backward_algorithm.h"
#include "schedules/backward.h"
#include "schedules/cuda_backward.h"

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
    GeneratorParam<WeightMode> weight_mode{"weight_mode", WeightMode::Scale, weight_mode_names()};
    GeneratorParam<int> vec_mult{"vec_mult", 1};
    GeneratorParam<int> rows_per_task{"rows_per_task", 1};
    GeneratorParam<int> parallel{"parallel", 0};
    GeneratorParam<int> unroll{"unroll", 1};
    GeneratorParam<std::string> level_knobs{"level_knobs", ""};  // per-level knobs (schedules/knobs.h)
    GeneratorParam<int> rows_per_block{"rows_per_block", 4};  // CUDA only
    GeneratorParam<int> stage{"stage", 0};                    // CUDA only
    GeneratorParam<int> out_unroll{"out_unroll", 1};          // CUDA only
    GeneratorParam<int> aligned{"aligned", 1};                // CUDA only
    GeneratorParam<int> warps_per_row{"warps_per_row", 1};    // CUDA only
    GeneratorParam<int> split_chunks{"split_chunks", 0};      // CUDA only

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
        bf16_conversion_via_bits() = get_target().has_gpu_feature();
        row_sum_full_chunks() = get_target().has_gpu_feature();
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
        if (get_target().has_gpu_feature()) {
            GpuKnobs g{rows_per_block, unroll, stage, out_unroll, aligned, warps_per_row, split_chunks};
            if (!check_gpu_knobs_or_report("rms_norm_backward", g)) std::exit(1);
            if (g.aligned) {
                promise_gpu_alignment(dy);
                promise_gpu_alignment(x);
                promise_gpu_alignment(weight);
                promise_gpu_alignment(Func(dx).output_buffers()[0]);
            }
            schedule_rms_norm_backward_cuda(f, dx, g, dtype, dy, x);
            return;
        }
        CpuKnobs k{vec_mult, rows_per_task, parallel, unroll};
        if (!apply_level_knobs_or_report("rms_norm_backward", k, level_knobs, get_target())) std::exit(1);
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
    GeneratorParam<std::string> level_knobs{"level_knobs", ""};  // per-level knobs (schedules/knobs.h)

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
        if (!apply_level_knobs_or_report("rms_norm_dweight", k, level_knobs, get_target())) std::exit(1);
        if (!serial_knobs_ok("rms_norm_dweight", k, get_target())) std::exit(1);
        schedule_rms_norm_dweight_cpu(dwf, rows, k, get_target());
    }
};

// CUDA: dw per block of block_rows rows (the view's last block may be partial), in row order.
class RmsNormDweightBlocksGenerator : public Halide::Generator<RmsNormDweightBlocksGenerator> {
public:
    GeneratorParam<Halide::Type> dtype{"dtype", Halide::Float(32)};
    GeneratorParam<int> block_rows{"block_rows", 128};  // = kDweightBlockRows of the runtime
    GeneratorParam<int> rows_per_block{"rows_per_block", 4};
    GeneratorParam<int> unroll{"unroll", 8};
    GeneratorParam<int> aligned{"aligned", 1};

    Input<Halide::Buffer<>> dy{"dy", 2};
    Input<Halide::Buffer<>> x{"x", 2};
    Input<Halide::Buffer<float, 1>> inv_rms{"inv_rms"};
    Output<Halide::Buffer<float, 2>> dw{"dw"};

    void configure() {
        dy.set_type(dtype);
        x.set_type(dtype);
    }

    void generate() {
        using namespace Halide;
        bf16_conversion_via_bits() = true;
        DweightBlockFuncs f = define_rms_norm_dweight_blocks(dy, x, inv_rms, x.dim(1).extent(), block_rows);
        dw(f.c, f.b) = f.acc(f.c, f.b);
        set_matrix_estimates(dy);
        set_matrix_estimates(x);
        inv_rms.set_estimates({{0, 4096}});
        dw.dim(0).set_min(0);
        dw.dim(1).set_min(0);
        dw.set_estimates({{0, 4096}, {0, 32}});
        GpuKnobs g{rows_per_block, unroll, 0, 1, aligned, 1, 0};
        if (!get_target().has_gpu_feature() || !check_gpu_knobs_or_report("rms_norm_dweight_blocks", g) ||
            int(block_rows) < 1 || int(block_rows) % int(unroll) != 0) {
            std::fprintf(stderr, "rms_norm_dweight_blocks: a CUDA target and unroll dividing block_rows\n");
            std::exit(1);
        }
        if (g.aligned) {
            promise_gpu_alignment(dy);
            promise_gpu_alignment(x);
        }
        schedule_dweight_blocks_cuda(f, dw, g, dtype);
    }
};

// CUDA: one level of the pairwise tree over the blocks' dw: p is (cols, 2, pairs), the pairs'
// two blocks as its middle dimension; the output may alias p(., 0, .).
class RmsNormDweightPairsGenerator : public Halide::Generator<RmsNormDweightPairsGenerator> {
public:
    GeneratorParam<int> rows_per_block{"rows_per_block", 4};  // warps per thread block

    Input<Halide::Buffer<float, 3>> p{"p"};
    Output<Halide::Buffer<float, 2>> sum{"sum"};

    void generate() {
        using namespace Halide;
        Func s = define_pair_sum(p);
        Var c = s.args()[0], j = s.args()[1];
        sum(c, j) = s(c, j);
        p.dim(0).set_min(0);
        p.dim(1).set_bounds(0, 2);
        p.set_estimates({{0, 4096}, {0, 2}, {0, 16}});
        sum.set_estimates({{0, 4096}, {0, 16}});
        if (!get_target().has_gpu_feature()) {
            std::fprintf(stderr, "rms_norm_dweight_pairs: a CUDA target only\n");
            std::exit(1);
        }
        schedule_pair_sum_cuda(sum, rows_per_block);
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::RmsNormBackwardGenerator, rms_norm_backward)
HALIDE_REGISTER_GENERATOR(normforge::RmsNormDweightGenerator, rms_norm_dweight)
HALIDE_REGISTER_GENERATOR(normforge::RmsNormDweightBlocksGenerator, rms_norm_dweight_blocks)
HALIDE_REGISTER_GENERATOR(normforge::RmsNormDweightPairsGenerator, rms_norm_dweight_pairs)
