// The rms_norm and layer_norm generators scheduled by Halide's autoschedulers
// (cmake/NormForgeBenchKernels.cmake): rms_norm with weight mode scale, round once;
// layer_norm with weight and bias; the same signatures as the NormForge kernels.
#pragma once

#include <cstddef>

struct halide_buffer_t;

namespace nfbench {

using AnyFn = void (*)();
using AutoscheduledRmsFn = int (*)(const void *user_context, float eps, halide_buffer_t *x,
                                   halide_buffer_t *weight, halide_buffer_t *inv_rms, halide_buffer_t *y);
using AutoscheduledLayerNormFn = int (*)(const void *user_context, halide_buffer_t *x, halide_buffer_t *weight,
                                         halide_buffer_t *bias, float eps, halide_buffer_t *y,
                                         halide_buffer_t *mean, halide_buffer_t *inv_std);

struct Autoscheduled {
    const char *scheduler;  // Mullapudi2016, Li2018
    const char *op;         // rms_norm, layer_norm
    const char *dtype;      // f32, bf16
    AnyFn fn;               // cast to the op's signature above
};

extern const Autoscheduled kAutoscheduled[];
extern const size_t kNumAutoscheduled;

}  // namespace nfbench
