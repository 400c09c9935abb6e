#include "cuda_driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

namespace normforge {
namespace {

CudaDriver g_driver;
void *g_library = nullptr;
const CudaDriver *g_ready = nullptr;
const char *g_why = "not loaded";
char g_why_buffer[160];
pthread_once_t g_once = PTHREAD_ONCE_INIT;

template <typename F>
bool bind(F &fn, const char *name, bool optional = false) {
    fn = reinterpret_cast<F>(dlsym(g_library, name));
    return fn != nullptr || optional;
}

void load() {
    // Driver-only machines have libcuda.so.1 but not the libcuda.so development link.
    g_library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (g_library == nullptr) g_library = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (g_library == nullptr) {
        g_why = "the NVIDIA driver library libcuda.so.1 was not found (no NVIDIA driver installed)";
        return;
    }
    CudaDriver &d = g_driver;
    bool ok = bind(d.cuInit, "cuInit") && bind(d.cuDeviceGetCount, "cuDeviceGetCount") &&
              bind(d.cuDeviceGet, "cuDeviceGet") && bind(d.cuDeviceGetName, "cuDeviceGetName") &&
              bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
              bind(d.cuCtxGetCurrent, "cuCtxGetCurrent") && bind(d.cuCtxSetCurrent, "cuCtxSetCurrent") &&
              bind(d.cuCtxGetDevice, "cuCtxGetDevice") && bind(d.cuCtxCreate, "cuCtxCreate_v2") &&
              bind(d.cuCtxDestroy, "cuCtxDestroy_v2") && bind(d.cuCtxSynchronize, "cuCtxSynchronize") &&
              bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
              bind(d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") &&
              bind(d.cuDevicePrimaryCtxGetState, "cuDevicePrimaryCtxGetState") &&
              bind(d.cuCtxGetId, "cuCtxGetId", true) &&
              bind(d.cuPointerGetAttribute, "cuPointerGetAttribute") &&
              bind(d.cuPointerGetAttributes, "cuPointerGetAttributes", true) &&
              bind(d.cuMemAlloc, "cuMemAlloc_v2") && bind(d.cuMemFree, "cuMemFree_v2") &&
              bind(d.cuMemAllocAsync, "cuMemAllocAsync", true) &&
              bind(d.cuMemFreeAsync, "cuMemFreeAsync", true) &&
              bind(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2") && bind(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2") &&
              bind(d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2") &&
              bind(d.cuMemsetD32Async, "cuMemsetD32Async") &&
              bind(d.cuMemcpy2DAsync, "cuMemcpy2DAsync_v2") &&
              bind(d.cuStreamCreate, "cuStreamCreate") && bind(d.cuStreamDestroy, "cuStreamDestroy_v2") &&
              bind(d.cuStreamSynchronize, "cuStreamSynchronize") &&
              bind(d.cuEventCreate, "cuEventCreate") && bind(d.cuEventDestroy, "cuEventDestroy_v2") &&
              bind(d.cuEventRecord, "cuEventRecord") && bind(d.cuEventSynchronize, "cuEventSynchronize") &&
              bind(d.cuEventElapsedTime, "cuEventElapsedTime") && bind(d.cuGetErrorName, "cuGetErrorName");
    if (!ok) {
        g_why = "the NVIDIA driver library lacks a CUDA driver API function NormForge needs (driver too old)";
        return;
    }
    CUresult r = d.cuInit(0);
    if (r != kCudaSuccess) {
        snprintf(g_why_buffer, sizeof g_why_buffer, "cuInit failed: %s", cuda_error_name(r));
        g_why = g_why_buffer;
        return;
    }
    int count = 0;
    r = d.cuDeviceGetCount(&count);
    if (r != kCudaSuccess || count <= 0) {
        snprintf(g_why_buffer, sizeof g_why_buffer, "no CUDA device (cuDeviceGetCount: %s, %d devices)",
                 cuda_error_name(r), count);
        g_why = g_why_buffer;
        return;
    }
    g_why = "";
    g_ready = &g_driver;
}

}  // namespace

const CudaDriver *cuda_driver(const char **why) {
    pthread_once(&g_once, &load);
    if (why != nullptr) *why = g_why;
    return g_ready;
}

void *cuda_driver_library() {
    pthread_once(&g_once, &load);
    return g_library;
}

const char *cuda_error_name(CUresult r) {
    const char *name = nullptr;
    if (g_driver.cuGetErrorName != nullptr && g_driver.cuGetErrorName(r, &name) == kCudaSuccess && name)
        return name;
    return "unknown CUDA error";
}

}  // namespace normforge
