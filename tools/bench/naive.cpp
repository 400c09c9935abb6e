// The naive loop users write first; compiled -O3 -march=native (see tools/CMakeLists.txt).
// Without -ffast-math the fp32 sum is one sequential chain, which is the point of comparison.
#include <cmath>
#include <cstring>

#include "baselines.h"

namespace nfbench {
namespace {

inline float load(Dtype d, const void *p, int64_t i) {
    if (d == Dtype::F32) return static_cast<const float *>(p)[i];
    uint32_t u = uint32_t(static_cast<const uint16_t *>(p)[i]) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

inline void store(Dtype d, void *p, int64_t i, float v) {
    if (d == Dtype::F32) {
        static_cast<float *>(p)[i] = v;
        return;
    }
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    static_cast<uint16_t *>(p)[i] = uint16_t(u >> 16);
}

}  // namespace

void naive_rms_norm(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                    float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * cols;
        float ss = 0.0f;
        for (int64_t c = 0; c < cols; c++) ss += load(d, x, o + c) * load(d, x, o + c);
        const float inv = 1.0f / std::sqrt(ss / float(cols) + eps);
        for (int64_t c = 0; c < cols; c++) store(d, y, o + c, load(d, x, o + c) * inv * load(d, w, c));
    }
}

void add_into(Dtype d, const void *x, void *residual, int64_t n) {
    for (int64_t i = 0; i < n; i++) store(d, residual, i, load(d, x, i) + load(d, residual, i));
}

}  // namespace nfbench
