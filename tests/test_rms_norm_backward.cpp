// nf_rms_norm_backward: dx against the analytic float64 gradient (every dtype x weight mode x
// rounding, odd sizes, strides, in place), the analytic gradient against finite differences of
// the forward, dweight bitwise identical for any thread count, and bad input.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>

#include "backward_inputs.h"
#include "reference_ops.h"
#include "variants.h"

using namespace nftest;

namespace {

constexpr float kEps = 1e-5f;

struct Case {
    int64_t rows, cols, pad;
    InPlace in_place;
    bool want_dweight;
};

void run_case(nf_dtype d, nf_weight_mode m, nf_rounding rnd, const Case &cs, uint32_t seed) {
    SCOPED_TRACE(std::string(dtype_str(d)) + " " + mode_str(m) + (rnd ? " llama" : " once") +
                 " rows=" + std::to_string(cs.rows) + " cols=" + std::to_string(cs.cols) +
                 " pad=" + std::to_string(cs.pad) + " in_place=" + std::to_string(int(cs.in_place)));
    Matrix x(d, cs.rows, cs.cols, cs.pad), dy(d, cs.rows, cs.cols, cs.pad);
    x.randomize(seed, 1.5);
    dy.randomize(seed + 1, 1.0);
    Matrix w = random_weight(d, cs.cols, seed + 2);
    std::vector<float> inv = forward_inv_rms(x, kEps);
    const Matrix x_in = x, dy_in = dy;
    Matrix dx(d, cs.rows, cs.cols, cs.pad);
    dx.poison();
    const std::vector<uint8_t> dx_before = dx.bytes;
    const bool want_dw = cs.want_dweight && m != NF_WEIGHT_NONE;
    std::vector<float> dw(size_t(cs.cols), -7.0f);

    nf_matrix dyv = dy.view(), xv = x.view();
    nf_matrix dxv = cs.in_place == InPlace::OverDy ? dy.view() : cs.in_place == InPlace::OverX ? x.view() : dx.view();
    nf_norm_params p{kEps, m, rnd};
    ASSERT_EQ(nf_rms_norm_backward(&dyv, &xv, m == NF_WEIGHT_NONE ? nullptr : w.data(), &p, inv.data(), &dxv,
                                   want_dw ? dw.data() : nullptr),
              NF_OK)
        << nf_last_error();

    Matrix &out = cs.in_place == InPlace::OverDy ? dy : cs.in_place == InPlace::OverX ? x : dx;
    std::vector<double> dw_ref(size_t(cs.cols), 0.0), dw_scale(size_t(cs.cols), 0.0);
    int bad = 0;
    for (int64_t r = 0; r < cs.rows; r++) {
        RefBackwardRow ref = reference_backward_row(dy_in, x_in, r, &w, m, kEps);
        for (int64_t c = 0; c < cs.cols; c++) {
            dw_ref[size_t(c)] += ref.dw_row[size_t(c)];
            dw_scale[size_t(c)] += std::fabs(ref.dw_row[size_t(c)]);
            const double got = out.get(r, c);
            // fp32: the statistic and the two-term difference add a few ulps of the terms.
            if (bad < 5 && !close_to_scale(got, ref.dx[size_t(c)], ref.scale[size_t(c)], d, d == NF_F32 ? 4 : 1)) {
                ADD_FAILURE() << "dx(" << r << ", " << c << ") = " << got << ", reference " << ref.dx[size_t(c)];
                bad++;
            }
        }
    }
    if (want_dw) {
        for (int64_t c = 0; c < cs.cols; c++) {
            // fp32 sums of rows: relative to the sum of magnitudes.
            ASSERT_NEAR(dw[size_t(c)], dw_ref[size_t(c)], 1e-5 * dw_scale[size_t(c)] + 1e-30) << "dweight[" << c << "]";
        }
    } else {
        EXPECT_EQ(dw[0], -7.0f);
    }
    const std::vector<uint8_t> &pad_ref = cs.in_place == InPlace::OverDy ? dy_in.bytes
                                          : cs.in_place == InPlace::OverX ? x_in.bytes
                                                                          : dx_before;
    const size_t es = elem_size(d);
    for (int64_t r = 0; r < cs.rows; r++) {
        const size_t at = size_t(r * (cs.cols + cs.pad) + cs.cols) * es;
        ASSERT_EQ(0, std::memcmp(&out.bytes[at], &pad_ref[at], size_t(cs.pad) * es)) << "padding written, row " << r;
    }
}

class RmsNormBackwardVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(RmsNormBackwardVariant, HiddenSizesAndRowCounts) {
    auto [d, m, rnd] = GetParam();
    uint32_t seed = 1;
    for (int64_t c : {1, 3, 17, 64, 127, 4096, 4097, 5120})
        for (int64_t r : {0, 1, 2, 33, 300}) {
            if (r * c > 1500000) continue;
            run_case(d, m, rnd, Case{r, c, 0, InPlace::No, (seed % 3) != 0}, seed++);
        }
}

TEST_P(RmsNormBackwardVariant, PaddedStridesAndInPlace) {
    auto [d, m, rnd] = GetParam();
    uint32_t seed = 100;
    for (int64_t c : {17, 4097}) {
        run_case(d, m, rnd, Case{130, c, 7, InPlace::No, true}, seed++);
        run_case(d, m, rnd, Case{130, c, 0, InPlace::OverDy, true}, seed++);
        run_case(d, m, rnd, Case{33, c, 5, InPlace::OverX, true}, seed++);
    }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, RmsNormBackwardVariant, all_variants(), variant_name);

// The analytic float64 gradient (the reference the kernel is checked against) against central
// finite differences of the float64 forward loss L = sum(dy * y), for x and for the weight.
TEST(RmsNormBackward, ReferenceMatchesFiniteDifferences) {
    for (nf_weight_mode m : {NF_WEIGHT_NONE, NF_WEIGHT_SCALE, NF_WEIGHT_ONE_PLUS}) {
        SCOPED_TRACE(mode_str(m));
        const int64_t cols = 37;
        Matrix x(NF_F32, 1, cols), dy(NF_F32, 1, cols);
        x.randomize(5, 1.3);
        dy.randomize(6);
        Matrix w = random_weight(NF_F32, cols, 7);
        std::vector<double> xs, dys, wp;
        for (int64_t c = 0; c < cols; c++) {
            xs.push_back(x.get(0, c));
            dys.push_back(dy.get(0, c));
            wp.push_back(weight_prime(&w, m, c));
        }
        RefBackwardRow ref = reference_backward_row(dy, x, 0, &w, m, kEps);
        const double h = 1e-6;
        for (int64_t c = 0; c < cols; c++) {
            std::vector<double> xp = xs, xm = xs;
            xp[size_t(c)] += h;
            xm[size_t(c)] -= h;
            const double fd = (reference_rms_loss(xp, dys, wp, kEps) - reference_rms_loss(xm, dys, wp, kEps)) / (2 * h);
            EXPECT_NEAR(ref.dx[size_t(c)], fd, 1e-7 * (1 + std::fabs(fd))) << "dx[" << c << "]";
            if (m == NF_WEIGHT_NONE) continue;
            std::vector<double> wpp = wp, wpm = wp;
            wpp[size_t(c)] += h;
            wpm[size_t(c)] -= h;
            const double fdw = (reference_rms_loss(xs, dys, wpp, kEps) - reference_rms_loss(xs, dys, wpm, kEps)) / (2 * h);
            EXPECT_NEAR(ref.dw_row[size_t(c)], fdw, 1e-7 * (1 + std::fabs(fdw))) << "dw[" << c << "]";
        }
    }
}

// End to end in fp32: the kernel's dx against finite differences of nf_rms_norm itself
// (loss accumulated in float64; step large enough for fp32 forward values).
TEST(RmsNormBackward, KernelMatchesFiniteDifferencesOfTheForwardKernel) {
    const int64_t cols = 64;
    Matrix x(NF_F32, 1, cols), dy(NF_F32, 1, cols);
    x.randomize(15, 1.0);
    dy.randomize(16);
    Matrix w = random_weight(NF_F32, cols, 17);
    nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    auto loss = [&](const Matrix &xx) {
        Matrix xc = xx, y(NF_F32, 1, cols);
        nf_matrix xv = xc.view(), yv = y.view();
        EXPECT_EQ(nf_rms_norm(&xv, w.data(), &p, &yv, nullptr), NF_OK);
        double l = 0;
        for (int64_t c = 0; c < cols; c++) l += dy.get(0, c) * y.get(0, c);
        return l;
    };
    std::vector<float> inv = forward_inv_rms(x, kEps);
    Matrix dx(NF_F32, 1, cols);
    nf_matrix dyv = dy.view(), xv = x.view(), dxv = dx.view();
    ASSERT_EQ(nf_rms_norm_backward(&dyv, &xv, w.data(), &p, inv.data(), &dxv, nullptr), NF_OK) << nf_last_error();
    const double h = 1e-2;
    for (int64_t c = 0; c < cols; c++) {
        Matrix xp = x, xm = x;
        xp.set(0, c, x.get(0, c) + h);
        xm.set(0, c, x.get(0, c) - h);
        const double fd = (loss(xp) - loss(xm)) / (2 * h);
        EXPECT_NEAR(dx.get(0, c), fd, 2e-3 * (1 + std::fabs(fd))) << "dx[" << c << "]";
    }
}

// dweight has the same bits for 1, 2, 3 and 8 threads and with other threads loading the
// machine; dx too (each row is independent).
TEST(RmsNormBackward, DweightBitwiseIdenticalForAnyThreadCount) {
    for (nf_dtype d : {NF_F32, NF_BF16}) {
        SCOPED_TRACE(dtype_str(d));
        const int64_t rows = 1000, cols = 4097;
        Matrix x(d, rows, cols), dy(d, rows, cols);
        x.randomize(21);
        dy.randomize(22);
        Matrix w = random_weight(d, cols, 23);
        std::vector<float> inv = forward_inv_rms(x, kEps);
        nf_norm_params p{kEps, NF_WEIGHT_ONE_PLUS, NF_ROUND_ONCE};
        auto run = [&](int threads, std::vector<float> &dw, Matrix &dx) {
            nf_set_num_threads(threads);
            nf_matrix dyv = dy.view(), xv = x.view(), dxv = dx.view();
            ASSERT_EQ(nf_rms_norm_backward(&dyv, &xv, w.data(), &p, inv.data(), &dxv, dw.data()), NF_OK)
                << nf_last_error();
        };
        std::vector<float> dw1(static_cast<size_t>(cols));
        Matrix dx1(d, rows, cols);
        run(1, dw1, dx1);
        for (int threads : {2, 3, 8}) {
            std::vector<float> dwn(static_cast<size_t>(cols));
            Matrix dxn(d, rows, cols);
            run(threads, dwn, dxn);
            EXPECT_EQ(0, std::memcmp(dw1.data(), dwn.data(), dw1.size() * sizeof(float))) << threads << " threads";
            EXPECT_EQ(dx1.bytes, dxn.bytes) << threads << " threads";
        }
        // Under load: another thread keeps calling the forward kernel meanwhile.
        std::atomic<bool> stop{false};
        std::thread noise([&] {
            Matrix a(NF_F32, 256, 4096), b(NF_F32, 256, 4096);
            a.randomize(3);
            nf_norm_params q{kEps, NF_WEIGHT_NONE, NF_ROUND_ONCE};
            while (!stop) {
                nf_matrix av = a.view(), bv = b.view();
                nf_rms_norm(&av, nullptr, &q, &bv, nullptr);
            }
        });
        std::vector<float> dwl(static_cast<size_t>(cols));
        Matrix dxl(d, rows, cols);
        run(2, dwl, dxl);
        stop = true;
        noise.join();
        EXPECT_EQ(0, std::memcmp(dw1.data(), dwl.data(), dw1.size() * sizeof(float))) << "under load";
        nf_set_num_threads(0);
    }
}

TEST(RmsNormBackward, ZeroRowsZeroesDweight) {
    Matrix dy(NF_F32, 0, 8), x(NF_F32, 0, 8), dx(NF_F32, 0, 8), w(NF_F32, 1, 8);
    nf_matrix dyv = dy.view(), xv = x.view(), dxv = dx.view();
    std::vector<float> dw(8, 3.0f);
    nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    ASSERT_EQ(nf_rms_norm_backward(&dyv, &xv, w.data(), &p, nullptr, &dxv, dw.data()), NF_OK) << nf_last_error();
    EXPECT_EQ(dw, std::vector<float>(8, 0.0f));
}

TEST(RmsNormBackward, BadInputWritesNothing) {
    struct Bad {
        const char *what;
        nf_status status;
        const char *message;
        int kind;
    };
    const Bad bads[] = {{"dy NULL", NF_INVALID_ARGUMENT, "nf_rms_norm_backward: dy is NULL", 0},
                        {"x NULL", NF_INVALID_ARGUMENT, "nf_rms_norm_backward: x is NULL", 1},
                        {"dx NULL", NF_INVALID_ARGUMENT, "nf_rms_norm_backward: dx is NULL", 2},
                        {"params NULL", NF_INVALID_ARGUMENT, "params is NULL", 3},
                        {"inv_rms NULL", NF_INVALID_ARGUMENT, "inv_rms is NULL", 4},
                        {"weight NULL", NF_INVALID_ARGUMENT, "weight is NULL but params->weight_mode", 5},
                        {"dweight without weight", NF_INVALID_ARGUMENT, "dweight must be NULL when", 6},
                        {"x shape", NF_INVALID_ARGUMENT, "x is 3x16 but x is 4x16", 7},
                        {"dx dtype", NF_INVALID_ARGUMENT, "dx->dtype (NF_BF16) does not match", 8},
                        {"dx partial overlap dy", NF_INVALID_ARGUMENT, "dx partially overlaps dy", 9},
                        {"dweight overlaps dx", NF_INVALID_ARGUMENT, "dweight overlaps dx", 10},
                        {"stride", NF_INVALID_ARGUMENT, "dy->row_stride = 8 is smaller", 11},
                        {"weight mode", NF_INVALID_ARGUMENT, "weight_mode = 9 is not", 12},
                        {"eps NaN", NF_INVALID_ARGUMENT, "eps = nan", 13},
                        {"negative rows", NF_INVALID_ARGUMENT, "dy->rows = -1 is negative", 14}};
    for (const Bad &b : bads) {
        SCOPED_TRACE(b.what);
        Matrix dy(NF_F32, 4, 16), x(NF_F32, 4, 16), dx(NF_F32, 4, 16), w(NF_F32, 1, 16);
        dy.randomize(1);
        x.randomize(2);
        w.randomize(3);
        dx.poison();
        std::vector<float> inv(4, 1.0f), dw(16, 9.0f);
        nf_matrix dyv = dy.view(), xv = x.view(), dxv = dx.view();
        nf_matrix *dyp = &dyv, *xp = &xv, *dxp = &dxv;
        nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
        nf_norm_params *pp = &p;
        const void *wp = w.data();
        const float *ip = inv.data();
        float *dwp = dw.data();
        switch (b.kind) {
        case 0: dyp = nullptr; break;
        case 1: xp = nullptr; break;
        case 2: dxp = nullptr; break;
        case 3: pp = nullptr; break;
        case 4: ip = nullptr; break;
        case 5: wp = nullptr; break;
        case 6: p.weight_mode = NF_WEIGHT_NONE; break;
        case 7: xv.rows = 3; break;
        case 8: dxv.dtype = NF_BF16; break;
        case 9: dxv.data = static_cast<float *>(dy.data()) + 1; break;
        case 10: dwp = static_cast<float *>(dx.data()) + 4; break;
        case 11: dyv.row_stride = 8; break;
        case 12: p.weight_mode = static_cast<nf_weight_mode>(9); break;
        case 13: p.eps = std::nanf(""); break;
        case 14: dyv.rows = -1; break;
        }
        const auto dy0 = dy.bytes, x0 = x.bytes, dx0 = dx.bytes;
        const auto dw0 = dw;
        EXPECT_EQ(nf_rms_norm_backward(dyp, xp, wp, pp, ip, dxp, dwp), b.status);
        EXPECT_NE(std::string(nf_last_error()).find(b.message), std::string::npos) << nf_last_error();
        EXPECT_EQ(dy.bytes, dy0);
        EXPECT_EQ(x.bytes, x0);
        EXPECT_EQ(dx.bytes, dx0);
        EXPECT_EQ(dw, dw0);
    }
}

}  // namespace
