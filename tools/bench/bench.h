// `normforge bench`: NormForge against the copy floor, a naive loop and intrinsics, same run.
#pragma once

#include <string>
#include <vector>

namespace nfbench {

struct BenchOptions {
    std::vector<std::string> shapes;  // "ROWSxCOLS"
    std::vector<std::string> dtypes;  // f32, bf16
    int threads = 1;
    int reps = 7;
    double batch_s = 0.02;
    std::string json_path;
};

// The default shape list, and the short one `make demo` shows.
std::vector<std::string> default_shapes();
std::vector<std::string> quick_shapes();

// Runs the benchmark, prints the table (and writes JSON when asked). Returns a process exit
// code: non-zero when an implementation produced wrong output or an argument was bad.
int run_bench(const BenchOptions &opt);

}  // namespace nfbench
