// The CUDA API. On every machine: bad input is rejected before any device work, and without a
// driver or device the calls return NF_DEVICE_ERROR (never abort, write nothing). On a machine
// with a GPU (nf_cuda_available() == 1) the GPU suites run the correctness matrix against the
// float64 reference: every dtype x weight mode x rounding order, odd hidden sizes, padded
// strides, in place, inv_rms NULL or not, a non-default stream, a context the host application
// created, no current context, the fused residual op, LayerNorm, and pointers that are not
// device memory.
// GPU suites skip (and say so) only when no GPU is present. ctest runs the suite three times: as
// is (the kernels that stage rows in shared memory where they fit), with NF_CUDA_STAGE=0 (the
// kernels that re-read x, for every shape), and with NF_CUDA_MAX_CAPABILITY=70 (the baseline PTX).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_fixture.h"
#include "reference.h"
#include "reference_ops.h"
#include "variants.h"

using namespace nftest;

namespace {

nf_norm_params params(nf_weight_mode m = NF_WEIGHT_SCALE, nf_rounding r = NF_ROUND_ONCE) {
    return nf_norm_params{1e-5f, m, r};
}

// ---- Every machine -----------------------------------------------------------------------

TEST(Cuda, BadInputIsRejectedBeforeAnyDeviceWork) {
    Matrix x(NF_BF16, 4, 64), y(NF_BF16, 4, 64);
    Matrix w = random_weight(NF_BF16, 64, 3);
    y.poison();
    const std::vector<uint8_t> y_before = y.bytes;
    nf_matrix xv = x.view(), yv = y.view();
    nf_norm_params p = params();

    EXPECT_EQ(nf_cuda_rms_norm(nullptr, w.data(), &p, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("x"), std::string::npos) << nf_last_error();
    nf_norm_params bad_eps = p;
    bad_eps.eps = std::nanf("");
    EXPECT_EQ(nf_cuda_rms_norm(&xv, w.data(), &bad_eps, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("eps"), std::string::npos) << nf_last_error();
    nf_matrix narrow = xv;
    narrow.row_stride = 32;
    EXPECT_EQ(nf_cuda_rms_norm(&narrow, w.data(), &p, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_EQ(nf_cuda_rms_norm(&xv, nullptr, &p, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    nf_matrix bad_dtype = xv;
    bad_dtype.dtype = static_cast<nf_dtype>(9);
    EXPECT_EQ(nf_cuda_rms_norm(&bad_dtype, w.data(), &p, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    nf_matrix negative = xv;
    negative.rows = -1;
    EXPECT_EQ(nf_cuda_rms_norm(&negative, w.data(), &p, &yv, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_EQ(nf_cuda_rms_norm_residual(&xv, nullptr, w.data(), &p, &yv, nullptr, nullptr),
              NF_INVALID_ARGUMENT);
    EXPECT_EQ(nf_cuda_layer_norm(&xv, w.data(), nullptr, -1.0f, &yv, nullptr, nullptr, nullptr),
              NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("eps"), std::string::npos) << nf_last_error();
    EXPECT_EQ(nf_cuda_layer_norm(nullptr, w.data(), nullptr, 1e-5f, &yv, nullptr, nullptr, nullptr),
              NF_INVALID_ARGUMENT);
    EXPECT_EQ(y.bytes, y_before) << "a rejected call wrote y";
}

// Without a GPU: NF_DEVICE_ERROR with a message, nothing written. With one: host memory passed
// as a device pointer is rejected (NF_INVALID_ARGUMENT), also without writing anything.
TEST(Cuda, NoDeviceOrHostPointerIsAnErrorNotACrash) {
    Matrix x(NF_F32, 8, 128), y(NF_F32, 8, 128);
    x.randomize(5);
    Matrix w = random_weight(NF_F32, 128, 6);
    y.poison();
    const std::vector<uint8_t> y_before = y.bytes;
    std::vector<float> inv(8, -1.0f);
    nf_matrix xv = x.view(), yv = y.view();
    nf_norm_params p = params();
    Matrix r(NF_F32, 8, 128);
    nf_matrix rv = r.view();
    const std::vector<uint8_t> r_before = r.bytes;
    if (!nf_cuda_available()) {
        EXPECT_EQ(nf_cuda_rms_norm(&xv, w.data(), &p, &yv, inv.data(), nullptr), NF_DEVICE_ERROR);
        EXPECT_NE(std::string(nf_last_error()).find("CUDA is not available"), std::string::npos)
            << nf_last_error();
        EXPECT_EQ(nf_cuda_rms_norm_residual(&xv, &rv, w.data(), &p, &yv, nullptr, nullptr), NF_DEVICE_ERROR);
        EXPECT_EQ(nf_cuda_layer_norm(&xv, w.data(), w.data(), 1e-5f, &yv, inv.data(), nullptr, nullptr),
                  NF_DEVICE_ERROR);
        nf_matrix empty_x = xv, empty_y = yv;
        empty_x.rows = empty_y.rows = 0;
        EXPECT_EQ(nf_cuda_rms_norm(&empty_x, w.data(), &p, &empty_y, nullptr, nullptr), NF_DEVICE_ERROR);
    } else {
        EXPECT_EQ(nf_cuda_rms_norm(&xv, w.data(), &p, &yv, inv.data(), nullptr), NF_INVALID_ARGUMENT);
        EXPECT_NE(std::string(nf_last_error()).find("not CUDA device memory"), std::string::npos)
            << nf_last_error();
    }
    EXPECT_EQ(y.bytes, y_before);
    EXPECT_EQ(r.bytes, r_before);
    for (float v : inv) EXPECT_EQ(v, -1.0f);
    EXPECT_EQ(nf_cuda_available(), nf_cuda_available());  // stable, and never aborts
}

// ---- GPU suites --------------------------------------------------------------------------

struct GpuCase {
    int64_t rows, cols, pad;
    bool in_place, want_inv, own_stream;
    int64_t shift = 0;  // the views start this many elements into their allocations
};

// One nf_cuda_rms_norm call on device copies of x/w/y, checked against the float64 reference
// (y, inv_rms, and the padding between rows, which must come back untouched).
void run_gpu_case(const CudaDriver *d, nf_dtype dt, nf_weight_mode m, nf_rounding rnd, const GpuCase &cs,
                  uint32_t seed) {
    SCOPED_TRACE(std::string(dtype_str(dt)) + " " + mode_str(m) + (rnd ? " llama" : " once") +
                 " rows=" + std::to_string(cs.rows) + " cols=" + std::to_string(cs.cols) +
                 " pad=" + std::to_string(cs.pad) + (cs.in_place ? " in-place" : "") +
                 (cs.own_stream ? " stream" : "") + " shift=" + std::to_string(cs.shift));
    nf_norm_params p{1e-5f, m, rnd};
    Matrix x(dt, cs.rows, cs.cols, cs.pad), y(dt, cs.rows, cs.cols, cs.pad);
    x.randomize(seed, 1.5);
    y.poison();
    Matrix w = random_weight(dt, cs.cols, seed + 1);
    const size_t skip = size_t(cs.shift) * elem_size(dt);
    DeviceBuffer dx(d, x.bytes.size() + skip), dy(d, y.bytes.size() + skip), dw(d, w.bytes.size() + skip),
        dinv(d, size_t(cs.rows) * 4);
    dx.upload(x.data(), skip);
    dy.upload(y.data(), skip);
    dw.upload(w.data(), skip);
    std::vector<float> inv(size_t(cs.rows), -1.0f);
    dinv.upload(inv.data());

    CUstream stream = nullptr;
    if (cs.own_stream) ASSERT_EQ(d->cuStreamCreate(&stream, 1 /* non-blocking */), 0);
    auto at = [skip](const DeviceBuffer &b) { return static_cast<void *>(static_cast<char *>(b.get()) + skip); };
    nf_matrix xv{at(dx), dt, cs.rows, cs.cols, x.stride};
    nf_matrix yv = cs.in_place ? xv : nf_matrix{at(dy), dt, cs.rows, cs.cols, y.stride};
    nf_status s = nf_cuda_rms_norm(&xv, m == NF_WEIGHT_NONE ? nullptr : at(dw), &p, &yv,
                                   cs.want_inv ? static_cast<float *>(dinv.get()) : nullptr, stream);
    ASSERT_EQ(s, NF_OK) << nf_last_error();
    ASSERT_EQ(d->cuStreamSynchronize(stream), 0);
    if (stream) d->cuStreamDestroy(stream);

    Matrix out = y;
    (cs.in_place ? dx : dy).download(out.data(), skip);
    dinv.download(inv.data());
    int bad = 0;
    for (int64_t r = 0; r < cs.rows && bad < 5; r++) {
        RefRow ref = reference_row(x, r, &w, p);
        for (int64_t c = 0; c < cs.cols && bad < 5; c++) {
            if (!close(out.get(r, c), ref.y[size_t(c)], dt)) {
                ADD_FAILURE() << "y(" << r << ", " << c << ") = " << out.get(r, c) << ", reference "
                              << ref.y[size_t(c)];
                bad++;
            }
        }
        if (cs.want_inv) EXPECT_NEAR(inv[size_t(r)], ref.inv_rms, 2e-6 * ref.inv_rms) << "row " << r;
        else EXPECT_EQ(inv[size_t(r)], -1.0f) << "inv_rms written though NULL was passed";
        for (int64_t c = cs.cols; c < out.stride && r + 1 < cs.rows; c++) {
            size_t off = size_t(r * out.stride + c) * elem_size(dt);
            const Matrix &before = cs.in_place ? x : y;
            ASSERT_EQ(0, std::memcmp(&out.bytes[off], &before.bytes[off], elem_size(dt))) << "padding written";
        }
    }
}

class CudaGpuVariants : public CudaGpu, public ::testing::WithParamInterface<Variant> {};

TEST_P(CudaGpuVariants, MatchesReference) {
    auto [dt, m, rnd] = GetParam();
    const GpuCase cases[] = {
        {1, 4096, 0, false, true, false},    // decode
        {64, 4096, 0, false, true, true},    // prefill, non-default stream
        {9, 8192 + 3, 5, false, true, false},  // two chunks + a ragged tail, padded rows
        {33, 63, 1, true, true, false},      // tail only, in place
        {17, 1000, 24, false, false, true},  // inv_rms NULL, odd size
        {5, 1, 0, false, true, false},       // one column
        {130, 256, 0, true, false, false},   // rows past one block, in place, no inv_rms
        {3, 20000, 8, false, true, false},   // rows too long for shared memory: the re-reading kernel
        {2, 23000, 0, false, true, false},   // 16-bit: 45-46 KiB rows, past what the staged kernels take
        // rows off 8-byte boundaries: the unaligned kernel (odd stride; views one element in)
        {11, 4097, 0, false, true, true},
        {6, 2048, 0, true, true, false, 1},
        {4, 777, 2, false, true, false, 3},
    };
    uint32_t seed = 100;
    for (const GpuCase &cs : cases) run_gpu_case(d, dt, m, rnd, cs, seed++);
}

INSTANTIATE_TEST_SUITE_P(AllVariants, CudaGpuVariants, all_variants(), variant_name);

// The same bits as the CPU kernels (same summation order, IEEE operations): reported, so a
// difference is visible in the log; the reference check above is what must hold.
TEST_F(CudaGpu, ComparedWithTheCpuKernels) {
    for (nf_dtype dt : {NF_F32, NF_F16, NF_BF16}) {
        Matrix x(dt, 48, 4096 + 17), ycpu(dt, 48, 4096 + 17), ygpu(dt, 48, 4096 + 17);
        x.randomize(7);
        Matrix w = random_weight(dt, x.cols, 8);
        nf_norm_params p = params();
        nf_matrix xv = x.view(), yv = ycpu.view();
        ASSERT_EQ(nf_rms_norm(&xv, w.data(), &p, &yv, nullptr), NF_OK) << nf_last_error();
        DeviceBuffer dx(d, x.bytes.size()), dy(d, ygpu.bytes.size()), dw(d, w.bytes.size());
        dx.upload(x.data());
        dw.upload(w.data());
        nf_matrix gx{dx.get(), dt, x.rows, x.cols, x.stride}, gy{dy.get(), dt, x.rows, x.cols, x.stride};
        ASSERT_EQ(nf_cuda_rms_norm(&gx, dw.get(), &p, &gy, nullptr, nullptr), NF_OK) << nf_last_error();
        ASSERT_EQ(d->cuCtxSynchronize(), 0);
        dy.download(ygpu.data());
        size_t differ = 0;
        for (size_t i = 0; i < ycpu.bytes.size(); i += elem_size(dt))
            differ += std::memcmp(&ycpu.bytes[i], &ygpu.bytes[i], elem_size(dt)) != 0;
        std::printf("[ info ] %s: %zu of %zu outputs differ from the CPU kernel's bits\n", dtype_str(dt),
                    differ, ycpu.bytes.size() / elem_size(dt));
        for (int64_t r = 0; r < x.rows; r++)
            for (int64_t c = 0; c < x.cols; c++)
                ASSERT_TRUE(close(ygpu.get(r, c), ycpu.get(r, c), dt)) << r << ", " << c;
    }
}

// A context the host application created (not the primary one), current on this thread; and
// then the same call with no context current at all (the one owning x's memory is used).
TEST_F(CudaGpu, HostOwnedContextAndNoCurrentContext) {
    CUcontext own = nullptr;
    ASSERT_EQ(d->cuCtxCreate(&own, 0, dev), 0);  // becomes current
    {
        GpuCase cs{16, 2048, 0, false, true, true};
        run_gpu_case(d, NF_BF16, NF_WEIGHT_SCALE, NF_ROUND_ONCE, cs, 42);
        CUcontext cur = nullptr;
        d->cuCtxGetCurrent(&cur);
        EXPECT_EQ(cur, own) << "the call changed the current context";

        Matrix x(NF_F32, 3, 512), y(NF_F32, 3, 512);
        x.randomize(9);
        DeviceBuffer dx(d, x.bytes.size()), dy(d, y.bytes.size());
        dx.upload(x.data());
        nf_matrix xv{dx.get(), NF_F32, 3, 512, 512}, yv{dy.get(), NF_F32, 3, 512, 512};
        nf_norm_params p = params(NF_WEIGHT_NONE);
        ASSERT_EQ(d->cuCtxSetCurrent(nullptr), 0);
        ASSERT_EQ(nf_cuda_rms_norm(&xv, nullptr, &p, &yv, nullptr, nullptr), NF_OK) << nf_last_error();
        ASSERT_EQ(d->cuCtxSetCurrent(own), 0);
        ASSERT_EQ(d->cuCtxSynchronize(), 0);
        dy.download(y.data());
        for (int64_t r = 0; r < 3; r++) {
            RefRow ref = reference_row(x, r, nullptr, p);
            for (int64_t c = 0; c < 512; c++) ASSERT_TRUE(close(y.get(r, c), ref.y[size_t(c)], NF_F32));
        }
    }
    d->cuCtxDestroy(own);
    d->cuCtxSetCurrent(ctx);
}

// A context destroyed and created again usually gets the same handle: the kernels loaded for
// the dead one must not be reused (the runtime tells contexts apart by their ids).
TEST_F(CudaGpu, ContextDestroyedAndCreatedAgain) {
    for (int round = 0; round < 3; round++) {
        SCOPED_TRACE("round " + std::to_string(round));
        CUcontext own = nullptr;
        ASSERT_EQ(d->cuCtxCreate(&own, 0, dev), 0);  // becomes current
        GpuCase cs{16, 2048, 0, false, true, true};
        run_gpu_case(d, NF_F32, NF_WEIGHT_SCALE, NF_ROUND_ONCE, cs, 60 + round);
        run_gpu_case(d, NF_BF16, NF_WEIGHT_ONE_PLUS, NF_ROUND_LLAMA, cs, 70 + round);
        ASSERT_EQ(d->cuCtxDestroy(own), 0);
    }
    ASSERT_EQ(d->cuCtxSetCurrent(ctx), 0);
}

// Fused residual: residual <- round(x + residual); y <- rms_norm(that), in place on x too.
TEST_F(CudaGpu, FusedResidual) {
    for (nf_dtype dt : {NF_F32, NF_F16, NF_BF16}) {
        for (int variant = 0; variant < 4; variant++) {
            const bool in_place = variant & 1;
            const int64_t rows = 21, cols = variant < 2 ? 4096 + 33 : 4096 + 32;  // rows unaligned, aligned
            SCOPED_TRACE(std::string(dtype_str(dt)) + (in_place ? " in place" : "") + " cols=" + std::to_string(cols));
            Matrix x(dt, rows, cols), res(dt, rows, cols), y(dt, rows, cols);
            x.randomize(11);
            res.randomize(12);
            Matrix w = random_weight(dt, cols, 13);
            DeviceBuffer dx(d, x.bytes.size()), dr(d, res.bytes.size()), dy(d, y.bytes.size()),
                dw(d, w.bytes.size()), dinv(d, rows * 4);
            dx.upload(x.data());
            dr.upload(res.data());
            dw.upload(w.data());
            nf_matrix xv{dx.get(), dt, rows, cols, cols}, rv{dr.get(), dt, rows, cols, cols};
            nf_matrix yv = in_place ? xv : nf_matrix{dy.get(), dt, rows, cols, cols};
            nf_norm_params p = params(NF_WEIGHT_ONE_PLUS, NF_ROUND_LLAMA);
            ASSERT_EQ(nf_cuda_rms_norm_residual(&xv, &rv, dw.get(), &p, &yv, static_cast<float *>(dinv.get()),
                                                nullptr),
                      NF_OK)
                << nf_last_error();
            ASSERT_EQ(d->cuCtxSynchronize(), 0);
            Matrix s(dt, rows, cols), out(dt, rows, cols);
            dr.download(s.data());
            (in_place ? dx : dy).download(out.data());
            std::vector<float> inv(rows);
            dinv.download(inv.data());
            Matrix want_s(dt, rows, cols);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) want_s.set(r, c, double(float(x.get(r, c) + res.get(r, c))));
            ASSERT_EQ(s.bytes, want_s.bytes) << "residual is not round(x + residual)";
            for (int64_t r = 0; r < rows; r++) {
                RefRow ref = reference_row(want_s, r, &w, p);
                EXPECT_NEAR(inv[size_t(r)], ref.inv_rms, 2e-6 * ref.inv_rms);
                for (int64_t c = 0; c < cols; c++)
                    ASSERT_TRUE(close(out.get(r, c), ref.y[size_t(c)], dt)) << r << ", " << c;
            }
        }
    }
}

// LayerNorm: weight and bias each optional, mean/inv_std optional, rows with a large mean,
// padded strides and in place.
TEST_F(CudaGpu, LayerNorm) {
    struct LnCase {
        int64_t rows, cols, pad;
        bool weight, bias, stats, in_place;
        double mean;
    };
    const LnCase cases[] = {{1, 4096, 0, true, true, true, false, 0.0},    {64, 4096, 0, false, false, false, false, 0.0},
                            {9, 8195, 5, true, false, true, true, 0.0},    {33, 63, 1, false, true, true, false, 0.0},
                            {7, 1000, 0, true, true, true, false, 1e4},   {3, 20000, 0, true, true, true, false, 0.0},
                            {5, 1001, 0, true, true, true, true, 0.0},     {4, 16001, 0, true, true, true, true, 0.0}};
    uint32_t seed = 300;
    for (nf_dtype dt : {NF_F32, NF_F16, NF_BF16}) {
        for (const LnCase &cs : cases) {
            if (cs.mean != 0.0 && dt != NF_F32) continue;  // 1e4 + noise is not representable in 16 bits
            SCOPED_TRACE(std::string(dtype_str(dt)) + " rows=" + std::to_string(cs.rows) + " cols=" +
                         std::to_string(cs.cols) + (cs.weight ? " w" : "") + (cs.bias ? " b" : "") +
                         (cs.in_place ? " in-place" : ""));
            Matrix x(dt, cs.rows, cs.cols, cs.pad), y(dt, cs.rows, cs.cols, cs.pad);
            x.randomize(seed++, 1.0, cs.mean);
            y.poison();
            Matrix w = random_weight(dt, cs.cols, seed++), b = random_weight(dt, cs.cols, seed++);
            DeviceBuffer dx(d, x.bytes.size()), dy(d, y.bytes.size()), dw(d, w.bytes.size()),
                db(d, b.bytes.size()), dm(d, cs.rows * 4), ds(d, cs.rows * 4);
            dx.upload(x.data());
            dy.upload(y.data());
            dw.upload(w.data());
            db.upload(b.data());
            nf_matrix xv{dx.get(), dt, cs.rows, cs.cols, x.stride};
            nf_matrix yv = cs.in_place ? xv : nf_matrix{dy.get(), dt, cs.rows, cs.cols, y.stride};
            ASSERT_EQ(nf_cuda_layer_norm(&xv, cs.weight ? dw.get() : nullptr, cs.bias ? db.get() : nullptr, 1e-5f,
                                         &yv, cs.stats ? static_cast<float *>(dm.get()) : nullptr,
                                         cs.stats ? static_cast<float *>(ds.get()) : nullptr, nullptr),
                      NF_OK)
                << nf_last_error();
            ASSERT_EQ(d->cuCtxSynchronize(), 0);
            Matrix out = y;
            (cs.in_place ? dx : dy).download(out.data());
            std::vector<float> mean(size_t(cs.rows)), inv_std(size_t(cs.rows));
            dm.download(mean.data());
            ds.download(inv_std.data());
            int bad = 0;
            for (int64_t r = 0; r < cs.rows && bad < 5; r++) {
                RefLayerNormRow ref =
                    reference_layer_norm_row(x, r, cs.weight ? &w : nullptr, cs.bias ? &b : nullptr, 1e-5);
                for (int64_t c = 0; c < cs.cols && bad < 5; c++) {
                    if (!close_to_scale(out.get(r, c), ref.y[size_t(c)], ref.scale[size_t(c)], dt)) {
                        ADD_FAILURE() << "y(" << r << ", " << c << ") = " << out.get(r, c) << ", reference "
                                      << ref.y[size_t(c)];
                        bad++;
                    }
                }
                if (cs.stats) {
                    EXPECT_NEAR(mean[size_t(r)], ref.mean, 1e-6 * (std::fabs(ref.mean) + 1.0)) << "row " << r;
                    EXPECT_NEAR(inv_std[size_t(r)], ref.inv_std, 1e-5 * ref.inv_std) << "row " << r;
                }
            }
        }
    }
}

// Pointers the driver does not know, or buffers too small for the shape: rejected up front.
TEST_F(CudaGpu, NonDeviceOrTooSmallPointersAreRejected) {
    const int64_t rows = 8, cols = 256;
    DeviceBuffer dx(d, rows * cols * 4), dsmall(d, (rows - 1) * cols * 4), dy(d, rows * cols * 4);
    std::vector<float> host(size_t(rows * cols), 1.0f);
    nf_norm_params p = params(NF_WEIGHT_NONE);
    nf_matrix xv{dx.get(), NF_F32, rows, cols, cols}, yv{dy.get(), NF_F32, rows, cols, cols};
    nf_matrix host_y{host.data(), NF_F32, rows, cols, cols}, small_y{dsmall.get(), NF_F32, rows, cols, cols};
    EXPECT_EQ(nf_cuda_rms_norm(&xv, nullptr, &p, &host_y, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("y is not CUDA device memory"), std::string::npos)
        << nf_last_error();
    EXPECT_EQ(nf_cuda_rms_norm(&xv, nullptr, &p, &small_y, nullptr, nullptr), NF_INVALID_ARGUMENT);
    EXPECT_NE(std::string(nf_last_error()).find("past the end"), std::string::npos) << nf_last_error();
    for (float v : host) ASSERT_EQ(v, 1.0f);
    std::vector<float> inv_host(rows);
    EXPECT_EQ(nf_cuda_rms_norm(&xv, nullptr, &p, &yv, inv_host.data(), nullptr), NF_INVALID_ARGUMENT);
}

}  // namespace
