// What every CUDA entry point shares: the per-call context the Halide runtime's CUDA hooks read,
// device views of the caller's pointers, scratch, and prepare_cuda_call (driver, context, kernel
// and pointer checks). Only built with CUDA kernels (NF_WITH_CUDA).
#pragma once

#include <cstdint>

#include "HalideRuntimeCuda.h"
#include "checks.h"
#include "cuda_driver.h"
#include "errors.h"
#include "halide_call.h"
#include "kernel_table.h"

namespace normforge {

// The per-call user_context of a CUDA kernel: the error capture every kernel has, plus the
// context and stream the Halide runtime's hooks hand out.
struct CudaCallContext : CallContext {
    CUcontext context = nullptr;
    CUstream stream = nullptr;
};

// Makes `ctx` current for the scope (the caller's context is restored).
struct ScopedContext {
    const CudaDriver *d;
    CUcontext previous = nullptr;
    bool switched = false;
    ScopedContext(const CudaDriver *drv, CUcontext ctx);
    ~ScopedContext();
};

// A halide_buffer_t view of device memory (no host pointer), detached on destruction:
// `rows` x `cols` with `stride` (dimensions 2), or `cols` elements (dimensions 1).
struct DeviceView {
    halide_dimension_t dims[2];
    halide_buffer_t buf;
    void *user_context;
    bool wrapped = false;
    DeviceView(void *uc, const void *data, halide_type_t type, int64_t rows, int64_t cols, int64_t stride,
               int dimensions);
    ~DeviceView();
    // Rows [r0, r0 + n) of m, in m's dtype.
    static DeviceView rows(void *uc, const nf_matrix *m, int64_t r0, int64_t n);
    // Floats [r0, r0 + n) of a per-row device vector starting at `base`, as a 1 x n matrix.
    static DeviceView row_floats(void *uc, CUdeviceptr base, int64_t r0, int64_t n);
    DeviceView(const DeviceView &) = delete;
    DeviceView &operator=(const DeviceView &) = delete;
};

// Device memory for outputs the caller did not ask for (inv_rms, mean, inv_std), on the call's
// stream (stream-ordered where the driver has it), freed on destruction.
struct DeviceScratch {
    const CudaDriver *d;
    CUcontext ctx;
    CUstream stream;
    CUdeviceptr ptr = 0;
    bool async = false;
    CUresult alloc(size_t bytes);
    ~DeviceScratch();
};

// A device-memory argument to check: it must lie inside one device allocation. aligned8: its
// rows start on 8-byte boundaries (what the aligned kernels assume; schedules/cuda.h).
struct NamedSpan {
    const char *name;
    Span span;
    bool aligned8 = true;
};

// A prepared call: the driver, the context and stream to run on, and the kernel.
struct CudaCall {
    const CudaDriver *d = nullptr;
    const KernelEntry *kernel = nullptr;
    CudaCallContext context;
    int device_cc = 0;     // the compute capability the kernels were chosen for
    bool aligned = false;  // every span was aligned8
};

// The kernel of (op, dtype, variant, bias) for a device of capability device_cc: rows not on
// 8-byte boundaries get the unaligned class; else the staged class when its block's rows (of
// dy and x for the backward dx) fit in shared memory and NF_CUDA_STAGE is not "0", else the
// one that re-reads its input. Of each class, the kernel for the highest capability the device
// has. nullptr if none.
const KernelEntry *find_cuda_kernel(KernelOp op, nf_dtype dtype, nf_weight_mode w, nf_rounding r, int bias,
                                    int64_t cols, bool aligned, int device_cc);

// The driver, or NF_DEVICE_ERROR with the reason (no driver, no device, cuInit failed).
nf_status cuda_driver_or_fail(const char *fn, const CudaDriver **out);
// Chooses the context (the current one, else the one owning x_data), the kernel (op, dtype,
// variant, bias; the unaligned class unless every span is aligned8, else the staged class when
// rows of `cols` fit in shared memory; the highest compute capability the device has) and
// checks every span. Installs the Halide hooks.
nf_status prepare_cuda_call(const char *fn, const CudaDriver *d, KernelOp op, nf_dtype dtype, nf_weight_mode w,
                            nf_rounding r, int bias, int64_t cols, const void *x_data, const NamedSpan *spans,
                            int num_spans, void *stream, CudaCall *out);
// Rows per launch: without 64-bit indexing a kernel's buffers must stay below 2^31 elements.
int64_t rows_per_launch(const nf_matrix *m);
// The same for all the matrices of a call (b, c: NULL = not used).
int64_t launch_rows(const nf_matrix *a, const nf_matrix *b, const nf_matrix *c);
// Whether every row of m (NULL: none) starts on an 8-byte boundary (what the aligned kernels
// assume), and whether a vector starts on one.
bool rows_aligned8(const nf_matrix *m);
bool aligned8(const void *p);
// The NF_DEVICE_ERROR for a failed kernel run.
nf_status kernel_failure(const char *fn, const CudaCall &c);

}  // namespace normforge
