// bf16 calls on the pair kernels (generators/bf16_pairs.h, the kernel dtype NF_bf16p): the same
// bits as the bf16 kernels, faster because Halide's bf16 casts are expensive (every x86 level; the
// pair kernels are x86-64 only). A pair kernel sees a bf16 matrix as an fp32 one of cols / 2
// columns, so its rows must have an even length and stride and start on 4-byte boundaries; other
// calls, and AArch64, use the bf16 kernels.
#pragma once

#include <cstdint>

#include "normforge/normforge.h"

namespace normforge {

// Whether the pair kernels are compiled for this architecture: for every x86-64 feature level
// (cmake/NormForgeKernels.cmake: NF_PAIR_OPS), not for AArch64.
#if defined(__aarch64__)
constexpr bool kBf16PairsAvailable = false;
#else
constexpr bool kBf16PairsAvailable = true;
#endif

inline bool aligned4(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 3) == 0; }

// m's rows as pairs: even length, even stride (irrelevant for one row), 4-byte aligned.
inline bool pairs_layout(const nf_matrix &m) {
    return m.cols % 2 == 0 && (m.rows == 1 || m.row_stride % 2 == 0) && aligned4(m.data);
}

// m (bf16, pairs_layout) as the pair kernels' fp32 matrix.
inline nf_matrix as_pairs(const nf_matrix &m) {
    return nf_matrix{m.data, NF_F32, m.rows, m.cols / 2, m.rows == 1 ? m.cols / 2 : m.row_stride / 2};
}

}  // namespace normforge
