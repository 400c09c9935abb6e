// bf16 nf_rms_norm and nf_rms_norm_residual calls that run the pair kernels (runtime/src/bf16_pairs.h: even row length
// and stride, 4-byte aligned rows; every x86 level) give bit for bit what the bf16
// kernels give for the same rows (those run when a row is not 4-byte aligned or the stride is
// odd), NaN payloads aside. Every weight mode and rounding order; small, medium and pipelined calls; rows with
// ragged tails; NaN, Inf, subnormal and overflowing values. The other suites check the pair
// kernels against the float64 reference (their bf16 cases with even columns run them).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "reference.h"
#include "runtime/src/bf16_pairs.h"
#include "runtime/src/halide_call.h"
#include "runtime/src/pipelined_rows.h"

using namespace nftest;

namespace {

// rows x cols bf16 values at `offset` elements into a buffer, rows `stride` apart.
struct Bf16Rows {
    int64_t rows, cols, stride, offset;
    std::vector<uint16_t> buf;
    Bf16Rows(int64_t r, int64_t c, int64_t s, int64_t off)
        : rows(r), cols(c), stride(s), offset(off), buf(size_t(off + r * s + 1), 0xA5A5) {}
    uint16_t &at(int64_t r, int64_t c) { return buf[size_t(offset + r * stride + c)]; }
    nf_matrix view() { return nf_matrix{&buf[size_t(offset)], NF_BF16, rows, cols, stride}; }
};

// Deterministic bf16 bits: mostly N(0, 1.5)-like magnitudes, and with `special` a sprinkling of
// NaN (quiet, and with a low payload), +-Inf, subnormals, the largest finite value, and one row
// whose squares overflow fp32.
uint16_t value_bits(uint32_t &st, bool special) {
    st = st * 1664525u + 1013904223u;
    const uint16_t sign = (st >> 9) & 1 ? 0x8000 : 0;
    if (special && (st >> 20) % 61 == 0) {
        static const uint16_t kSpecial[] = {0x7FC0, 0x7F81, 0x7F80, 0xFF80, 0x0001, 0x8003, 0x007F, 0x7F7F};
        return kSpecial[(st >> 8) % 8];
    }
    return uint16_t(0x3E00 + (st >> 16) % 0x300) | sign;
}

// Equal bits, or both NaN: which of two NaN operands an add passes on depends on the operand
// order the compiler picks for that (commutative) instruction, so NaN payloads may differ
// between any two kernels; NaN stays NaN.
bool same(uint16_t a, uint16_t b) {
    auto nan = [](uint16_t v) { return (v & 0x7F80) == 0x7F80 && (v & 0x7F) != 0; };
    return a == b || (nan(a) && nan(b));
}
bool same(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b); }

// fused: nf_rms_norm_residual (the residual, updated in place, is compared too).
void check_same_bits(bool fused, nf_weight_mode m, nf_rounding rnd, int64_t rows, int64_t cols, bool special,
                     uint32_t seed) {
    SCOPED_TRACE(std::string(fused ? "fused " : "") + mode_str(m) + (rnd ? " llama" : " once") + " " +
                 std::to_string(rows) + "x" + std::to_string(cols) + (special ? " special values" : ""));
    // The pair kernels' layout (even stride 2 elements of padding) and two that are not: rows
    // at an odd element offset (2-byte aligned), and an odd stride.
    const int64_t pad = 2;
    Bf16Rows x(rows, cols, cols + pad, 0), x_odd_offset(rows, cols, cols + pad, 1), x_odd_stride(rows, cols, cols + 1, 0);
    Bf16Rows res(rows, cols, cols + pad, 0), res_odd_offset(rows, cols, cols + pad, 1),
        res_odd_stride(rows, cols, cols + 1, 0);
    uint32_t st = seed;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            uint16_t v = value_bits(st, special);
            if (special && r == rows / 2) v = 0x7E00 | (v & 0x8000);  // squares overflow fp32
            x.at(r, c) = x_odd_offset.at(r, c) = x_odd_stride.at(r, c) = v;
            res.at(r, c) = res_odd_offset.at(r, c) = res_odd_stride.at(r, c) = value_bits(st, false);
        }
    // The weight: 4-byte aligned for the pair kernels; the odd-offset call passes it 2-byte aligned.
    std::vector<uint16_t> w(static_cast<size_t>(cols)), w_odd(static_cast<size_t>(cols + 1));
    for (int64_t c = 0; c < cols; c++) {
        st = st * 1664525u + 1013904223u;
        w[size_t(c)] = w_odd[size_t(c + 1)] = uint16_t(0x3F00 + (st >> 16) % 0x100) | ((st >> 10) & 1 ? 0x8000 : 0);
    }
    nf_norm_params p{1e-6f, m, rnd};

    auto run = [&](Bf16Rows &in, Bf16Rows &residual, const void *weight, std::vector<float> &inv) {
        Bf16Rows y(rows, cols, in.stride, in.offset);
        nf_matrix xv = in.view(), yv = y.view(), rv = residual.view();
        const void *wv = m == NF_WEIGHT_NONE ? nullptr : weight;
        EXPECT_EQ(fused ? nf_rms_norm_residual(&xv, &rv, wv, &p, &yv, inv.data()) : nf_rms_norm(&xv, wv, &p, &yv, inv.data()),
                  NF_OK)
            << nf_last_error();
        return y;
    };
    std::vector<float> inv_pairs(static_cast<size_t>(rows)), inv_a(static_cast<size_t>(rows)), inv_b(static_cast<size_t>(rows));
    Bf16Rows y_pairs = run(x, res, w.data(), inv_pairs);
    Bf16Rows y_a = run(x_odd_offset, res_odd_offset, w_odd.data() + 1, inv_a);
    Bf16Rows y_b = run(x_odd_stride, res_odd_stride, w.data(), inv_b);
    int bad = 0;
    auto compare = [&](const char *what, Bf16Rows &pairs, Bf16Rows &a, Bf16Rows &b) {
        for (int64_t r = 0; r < rows && bad < 5; r++) {
            for (int64_t c = 0; c < cols && bad < 5; c++) {
                if (!same(pairs.at(r, c), a.at(r, c)) || !same(pairs.at(r, c), b.at(r, c))) {
                    ADD_FAILURE() << what << "(" << r << ", " << c << "): pairs 0x" << std::hex << pairs.at(r, c)
                                  << ", bf16 kernels 0x" << a.at(r, c) << " / 0x" << b.at(r, c) << std::dec;
                    bad++;
                }
            }
            // The padding after each row is untouched.
            for (int64_t c = cols; c < cols + pad; c++) EXPECT_EQ(pairs.at(r, c), 0xA5A5) << what << " row " << r;
        }
    };
    compare("y", y_pairs, y_a, y_b);
    if (fused) compare("residual", res, res_odd_offset, res_odd_stride);
    for (int64_t r = 0; r < rows; r++) {
        EXPECT_TRUE(same(inv_pairs[size_t(r)], inv_a[size_t(r)])) << "inv_rms row " << r;
        EXPECT_TRUE(same(inv_pairs[size_t(r)], inv_b[size_t(r)])) << "inv_rms row " << r;
    }
}

struct Shape {
    int64_t rows, cols;
};

TEST(Bf16Pairs, SameBitsAsTheBf16Kernels) {
    // Where the pair kernels are used, they exist for every variant and class.
    if (normforge::kBf16PairsAvailable) {
        for (nf_weight_mode m : {NF_WEIGHT_NONE, NF_WEIGHT_SCALE, NF_WEIGHT_ONE_PLUS})
            for (nf_rounding rnd : {NF_ROUND_ONCE, NF_ROUND_LLAMA}) {
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM, m, rnd, 1, 4096), nullptr);
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM, m, rnd, 300, 4160), nullptr);
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM, m, rnd, 4097, 4096), nullptr);
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM_PIPELINED, m, rnd, 600, 4096),
                          nullptr);
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM_RESIDUAL, m, rnd, 33, 4096),
                          nullptr);
                EXPECT_NE(normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM_RESIDUAL, m, rnd, 4097, 4096),
                          nullptr);
            }
    } else {
        std::printf("note: no pair kernels on this architecture (x86-64 only); the bf16 kernels run both paths\n");
    }
    // small (one row, a decode step; short rows with tails), medium, and the pipelined kernel
    // (>= 4 MiB of output in rows of >= 8 KiB).
    const Shape shapes[] = {{1, 4096}, {1, 2}, {5, 62}, {33, 130}, {3, 4098}, {300, 4160}, {520, 4100}};
    uint32_t seed = 1;
    for (nf_weight_mode m : {NF_WEIGHT_NONE, NF_WEIGHT_SCALE, NF_WEIGHT_ONE_PLUS})
        for (nf_rounding rnd : {NF_ROUND_ONCE, NF_ROUND_LLAMA})
            for (const Shape &s : shapes)
                for (bool special : {false, true})
                    for (bool fused : {false, true}) check_same_bits(fused, m, rnd, s.rows, s.cols, special, seed++);
}

// The large class (16 MiB of output and more): the pair kernels there prefetch the next row
// (knob prefetch, schedules/next_row_prefetch.h), and where that makes the large-call mode run
// them instead of the pipelined kernel (Intel's AVX-512 CPUs), they write the same bits. x86
// only: elsewhere there are no pair kernels and this would only repeat the bf16 kernel.
TEST(Bf16Pairs, LargeCallsSameBits) {
    if (!normforge::kBf16PairsAvailable) GTEST_SKIP() << "no pair kernels on this architecture (x86-64 only)";
    uint32_t seed = 7;
    for (const char *mode : {"auto", "two_pass", "pipelined"}) {
        ASSERT_EQ(nf_set_large_calls(mode), NF_OK);
        for (nf_rounding rnd : {NF_ROUND_ONCE, NF_ROUND_LLAMA})
            check_same_bits(false, NF_WEIGHT_SCALE, rnd, 2048, 4096, false, seed++);
    }
    ASSERT_EQ(nf_set_large_calls("auto"), NF_OK);
}

// The small class prefetches the next row too (schedules/db: it took 64x4096 at 1 thread from
// 1.19x to 1.45x oneDNN on the Intel Xeon), and on one thread it also runs the medium calls of 4
// MiB and more; there the prefetch must not turn two_pass_streamed from the pipelined kernel to
// the two-pass one (measured no faster): only the medium and large kernels' knobs count.
TEST(Bf16Pairs, SmallClassPrefetchKeepsTheLargeCallPath) {
    if (!normforge::kBf16PairsAvailable) GTEST_SKIP() << "no pair kernels on this architecture (x86-64 only)";
    ASSERT_EQ(nf_set_large_calls("two_pass_streamed"), NF_OK);
    nf_set_num_threads(1);
    // 512 rows of 4096 bf16: 4 MiB of output in rows of 8 KiB, the pipelined kernel's least call.
    const normforge::KernelEntry *k = normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM, NF_WEIGHT_SCALE,
                                                                   NF_ROUND_ONCE, 512, 4096);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->shape_class, normforge::NF_CLASS_small) << k->name;
    EXPECT_EQ(k->prefetch, 1) << k->name << ": the db's bf16p small entry has prefetch = 1";
    EXPECT_FALSE(normforge::two_pass_gain(*k)) << k->name;
    EXPECT_TRUE(normforge::use_pipelined(512, 4096, 2, normforge::two_pass_gain(*k)));
    nf_set_num_threads(0);
    // The large class's prefetch does count (where there are two threads to run it).
    if (!normforge::single_threaded()) {
        const normforge::KernelEntry *l = normforge::find_pairs_kernel(normforge::NF_OP_RMS_NORM, NF_WEIGHT_SCALE,
                                                                       NF_ROUND_ONCE, 4096, 4096);
        ASSERT_NE(l, nullptr);
        EXPECT_EQ(l->shape_class, normforge::NF_CLASS_large) << l->name;
        EXPECT_EQ(normforge::two_pass_gain(*l), l->stream_rows > 0 || l->prefetch == 1) << l->name;
        EXPECT_EQ(normforge::use_pipelined(4096, 4096, 2, normforge::two_pass_gain(*l)), !normforge::two_pass_gain(*l));
    }
    ASSERT_EQ(nf_set_large_calls("auto"), NF_OK);
}

}  // namespace
