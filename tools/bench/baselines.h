// Baselines the bench measures NormForge against, in the same run: a plain copy of the same
// bytes (the memory floor), a naive C++ loop (-O3 -march=native), and hand-written intrinsics.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nfbench {

// Storage dtypes the baselines handle: f32 and bf16 (x, w, y share it).
enum class Dtype { F32, BF16 };

// y = x / sqrt(mean(x^2) + eps) * w, rows x cols, dense rows. Naive scalar loop.
void naive_rms_norm(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                    float eps);

// y = (x - mean) / sqrt(var + eps) * w + b (two passes for the statistics). Naive scalar loop.
void naive_layer_norm(Dtype d, const void *x, const void *w, const void *b, void *y, int64_t rows,
                      int64_t cols, float eps);

// Hand-written intrinsics: AVX-512 (with AVX512-BF16 conversions when present) or AVX2+FMA.
// Returns the ISA used ("avx512", "avx2"), or nullptr when the CPU has neither.
const char *simd_isa();
void simd_rms_norm(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                   float eps);

// residual[i] = round(x[i] + residual[i]): the separate add a fused op saves (scalar loop,
// compiled -O3 -march=native like the naive RMSNorm).
void add_into(Dtype d, const void *x, void *residual, int64_t n);

// A copy with non-temporal (streaming) stores: the true memory floor on machines whose memcpy
// does not stream (glibc may use `rep movsb` for large copies).
void stream_copy(void *dst, const void *src, size_t bytes);

}  // namespace nfbench
