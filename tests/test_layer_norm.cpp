// nf_layer_norm against the float64 reference: every dtype x (weight, bias) combination, the
// hidden sizes and row counts that matter, padded strides, in place, mean / inv_std, rows with
// a large mean, NaN rows, the large (tiled, streaming) class, batch invariance, bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>

#include "reference_ops.h"

using namespace nftest;

namespace {


struct Case {
    int64_t rows, cols, pad;
    bool in_place, want_stats;
    double mean = 0.0, spread = 1.5;  // x ~ N(mean, spread)
};

void run_case(nf_dtype d, bool has_w, bool has_b, const Case &cs, uint32_t seed) {
    SCOPED_TRACE(std::string(dtype_str(d)) + (has_w ? " weight" : "") + (has_b ? " bias" : "") +
                 " rows=" + std::to_string(cs.rows) + " cols=" + std::to_string(cs.cols) +
                 " pad=" + std::to_string(cs.pad) + (cs.in_place ? " in-place" : "") +
                 " mean=" + std::to_string(cs.mean));
    const float eps = 1e-5f;
    Matrix x(d, cs.rows, cs.cols, cs.pad);
    x.randomize(seed, cs.spread, cs.mean);
    Matrix w = random_weight(d, cs.cols, seed + 1);
    Matrix b(d, 1, cs.cols);
    b.randomize(seed + 2, 0.5);
    const Matrix x_in = x;
    Matrix y(d, cs.rows, cs.cols, cs.pad);
    y.poison();
    const std::vector<uint8_t> y_before = y.bytes;
    const size_t nr = size_t(std::max<int64_t>(cs.rows, 1));
    std::vector<float> mean(nr, -1.0f), inv(nr, -1.0f);

    nf_matrix xv = x.view();
    nf_matrix yv = cs.in_place ? x.view() : y.view();
    nf_status s = nf_layer_norm(&xv, has_w ? w.data() : nullptr, has_b ? b.data() : nullptr, eps, &yv,
                                cs.want_stats ? mean.data() : nullptr, cs.want_stats ? inv.data() : nullptr);
    ASSERT_EQ(s, NF_OK) << nf_last_error();

    Matrix &out = cs.in_place ? x : y;
    int bad = 0;
    for (int64_t r = 0; r < cs.rows && bad < 5; r++) {
        RefLayerNormRow ref = reference_layer_norm_row(x_in, r, has_w ? &w : nullptr, has_b ? &b : nullptr, eps);
        for (int64_t c = 0; c < cs.cols && bad < 5; c++) {
            const double got = out.get(r, c), want = ref.y[size_t(c)];
            if (!close_to_scale(got, want, ref.scale[size_t(c)], d)) {
                ADD_FAILURE() << "y(" << r << ", " << c << ") = " << got << ", reference " << want;
                bad++;
            }
        }
        if (cs.want_stats) {
            EXPECT_NEAR(mean[size_t(r)], ref.mean, 2e-6 * (std::fabs(ref.mean) + cs.spread)) << "mean row " << r;
            EXPECT_NEAR(inv[size_t(r)], ref.inv_std, 4e-6 * ref.inv_std) << "inv_std row " << r;
        }
    }
    const std::vector<uint8_t> &pad_ref = cs.in_place ? x_in.bytes : y_before;
    const size_t es = elem_size(d);
    for (int64_t r = 0; r < cs.rows; r++) {
        const size_t at = size_t(r * (cs.cols + cs.pad) + cs.cols) * es;
        ASSERT_EQ(0, std::memcmp(&out.bytes[at], &pad_ref[at], size_t(cs.pad) * es)) << "padding written, row " << r;
    }
    if (!cs.want_stats) {
        EXPECT_EQ(mean[0], -1.0f);
        EXPECT_EQ(inv[0], -1.0f);
    }
}

using Variant = std::tuple<nf_dtype, bool, bool>;
class LayerNormVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(LayerNormVariant, HiddenSizesAndRowCounts) {
    auto [d, has_w, has_b] = GetParam();
    uint32_t seed = 1;
    for (int64_t c : {1, 3, 17, 64, 127, 4096, 4097, 5120, 65536})
        for (int64_t r : {0, 1, 2, 33, 1000}) {
            if (r * c > 6000000) continue;
            run_case(d, has_w, has_b, Case{r, c, 0, false, (seed % 2) == 0}, seed++);
        }
}

TEST_P(LayerNormVariant, PaddedStridesInPlaceAndStats) {
    auto [d, has_w, has_b] = GetParam();
    uint32_t seed = 100;
    for (int64_t c : {1, 17, 127, 4097}) {
        run_case(d, has_w, has_b, Case{33, c, 7, false, true}, seed++);
        run_case(d, has_w, has_b, Case{33, c, 0, true, true}, seed++);
        run_case(d, has_w, has_b, Case{33, c, 5, true, false}, seed++);
    }
}

INSTANTIATE_TEST_SUITE_P(
    AllVariants, LayerNormVariant,
    ::testing::Combine(::testing::Values(NF_F32, NF_F16, NF_BF16), ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<Variant> &info) {
        return std::string(dtype_str(std::get<0>(info.param))) + (std::get<1>(info.param) ? "_w" : "_now") +
               (std::get<2>(info.param) ? "_b" : "_nob");
    });

// Rows with a large mean and small noise (1e4 + N(0, 1)): a one-pass sum(x^2) - mean^2 in fp32
// would lose every digit of the variance; the two-pass statistic keeps fp32 accuracy.
TEST(LayerNorm, LargeMeanRowsKeepTheirVariance) {
    run_case(NF_F32, true, true, Case{8, 4096, 0, false, true, 1e4, 1.0}, 50);
    run_case(NF_F32, false, false, Case{4, 65536, 0, false, true, 1e4, 1e-2}, 51);
    run_case(NF_BF16, true, false, Case{8, 4096, 0, false, true, 1e3, 1.0}, 52);
}

TEST(LayerNorm, NanStaysInItsRow) {
    for (nf_dtype d : {NF_F32, NF_F16, NF_BF16}) {
        SCOPED_TRACE(dtype_str(d));
        Matrix x(d, 3, 100), y(d, 3, 100);
        x.randomize(9);
        x.set(1, 50, std::nan(""));
        nf_matrix xv = x.view(), yv = y.view();
        std::vector<float> mean(3), inv(3);
        ASSERT_EQ(nf_layer_norm(&xv, nullptr, nullptr, 1e-5f, &yv, mean.data(), inv.data()), NF_OK);
        for (int64_t c = 0; c < 100; c++) {
            ASSERT_TRUE(std::isnan(y.get(1, c)));
            ASSERT_FALSE(std::isnan(y.get(0, c)));
            ASSERT_FALSE(std::isnan(y.get(2, c)));
        }
        EXPECT_TRUE(std::isnan(mean[1]));
    }
}

// 16 MiB or more of output: the large class (fp32 through row tiles and streaming stores).
TEST(LayerNorm, LargeCalls) {
    uint32_t seed = 700;
    for (nf_dtype d : {NF_F32, NF_BF16}) {
        const int64_t rows = (int64_t(17) << 20) / (4097 * int64_t(elem_size(d))) + 1;
        run_case(d, true, true, Case{rows, 4097, 3, false, true}, seed++);
        run_case(d, true, false, Case{rows, 4097, 0, true, false}, seed++);
    }
}

// A row's bits do not depend on the batch around it (small, medium and large classes).
TEST(LayerNorm, BatchInvariant) {
    for (nf_dtype d : {NF_F32, NF_BF16}) {
        for (int64_t rows : {int64_t(150), (int64_t(17) << 20) / (5120 * int64_t(elem_size(d))) + 1}) {
            SCOPED_TRACE(std::string(dtype_str(d)) + " rows=" + std::to_string(rows));
            const int64_t cols = 5120;
            Matrix x(d, rows, cols), y(d, rows, cols);
            x.randomize(61, 2.0, 3.0);
            Matrix w = random_weight(d, cols, 63), b = random_weight(d, cols, 64);
            nf_matrix xv = x.view(), yv = y.view();
            ASSERT_EQ(nf_layer_norm(&xv, w.data(), b.data(), 1e-5f, &yv, nullptr, nullptr), NF_OK);
            const size_t row_bytes = size_t(cols) * elem_size(d);
            for (int64_t r : {int64_t(0), int64_t(99)}) {
                Matrix x1(d, 1, cols), y1(d, 1, cols);
                std::memcpy(x1.data(), x.bytes.data() + size_t(r) * row_bytes, row_bytes);
                nf_matrix xv1 = x1.view(), yv1 = y1.view();
                ASSERT_EQ(nf_layer_norm(&xv1, w.data(), b.data(), 1e-5f, &yv1, nullptr, nullptr), NF_OK);
                EXPECT_EQ(0, std::memcmp(y1.data(), y.bytes.data() + size_t(r) * row_bytes, row_bytes)) << "row " << r;
            }
        }
    }
}

TEST(LayerNorm, BadInputWritesNothing) {
    struct Bad {
        const char *what;
        nf_status status;
        const char *message;
        int kind;
    };
    const Bad bads[] = {{"x NULL", NF_INVALID_ARGUMENT, "nf_layer_norm: x is NULL", 0},
                        {"y NULL", NF_INVALID_ARGUMENT, "nf_layer_norm: y is NULL", 1},
                        {"eps < 0", NF_INVALID_ARGUMENT, "eps = -1 must be finite and >= 0", 2},
                        {"eps NaN", NF_INVALID_ARGUMENT, "eps = nan must be finite", 3},
                        {"negative rows", NF_INVALID_ARGUMENT, "x->rows = -4 is negative", 4},
                        {"zero cols", NF_INVALID_ARGUMENT, "x->cols = 0 must be positive", 5},
                        {"stride < cols", NF_INVALID_ARGUMENT, "x->row_stride = 8 is smaller than x->cols = 16", 6},
                        {"bad dtype", NF_INVALID_ARGUMENT, "x->dtype = 7 is not an nf_dtype", 7},
                        {"y dtype", NF_INVALID_ARGUMENT, "y->dtype (NF_F16) does not match", 8},
                        {"y shape", NF_INVALID_ARGUMENT, "y is 3x16 but x is 4x16", 9},
                        {"y partial overlap", NF_INVALID_ARGUMENT, "y partially overlaps x", 10},
                        {"mean overlaps y", NF_INVALID_ARGUMENT, "mean overlaps y", 11},
                        {"inv_std overlaps mean", NF_INVALID_ARGUMENT, "mean overlaps inv_std", 12},
                        {"y overlaps weight", NF_INVALID_ARGUMENT, "y overlaps weight", 13},
                        {"x data NULL", NF_INVALID_ARGUMENT, "x->data is NULL", 14}};
    for (const Bad &bd : bads) {
        SCOPED_TRACE(bd.what);
        Matrix x(NF_F32, 4, 16), y(NF_F32, 4, 16), w(NF_F32, 1, 16), b(NF_F32, 1, 16);
        x.randomize(1);
        w.randomize(2);
        b.randomize(3);
        y.poison();
        std::vector<float> stats(8, 5.0f);
        float *mean = stats.data(), *inv = stats.data() + 4;
        nf_matrix xv = x.view(), yv = y.view();
        nf_matrix *xp = &xv, *yp = &yv;
        const void *wp = w.data();
        float eps = 1e-5f;
        switch (bd.kind) {
        case 0: xp = nullptr; break;
        case 1: yp = nullptr; break;
        case 2: eps = -1.0f; break;
        case 3: eps = std::nanf(""); break;
        case 4: xv.rows = -4; break;
        case 5: xv.cols = 0; break;
        case 6: xv.row_stride = 8; break;
        case 7: xv.dtype = static_cast<nf_dtype>(7); break;
        case 8: yv.dtype = NF_F16; break;
        case 9: yv.rows = 3; break;
        case 10: yv.data = static_cast<float *>(x.data()) + 2; break;
        case 11: mean = static_cast<float *>(y.data()) + 5; break;
        case 12: inv = stats.data() + 2; break;
        case 13: wp = static_cast<float *>(y.data()) + 16; break;
        case 14: xv.data = nullptr; break;
        }
        const auto x0 = x.bytes, y0 = y.bytes, w0 = w.bytes;
        const auto s0 = stats;
        EXPECT_EQ(nf_layer_norm(xp, wp, b.data(), eps, yp, mean, inv), bd.status);
        EXPECT_NE(std::string(nf_last_error()).find(bd.message), std::string::npos) << nf_last_error();
        EXPECT_EQ(x.bytes, x0);
        EXPECT_EQ(y.bytes, y0);
        EXPECT_EQ(w.bytes, w0);
        EXPECT_EQ(stats, s0);
    }
}

}  // namespace
