// nf_rms_norm against the float64 reference: every dtype x weight mode x rounding order, the
// hidden sizes and row counts that matter, padded strides, in place, inv_rms, NaN/Inf rows.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>

#include "reference.h"
#include "runtime/src/large_calls.h"
#include "variants.h"

#if !defined(__aarch64__)
#include <cpuid.h>
#endif

using namespace nftest;

namespace {


struct Case {
    int64_t rows, cols, pad;
    bool in_place;
    bool want_inv_rms;
};

// Sets nf_rms_norm's large-call mode for a scope, then back to auto.
struct LargeCalls {
    explicit LargeCalls(const char *mode) { EXPECT_EQ(nf_set_large_calls(mode), NF_OK) << nf_last_error(); }
    ~LargeCalls() { nf_set_large_calls(nullptr); }
};

// Runs one call and checks every element, the padding, and inv_rms. Returns failures seen.
void run_case(nf_dtype d, nf_weight_mode m, nf_rounding rnd, const Case &cs, uint32_t seed) {
    SCOPED_TRACE(std::string(dtype_str(d)) + " " + mode_str(m) + (rnd ? " llama" : " once") +
                 " rows=" + std::to_string(cs.rows) + " cols=" + std::to_string(cs.cols) +
                 " pad=" + std::to_string(cs.pad) + (cs.in_place ? " in-place" : ""));
    nf_norm_params p{1e-5f, m, rnd};
    Matrix x(d, cs.rows, cs.cols, cs.pad);
    x.randomize(seed, 1.5);
    Matrix w = random_weight(d, cs.cols, seed + 1);
    const Matrix x_in = x;  // the reference reads the input even when the call is in place
    Matrix y(d, cs.rows, cs.cols, cs.pad);
    y.poison();
    const std::vector<uint8_t> y_before = y.bytes;
    std::vector<float> inv(size_t(std::max<int64_t>(cs.rows, 1)), -1.0f);

    nf_matrix xv = x.view();
    nf_matrix yv = cs.in_place ? x.view() : y.view();
    const void *wp = m == NF_WEIGHT_NONE ? nullptr : w.data();
    nf_status s = nf_rms_norm(&xv, wp, &p, &yv, cs.want_inv_rms ? inv.data() : nullptr);
    ASSERT_EQ(s, NF_OK) << nf_last_error();

    Matrix &out = cs.in_place ? x : y;
    int bad = 0;
    for (int64_t r = 0; r < cs.rows && bad < 5; r++) {
        RefRow ref = reference_row(x_in, r, &w, p);
        for (int64_t c = 0; c < cs.cols && bad < 5; c++) {
            double got = out.get(r, c);
            if (!close(got, ref.y[size_t(c)], d)) {
                ADD_FAILURE() << "y(" << r << ", " << c << ") = " << got << ", reference "
                              << ref.y[size_t(c)];
                bad++;
            }
        }
        if (cs.want_inv_rms) {
            EXPECT_NEAR(inv[size_t(r)], ref.inv_rms, 2e-6 * ref.inv_rms) << "inv_rms row " << r;
        }
    }
    // Padding between rows (and after the last row) is untouched.
    const std::vector<uint8_t> &after = out.bytes;
    const std::vector<uint8_t> &pad_ref = cs.in_place ? x_in.bytes : y_before;
    const size_t es = elem_size(d);
    for (int64_t r = 0; r < cs.rows; r++)
        for (int64_t c = cs.cols; c < cs.cols + cs.pad; c++) {
            size_t i = size_t(r * (cs.cols + cs.pad) + c) * es;
            ASSERT_EQ(0, std::memcmp(&after[i], &pad_ref[i], es)) << "padding written at row " << r;
        }
    if (!cs.want_inv_rms) EXPECT_EQ(inv[0], -1.0f);
}


class RmsNormVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(RmsNormVariant, HiddenSizesAndRowCounts) {
    auto [d, m, rnd] = GetParam();
    const int64_t hidden[] = {1, 3, 8, 17, 64, 127, 4096, 4097, 5120, 65536};
    const int64_t rows[] = {0, 1, 2, 33, 1000};
    uint32_t seed = 1;
    for (int64_t c : hidden)
        for (int64_t r : rows) {
            if (r * c > 6000000) continue;  // 1000 x 65536 is covered by 33 x 65536 per row
            run_case(d, m, rnd, Case{r, c, 0, false, (seed % 2) == 0}, seed++);
        }
}

TEST_P(RmsNormVariant, PaddedStridesInPlaceAndInvRms) {
    auto [d, m, rnd] = GetParam();
    uint32_t seed = 100;
    for (int64_t c : {1, 17, 127, 4097}) {
        run_case(d, m, rnd, Case{33, c, 7, false, true}, seed++);
        run_case(d, m, rnd, Case{33, c, 0, true, true}, seed++);
        run_case(d, m, rnd, Case{33, c, 5, true, false}, seed++);
        run_case(d, m, rnd, Case{2, c, 64, false, false}, seed++);
    }
}

// Calls with outputs of 4 MiB and more run the pipelined kernel (one-row calls chained
// over the rows, each writing a row while it sums the next): one and two 4096-element chunks with a ragged tail,
// padded strides, in place, inv_rms; the chains' boundaries move with the thread count.
// The same calls in the other large-call mode (nf_set_large_calls) run the row blocks' kernels.
TEST_P(RmsNormVariant, CallsLargeEnoughForThePipelinedKernel) {
    auto [d, m, rnd] = GetParam();
    const int64_t wide = d == NF_F32 ? 1 : 2;  // 16-bit rows are twice as long for the same bytes
    for (const char *mode : {"pipelined", "two_pass"}) {
        SCOPED_TRACE(mode);
        LargeCalls large(mode);
        uint32_t seed = 300;
        run_case(d, m, rnd, Case{257, 4097 * wide, 0, false, true}, seed++);
        run_case(d, m, rnd, Case{257, 4097 * wide, 5, true, false}, seed++);
        struct OneThread {
            OneThread() { nf_set_num_threads(1); }
            ~OneThread() { nf_set_num_threads(0); }
        } one_chain;
        run_case(d, m, rnd, Case{129, 8191 * wide, 7, false, true}, seed++);
    }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, RmsNormVariant, all_variants(), variant_name);

// A row with a NaN or an Inf poisons only its own row.
TEST(RmsNorm, NanAndInfStayInTheirRow) {
    for (nf_dtype d : {NF_F32, NF_F16, NF_BF16}) {
        for (int64_t cols : {17, 4096}) {
            SCOPED_TRACE(std::string(dtype_str(d)) + " cols=" + std::to_string(cols));
            Matrix x(d, 6, cols);
            x.randomize(7);
            x.set(1, cols / 2, std::nan(""));
            x.set(3, 0, INFINITY);
            x.set(4, cols - 1, -INFINITY);
            Matrix w = random_weight(d, cols, 8);
            Matrix y(d, 6, cols);
            nf_matrix xv = x.view(), yv = y.view();
            nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
            std::vector<float> inv(6);
            ASSERT_EQ(nf_rms_norm(&xv, w.data(), &p, &yv, inv.data()), NF_OK) << nf_last_error();
            for (int64_t r : {0, 2, 5}) {
                RefRow ref = reference_row(x, r, &w, p);
                for (int64_t c = 0; c < cols; c++)
                    ASSERT_TRUE(close(y.get(r, c), ref.y[size_t(c)], d)) << "clean row " << r;
            }
            for (int64_t c = 0; c < cols; c++) ASSERT_TRUE(std::isnan(y.get(1, c))) << "y(1, " << c << ") = " << y.get(1, c);
            EXPECT_TRUE(std::isnan(inv[1]));
            // Inf in the row: sum of squares is Inf, inv_rms is 0: finite elements become 0,
            // the Inf element becomes NaN (Inf * 0).
            for (int64_t r : {3, 4}) {
                EXPECT_EQ(inv[size_t(r)], 0.0f);
                for (int64_t c = 0; c < cols; c++) {
                    double v = y.get(r, c);
                    if (std::isinf(x.get(r, c))) EXPECT_TRUE(std::isnan(v));
                    else EXPECT_EQ(v, 0.0);
                }
            }
        }
    }
}

// fp16 squares overflow fp16 (max 65504) quickly: the statistic must accumulate in fp32.
TEST(RmsNorm, Fp16LargeValuesAccumulateInFp32) {
    Matrix x(NF_F16, 2, 4096);
    x.randomize(11, 3000.0);  // squares ~ 1e7, far past fp16 range
    Matrix y(NF_F16, 2, 4096);
    nf_matrix xv = x.view(), yv = y.view();
    nf_norm_params p{1e-6f, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    ASSERT_EQ(nf_rms_norm(&xv, nullptr, &p, &yv, nullptr), NF_OK) << nf_last_error();
    for (int64_t r = 0; r < 2; r++) {
        RefRow ref = reference_row(x, r, nullptr, p);
        for (int64_t c = 0; c < 4096; c++) ASSERT_TRUE(close(y.get(r, c), ref.y[size_t(c)], NF_F16));
    }
}

// A million-element row: the fixed 64-lane, chunked summation stays accurate.
TEST(RmsNorm, LongRowIsAccurate) {
    const int64_t cols = 1 << 20;
    Matrix x(NF_F32, 1, cols);
    x.randomize(12, 1.0, 0.5);
    Matrix y(NF_F32, 1, cols);
    nf_matrix xv = x.view(), yv = y.view();
    nf_norm_params p{0.0f, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    float inv = 0;
    ASSERT_EQ(nf_rms_norm(&xv, nullptr, &p, &yv, &inv), NF_OK) << nf_last_error();
    RefRow ref = reference_row(x, 0, nullptr, p);
    EXPECT_NEAR(inv, ref.inv_rms, 1e-6 * ref.inv_rms);
}

TEST(RmsNorm, ZeroRowsIsANoOp) {
    Matrix x(NF_F32, 0, 16), y(NF_F32, 0, 16);
    nf_matrix xv = x.view(), yv = y.view();
    xv.data = nullptr;  // not read when there are no rows
    yv.data = nullptr;
    nf_norm_params p{1e-6f, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    EXPECT_EQ(nf_rms_norm(&xv, nullptr, &p, &yv, nullptr), NF_OK);
    xv.cols = yv.cols = 0;  // cols <= 0 is only an error when rows > 0
    EXPECT_EQ(nf_rms_norm(&xv, nullptr, &p, &yv, nullptr), NF_OK);
}

// Whether CPUID says GenuineIntel (read here, not through the library).
bool intel_vendor() {
#if defined(__aarch64__)
    return false;
#else
    unsigned a = 0, b = 0, c = 0, d = 0;
    char v[13] = {};
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    std::memcpy(v, &b, 4), std::memcpy(v + 4, &d, 4), std::memcpy(v + 8, &c, 4);
    return std::string(v) == "GenuineIntel";
#endif
}

// The large-call modes give the same bits (y and inv_rms), in every dtype. By default (auto)
// the levels below AVX-512 run pipelined, and the AVX-512 levels two_pass_streamed on Intel
// CPUs and two_pass on others (ctest runs this once per level).
TEST(RmsNorm, LargeCallModesGiveTheSameBits) {
    const std::string level = nf_cpu_variant();
    const char *expected = level.rfind("avx512", 0) != 0 ? "pipelined" : intel_vendor() ? "two_pass_streamed" : "two_pass";
    EXPECT_STREQ(nf_large_calls(), expected) << level;
    for (nf_dtype d : {NF_F32, NF_F16, NF_BF16}) {
        SCOPED_TRACE(dtype_str(d));
        const int64_t rows = 300, cols = d == NF_F32 ? 4100 : 8200;  // 4.7 MiB of output
        Matrix x(d, rows, cols, 3);
        x.randomize(77);
        Matrix w = random_weight(d, cols, 78);
        nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
        const char *modes[3] = {"pipelined", "two_pass", "two_pass_streamed"};
        std::vector<Matrix> y(3, Matrix(d, rows, cols, 3));
        std::vector<std::vector<float>> inv(3, std::vector<float>(rows));
        for (int i = 0; i < 3; i++) {
            LargeCalls large(modes[i]);
            EXPECT_STREQ(nf_large_calls(), modes[i]);
            nf_matrix xv = x.view(), yv = y[i].view();
            ASSERT_EQ(nf_rms_norm(&xv, w.data(), &p, &yv, inv[i].data()), NF_OK) << nf_last_error();
        }
        for (int i = 1; i < 3; i++) {
            EXPECT_EQ(y[0].bytes, y[i].bytes) << modes[i];
            EXPECT_EQ(0, std::memcmp(inv[0].data(), inv[i].data(), sizeof(float) * rows)) << modes[i];
        }
    }
}

// Which path a large call takes in each mode: two_pass_streamed runs the two-pass kernels only
// where they have a large-call gain of their own (stream y out of tiles: stream_rows > 0, or
// prefetch the next row: prefetch = 1), pipelined elsewhere.
TEST(RmsNorm, LargeCallModesPickThePath) {
    for (bool gain : {false, true}) {
        {
            LargeCalls large("pipelined");
            EXPECT_TRUE(normforge::pipelined_large_call(gain));
        }
        {
            LargeCalls large("two_pass");
            EXPECT_FALSE(normforge::pipelined_large_call(gain));
        }
        {
            LargeCalls large("two_pass_streamed");
            EXPECT_EQ(normforge::pipelined_large_call(gain), !gain);
        }
    }
}

TEST(RmsNorm, VersionAndCpuVariant) {
    EXPECT_STREQ(nf_version(), NF_EXPECTED_VERSION);
    const std::string v = nf_cpu_variant();
#if defined(__aarch64__)
    EXPECT_TRUE(v == "arm64_neon_fp16" || v == "arm64_neon") << v;
    EXPECT_NE(std::string(nf_compiled_targets()).find("arm-64-linux"), std::string::npos);
#else
    EXPECT_TRUE(v == "avx512_sapphirerapids" || v == "avx512_zen4" || v == "avx512_skylake" ||
                v == "avx2" || v == "sse41")
        << v;
    EXPECT_NE(std::string(nf_compiled_targets()).find("sse41"), std::string::npos);
#endif
    // Under a cap (ctest runs the suite once per lower level), that level is what runs where this
    // CPU supports it (test_cpu_levels.cpp checks the level against the CPU's own bits).
    nf_kernel_info info;
    ASSERT_EQ(nf_get_kernel_info(0, &info), 1);
    EXPECT_NE(std::string(info.db_entry).find("rms_norm"), std::string::npos);
    EXPECT_EQ(nf_get_kernel_info(100000, &info), 0);
}

}  // namespace

namespace {

// Calls with outputs of 16 MiB or more: rows of 8 KiB and more run the pipelined kernel (in the
// pipelined large-call mode), shorter rows and two_pass mode the large class's kernel (row tiles
// and streaming stores where the db says so: fp32 and fp16). All: the same checks (sampled rows
// against the reference, all padding, in place), and bitwise the same rows as a small call
// computes.
TEST(RmsNorm, LargeCallsPipelinedOrThroughTiles) {
    for (const char *mode : {"pipelined", "two_pass", "two_pass_streamed"})
    for (nf_dtype d : {NF_F32, NF_F16, NF_BF16})
    for (int64_t cols : {int64_t(4097), int64_t(1025)}) {
        for (bool in_place : {false, true}) {
            SCOPED_TRACE(std::string(mode) + " " + dtype_str(d) + " cols=" + std::to_string(cols) +
                         (in_place ? " in place" : ""));
            LargeCalls large(mode);
            const int64_t pad = 3;
            const int64_t rows = (int64_t(17) << 20) / (cols * int64_t(elem_size(d))) + 1;
            Matrix x(d, rows, cols, pad);
            x.randomize(900 + uint32_t(d));
            const Matrix x_in = x;
            Matrix w = random_weight(d, cols, 901);
            Matrix y(d, in_place ? 1 : rows, cols, pad);
            if (!in_place) y.poison();
            const std::vector<uint8_t> y_before = y.bytes;
            nf_norm_params p{1e-5f, NF_WEIGHT_ONE_PLUS, NF_ROUND_ONCE};
            nf_matrix xv = x.view(), yv = in_place ? x.view() : y.view();
            std::vector<float> inv(static_cast<size_t>(rows));
            ASSERT_EQ(nf_rms_norm(&xv, w.data(), &p, &yv, in_place ? nullptr : inv.data()), NF_OK)
                << nf_last_error();
            Matrix &out = in_place ? x : y;
            const std::vector<uint8_t> &pad_ref = in_place ? x_in.bytes : y_before;
            const size_t es = elem_size(d);
            for (int64_t r = 0; r < rows; r++) {
                const size_t pad_at = size_t(r * (cols + pad) + cols) * es;
                ASSERT_EQ(0, std::memcmp(&out.bytes[pad_at], &pad_ref[pad_at], size_t(pad) * es))
                    << "padding written after row " << r;
            }
            for (int64_t r = 0; r < rows; r += 97) {
                RefRow ref = reference_row(x_in, r, &w, p);
                for (int64_t c = 0; c < cols; c++)
                    ASSERT_TRUE(close(out.get(r, c), ref.y[size_t(c)], d)) << "y(" << r << "," << c << ")";
                if (!in_place) ASSERT_NEAR(inv[size_t(r)], ref.inv_rms, 2e-6 * ref.inv_rms);
            }
            // The last row again, alone (a small call): bitwise the same.
            Matrix one(d, 1, cols), one_y(d, 1, cols);
            std::memcpy(one.data(), x_in.bytes.data() + size_t((rows - 1) * (cols + pad)) * es, size_t(cols) * es);
            nf_matrix ov = one.view(), oyv = one_y.view();
            ASSERT_EQ(nf_rms_norm(&ov, w.data(), &p, &oyv, nullptr), NF_OK);
            EXPECT_EQ(0, std::memcmp(one_y.data(), out.bytes.data() + size_t((rows - 1) * (cols + pad)) * es,
                                     size_t(cols) * es));
        }
    }
}

}  // namespace
