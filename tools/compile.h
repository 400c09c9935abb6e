// `normforge compile`: the Halide kernels of one target as a static library plus headers, for
// users who link the kernels into their own build (e.g. an AArch64 application).
#pragma once

#include <string>

namespace nftools {

struct CompileOptions {
    std::string target;  // e.g. arm-64-linux, arm-64-linux-arm_fp16, x86-64-linux-avx2-fma-f16c
    std::string out_dir;
    bool verbose = false;
};

// Returns a process exit code; on failure nothing is left in out_dir.
int run_compile(const CompileOptions &opt);

}  // namespace nftools
