// Hand-written intrinsics RMSNorm: the speed of light for cache-resident shapes. Each ISA is
// compiled with a target attribute and picked at run time, so the bench runs on any x86-64.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "baselines.h"
#include "scalar_values.h"

namespace nfbench {
namespace {

// ---- AVX-512 ----------------------------------------------------------------------------
#define NF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define NF_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

NF_AVX512 inline __m512 load16(Dtype d, const void *p, int64_t i, __mmask16 m) {
    if (d == Dtype::F32) return _mm512_maskz_loadu_ps(m, static_cast<const float *>(p) + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t *>(p) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

NF_AVX512 inline __m256i to_bf16_rne(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    u = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16));
}

template <bool kHasBf16>
NF_AVX512BF16 void avx512_rows(Dtype d, const void *x, const void *w, void *y, int64_t rows,
                               int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * cols;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t c = 0;
        for (; c + 64 <= cols; c += 64) {
            __m512 v0 = load16(d, x, o + c, 0xFFFF), v1 = load16(d, x, o + c + 16, 0xFFFF);
            __m512 v2 = load16(d, x, o + c + 32, 0xFFFF), v3 = load16(d, x, o + c + 48, 0xFFFF);
            a0 = _mm512_fmadd_ps(v0, v0, a0);
            a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2);
            a3 = _mm512_fmadd_ps(v3, v3, a3);
        }
        for (; c < cols; c += 16) {
            __mmask16 m = cols - c >= 16 ? 0xFFFF : __mmask16((1u << (cols - c)) - 1);
            __m512 v = load16(d, x, o + c, m);
            a0 = _mm512_fmadd_ps(v, v, a0);
        }
        float ss = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(ss / float(cols) + eps));
        for (c = 0; c < cols; c += 16) {
            __mmask16 m = cols - c >= 16 ? 0xFFFF : __mmask16((1u << (cols - c)) - 1);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(load16(d, x, o + c, m), inv), load16(d, w, c, m));
            if (d == Dtype::F32) {
                _mm512_mask_storeu_ps(static_cast<float *>(y) + o + c, m, v);
            } else {
                __m256i h;
                if constexpr (kHasBf16) h = (__m256i)_mm512_cvtneps_pbh(v);
                else h = to_bf16_rne(v);
                _mm256_mask_storeu_epi16(static_cast<uint16_t *>(y) + o + c, m, h);
            }
        }
    }
}

// ---- AVX2 + FMA ---------------------------------------------------------------------------
#define NF_AVX2 __attribute__((target("avx2,fma")))

NF_AVX2 inline __m256 load8(Dtype d, const void *p, int64_t i) {
    if (d == Dtype::F32) return _mm256_loadu_ps(static_cast<const float *>(p) + i);
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(static_cast<const uint16_t *>(p) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

NF_AVX2 inline void store8(Dtype d, void *p, int64_t i, __m256 v) {
    if (d == Dtype::F32) {
        _mm256_storeu_ps(static_cast<float *>(p) + i, v);
        return;
    }
    __m256i u = _mm256_castps_si256(v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    u = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i *>(static_cast<uint16_t *>(p) + i), packed);
}

NF_AVX2 void avx2_rows(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                       float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const int64_t o = r * cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t c = 0;
        for (; c + 32 <= cols; c += 32) {
            __m256 v0 = load8(d, x, o + c), v1 = load8(d, x, o + c + 8);
            __m256 v2 = load8(d, x, o + c + 16), v3 = load8(d, x, o + c + 24);
            a0 = _mm256_fmadd_ps(v0, v0, a0);
            a1 = _mm256_fmadd_ps(v1, v1, a1);
            a2 = _mm256_fmadd_ps(v2, v2, a2);
            a3 = _mm256_fmadd_ps(v3, v3, a3);
        }
        __m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, a);
        float ss = 0;
        for (float l : lanes) ss += l;
        for (; c < cols; c++) ss += load_value(d, x, o + c) * load_value(d, x, o + c);
        const float invs = 1.0f / std::sqrt(ss / float(cols) + eps);
        __m256 inv = _mm256_set1_ps(invs);
        for (c = 0; c + 8 <= cols; c += 8)
            store8(d, y, o + c, _mm256_mul_ps(_mm256_mul_ps(load8(d, x, o + c), inv), load8(d, w, c)));
        for (; c < cols; c++) store_value(d, y, o + c, load_value(d, x, o + c) * invs * load_value(d, w, c));
    }
}

}  // namespace

void stream_copy(void *dst, const void *src, size_t bytes) {
    auto *d = static_cast<uint8_t *>(dst);
    const auto *s = static_cast<const uint8_t *>(src);
    size_t head = std::min(bytes, (16 - (reinterpret_cast<uintptr_t>(d) & 15)) & 15);
    std::memcpy(d, s, head);
    size_t i = head;
    for (; i + 64 <= bytes; i += 64)
        for (int k = 0; k < 64; k += 16)
            _mm_stream_si128(reinterpret_cast<__m128i *>(d + i + k),
                             _mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i + k)));
    std::memcpy(d + i, s + i, bytes - i);
    _mm_sfence();
}

const char *simd_isa() {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return __builtin_cpu_supports("avx512bf16") ? "avx512+bf16" : "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
    return nullptr;
}

void simd_rms_norm(Dtype d, const void *x, const void *w, void *y, int64_t rows, int64_t cols,
                   float eps) {
    static const char *isa = simd_isa();
    if (isa == nullptr) return;
    if (isa[3] == '5') {
        if (__builtin_cpu_supports("avx512bf16")) avx512_rows<true>(d, x, w, y, rows, cols, eps);
        else avx512_rows<false>(d, x, w, y, rows, cols, eps);
    } else {
        avx2_rows(d, x, w, y, rows, cols, eps);
    }
}

}  // namespace nfbench
