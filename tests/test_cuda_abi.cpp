// The driver-API structs NormForge declares itself (runtime/src/cuda_driver.h: no CUDA headers
// at build time) against the toolkit's cuda.h, where one is installed: compiled only then.
#include <cuda.h>
#include <gtest/gtest.h>

#include <cstddef>

#include "cuda_driver.h"

namespace {

using normforge::CudaMemcpy2D;

#define NF_SAME_FIELD(f) \
    static_assert(offsetof(CudaMemcpy2D, f) == offsetof(CUDA_MEMCPY2D, f), "CUDA_MEMCPY2D." #f " moved")
NF_SAME_FIELD(srcXInBytes);
NF_SAME_FIELD(srcY);
NF_SAME_FIELD(srcMemoryType);
NF_SAME_FIELD(srcHost);
NF_SAME_FIELD(srcDevice);
NF_SAME_FIELD(srcArray);
NF_SAME_FIELD(srcPitch);
NF_SAME_FIELD(dstXInBytes);
NF_SAME_FIELD(dstY);
NF_SAME_FIELD(dstMemoryType);
NF_SAME_FIELD(dstHost);
NF_SAME_FIELD(dstDevice);
NF_SAME_FIELD(dstArray);
NF_SAME_FIELD(dstPitch);
NF_SAME_FIELD(WidthInBytes);
NF_SAME_FIELD(Height);
static_assert(sizeof(CudaMemcpy2D) == sizeof(CUDA_MEMCPY2D), "CUDA_MEMCPY2D size");
static_assert(normforge::kMemoryTypeDevice == CU_MEMORYTYPE_DEVICE, "CU_MEMORYTYPE_DEVICE");
static_assert(sizeof(normforge::CUdeviceptr) == sizeof(CUdeviceptr), "CUdeviceptr");

TEST(CudaAbi, Memcpy2DLayoutMatchesCudaH) {
    // The checks are the static_asserts above; this records that they were compiled.
    EXPECT_EQ(sizeof(CudaMemcpy2D), sizeof(CUDA_MEMCPY2D));
}

}  // namespace
