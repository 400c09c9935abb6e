// nf_rms_norm_residual against the float64 reference: s = x + residual rounded to the dtype is
// stored back bit-exactly, y = rms_norm(s); in place, padding, inv_rms, bad input, invariance.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "reference.h"
#include "variants.h"

using namespace nftest;

namespace {


// The rounded sums the op must store in residual, as a matrix of the dtype.
Matrix rounded_sum(const Matrix &x, const Matrix &r) {
    Matrix s(x.dtype, x.rows, x.cols);
    for (int64_t i = 0; i < x.rows; i++)
        for (int64_t c = 0; c < x.cols; c++) s.set(i, c, round_to(x.dtype, x.get(i, c) + r.get(i, c)));
    return s;
}

struct Shape {
    int64_t rows, cols, pad;
    bool y_is_x;
};

void run_case(nf_dtype d, nf_weight_mode m, nf_rounding rnd, const Shape &sh, uint32_t seed) {
    SCOPED_TRACE(std::string(dtype_str(d)) + " mode=" + std::to_string(m) + " rnd=" + std::to_string(rnd) +
                 " rows=" + std::to_string(sh.rows) + " cols=" + std::to_string(sh.cols) +
                 " pad=" + std::to_string(sh.pad) + (sh.y_is_x ? " y=x" : ""));
    nf_norm_params p{1e-5f, m, rnd};
    Matrix x(d, sh.rows, sh.cols, sh.pad), res(d, sh.rows, sh.cols, sh.pad), y(d, sh.rows, sh.cols, sh.pad);
    x.randomize(seed, 1.0);
    res.randomize(seed + 7, 2.0);
    y.poison();
    const Matrix x_in = x, res_in = res, y_in = y;
    Matrix w = random_weight(d, sh.cols, seed + 3);
    std::vector<float> inv(size_t(std::max<int64_t>(sh.rows, 1)), -1.0f);
    nf_matrix xv = x.view(), rv = res.view(), yv = sh.y_is_x ? x.view() : y.view();
    ASSERT_EQ(nf_rms_norm_residual(&xv, &rv, m == NF_WEIGHT_NONE ? nullptr : w.data(), &p, &yv, inv.data()),
              NF_OK)
        << nf_last_error();

    const Matrix s = rounded_sum(x_in, res_in);
    const Matrix &out = sh.y_is_x ? x : y;
    for (int64_t r = 0; r < sh.rows; r++) {
        RefRow ref = reference_row(s, r, &w, p);
        for (int64_t c = 0; c < sh.cols; c++) {
            ASSERT_EQ(res.get(r, c), s.get(r, c)) << "residual(" << r << ", " << c << ") is not x + residual";
            ASSERT_TRUE(close(out.get(r, c), ref.y[size_t(c)], d))
                << "y(" << r << ", " << c << ") = " << out.get(r, c) << ", reference " << ref.y[size_t(c)];
        }
        ASSERT_NEAR(inv[size_t(r)], ref.inv_rms, 2e-6 * ref.inv_rms);
        const size_t es = elem_size(d);
        for (int64_t c = sh.cols; c < sh.cols + sh.pad; c++) {
            const size_t i = size_t(r * (sh.cols + sh.pad) + c) * es;
            ASSERT_EQ(0, std::memcmp(&res.bytes[i], &res_in.bytes[i], es)) << "residual padding written";
            ASSERT_EQ(0, std::memcmp(&out.bytes[i], &(sh.y_is_x ? x_in : y_in).bytes[i], es)) << "y padding written";
        }
    }
}

class RmsNormResidualVariant : public ::testing::TestWithParam<Variant> {};

TEST_P(RmsNormResidualVariant, ShapesStridesInPlace) {
    auto [d, m, rnd] = GetParam();
    uint32_t seed = 500;
    for (const Shape &sh : {Shape{0, 16, 0, false}, Shape{1, 1, 0, false}, Shape{2, 17, 3, false},
                            Shape{33, 127, 0, true}, Shape{33, 4097, 5, false}, Shape{3, 65536, 0, true},
                            Shape{1000, 64, 0, false}, Shape{300, 5120, 0, false}})
        run_case(d, m, rnd, sh, seed++);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, RmsNormResidualVariant, all_variants(), variant_name);

// Calls with 16 MiB or more of output (the large shape class; fp32 goes through row tiles, y
// streamed out of them and the residual written in place by the kernel), with padding and in
// place.
TEST(RmsNormResidual, LargeCalls) {
    uint32_t seed = 700;
    for (nf_dtype d : {NF_F32, NF_BF16}) {
        const int64_t rows = (int64_t(17) << 20) / (4097 * int64_t(elem_size(d))) + 1;
        run_case(d, NF_WEIGHT_SCALE, NF_ROUND_ONCE, Shape{rows, 4097, 3, false}, seed++);
        run_case(d, NF_WEIGHT_ONE_PLUS, NF_ROUND_LLAMA, Shape{rows, 4097, 0, true}, seed++);
    }
}

// A row's bits (y and the stored residual) do not depend on the batch around it.
TEST(RmsNormResidual, BatchInvariant) {
    for (nf_dtype d : {NF_F32, NF_BF16}) {
        const int64_t rows = 150, cols = 5120;
        Matrix x(d, rows, cols), res(d, rows, cols), y(d, rows, cols);
        x.randomize(61);
        res.randomize(62);
        const Matrix x_in = x, res_in = res;
        Matrix w = random_weight(d, cols, 63);
        nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
        nf_matrix xv = x.view(), rv = res.view(), yv = y.view();
        ASSERT_EQ(nf_rms_norm_residual(&xv, &rv, w.data(), &p, &yv, nullptr), NF_OK);
        const size_t row_bytes = size_t(cols) * elem_size(d);
        for (int64_t r : {int64_t(0), int64_t(99)}) {
            Matrix x1(d, 1, cols), r1(d, 1, cols), y1(d, 1, cols);
            std::memcpy(x1.data(), x_in.bytes.data() + size_t(r) * row_bytes, row_bytes);
            std::memcpy(r1.data(), res_in.bytes.data() + size_t(r) * row_bytes, row_bytes);
            nf_matrix xv1 = x1.view(), rv1 = r1.view(), yv1 = y1.view();
            ASSERT_EQ(nf_rms_norm_residual(&xv1, &rv1, w.data(), &p, &yv1, nullptr), NF_OK);
            EXPECT_EQ(0, std::memcmp(y1.data(), y.bytes.data() + size_t(r) * row_bytes, row_bytes));
            EXPECT_EQ(0, std::memcmp(r1.data(), res.bytes.data() + size_t(r) * row_bytes, row_bytes));
        }
    }
}

// Bad input: the documented status, a message naming the argument, no byte written.
TEST(RmsNormResidual, BadInputWritesNothing) {
    struct Bad {
        const char *what;
        nf_status status;
        const char *message;
        int kind;
    };
    const Bad bads[] = {{"residual NULL", NF_INVALID_ARGUMENT, "nf_rms_norm_residual: residual is NULL", 0},
                        {"residual dtype", NF_INVALID_ARGUMENT, "residual->dtype (NF_BF16) does not match", 1},
                        {"residual shape", NF_INVALID_ARGUMENT, "residual is 3x16 but x is 4x16", 2},
                        {"residual = x", NF_INVALID_ARGUMENT, "residual overlaps x", 3},
                        {"residual = y", NF_INVALID_ARGUMENT, "residual overlaps y", 4},
                        {"residual stride", NF_INVALID_ARGUMENT, "residual->row_stride = 8 is smaller", 5},
                        {"eps", NF_INVALID_ARGUMENT, "eps = -1 must be finite", 6},
                        {"y partial overlap", NF_INVALID_ARGUMENT, "y partially overlaps x", 7}};
    for (const Bad &b : bads) {
        SCOPED_TRACE(b.what);
        Matrix x(NF_F32, 4, 16), res(NF_F32, 4, 16), y(NF_F32, 4, 16), w(NF_F32, 1, 16);
        x.randomize(1);
        res.randomize(2);
        w.randomize(3);
        nf_matrix xv = x.view(), rv = res.view(), yv = y.view();
        nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
        nf_matrix *rp = &rv;
        switch (b.kind) {
        case 0: rp = nullptr; break;
        case 1: rv.dtype = NF_BF16; break;
        case 2: rv.rows = 3; break;
        case 3: rv = xv; break;
        case 4: rv = yv; break;
        case 5: rv.row_stride = 8; break;
        case 6: p.eps = -1.0f; break;
        case 7: yv.data = static_cast<float *>(x.data()) + 2; break;
        }
        const auto x0 = x.bytes, r0 = res.bytes, y0 = y.bytes;
        EXPECT_EQ(nf_rms_norm_residual(&xv, rp, w.data(), &p, &yv, nullptr), b.status);
        EXPECT_NE(std::string(nf_last_error()).find(b.message), std::string::npos) << nf_last_error();
        EXPECT_EQ(x.bytes, x0);
        EXPECT_EQ(res.bytes, r0);
        EXPECT_EQ(y.bytes, y0);
    }
}

}  // namespace
