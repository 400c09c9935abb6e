// `normforge tune`: searches a schedule family's knob space for one (op, dtype, target), checks
// and times every candidate on the given shapes (builder: the generator + a small runner
// executable; runner: run directly, or through --runner for cross targets), records every
// measurement, and writes the best knobs per shape class to a schedules/db file.
#pragma once

#include <string>
#include <vector>

namespace nftune {

struct TuneOptions {
    std::string op = "rms_norm";         // rms_norm, rms_norm_pipelined, rms_norm_residual, layer_norm, rms_norm_backward, rms_norm_dweight
    std::string dtype = "f32";           // f32, f16, bf16
    std::string target = "host";         // host, or a Halide target (x86-64-linux-avx2-fma-f16c, arm-64-linux, ...)
    std::vector<std::string> shapes;     // ROWSxCOLS
    double budget_s = 120;               // wall-clock budget for the search
    int trials = 0;                      // most candidates to search (0: as many as the budget allows)
    std::string strategy = "auto";       // auto, exhaustive, random, halving
    std::string out;                     // db file to update (schedules/db/<family>.json)
    std::string log;                     // JSON-lines record log (default: beside --out)
    bool resume = false;                 // reuse the log's measurements of this (op, dtype, target, threads)
    int threads = 1;
    int reps = 5;
    bool warm = false;
    bool per_level = false;              // write the winners as the db entry's member for the target's
                                         // feature level (avx512, avx2, sse41; schedules/knobs.h)
    std::string runner;                  // command prefix to run candidates (e.g. qemu-aarch64 -L ...)
    unsigned seed = 1;
    bool no_baselines = false;           // skip the autoschedulers (tests)
    int corrupt_candidate = -1;          // test hook: this search candidate's output is corrupted
};

int run_tune(const TuneOptions &opt);

}  // namespace nftune
