// nf_set_output_stores: the mode's API, and every CPU forward op writing the same bits with
// every y streamed (a tile buffer, then non-temporal stores; on AArch64 a plain copy) as in the
// default mode: y (its padding untouched), inv_rms / mean / inv_std, the fused op's residual.
// Shapes of each class, rows not on 16-byte boundaries, one and two threads, and the calls
// the default mode runs otherwise (the pipelined kernel, the large class's own tiles).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reference.h"

using namespace nftest;

namespace {

// Sets the mode for a scope, then back to auto.
struct OutputStores {
    explicit OutputStores(const char *mode) { EXPECT_EQ(nf_set_output_stores(mode), NF_OK) << nf_last_error(); }
    ~OutputStores() { nf_set_output_stores(nullptr); }
};

enum class Op { kRmsNorm, kResidual, kLayerNorm };

struct Outputs {
    std::vector<uint8_t> y, residual;
    std::vector<float> stat1, stat2;
};

// One call in `mode`, on fresh copies of the same inputs; y is poisoned first, its padding
// keeps the fill pattern.
Outputs run(Op op, const char *mode, nf_dtype d, const nf_norm_params &p, const Matrix &x0, const Matrix &res0,
            const Matrix &w, const Matrix &b, int64_t pad) {
    OutputStores scope(mode);
    Matrix x = x0, res = res0;
    Matrix y(d, x.rows, x.cols, pad);
    y.poison();
    Outputs o;
    o.stat1.assign(size_t(x.rows), -1.0f);
    o.stat2.assign(size_t(x.rows), -1.0f);
    nf_matrix xv = x.view(), yv = y.view(), rv = res.view();
    nf_status s = NF_OK;
    if (op == Op::kRmsNorm) s = nf_rms_norm(&xv, w.bytes.data(), &p, &yv, o.stat1.data());
    if (op == Op::kResidual) s = nf_rms_norm_residual(&xv, &rv, w.bytes.data(), &p, &yv, o.stat1.data());
    if (op == Op::kLayerNorm)
        s = nf_layer_norm(&xv, w.bytes.data(), b.bytes.data(), p.eps, &yv, o.stat1.data(), o.stat2.data());
    EXPECT_EQ(s, NF_OK) << mode << ": " << nf_last_error();
    o.y = y.bytes;
    o.residual = res.bytes;
    return o;
}

void check_same_bits(Op op, nf_dtype d, nf_rounding rnd, int64_t rows, int64_t cols, int64_t pad, uint32_t seed) {
    const char *names[] = {"rms_norm", "rms_norm_residual", "layer_norm"};
    SCOPED_TRACE(std::string(names[int(op)]) + " " + dtype_str(d) + (rnd ? " llama" : " once") + " " +
                 std::to_string(rows) + "x" + std::to_string(cols) + " pad " + std::to_string(pad));
    nf_norm_params p{1e-5f, NF_WEIGHT_SCALE, rnd};
    Matrix x(d, rows, cols, pad), res(d, rows, cols, pad);
    x.randomize(seed, 1.5);
    res.randomize(seed + 1, 0.5);
    const Matrix w = random_weight(d, cols, seed + 2), b = random_weight(d, cols, seed + 3);
    const Outputs a = run(op, "auto", d, p, x, res, w, b, pad);
    const Outputs s = run(op, "streaming", d, p, x, res, w, b, pad);
    EXPECT_TRUE(a.y == s.y) << "y (or its padding) differs with streaming stores";
    EXPECT_TRUE(a.residual == s.residual) << "the new residual differs";
    EXPECT_TRUE(a.stat1 == s.stat1) << "inv_rms / mean differs";
    EXPECT_TRUE(a.stat2 == s.stat2) << "inv_std differs";
    // And the default mode's y is the op's (not two equal wrong answers): spot-check row 0.
    if (op == Op::kRmsNorm) {
        Matrix y(d, rows, cols, pad);
        y.bytes = a.y;
        RefRow ref = reference_row(x, 0, &w, p);
        for (int64_t c = 0; c < cols; c += std::max<int64_t>(1, cols / 7))
            EXPECT_NEAR(y.get(0, c), ref.y[size_t(c)], 1e-2 * (1 + std::abs(ref.y[size_t(c)]))) << "col " << c;
    }
}

TEST(OutputStores, Modes) {
    EXPECT_STREQ(nf_output_stores(), "auto");
    ASSERT_EQ(nf_set_output_stores("streaming"), NF_OK);
    EXPECT_STREQ(nf_output_stores(), "streaming");
    // Not a mode: an error naming it, and the mode unchanged.
    EXPECT_EQ(nf_set_output_stores("nontemporal"), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("nf_set_output_stores: 'nontemporal' is not one of auto, streaming"),
              std::string::npos)
        << nf_last_error();
    EXPECT_STREQ(nf_output_stores(), "streaming");
    ASSERT_EQ(nf_set_output_stores(""), NF_OK);
    EXPECT_STREQ(nf_output_stores(), "auto");
    ASSERT_EQ(nf_set_output_stores("streaming"), NF_OK);
    ASSERT_EQ(nf_set_output_stores(nullptr), NF_OK);
    EXPECT_STREQ(nf_output_stores(), "auto");
}

TEST(OutputStores, SameBitsEveryOp) {
    struct Shape {
        int64_t rows, cols, pad;
    };
    // small, small with odd rows, medium, medium with rows off 16-byte boundaries.
    const Shape shapes[] = {{1, 4096, 0}, {3, 100, 3}, {64, 4096, 0}, {37, 1000, 3}};
    uint32_t seed = 11;
    for (int threads : {1, 2}) {
        nf_set_num_threads(threads);
        SCOPED_TRACE("threads " + std::to_string(threads));
        for (const Shape &s : shapes) {
            for (nf_dtype d : {NF_F32, NF_BF16, NF_F16}) {
                check_same_bits(Op::kRmsNorm, d, NF_ROUND_ONCE, s.rows, s.cols, s.pad, seed++);
                check_same_bits(Op::kResidual, d, NF_ROUND_ONCE, s.rows, s.cols, s.pad, seed++);
                check_same_bits(Op::kLayerNorm, d, NF_ROUND_ONCE, s.rows, s.cols, s.pad, seed++);
            }
            check_same_bits(Op::kRmsNorm, NF_BF16, NF_ROUND_LLAMA, s.rows, s.cols, s.pad, seed++);
        }
    }
    nf_set_num_threads(0);
}

// The calls the default mode runs another way: 16 MiB of output (the large class: fp32 streams
// its own tiles of stream_rows; the bf16 pair kernels' large class runs on the thread pool) and
// 4 MiB in long rows (the pipelined kernel, where the large-call mode picks it).
TEST(OutputStores, SameBitsLargeCalls) {
    uint32_t seed = 101;
    for (const char *large : {"auto", "pipelined"}) {
        ASSERT_EQ(nf_set_large_calls(large), NF_OK);
        SCOPED_TRACE(std::string("large calls ") + large);
        check_same_bits(Op::kRmsNorm, NF_F32, NF_ROUND_ONCE, 1024, 4096, 0, seed++);
        check_same_bits(Op::kRmsNorm, NF_BF16, NF_ROUND_ONCE, 2048, 4096, 0, seed++);
        check_same_bits(Op::kRmsNorm, NF_F32, NF_ROUND_ONCE, 257, 4096, 0, seed++);
    }
    ASSERT_EQ(nf_set_large_calls(nullptr), NF_OK);
    check_same_bits(Op::kResidual, NF_F32, NF_ROUND_ONCE, 1024, 4096, 0, seed++);
}

}  // namespace
