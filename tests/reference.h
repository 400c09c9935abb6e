// Test helpers: storage-dtype conversions, a padded matrix, and the float64 RMSNorm reference.
// Independent of Halide: everything here is plain C++.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "normforge/normforge.h"

namespace nftest {

inline uint32_t bits_of(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float float_of(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float bf16_to_float(uint16_t h) { return float_of(uint32_t(h) << 16); }
inline uint16_t float_to_bf16(float f) {  // round to nearest even; NaN stays NaN
    uint32_t u = bits_of(f);
    if (std::isnan(f)) return uint16_t((u >> 16) | 0x40);
    u += 0x7FFF + ((u >> 16) & 1);
    return uint16_t(u >> 16);
}

inline float f16_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) return float_of(sign | 0x7F800000 | (man << 13));
    if (exp == 0) return (sign ? -1.0f : 1.0f) * std::ldexp(float(man), -24);
    return float_of(sign | ((exp + 112) << 23) | (man << 13));
}
inline uint16_t float_to_f16(float f) {  // round to nearest even
    uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000;
    float a = std::fabs(f);
    if (std::isnan(f)) return uint16_t(sign | 0x7E00);
    if (a >= 65520.0f) return uint16_t(sign | 0x7C00);
    if (a < 6.103515625e-05f) {  // subnormal half: multiples of 2^-24
        return uint16_t(sign | uint16_t(std::nearbyint(std::ldexp(a, 24))));
    }
    uint32_t au = bits_of(a);
    au += 0xFFF + ((au >> 13) & 1);
    return uint16_t(sign | (((au >> 23) - 112) << 10) | ((au >> 13) & 0x3FF));
}

inline size_t elem_size(nf_dtype d) { return d == NF_F32 ? 4 : 2; }

// Names for test traces and parameterized test names.
inline const char *dtype_str(nf_dtype d) { return d == NF_F32 ? "f32" : d == NF_F16 ? "f16" : "bf16"; }
inline const char *mode_str(nf_weight_mode m) {
    return m == NF_WEIGHT_NONE ? "none" : m == NF_WEIGHT_SCALE ? "scale" : "one_plus";
}

// The value a dtype stores for v (v rounded to the dtype), as a double.
inline double round_to(nf_dtype d, double v) {
    float f = float(v);
    if (d == NF_F16) return f16_to_float(float_to_f16(f));
    if (d == NF_BF16) return bf16_to_float(float_to_bf16(f));
    return f;
}

// A row-major matrix with optional padding between rows; the padding holds a known pattern.
struct Matrix {
    nf_dtype dtype;
    int64_t rows, cols, stride;
    std::vector<uint8_t> bytes;

    Matrix(nf_dtype d, int64_t r, int64_t c, int64_t pad = 0)
        : dtype(d), rows(r), cols(c), stride(c + pad),
          bytes(size_t(std::max<int64_t>(r * (c + pad), 1)) * elem_size(d), uint8_t(0xA5)) {}

    void *data() { return bytes.data(); }
    nf_matrix view() { return nf_matrix{bytes.data(), dtype, rows, cols, stride}; }

    double get(int64_t r, int64_t c) const {
        const uint8_t *p = bytes.data() + size_t(r * stride + c) * elem_size(dtype);
        if (dtype == NF_F32) { float f; std::memcpy(&f, p, 4); return f; }
        uint16_t h; std::memcpy(&h, p, 2);
        return dtype == NF_F16 ? f16_to_float(h) : bf16_to_float(h);
    }
    void set(int64_t r, int64_t c, double v) {
        uint8_t *p = bytes.data() + size_t(r * stride + c) * elem_size(dtype);
        float f = float(v);
        if (dtype == NF_F32) { std::memcpy(p, &f, 4); return; }
        uint16_t h = dtype == NF_F16 ? float_to_f16(f) : float_to_bf16(f);
        std::memcpy(p, &h, 2);
    }
    // Fills every element (not the padding) with a value no kernel produces from finite input.
    void poison() {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) set(r, c, std::nan(""));
    }
    // Fresh pseudo-random values, never all zero: N(mean, scale) per element.
    void randomize(uint32_t seed, double scale = 1.0, double mean = 0.0) {
        std::mt19937 rng(seed);
        std::normal_distribution<double> dist(mean, scale);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) set(r, c, dist(rng));
    }
};

// A weight vector stored in the dtype.
inline Matrix random_weight(nf_dtype d, int64_t cols, uint32_t seed) {
    Matrix w(d, 1, cols);
    w.randomize(seed, 0.5, 1.0);
    return w;
}

// Reference result for one row, in float64 (x and weight are the stored values).
struct RefRow {
    double inv_rms;
    std::vector<double> y;
};

inline RefRow reference_row(const Matrix &x, int64_t r, const Matrix *w, const nf_norm_params &p) {
    RefRow out;
    double ss = 0;
    for (int64_t c = 0; c < x.cols; c++) ss += x.get(r, c) * x.get(r, c);
    out.inv_rms = 1.0 / std::sqrt(ss / double(x.cols) + double(p.eps));
    out.y.resize(size_t(x.cols));
    for (int64_t c = 0; c < x.cols; c++) {
        double n = x.get(r, c) * out.inv_rms;
        double wv = 1.0;
        if (p.weight_mode == NF_WEIGHT_SCALE) wv = w->get(0, c);
        if (p.weight_mode == NF_WEIGHT_ONE_PLUS) wv = 1.0 + w->get(0, c);
        if (p.rounding == NF_ROUND_LLAMA && p.weight_mode != NF_WEIGHT_NONE) {
            n = round_to(x.dtype, n);
            if (p.weight_mode == NF_WEIGHT_ONE_PLUS) wv = round_to(x.dtype, wv);
        }
        out.y[size_t(c)] = n * wv;
    }
    return out;
}

// Relative tolerance on the normalized value, by dtype (one rounding of the result plus fp32
// accumulation error, and for LLAMA order the extra rounding).
inline double tolerance(nf_dtype d) {
    return d == NF_F32 ? 2e-6 : d == NF_F16 ? 2e-3 : 1.6e-2;
}

inline bool close(double got, double want, nf_dtype d) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == want;
    if (!std::isfinite(got)) return false;
    // absolute floor: values that flush to the dtype's subnormal range
    double floor = d == NF_F32 ? 1e-30 : d == NF_F16 ? 1e-7 : 1e-30;
    return std::fabs(got - want) <= tolerance(d) * std::fabs(want) + floor;
}

}  // namespace nftest
