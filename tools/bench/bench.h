// `normforge bench`: NormForge side by side with the memory floor, baselines, Halide's
// autoschedulers and the installed peers, same run, same timing method.
#pragma once

#include <string>
#include <vector>

namespace nfbench {

struct BenchOptions {
    std::vector<std::string> shapes;  // "ROWSxCOLS"
    std::vector<std::string> dtypes;  // f32, bf16
    std::vector<std::string> ops;     // rms_norm, rms_norm_residual
    int threads = 1;                  // for NormForge, autoscheduled kernels and peers
    int reps = 7;
    double batch_s = 0.02;
    bool warm = false;                // true: reuse one buffer set (cache-resident shapes stay warm)
    bool levels = false;              // also time NormForge at each lower compiled feature level
    bool other_large_calls = false;   // also time NormForge in the other large-call modes
    bool streaming = false;           // also time NormForge with every y streamed (normforge@streaming)
    std::string json_path, plot_path;
    std::string corrupt;              // test hook: this implementation's output is corrupted
};

// The default shape list (decode, prefill, odd hidden sizes, larger than the last-level
// cache), and the short one `make demo` shows.
std::vector<std::string> default_shapes();
std::vector<std::string> quick_shapes();

// Runs the benchmark, prints the tables (and writes JSON / the plot when asked). Returns a
// process exit code: 1 when an implementation produced wrong output, 2 on bad arguments.
int run_bench(const BenchOptions &opt);

}  // namespace nfbench
