// Every bad input returns the documented status, says what was wrong, and writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <thread>

#include "reference.h"

using namespace nftest;

namespace {

struct Fixture {
    Matrix x{NF_F32, 4, 16, 2};
    Matrix y{NF_F32, 4, 16, 2};
    Matrix w{NF_F32, 1, 16};
    std::vector<float> inv = std::vector<float>(4, 123.0f);
    nf_matrix xv, yv;
    nf_norm_params p{1e-6f, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    Fixture() {
        x.randomize(1);
        w.randomize(2);
        y.poison();
        xv = x.view();
        yv = y.view();
    }
};

// Runs `mutate` on a fresh fixture, calls nf_rms_norm, and checks status, message, no writes.
void expect_rejected(const char *what, nf_status want, const std::string &message_part,
                     const std::function<void(Fixture &, const void *&, float *&)> &mutate) {
    SCOPED_TRACE(what);
    Fixture f;
    const void *weight = f.w.data();
    float *inv = f.inv.data();
    mutate(f, weight, inv);
    const auto x_before = f.x.bytes, y_before = f.y.bytes;
    const auto inv_before = f.inv;
    nf_status s = nf_rms_norm(&f.xv, weight, &f.p, &f.yv, inv);
    EXPECT_EQ(s, want);
    std::string msg = nf_last_error();
    EXPECT_NE(msg.find(message_part), std::string::npos) << "message: " << msg;
    EXPECT_NE(msg.find("nf_rms_norm"), std::string::npos) << "message: " << msg;
    EXPECT_EQ(f.x.bytes, x_before) << "x changed";
    EXPECT_EQ(f.y.bytes, y_before) << "y written";
    EXPECT_EQ(f.inv, inv_before) << "inv_rms written";
}

TEST(BadInput, NullPointers) {
    Fixture f;
    const void *w = f.w.data();
    EXPECT_EQ(nf_rms_norm(nullptr, w, &f.p, &f.yv, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("x is NULL"), std::string::npos);
    EXPECT_EQ(nf_rms_norm(&f.xv, w, nullptr, &f.yv, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("params is NULL"), std::string::npos);
    EXPECT_EQ(nf_rms_norm(&f.xv, w, &f.p, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("y is NULL"), std::string::npos);
    expect_rejected("x data", NF_INVALID_ARGUMENT, "x->data is NULL",
                    [](Fixture &f, const void *&, float *&) { f.xv.data = nullptr; });
    expect_rejected("y data", NF_INVALID_ARGUMENT, "y->data is NULL",
                    [](Fixture &f, const void *&, float *&) { f.yv.data = nullptr; });
    expect_rejected("weight", NF_INVALID_ARGUMENT, "weight is NULL",
                    [](Fixture &, const void *&w, float *&) { w = nullptr; });
}

TEST(BadInput, Sizes) {
    expect_rejected("rows < 0", NF_INVALID_ARGUMENT, "x->rows = -1 is negative",
                    [](Fixture &f, const void *&, float *&) { f.xv.rows = -1; });
    expect_rejected("cols == 0", NF_INVALID_ARGUMENT, "x->cols = 0 must be positive",
                    [](Fixture &f, const void *&, float *&) { f.xv.cols = f.yv.cols = 0; });
    expect_rejected("cols < 0", NF_INVALID_ARGUMENT, "x->cols = -3 must be positive",
                    [](Fixture &f, const void *&, float *&) { f.xv.cols = f.yv.cols = -3; });
    expect_rejected("x stride", NF_INVALID_ARGUMENT, "x->row_stride = 15 is smaller than x->cols = 16",
                    [](Fixture &f, const void *&, float *&) { f.xv.row_stride = 15; });
    expect_rejected("y stride", NF_INVALID_ARGUMENT, "y->row_stride = 8 is smaller than y->cols = 16",
                    [](Fixture &f, const void *&, float *&) { f.yv.row_stride = 8; });
    expect_rejected("y rows", NF_INVALID_ARGUMENT, "y is 3x16 but x is 4x16",
                    [](Fixture &f, const void *&, float *&) { f.yv.rows = 3; });
    expect_rejected("y cols", NF_INVALID_ARGUMENT, "y is 4x15 but x is 4x16",
                    [](Fixture &f, const void *&, float *&) { f.yv.cols = 15; });
    expect_rejected("huge stride", NF_INVALID_ARGUMENT, "too large",
                    [](Fixture &f, const void *&, float *&) { f.xv.row_stride = int64_t(1) << 62; });
    // rows * row_stride fits in int64 but its bytes do not (the check's other branch), and a size
    // just inside that bound (addressable: rejected later by the 2^31 limit).
    expect_rejected("stride * rows * 8 overflows", NF_INVALID_ARGUMENT, "too large",
                    [](Fixture &f, const void *&, float *&) { f.xv.row_stride = int64_t(1) << 59; });
    expect_rejected("stride * rows * 8 fits", NF_UNSUPPORTED, "below 2^31",
                    [](Fixture &f, const void *&, float *&) { f.xv.row_stride = int64_t(1) << 57; });
    expect_rejected("stride past 2^31", NF_UNSUPPORTED, "below 2^31",
                    [](Fixture &f, const void *&, float *&) {
                        f.xv.row_stride = int64_t(1) << 33;
                        f.xv.rows = f.yv.rows = 1;
                    });
}

TEST(BadInput, EnumsAndDtypes) {
    expect_rejected("x dtype", NF_INVALID_ARGUMENT, "x->dtype = 7 is not an nf_dtype",
                    [](Fixture &f, const void *&, float *&) { f.xv.dtype = nf_dtype(7); });
    expect_rejected("dtype mismatch", NF_INVALID_ARGUMENT, "y->dtype (NF_BF16) does not match x->dtype (NF_F32)",
                    [](Fixture &f, const void *&, float *&) { f.yv.dtype = NF_BF16; });
    expect_rejected("weight mode", NF_INVALID_ARGUMENT, "params->weight_mode = 3",
                    [](Fixture &f, const void *&, float *&) { f.p.weight_mode = nf_weight_mode(3); });
    expect_rejected("rounding", NF_INVALID_ARGUMENT, "params->rounding = -1",
                    [](Fixture &f, const void *&, float *&) { f.p.rounding = nf_rounding(-1); });
}

TEST(BadInput, Eps) {
    expect_rejected("eps < 0", NF_INVALID_ARGUMENT, "eps = -1e-06 must be finite and >= 0",
                    [](Fixture &f, const void *&, float *&) { f.p.eps = -1e-6f; });
    expect_rejected("eps NaN", NF_INVALID_ARGUMENT, "must be finite",
                    [](Fixture &f, const void *&, float *&) { f.p.eps = std::nanf(""); });
    expect_rejected("eps Inf", NF_INVALID_ARGUMENT, "must be finite",
                    [](Fixture &f, const void *&, float *&) { f.p.eps = INFINITY; });
}

TEST(BadInput, Overlaps) {
    expect_rejected("y shifted into x", NF_INVALID_ARGUMENT, "y partially overlaps x",
                    [](Fixture &f, const void *&, float *&) {
                        f.yv.data = static_cast<float *>(f.x.data()) + 3;
                    });
    expect_rejected("same data, other stride", NF_INVALID_ARGUMENT, "y partially overlaps x",
                    [](Fixture &f, const void *&, float *&) {
                        f.yv.data = f.x.data();
                        f.yv.row_stride = 16;
                    });
    expect_rejected("inv_rms inside y", NF_INVALID_ARGUMENT, "inv_rms overlaps y",
                    [](Fixture &f, const void *&, float *&inv) { inv = static_cast<float *>(f.y.data()); });
    expect_rejected("weight inside y", NF_INVALID_ARGUMENT, "y overlaps weight",
                    [](Fixture &f, const void *&w, float *&) { w = f.y.data(); });
}

TEST(BadInput, NegativeThreadCountIsReported) {
    nf_set_num_threads(-2);
    EXPECT_NE(std::string(nf_last_error()).find("nf_set_num_threads: n = -2"), std::string::npos);
    nf_set_num_threads(0);
}

TEST(BadInput, UnknownCpuVariantCapIsRejected) {
    EXPECT_EQ(nf_limit_cpu_variant("avx1024"), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("'avx1024' is not one of"), std::string::npos);
}

// An unknown large-call mode is refused and leaves the current one as it was.
TEST(BadInput, UnknownLargeCallModeIsRejected) {
    const std::string before = nf_large_calls();
    EXPECT_EQ(nf_set_large_calls("fast"), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("'fast' is not one of auto, pipelined, two_pass, two_pass_streamed"),
              std::string::npos);
    EXPECT_EQ(before, nf_large_calls());
}

// The message belongs to the thread whose call failed.
TEST(BadInput, LastErrorIsPerThread) {
    nf_norm_params p{-1.0f, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    Fixture f;
    ASSERT_EQ(nf_rms_norm(&f.xv, nullptr, &p, &f.yv, nullptr), NF_INVALID_ARGUMENT);
    std::string other;
    std::thread t([&] { other = nf_last_error(); });
    t.join();
    EXPECT_EQ(other, "");
    EXPECT_NE(std::string(nf_last_error()).find("eps"), std::string::npos);
}

}  // namespace
