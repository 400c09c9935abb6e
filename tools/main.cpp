// normforge: the command-line tool. Subcommands: info, bench, compile, tune.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "bench/bench.h"
#include "compile.h"
#include "cuda_driver.h"
#include "normforge/normforge.h"
#include "tune/tune.h"

namespace {

int run_info() {
    std::printf("NormForge %s\n", nf_version());
    std::printf("compiled x86-64 feature levels (most specific first): %s\n", nf_compiled_targets());
    std::printf("feature level running on this CPU: %s\n", nf_cpu_variant());
    std::printf("large calls (4 MiB of output and more, rows of 8 KiB and more): %s\n", nf_large_calls());
    std::printf("output stores (nf_set_output_stores, NF_OUTPUT_STORES): %s\n", nf_output_stores());
    const char *why = nullptr;
    const normforge::CudaDriver *cuda = normforge::cuda_driver(&why);
    if (cuda != nullptr) {
        char name[256] = {0};
        normforge::CUdevice dev = 0;
        if (cuda->cuDeviceGet(&dev, 0) == 0) cuda->cuDeviceGetName(name, sizeof name, dev);
        std::printf("CUDA: available (device 0: %s)\n", name);
    } else {
        std::printf("CUDA: not available (%s)\n", why);
    }
    std::printf("\nkernels (knobs and the schedules/db entry they came from):\n");
    nf_kernel_info k;
    for (int i = 0; nf_get_kernel_info(i, &k); i++)
        std::printf("  %-42s %-44s %s\n", k.name, k.db_entry, k.knobs);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"NormForge: RMSNorm kernels compiled ahead of time with Halide"};
    app.require_subcommand(1);

    app.add_subcommand("info", "Show the version, compiled targets, CPU variant and kernels");

    nfbench::BenchOptions bopt;
    bool quick = false;
    auto *bench = app.add_subcommand(
        "bench", "Measure NormForge against a plain copy, a naive loop and intrinsics (same run)");
    bench->add_option("--shapes", bopt.shapes, "Shapes ROWSxCOLS (default: decode, prefill, odd sizes, 1 GiB; see README)")
        ->delimiter(',');
    bench->add_option("--dtypes", bopt.dtypes, "Storage dtypes: f32, bf16 (default both)")->delimiter(',');
    bench->add_option("--ops", bopt.ops, "Ops: rms_norm, rms_norm_residual, layer_norm (default rms_norm)")->delimiter(',');
    bench->add_option("--threads", bopt.threads, "Threads: the process is pinned to this many cores (baselines are single-threaded)")
        ->check(CLI::NonNegativeNumber);
    bench->add_option("--reps", bopt.reps, "Timed repetitions per implementation (median reported)")
        ->check(CLI::PositiveNumber);
    bench->add_option("--json", bopt.json_path, "Also write every number to this JSON file");
    bench->add_option("--plot", bopt.plot_path, "Also draw GB/s per case to this PNG (matplotlib)");
    bench->add_flag("--warm", bopt.warm, "Reuse one buffer set (cache-resident shapes stay in cache)");
    bench->add_flag("--levels", bopt.levels, "Also time NormForge at each lower compiled x86 feature level");
    bench->add_flag("--other-large-calls", bopt.other_large_calls,
                    "Also time NormForge in each large-call mode it does not run in (normforge@pipelined, @two_pass, @two_pass_streamed)");
    bench->add_flag("--streaming", bopt.streaming,
                    "Also time NormForge with nf_set_output_stores(\"streaming\"): every y written with non-temporal stores (normforge@streaming)");
    bench->add_option("--corrupt", bopt.corrupt, "Test hook: corrupt this implementation's output")
        ->group("");
    bench->add_flag("--quick", quick, "Short run: 1x4096 64x4096 4096x4096, 5 repetitions");

    nftools::CompileOptions copt;
    auto *compile = app.add_subcommand(
        "compile", "Write the Halide kernels for a target as one static library plus headers");
    compile->add_option("--target", copt.target,
                        "Halide target, e.g. arm-64-linux, arm-64-linux-arm_fp16, x86-64-linux-avx2-fma-f16c")
        ->required();
    compile->add_option("--out", copt.out_dir, "Output directory (new or empty)")->required();
    compile->add_flag("-v,--verbose", copt.verbose, "Print the generator commands");

    nftune::TuneOptions topt;
    std::string budget = "120s";
    auto *tune = app.add_subcommand(
        "tune", "Search schedule knobs for one op and dtype, compare with the defaults and Halide's "
                "autoschedulers, and write the best per shape class to a schedules/db file");
    tune->add_option("--op", topt.op,
                     "rms_norm, rms_norm_pipelined (nf_rms_norm's medium calls), rms_norm_residual, layer_norm, "
                     "rms_norm_backward (dx) or rms_norm_dweight (dw)")
        ->capture_default_str();
    tune->add_option("--dtype", topt.dtype,
                     "f32, f16, bf16, or bf16p (the bf16 pair kernels of rms_norm, rms_norm_pipelined and "
                     "rms_norm_residual, x86-64)")->capture_default_str();
    tune->add_option("--target", topt.target,
                     "host (the feature level this CPU runs), or a Halide target such as "
                     "x86-64-linux-avx2-fma-f16c or arm-64-linux (with --runner)")
        ->capture_default_str();
    tune->add_option("--shapes", topt.shapes, "Shapes ROWSxCOLS")->delimiter(',')->required();
    tune->add_option("--budget", budget, "Wall-clock budget, e.g. 120s or 2m")->capture_default_str();
    tune->add_option("--trials", topt.trials, "Most candidates to search (default: what the budget allows)");
    tune->add_option("--strategy", topt.strategy, "auto, exhaustive, random or halving")->capture_default_str();
    tune->add_option("--out", topt.out, "The db file to update, e.g. schedules/db/x86-64.json");
    tune->add_option("--log", topt.log, "JSON-lines record log (default: tune-records.jsonl beside --out)");
    tune->add_flag("--resume", topt.resume, "Reuse the measurements already in the record log");
    tune->add_option("--threads", topt.threads, "Threads for the candidates")->check(CLI::PositiveNumber);
    tune->add_option("--reps", topt.reps, "Timed repetitions (median)")->check(CLI::PositiveNumber);
    tune->add_flag("--warm", topt.warm, "Reuse one buffer set (cache-resident shapes stay in cache)");
    tune->add_flag("--per-level", topt.per_level,
                   "x86-64: write each winner's vec_mult, rows_per_task and unroll as the db entry's member for "
                   "the tuned target's feature level (avx512, avx2 or sse41), keeping the family-wide knobs");
    tune->add_option("--runner", topt.runner, "Command that runs a candidate, e.g. 'qemu-aarch64 -L /usr/aarch64-linux-gnu'");
    tune->add_option("--seed", topt.seed, "Random seed of the sampling strategies");
    tune->add_flag("--no-baselines", topt.no_baselines, "Skip Halide's autoschedulers")->group("");
    tune->add_option("--corrupt-candidate", topt.corrupt_candidate, "Test hook")->group("");

    CLI11_PARSE(app, argc, argv);

    if (app.got_subcommand("tune")) {
        char unit = 's';
        double v = 0;
        if (std::sscanf(budget.c_str(), "%lf%c", &v, &unit) < 1 || v <= 0 || (unit != 's' && unit != 'm')) {
            std::fprintf(stderr, "tune: bad --budget '%s' (e.g. 120s, 2m)\n", budget.c_str());
            return 2;
        }
        topt.budget_s = unit == 'm' ? 60 * v : v;
        return nftune::run_tune(topt);
    }

    if (app.got_subcommand("info")) return run_info();
    if (app.got_subcommand("compile")) return nftools::run_compile(copt);
    if (app.got_subcommand("bench")) {
        if (bopt.shapes.empty()) bopt.shapes = quick ? nfbench::quick_shapes() : nfbench::default_shapes();
        if (bopt.dtypes.empty()) bopt.dtypes = {"f32", "bf16"};
        if (bopt.ops.empty()) bopt.ops = {"rms_norm"};
        if (quick) bopt.reps = 5;
        if (!bopt.plot_path.empty() && bopt.json_path.empty()) bopt.json_path = bopt.plot_path + ".json";
        return nfbench::run_bench(bopt);
    }
    return 0;
}
