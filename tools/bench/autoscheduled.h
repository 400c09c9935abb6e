// The rms_norm generator scheduled by Halide's autoschedulers (cmake/NormForgeBenchKernels.cmake):
// weight mode scale, round once, same signature as the NormForge kernels.
#pragma once

#include <cstddef>

struct halide_buffer_t;

namespace nfbench {

using AutoscheduledFn = int (*)(const void *user_context, float eps, halide_buffer_t *x,
                                halide_buffer_t *weight, halide_buffer_t *inv_rms, halide_buffer_t *y);

struct Autoscheduled {
    const char *scheduler;  // Mullapudi2016, Li2018
    const char *dtype;      // f32, bf16
    AutoscheduledFn fn;
};

extern const Autoscheduled kAutoscheduled[];
extern const size_t kNumAutoscheduled;

}  // namespace nfbench
