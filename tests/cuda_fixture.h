// What the CUDA test files share: the skip without a GPU, device buffers, and the fixture that
// makes device 0's primary context current (what the CUDA runtime API uses).
#pragma once

#include <gtest/gtest.h>

#include "cuda_driver.h"
#include "normforge/normforge.h"

namespace nftest {

using normforge::CUcontext;
using normforge::CUdevice;
using normforge::CUdeviceptr;
using normforge::CudaDriver;
using normforge::CUstream;

#define SKIP_WITHOUT_GPU()                                                                          \
    do {                                                                                            \
        if (!nf_cuda_available()) GTEST_SKIP() << "no CUDA driver or device on this machine: skipped"; \
    } while (0)

// Device memory of the test's context.
struct DeviceBuffer {
    const CudaDriver *d;
    CUdeviceptr ptr = 0;
    size_t bytes;
    DeviceBuffer(const CudaDriver *drv, size_t n) : d(drv), bytes(n) {
        EXPECT_EQ(d->cuMemAlloc(&ptr, n), 0);
    }
    ~DeviceBuffer() {
        if (ptr) d->cuMemFree(ptr);
    }
    void *get() const { return reinterpret_cast<void *>(ptr); }
    // `skip` bytes in: a view that starts off the allocation's alignment.
    void upload(const void *host, size_t skip = 0) { ASSERT_EQ(d->cuMemcpyHtoD(ptr + skip, host, bytes - skip), 0); }
    void download(void *host, size_t skip = 0) { ASSERT_EQ(d->cuMemcpyDtoH(host, ptr + skip, bytes - skip), 0); }
};

// Each GPU test runs with device 0's primary context current (what the CUDA runtime API uses).
class CudaGpu : public ::testing::Test {
protected:
    const CudaDriver *d = nullptr;
    CUdevice dev = 0;
    CUcontext ctx = nullptr;
    void SetUp() override {
        SKIP_WITHOUT_GPU();
        d = normforge::cuda_driver();
        ASSERT_NE(d, nullptr);
        ASSERT_EQ(d->cuDeviceGet(&dev, 0), 0);
        ASSERT_EQ(d->cuDevicePrimaryCtxRetain(&ctx, dev), 0);
        ASSERT_EQ(d->cuCtxSetCurrent(ctx), 0);
    }
    void TearDown() override {
        if (ctx) {
            d->cuCtxSetCurrent(nullptr);
            d->cuDevicePrimaryCtxRelease(dev);
        }
    }
};

}  // namespace nftest
