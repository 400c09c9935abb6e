// The few CUDA driver API entry points NormForge uses, loaded at run time from the NVIDIA
// driver (libcuda.so.1; no CUDA toolkit at build or link time). Shared by the runtime, the
// tests and tools/cuda_bench. No CUDA headers: the types below are the driver's ABI.
#pragma once

#include <cstddef>
#include <cstdint>

namespace normforge {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

constexpr CUresult kCudaSuccess = 0;
constexpr CUresult kCudaErrorInvalidValue = 1;
// cuPointerGetAttribute attributes.
constexpr int kPointerAttrContext = 1;
constexpr int kPointerAttrRangeStart = 11;
constexpr int kPointerAttrRangeSize = 12;
// CUmemorytype: device memory.
constexpr int kMemoryTypeDevice = 2;
// cuDeviceGetAttribute attributes.
constexpr int kDeviceAttrCcMajor = 75;
constexpr int kDeviceAttrCcMinor = 76;

// CUDA_MEMCPY2D (the _v2 layout cuMemcpy2DAsync_v2 takes; tests/test_cuda_abi.cpp checks it
// against cuda.h where a toolkit is installed).
struct CudaMemcpy2D {
    size_t srcXInBytes = 0, srcY = 0;
    int srcMemoryType = 0;
    const void *srcHost = nullptr;
    CUdeviceptr srcDevice = 0;
    void *srcArray = nullptr;
    size_t srcPitch = 0;
    size_t dstXInBytes = 0, dstY = 0;
    int dstMemoryType = 0;
    void *dstHost = nullptr;
    CUdeviceptr dstDevice = 0;
    void *dstArray = nullptr;
    size_t dstPitch = 0;
    size_t WidthInBytes = 0, Height = 0;
};

struct CudaDriver {
    CUresult (*cuInit)(unsigned);
    CUresult (*cuDeviceGetCount)(int *);
    CUresult (*cuDeviceGet)(CUdevice *, int);
    CUresult (*cuDeviceGetName)(char *, int, CUdevice);
    CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*cuCtxGetCurrent)(CUcontext *);
    CUresult (*cuCtxSetCurrent)(CUcontext);
    CUresult (*cuCtxGetDevice)(CUdevice *);
    CUresult (*cuCtxCreate)(CUcontext *, unsigned, CUdevice);
    CUresult (*cuCtxDestroy)(CUcontext);
    CUresult (*cuCtxSynchronize)();
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
    CUresult (*cuDevicePrimaryCtxGetState)(CUdevice, unsigned *, int *);
    CUresult (*cuCtxGetId)(CUcontext, unsigned long long *);  // NULL before CUDA 12.0
    CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
    CUresult (*cuPointerGetAttributes)(unsigned, int *, void **, CUdeviceptr);  // NULL before CUDA 7
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
    CUresult (*cuMemFree)(CUdeviceptr);
    CUresult (*cuMemAllocAsync)(CUdeviceptr *, size_t, CUstream);  // NULL before CUDA 11.2
    CUresult (*cuMemFreeAsync)(CUdeviceptr, CUstream);              // NULL before CUDA 11.2
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*cuMemsetD32Async)(CUdeviceptr, unsigned, size_t, CUstream);
    CUresult (*cuMemcpy2DAsync)(const CudaMemcpy2D *, CUstream);
    CUresult (*cuStreamCreate)(CUstream *, unsigned);
    CUresult (*cuStreamDestroy)(CUstream);
    CUresult (*cuStreamSynchronize)(CUstream);
    CUresult (*cuEventCreate)(CUevent *, unsigned);
    CUresult (*cuEventDestroy)(CUevent);
    CUresult (*cuEventRecord)(CUevent, CUstream);
    CUresult (*cuEventSynchronize)(CUevent);
    CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*cuGetErrorName)(CUresult, const char **);
};

// The driver, loaded and initialized (cuInit) once per process; nullptr when there is none or
// cuInit failed. Never aborts. `why` (may be NULL) receives a static description of the
// failure: which library or call failed.
const CudaDriver *cuda_driver(const char **why = nullptr);
// The dlopen handle of the driver library (nullptr if none): the Halide runtime's CUDA module
// takes its symbols from it.
void *cuda_driver_library();
// "CUDA_ERROR_..." for a driver result.
const char *cuda_error_name(CUresult r);

}  // namespace normforge
