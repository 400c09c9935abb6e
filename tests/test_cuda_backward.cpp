// nf_cuda_rms_norm_backward. On every machine: bad input is rejected before any device work and,
// without a GPU, NF_DEVICE_ERROR with nothing written. On a GPU: dx and dweight against the
// analytic float64 gradient for every dtype x weight mode (odd sizes, padded strides, in place
// over dy or x, a non-default stream, row counts that make a non-power-of-two number of 128-row
// blocks), dweight close to the CPU function's (same order) and the same bits on every call,
// zero rows zeroing dweight, and rows off 8-byte boundaries (staged through aligned scratch).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backward_inputs.h"
#include "cuda_fixture.h"
#include "reference.h"
#include "reference_ops.h"

using namespace nftest;

namespace {

constexpr float kEps = 1e-5f;

TEST(CudaBackward, BadInputAndNoDeviceWriteNothing) {
    Matrix x(NF_F32, 8, 128), dy(NF_F32, 8, 128), dx(NF_F32, 8, 128);
    x.randomize(1);
    dy.randomize(2);
    dx.poison();
    const std::vector<uint8_t> dx_before = dx.bytes;
    Matrix w = random_weight(NF_F32, 128, 3);
    std::vector<float> inv(8, 1.0f), dw(128, -7.0f);
    nf_matrix xv = x.view(), dyv = dy.view(), dxv = dx.view();
    nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    EXPECT_EQ(nf_cuda_rms_norm_backward(nullptr, &xv, w.data(), &p, inv.data(), &dxv, dw.data(), nullptr),
              NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("nf_cuda_rms_norm_backward: dy is NULL"), std::string::npos)
        << nf_last_error();
    EXPECT_EQ(nf_cuda_rms_norm_backward(&dyv, &xv, w.data(), &p, nullptr, &dxv, dw.data(), nullptr),
              NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("inv_rms"), std::string::npos) << nf_last_error();
    nf_norm_params none{kEps, NF_WEIGHT_NONE, NF_ROUND_ONCE};
    EXPECT_EQ(nf_cuda_rms_norm_backward(&dyv, &xv, nullptr, &none, inv.data(), &dxv, dw.data(), nullptr),
              NF_INVALID_ARGUMENT);
    nf_matrix narrow = dxv;
    narrow.row_stride = 64;
    EXPECT_EQ(nf_cuda_rms_norm_backward(&dyv, &xv, w.data(), &p, inv.data(), &narrow, dw.data(), nullptr),
              NF_INVALID_ARGUMENT);
    const nf_status s = nf_cuda_rms_norm_backward(&dyv, &xv, w.data(), &p, inv.data(), &dxv, dw.data(), nullptr);
    if (!nf_cuda_available()) {
        EXPECT_EQ(s, NF_DEVICE_ERROR);
        EXPECT_NE(std::string(nf_last_error()).find("CUDA is not available"), std::string::npos) << nf_last_error();
    } else {
        EXPECT_EQ(s, NF_INVALID_ARGUMENT);  // host memory
        EXPECT_NE(std::string(nf_last_error()).find("not CUDA device memory"), std::string::npos)
            << nf_last_error();
    }
    EXPECT_EQ(dx.bytes, dx_before);
    for (float v : dw) ASSERT_EQ(v, -7.0f);
}

struct BackwardCase {
    int64_t rows, cols, pad;
    InPlace in_place = InPlace::No;
    bool want_dweight = true, own_stream = false;
    int64_t shift = 0;  // the views start this many elements into their allocations
};

// One call on device copies, checked against float64 (dx, dweight) and against the CPU function
// (dweight within a few fp32 roundings of the CPU's; values whose bits differ from the CPU's are
// counted into *dx_differ and *dw_differ: Halide's PTX back end always lets LLVM fuse a multiply
// into the add that consumes it, strict_float or not, so fp32 sums may round once less).
void run_backward_case(const CudaDriver *d, nf_dtype dt, nf_weight_mode m, const BackwardCase &cs, uint32_t seed,
                       size_t *dx_differ, size_t *dw_differ) {
    SCOPED_TRACE(std::string(dtype_str(dt)) + " " + mode_str(m) + " rows=" + std::to_string(cs.rows) +
                 " cols=" + std::to_string(cs.cols) + " pad=" + std::to_string(cs.pad) +
                 " in_place=" + std::to_string(int(cs.in_place)) + " shift=" + std::to_string(cs.shift));
    Matrix x(dt, cs.rows, cs.cols, cs.pad), dy(dt, cs.rows, cs.cols, cs.pad), dx(dt, cs.rows, cs.cols, cs.pad);
    x.randomize(seed, 1.5);
    dy.randomize(seed + 1, 1.0);
    dx.poison();
    Matrix w = random_weight(dt, cs.cols, seed + 2);
    std::vector<float> inv = forward_inv_rms(x, kEps);
    const bool want_dw = cs.want_dweight && m != NF_WEIGHT_NONE;
    nf_norm_params p{kEps, m, NF_ROUND_ONCE};

    // The CPU function on host copies.
    Matrix dx_cpu = dx;
    std::vector<float> dw_cpu(size_t(cs.cols), -7.0f);
    {
        Matrix xc = x, dyc = dy;
        nf_matrix xv = xc.view(), dyv = dyc.view(), dxv = dx_cpu.view();
        ASSERT_EQ(nf_rms_norm_backward(&dyv, &xv, m == NF_WEIGHT_NONE ? nullptr : w.data(), &p, inv.data(), &dxv,
                                       want_dw ? dw_cpu.data() : nullptr),
                  NF_OK)
            << nf_last_error();
    }

    const size_t skip = size_t(cs.shift) * elem_size(dt);
    DeviceBuffer gx(d, x.bytes.size() + skip), gdy(d, dy.bytes.size() + skip), gdx(d, dx.bytes.size() + skip),
        gw(d, w.bytes.size() + skip), ginv(d, inv.size() * 4), gdw(d, size_t(cs.cols) * 4);
    gx.upload(x.data(), skip);
    gdy.upload(dy.data(), skip);
    gdx.upload(dx.data(), skip);
    gw.upload(w.data(), skip);
    ginv.upload(inv.data());
    std::vector<float> dw(size_t(cs.cols), -7.0f);
    gdw.upload(dw.data());
    CUstream stream = nullptr;
    if (cs.own_stream) ASSERT_EQ(d->cuStreamCreate(&stream, 1 /* non-blocking */), 0);
    auto at = [skip](const DeviceBuffer &b) { return static_cast<void *>(static_cast<char *>(b.get()) + skip); };
    nf_matrix xv{at(gx), dt, cs.rows, cs.cols, x.stride}, dyv{at(gdy), dt, cs.rows, cs.cols, dy.stride};
    nf_matrix dxv = cs.in_place == InPlace::OverDy ? dyv
                    : cs.in_place == InPlace::OverX ? xv
                                                    : nf_matrix{at(gdx), dt, cs.rows, cs.cols, dx.stride};
    ASSERT_EQ(nf_cuda_rms_norm_backward(&dyv, &xv, m == NF_WEIGHT_NONE ? nullptr : at(gw), &p,
                                        static_cast<float *>(ginv.get()), &dxv,
                                        want_dw ? static_cast<float *>(gdw.get()) : nullptr, stream),
              NF_OK)
        << nf_last_error();
    ASSERT_EQ(d->cuStreamSynchronize(stream), 0);
    if (stream) d->cuStreamDestroy(stream);
    Matrix out = dx;
    DeviceBuffer &src = cs.in_place == InPlace::OverDy ? gdy : cs.in_place == InPlace::OverX ? gx : gdx;
    src.download(out.data(), skip);
    gdw.download(dw.data());

    std::vector<double> dw_ref(size_t(cs.cols), 0.0), dw_scale(size_t(cs.cols), 0.0);
    int bad = 0;
    for (int64_t r = 0; r < cs.rows; r++) {
        RefBackwardRow ref = reference_backward_row(dy, x, r, &w, m, kEps);
        for (int64_t c = 0; c < cs.cols; c++) {
            dw_ref[size_t(c)] += ref.dw_row[size_t(c)];
            dw_scale[size_t(c)] += std::fabs(ref.dw_row[size_t(c)]);
            const double got = out.get(r, c);
            if (bad < 5 && !close_to_scale(got, ref.dx[size_t(c)], ref.scale[size_t(c)], dt, dt == NF_F32 ? 4 : 1)) {
                ADD_FAILURE() << "dx(" << r << ", " << c << ") = " << got << ", reference " << ref.dx[size_t(c)];
                bad++;
            }
            const size_t off = size_t(r * out.stride + c) * elem_size(dt);
            *dx_differ += std::memcmp(&out.bytes[off], &dx_cpu.bytes[off], elem_size(dt)) != 0;
        }
        // The padding after each row but the last comes back as it was.
        const Matrix &before = cs.in_place == InPlace::OverDy ? dy : cs.in_place == InPlace::OverX ? x : dx;
        for (int64_t c = cs.cols; c < out.stride && r + 1 < cs.rows; c++) {
            const size_t off = size_t(r * out.stride + c) * elem_size(dt);
            ASSERT_EQ(0, std::memcmp(&out.bytes[off], &before.bytes[off], elem_size(dt))) << "padding written";
        }
    }
    if (!want_dw) {
        for (float v : dw) ASSERT_EQ(v, -7.0f) << "dweight written though NULL was passed";
        return;
    }
    for (int64_t c = 0; c < cs.cols; c++) {
        ASSERT_NEAR(dw[size_t(c)], dw_ref[size_t(c)], 1e-5 * dw_scale[size_t(c)] + 1e-30) << "dweight[" << c << "]";
        // Same order as the CPU; the GPU may fuse a product into its add (one rounding fewer).
        ASSERT_NEAR(dw[size_t(c)], dw_cpu[size_t(c)], 1e-6 * dw_scale[size_t(c)] + 1e-30) << "dweight[" << c << "]";
        *dw_differ += std::memcmp(&dw[size_t(c)], &dw_cpu[size_t(c)], 4) != 0;
    }
}

TEST_F(CudaGpu, BackwardMatchesReference) {
    const BackwardCase cases[] = {
        {1, 4096, 0},
        {64, 4096, 0, InPlace::No, true, true},  // non-default stream
        {300, 1000, 3},                          // 3 blocks of 128 rows (the last partial), padded
        {700, 257, 0},                           // 6 blocks: a tree that is not a power of two
        {9, 8192 + 3, 5},                        // two chunks and a ragged tail
        {33, 63, 1, InPlace::OverDy},            // tail only, dx over dy
        {130, 256, 0, InPlace::OverX},           // dx over x, 2 blocks
        {5, 1, 0},                               // one column
        {17, 1000, 24, InPlace::No, false},      // no dweight
        {3, 20000, 8},                           // rows too long to stage dy and x: the re-reading kernel
        {11, 4097, 3, InPlace::No, true, true},  // odd sizes, padded to 8-byte row strides
        {140, 2048, 0, InPlace::OverX},
        {4, 777, 3},
        // Rows off 8-byte boundaries (staged through aligned scratch): views one element into
        // their allocations, odd row strides (16-bit), in place.
        {4, 777, 3, InPlace::No, true, false, 1},
        {9, 1001, 0, InPlace::OverX},
        {300, 333, 0, InPlace::OverDy, true, true, 3},
        {33, 64, 2, InPlace::No, false, false, 1},
    };
    for (nf_dtype dt : {NF_F32, NF_F16, NF_BF16}) {
        for (nf_weight_mode m : {NF_WEIGHT_NONE, NF_WEIGHT_SCALE, NF_WEIGHT_ONE_PLUS}) {
            size_t differ = 0, total = 0, dw_differ = 0, dw_total = 0;
            uint32_t seed = 300;
            for (const BackwardCase &cs : cases) {
                run_backward_case(d, dt, m, cs, seed++, &differ, &dw_differ);
                total += size_t(cs.rows * cs.cols);
                dw_total += cs.want_dweight && m != NF_WEIGHT_NONE ? size_t(cs.cols) : 0;
                if (HasFatalFailure()) return;
            }
            std::printf("[ info ] backward %s %s: %zu of %zu dx and %zu of %zu dweight values differ from the CPU "
                        "function's bits\n", dtype_str(dt), mode_str(m), differ, total, dw_differ, dw_total);
        }
    }
}

// Rows off 8-byte boundaries are staged through aligned device scratch (cuMemcpy2DAsync) in
// pieces of at most ~64 MiB per matrix: 9000 x 4097 bf16 rows, one element into their
// allocations, take two pieces.
TEST_F(CudaGpu, BackwardUnalignedRowsStagedInPieces) {
    size_t differ = 0, dw_differ = 0;
    run_backward_case(d, NF_BF16, NF_WEIGHT_SCALE, {9000, 4097, 1, InPlace::No, true, false, 1}, 900, &differ,
                      &dw_differ);
}

// dweight is the same on every call (fixed blocks and tree; no atomics), on any stream.
TEST_F(CudaGpu, BackwardDweightSameBitsEveryCall) {
    const int64_t rows = 5000, cols = 3000;
    Matrix x(NF_BF16, rows, cols), dy(NF_BF16, rows, cols);
    x.randomize(11);
    dy.randomize(12);
    Matrix w = random_weight(NF_BF16, cols, 13);
    std::vector<float> inv = forward_inv_rms(x, kEps);
    DeviceBuffer gx(d, x.bytes.size()), gdy(d, dy.bytes.size()), gdx(d, x.bytes.size()), gw(d, w.bytes.size()),
        ginv(d, inv.size() * 4), gdw(d, size_t(cols) * 4);
    gx.upload(x.data());
    gdy.upload(dy.data());
    gw.upload(w.data());
    ginv.upload(inv.data());
    nf_matrix xv{gx.get(), NF_BF16, rows, cols, cols}, dyv{gdy.get(), NF_BF16, rows, cols, cols},
        dxv{gdx.get(), NF_BF16, rows, cols, cols};
    nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    std::vector<float> first(static_cast<size_t>(cols)), again(static_cast<size_t>(cols));
    for (int call = 0; call < 4; call++) {
        CUstream stream = nullptr;
        if (call % 2) ASSERT_EQ(d->cuStreamCreate(&stream, 1), 0);
        ASSERT_EQ(nf_cuda_rms_norm_backward(&dyv, &xv, gw.get(), &p, static_cast<float *>(ginv.get()), &dxv,
                                            static_cast<float *>(gdw.get()), stream),
                  NF_OK)
            << nf_last_error();
        ASSERT_EQ(d->cuStreamSynchronize(stream), 0);
        if (stream) d->cuStreamDestroy(stream);
        gdw.download(call == 0 ? first.data() : again.data());
        if (call > 0) ASSERT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * 4)) << "call " << call;
    }
}

TEST_F(CudaGpu, BackwardZeroRowsZeroesDweight) {
    DeviceBuffer gx(d, 64 * 4), gdw(d, 64 * 4);
    std::vector<float> dw(64, -7.0f);
    gdw.upload(dw.data());
    nf_matrix xv{gx.get(), NF_F32, 0, 64, 64};
    nf_norm_params p{kEps, NF_WEIGHT_SCALE, NF_ROUND_ONCE};
    ASSERT_EQ(nf_cuda_rms_norm_backward(&xv, &xv, gx.get(), &p, nullptr, &xv, static_cast<float *>(gdw.get()),
                                        nullptr),
              NF_OK)
        << nf_last_error();
    ASSERT_EQ(d->cuCtxSynchronize(), 0);
    gdw.download(dw.data());
    for (float v : dw) ASSERT_EQ(v, 0.0f);
}

}  // namespace
