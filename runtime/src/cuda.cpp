// The CUDA entry points: nf_cuda_available, nf_cuda_rms_norm, nf_cuda_rms_norm_residual.
// The caller's device pointers are wrapped in halide_buffer_t's without copies; the kernels run
// on the caller's context and stream, through the Halide runtime's CUDA module with NormForge's
// context/stream hooks. The driver is loaded at run time (cuda_driver.h).
// Builds without CUDA kernels (AArch64, or -DNF_CUDA=OFF) get the same functions, answering
// that there is no CUDA (see the end of this file).
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "cuda_driver.h"
#include "errors.h"
#include "halide_call.h"

using namespace normforge;

#ifdef NF_WITH_CUDA
#include "HalideRuntimeCuda.h"

namespace {

// The per-call user_context of a CUDA kernel: the error capture every kernel has, plus the
// context and stream the hooks below hand to the Halide runtime.
struct CudaCallContext : CallContext {
    CUcontext context = nullptr;
    CUstream stream = nullptr;
};

// Hooks of the Halide runtime's CUDA module. user_context is NULL for the runtime's own calls
// (its exit-time cleanup): those get the thread's current context, and nothing is created.
int acquire_context(void *user_context, void **ctx, bool create) {
    if (user_context != nullptr) {
        *ctx = static_cast<CudaCallContext *>(static_cast<CallContext *>(user_context))->context;
        return 0;
    }
    const CudaDriver *d = cuda_driver();
    CUcontext current = nullptr;
    if (d != nullptr) d->cuCtxGetCurrent(&current);
    *ctx = current;
    if (current == nullptr && create) return -1;
    return 0;
}

int release_context(void *) { return 0; }

int get_stream(void *user_context, void *, void **stream) {
    *stream = user_context == nullptr
                  ? nullptr
                  : static_cast<CudaCallContext *>(static_cast<CallContext *>(user_context))->stream;
    return 0;
}

pthread_once_t g_hooks_once = PTHREAD_ONCE_INIT;

void install_hooks() {
    halide_set_cuda_acquire_context(&acquire_context);
    halide_set_cuda_release_context(&release_context);
    halide_set_cuda_get_stream(&get_stream);
}

// The context to run on: the thread's current one, else the one that owns x's memory.
nf_status choose_context(const char *fn, const CudaDriver *d, const void *x, CUcontext *out) {
    CUcontext ctx = nullptr;
    d->cuCtxGetCurrent(&ctx);
    if (ctx == nullptr) {
        CUresult r = d->cuPointerGetAttribute(&ctx, kPointerAttrContext, reinterpret_cast<CUdeviceptr>(x));
        if (r != kCudaSuccess || ctx == nullptr)
            return fail(NF_DEVICE_ERROR,
                        "%s: no current CUDA context on this thread, and x->data does not belong to "
                        "one (%s): make the context that owns the device pointers current",
                        fn, cuda_error_name(r));
    }
    *out = ctx;
    return NF_OK;
}

// `name` must lie entirely inside one device allocation (cudaMalloc, cuMemAlloc, managed or
// host-registered memory): a host pointer or a too-small buffer is reported here instead of
// faulting on the device (which would leave the caller's context unusable).
nf_status check_device_span(const char *fn, const CudaDriver *d, const char *name, Span s) {
    if (s.begin == s.end) return NF_OK;
    CUdeviceptr p = reinterpret_cast<CUdeviceptr>(s.begin), start = 0;
    size_t size = 0;
    CUresult r = d->cuPointerGetAttribute(&start, kPointerAttrRangeStart, p);
    if (r == kCudaSuccess) r = d->cuPointerGetAttribute(&size, kPointerAttrRangeSize, p);
    if (r != kCudaSuccess)
        return fail(NF_INVALID_ARGUMENT, "%s: %s is not CUDA device memory (%s)", fn, name,
                    cuda_error_name(r));
    const uint64_t need_end = static_cast<uint64_t>(p) + static_cast<uint64_t>(s.end - s.begin);
    if (need_end > start + size)
        return fail(NF_INVALID_ARGUMENT,
                    "%s: %s extends %" PRIu64 " bytes past the end of its device allocation", fn, name,
                    static_cast<uint64_t>(need_end - (start + size)));
    return NF_OK;
}

// A halide_buffer_t view of device memory (no host pointer), detached on destruction.
struct DeviceView {
    halide_dimension_t dims[2];
    halide_buffer_t buf;
    void *user_context;
    bool wrapped = false;
    DeviceView(void *uc, const void *data, halide_type_t type, int64_t rows, int64_t cols, int64_t stride,
               int dimensions)
        : dims{{0, static_cast<int32_t>(cols), 1, 0},
               {0, static_cast<int32_t>(rows), static_cast<int32_t>(stride), 0}},
          buf{}, user_context(uc) {
        buf.type = type;
        buf.dimensions = dimensions;
        buf.dim = dims;
        wrapped = halide_cuda_wrap_device_ptr(uc, &buf, reinterpret_cast<uint64_t>(data)) == 0;
    }
    ~DeviceView() {
        if (wrapped) halide_cuda_detach_device_ptr(user_context, &buf);
    }
    DeviceView(const DeviceView &) = delete;
    DeviceView &operator=(const DeviceView &) = delete;
};

// The kernel's value of an integer knob ("k=v" in its knob text), or `otherwise`.
int knob_value(const KernelEntry &k, const char *name, int otherwise) {
    const size_t n = strlen(name);
    for (const char *p = k.knobs; (p = strstr(p, name)) != nullptr; p += n) {
        if ((p == k.knobs || p[-1] == ' ') && p[n] == '=') return atoi(p + n + 1);
    }
    return otherwise;
}

// Without an opt-in (which the Halide runtime does not make), a block may use 48 KiB of
// dynamic shared memory.
constexpr int64_t kSharedBytesPerBlock = 48 * 1024;

// The staged kernel when its block's rows fit in shared memory (and NF_CUDA_STAGE is not "0"),
// else the one that re-reads x; of each, the one for the highest capability the device has.
const KernelEntry *find_cuda_kernel(KernelOp op, nf_dtype dtype, nf_weight_mode w, nf_rounding r,
                                    int64_t cols, int device_cc) {
    if (dtype == NF_F32 || w == NF_WEIGHT_NONE) r = NF_ROUND_ONCE;  // one compiled kernel (see find_kernel)
    const char *env = getenv("NF_CUDA_STAGE");
    const bool may_stage = env == nullptr || strcmp(env, "0") != 0;
    const KernelEntry *plain = nullptr, *staged = nullptr;
    for (size_t i = 0; i < kNumKernels; i++) {
        const KernelEntry &k = kKernels[i];
        if (k.op != op || k.dtype != static_cast<int>(dtype) || k.weight != static_cast<int>(w) ||
            k.rounding != static_cast<int>(r) || k.min_cc == 0 || k.min_cc > device_cc)
            continue;
        const KernelEntry **slot = k.shape_class == NF_CLASS_gpu_staged ? &staged : &plain;
        if (*slot == nullptr || (*slot)->min_cc < k.min_cc) *slot = &k;
    }
    if (staged != nullptr && may_stage) {
        const int64_t rows_per_block = knob_value(*staged, "rows_per_block", 32);
        if (rows_per_block * cols * static_cast<int64_t>(dtype_size(dtype)) <= kSharedBytesPerBlock) return staged;
    }
    return plain;
}

// The compute capability (major * 10 + minor) of the current context's device, or 0; capped
// by NF_CUDA_MAX_CAPABILITY (e.g. "70": run the baseline kernels on a newer GPU, for tests).
int current_device_cc(const CudaDriver *d) {
    CUdevice dev = 0;
    int major = 0, minor = 0;
    if (d->cuCtxGetDevice(&dev) != kCudaSuccess) return 0;
    if (d->cuDeviceGetAttribute(&major, kDeviceAttrCcMajor, dev) != kCudaSuccess ||
        d->cuDeviceGetAttribute(&minor, kDeviceAttrCcMinor, dev) != kCudaSuccess)
        return 0;
    int cc = major * 10 + minor;
    const char *cap = getenv("NF_CUDA_MAX_CAPABILITY");
    if (cap != nullptr && atoi(cap) > 0 && atoi(cap) < cc) cc = atoi(cap);
    return cc;
}

// Rows per launch: without 64-bit indexing a kernel's buffers must stay below 2^31 elements.
int64_t rows_per_launch(const nf_matrix *m) {
    const int64_t kMaxElements = (int64_t(1) << 31) - 1;
    int64_t n = (kMaxElements - m->cols) / m->row_stride + 1;
    return n < 1 ? 1 : n;
}

// Makes `ctx` current for the scope (the caller's context is restored).
struct ScopedContext {
    const CudaDriver *d;
    CUcontext previous = nullptr;
    bool switched = false;
    ScopedContext(const CudaDriver *drv, CUcontext ctx) : d(drv) {
        d->cuCtxGetCurrent(&previous);
        if (previous != ctx) switched = d->cuCtxSetCurrent(ctx) == kCudaSuccess;
    }
    ~ScopedContext() {
        if (switched) d->cuCtxSetCurrent(previous);
    }
};

// A device buffer of `bytes` on `stream` of `ctx` (stream-ordered when the driver has it), for
// an inv_rms the caller did not ask for. A NULL stream means ctx's default stream, so ctx is
// made current around the allocation and the free.
struct DeviceScratch {
    const CudaDriver *d;
    CUcontext ctx;
    CUstream stream;
    CUdeviceptr ptr = 0;
    bool async = false;
    CUresult alloc(size_t bytes) {
        ScopedContext scope(d, ctx);
        if (d->cuMemAllocAsync != nullptr && d->cuMemFreeAsync != nullptr) {
            CUresult r = d->cuMemAllocAsync(&ptr, bytes, stream);
            if (r == kCudaSuccess) {
                async = true;
                return r;
            }
        }
        return d->cuMemAlloc(&ptr, bytes);
    }
    ~DeviceScratch() {
        if (ptr == 0) return;
        ScopedContext scope(d, ctx);
        if (async) {
            d->cuMemFreeAsync(ptr, stream);
        } else {
            d->cuStreamSynchronize(stream);  // the kernel may still be using it
            d->cuMemFree(ptr);
        }
    }
};

nf_status cuda_normalize(const char *fn, KernelOp op, const nf_matrix *x, nf_matrix *residual,
                         const void *weight, const nf_norm_params *p, nf_matrix *y, float *inv_rms,
                         void *stream) {
    const bool fused = op == NF_OP_RMS_NORM_RESIDUAL;
    if (nf_status s = check_norm_call(fn, x, fused, residual, weight, p, y, inv_rms)) return s;
    const char *why = nullptr;
    const CudaDriver *d = cuda_driver(&why);
    if (d == nullptr) return fail(NF_DEVICE_ERROR, "%s: CUDA is not available: %s", fn, why);
    if (x->rows == 0) return NF_OK;

    CUcontext ctx = nullptr;
    if (nf_status s = choose_context(fn, d, x->data, &ctx)) return s;
    const KernelEntry *k = nullptr;
    {
        // Device and pointer queries need the context current (the caller's is restored).
        ScopedContext scope(d, ctx);
        const int device_cc = current_device_cc(d);
        k = find_cuda_kernel(op, x->dtype, p->weight_mode, p->rounding, x->cols, device_cc);
        if (k == nullptr)
            return fail(NF_UNSUPPORTED, "%s: no CUDA kernel for this dtype and variant on a device of compute "
                        "capability %d.%d (the kernels need 7.0 or newer)", fn, device_cc / 10, device_cc % 10);
        const size_t es = dtype_size(x->dtype);
        if (nf_status s = check_device_span(fn, d, "x", matrix_span(x))) return s;
        if (nf_status s = check_device_span(fn, d, "y", matrix_span(y))) return s;
        if (fused)
            if (nf_status s = check_device_span(fn, d, "residual", matrix_span(residual))) return s;
        if (p->weight_mode != NF_WEIGHT_NONE)
            if (nf_status s = check_device_span(fn, d, "weight", vector_span(weight, x->cols, es))) return s;
        if (inv_rms != nullptr)
            if (nf_status s = check_device_span(fn, d, "inv_rms", vector_span(inv_rms, x->rows, sizeof(float))))
                return s;
    }
    const size_t es = dtype_size(x->dtype);
    const bool has_weight = p->weight_mode != NF_WEIGHT_NONE;

    install_halide_handlers();
    pthread_once(&g_hooks_once, &install_hooks);
    CudaCallContext call;
    call.context = ctx;
    call.stream = static_cast<CUstream>(stream);

    DeviceScratch scratch{d, ctx, call.stream};
    CUdeviceptr inv = reinterpret_cast<CUdeviceptr>(inv_rms);
    if (inv_rms == nullptr) {
        CUresult r = scratch.alloc(static_cast<size_t>(x->rows) * sizeof(float));
        if (r != kCudaSuccess)
            return fail(NF_DEVICE_ERROR, "%s: cannot allocate %" PRId64 " inv_rms values on the device: %s",
                        fn, x->rows, cuda_error_name(r));
        inv = scratch.ptr;
    }

    const halide_type_t type = halide_type_of_dtype(x->dtype);
    const int64_t step = rows_per_launch(x) < rows_per_launch(y) ? rows_per_launch(x) : rows_per_launch(y);
    int64_t step_all = step;
    if (fused && rows_per_launch(residual) < step_all) step_all = rows_per_launch(residual);
    int rc = 0;
    for (int64_t r0 = 0; r0 < x->rows && rc == 0; r0 += step_all) {
        const int64_t n = x->rows - r0 < step_all ? x->rows - r0 : step_all;
        const char *xd = static_cast<const char *>(x->data) + r0 * x->row_stride * es;
        char *yd = static_cast<char *>(y->data) + r0 * y->row_stride * es;
        DeviceView xv(&call, xd, type, n, x->cols, x->row_stride, 2);
        DeviceView yv(&call, yd, type, n, x->cols, y->row_stride, 2);
        // A weight-less kernel never reads its weight: x's first row serves as a valid buffer.
        DeviceView wv(&call, has_weight ? weight : x->data, type, 1, x->cols, x->cols, 1);
        DeviceView iv(&call, reinterpret_cast<const void *>(inv + r0 * sizeof(float)),
                      halide_type_t(halide_type_float, 32), 1, n, n, 1);
        if (!xv.wrapped || !yv.wrapped || !wv.wrapped || !iv.wrapped) {
            rc = -1;
            break;
        }
        if (!fused) {
            rc = reinterpret_cast<RmsNormFn>(k->fn)(&call, p->eps, &xv.buf, &wv.buf, &iv.buf, &yv.buf);
        } else {
            char *rd = static_cast<char *>(residual->data) + r0 * residual->row_stride * es;
            DeviceView rv(&call, rd, type, n, x->cols, residual->row_stride, 2);
            DeviceView rout(&call, rd, type, n, x->cols, residual->row_stride, 2);
            if (!rv.wrapped || !rout.wrapped) {
                rc = -1;
                break;
            }
            rc = reinterpret_cast<RmsNormResidualFn>(k->fn)(&call, p->eps, &xv.buf, &rv.buf, &wv.buf,
                                                             &iv.buf, &yv.buf, &rout.buf);
        }
    }
    if (rc != 0)
        return fail(NF_DEVICE_ERROR, "%s: CUDA kernel %s failed: %s", fn, k->name,
                    call.halide_error[0] ? call.halide_error : "could not wrap a device pointer");
    return NF_OK;
}

}  // namespace

// The Halide runtime's CUDA module looks up driver functions through this hook; its default
// opens "libcuda.so", which machines with only the driver (no toolkit) lack.
extern "C" void *halide_cuda_get_symbol(void *, const char *name) {
    void *lib = cuda_driver_library();
    return lib == nullptr ? nullptr : dlsym(lib, name);
}

extern "C" int nf_cuda_available(void) { return cuda_driver() != nullptr ? 1 : 0; }

extern "C" nf_status nf_cuda_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                      nf_matrix *y, float *inv_rms, void *stream) {
    return cuda_normalize("nf_cuda_rms_norm", NF_OP_RMS_NORM, x, nullptr, weight, p, y, inv_rms, stream);
}

extern "C" nf_status nf_cuda_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                                               const nf_norm_params *p, nf_matrix *y, float *inv_rms,
                                               void *stream) {
    return cuda_normalize("nf_cuda_rms_norm_residual", NF_OP_RMS_NORM_RESIDUAL, x, residual, weight, p, y,
                          inv_rms, stream);
}

#else  // no CUDA kernels in this build

namespace {
nf_status no_cuda(const char *fn, const nf_matrix *x, nf_matrix *residual, const void *weight,
                  const nf_norm_params *p, nf_matrix *y, float *inv_rms) {
    if (nf_status s = check_norm_call(fn, x, residual != nullptr, residual, weight, p, y, inv_rms)) return s;
    return fail(NF_DEVICE_ERROR, "%s: this build of NormForge has no CUDA kernels (built for AArch64 or with "
                                 "NF_CUDA=OFF)", fn);
}
}  // namespace

extern "C" int nf_cuda_available(void) { return 0; }

extern "C" nf_status nf_cuda_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                                      nf_matrix *y, float *inv_rms, void *) {
    return no_cuda("nf_cuda_rms_norm", x, nullptr, weight, p, y, inv_rms);
}

extern "C" nf_status nf_cuda_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                                               const nf_norm_params *p, nf_matrix *y, float *inv_rms, void *) {
    if (residual == nullptr) {
        return fail(NF_INVALID_ARGUMENT, "nf_cuda_rms_norm_residual: residual is NULL");
    }
    return no_cuda("nf_cuda_rms_norm_residual", x, residual, weight, p, y, inv_rms);
}

#endif
