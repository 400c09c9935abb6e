// float64 references for LayerNorm and the RMSNorm backward pass (plain C++, no Halide).
#pragma once

#include <cmath>
#include <vector>

#include "reference.h"

namespace nftest {

// LayerNorm of one row; `scale` is the yardstick for a relative tolerance: the size of the terms
// each y is made of (|normalized * w| + |b|), plus |w| (an fp32 mean and inv_std are relatively
// accurate, so x - mean is accurate to a small fraction of the row's spread, not of itself).
struct RefLayerNormRow {
    double mean, inv_std;
    std::vector<double> y, scale;
};

inline RefLayerNormRow reference_layer_norm_row(const Matrix &x, int64_t r, const Matrix *w,
                                                const Matrix *b, double eps) {
    RefLayerNormRow out;
    double s = 0;
    for (int64_t c = 0; c < x.cols; c++) s += x.get(r, c);
    out.mean = s / double(x.cols);
    double ss = 0;
    for (int64_t c = 0; c < x.cols; c++) ss += (x.get(r, c) - out.mean) * (x.get(r, c) - out.mean);
    out.inv_std = 1.0 / std::sqrt(ss / double(x.cols) + eps);
    for (int64_t c = 0; c < x.cols; c++) {
        double n = (x.get(r, c) - out.mean) * out.inv_std;
        if (w) n *= w->get(0, c);
        double bv = b ? b->get(0, c) : 0.0;
        out.y.push_back(n + bv);
        out.scale.push_back(std::fabs(n) + std::fabs(bv) + (w ? std::fabs(w->get(0, c)) : 1.0));
    }
    return out;
}

// The analytic RMSNorm gradient of one row (inv_rms recomputed in float64 from x and eps).
// dw_row[c] is this row's contribution to dweight; `scale` the yardstick for dx's error: |inv g|
// plus |x| inv^3 sum|g x| / cols (the dot product's rounding is relative to sum |g x|, not to
// the possibly cancelling sum itself).
struct RefBackwardRow {
    double inv_rms;
    std::vector<double> dx, scale, dw_row;
};

inline double weight_prime(const Matrix *w, nf_weight_mode m, int64_t c) {
    if (m == NF_WEIGHT_SCALE) return w->get(0, c);
    if (m == NF_WEIGHT_ONE_PLUS) return 1.0 + w->get(0, c);
    return 1.0;
}

inline RefBackwardRow reference_backward_row(const Matrix &dy, const Matrix &x, int64_t r,
                                             const Matrix *w, nf_weight_mode m, double eps) {
    RefBackwardRow out;
    const int64_t n = x.cols;
    double ss = 0, dot = 0, dot_abs = 0;
    for (int64_t c = 0; c < n; c++) ss += x.get(r, c) * x.get(r, c);
    out.inv_rms = 1.0 / std::sqrt(ss / double(n) + eps);
    const double inv = out.inv_rms;
    for (int64_t c = 0; c < n; c++) {
        const double t = dy.get(r, c) * weight_prime(w, m, c) * x.get(r, c);
        dot += t;
        dot_abs += std::fabs(t);
    }
    const double coef = inv * inv * inv * dot / double(n);
    for (int64_t c = 0; c < n; c++) {
        double g = dy.get(r, c) * weight_prime(w, m, c);
        out.dx.push_back(inv * g - x.get(r, c) * coef);
        out.scale.push_back(std::fabs(inv * g) + std::fabs(x.get(r, c)) * inv * inv * inv * dot_abs / double(n));
        out.dw_row.push_back(dy.get(r, c) * x.get(r, c) * inv);
    }
    return out;
}

// The float64 RMSNorm forward loss L = sum_c dy_c * y_c of one row, for finite differences.
inline double reference_rms_loss(const std::vector<double> &x, const std::vector<double> &dy,
                                 const std::vector<double> &wp, double eps) {
    double ss = 0;
    for (double v : x) ss += v * v;
    double inv = 1.0 / std::sqrt(ss / double(x.size()) + eps), loss = 0;
    for (size_t c = 0; c < x.size(); c++) loss += dy[c] * x[c] * inv * wp[c];
    return loss;
}

// |got - want| within the dtype's relative tolerance of `scale`, plus an absolute floor: half
// the spacing of fp16's subnormals (fp32 and bf16 have fp32's range).
inline bool close_to_scale(double got, double want, double scale, nf_dtype d, double factor = 1.0) {
    if (std::isnan(want)) return std::isnan(got);
    if (!std::isfinite(got)) return false;
    const double floor = d == NF_F16 ? 3e-8 : 1e-30;
    return std::fabs(got - want) <= factor * tolerance(d) * scale + floor;
}

}  // namespace nftest
