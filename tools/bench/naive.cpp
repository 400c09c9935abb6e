// The naive loop users write first; compiled -O3 -march=native (see tools/CMakeLists.txt).
// Without -ffast-math the fp32 sum is one sequential chain, which is the point of comparison.
#include <cmath>

#include "baselines.h"
#include "scalar_values.h"

namespace nfbench {

void naive_rms_norm(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                    float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * cols;
        float ss = 0.0f;
        for (int64_t c = 0; c < cols; c++) ss += load_value(d, x, o + c) * load_value(d, x, o + c);
        const float inv = 1.0f / std::sqrt(ss / float(cols) + eps);
        for (int64_t c = 0; c < cols; c++) store_value(d, y, o + c, load_value(d, x, o + c) * inv * load_value(d, w, c));
    }
}

void naive_layer_norm(Dtype d, const void *x, const void *w, const void *b, void *y, int64_t rows,
                      int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * cols;
        float s = 0.0f;
        for (int64_t c = 0; c < cols; c++) s += load_value(d, x, o + c);
        const float mean = s / float(cols);
        float ss = 0.0f;
        for (int64_t c = 0; c < cols; c++) ss += (load_value(d, x, o + c) - mean) * (load_value(d, x, o + c) - mean);
        const float inv = 1.0f / std::sqrt(ss / float(cols) + eps);
        for (int64_t c = 0; c < cols; c++)
            store_value(d, y, o + c, (load_value(d, x, o + c) - mean) * inv * load_value(d, w, c) + load_value(d, b, c));
    }
}

void add_into(Dtype d, const void *x, void *residual, int64_t n) {
    for (int64_t i = 0; i < n; i++) store_value(d, residual, i, load_value(d, x, i) + load_value(d, residual, i));
}

}  // namespace nfbench
