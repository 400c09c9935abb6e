#include "cuda_call.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

namespace normforge {
namespace {

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
        if (r == kCudaErrorInvalidValue)  // the driver does not know the address: host memory
            return fail(NF_INVALID_ARGUMENT, "%s: x is not CUDA device memory (%s)", fn, cuda_error_name(r));
        if (r != kCudaSuccess || ctx == nullptr)
            return fail(NF_DEVICE_ERROR,
                        "%s: no current CUDA context on this thread, and x->data does not belong to "
                        "one (%s): make the context that owns the device pointers current",
                        fn, cuda_error_name(r));
    }
    *out = ctx;
    return NF_OK;
}

// The Halide runtime caches each kernel's loaded module per context handle. A context that is
// destroyed and created again may get the same handle, and the cached module would then belong
// to a dead context (CUDA_ERROR_INVALID_HANDLE, found on an H200 when a test released the
// primary context between calls). Two defences, under one lock:
//  * the primary context of a device NormForge ran on is retained for the life of the process
//    (as the CUDA runtime API does), so it is never destroyed and re-created under us;
//  * every other context is told apart by its unique id (cuCtxGetId, CUDA 12): a handle seen
//    again with a new id first has its cached modules dropped (halide_device_release).
pthread_mutex_t g_context_lock = PTHREAD_MUTEX_INITIALIZER;
constexpr int kMaxDevices = 64;
bool g_primary_retained[kMaxDevices];
struct SeenContext {
    CUcontext handle;
    unsigned long long id;
};
SeenContext g_seen[256];
int g_num_seen = 0;

// With `ctx` current. Returns true when ctx's handle was seen before with another id.
bool note_context(const CudaDriver *d, CUcontext ctx) {
    pthread_mutex_lock(&g_context_lock);
    CUdevice dev = 0;
    unsigned flags = 0;
    int active = 0;
    if (d->cuCtxGetDevice(&dev) == kCudaSuccess && dev >= 0 && dev < kMaxDevices && !g_primary_retained[dev] &&
        d->cuDevicePrimaryCtxGetState(dev, &flags, &active) == kCudaSuccess && active) {
        CUcontext primary = nullptr;
        if (d->cuDevicePrimaryCtxRetain(&primary, dev) == kCudaSuccess) {
            if (primary == ctx) g_primary_retained[dev] = true;  // kept: never released
            else d->cuDevicePrimaryCtxRelease(dev);
        }
    }
    bool recreated = false;
    unsigned long long id = 0;
    if (d->cuCtxGetId != nullptr && d->cuCtxGetId(ctx, &id) == kCudaSuccess) {
        int i = 0;
        while (i < g_num_seen && g_seen[i].handle != ctx) i++;
        if (i < g_num_seen) {
            recreated = g_seen[i].id != id;
            g_seen[i].id = id;
        } else if (g_num_seen < 256) {
            g_seen[g_num_seen++] = {ctx, id};
        } else {
            g_seen[id % 256] = {ctx, id};  // full: forget one (at worst a later purge is missed)
        }
    }
    pthread_mutex_unlock(&g_context_lock);
    return recreated;
}

// `name` must lie entirely inside one device allocation (cudaMalloc, cuMemAlloc, managed or
// host-registered memory): a host pointer or a too-small buffer is reported here instead of
// faulting on the device (which would leave the caller's context unusable).
nf_status check_device_span(const char *fn, const CudaDriver *d, const char *name, Span s) {
    if (s.begin == s.end) return NF_OK;
    CUdeviceptr p = reinterpret_cast<CUdeviceptr>(s.begin), start = 0;
    size_t size = 0;
    CUresult r;
    if (d->cuPointerGetAttributes != nullptr) {  // one driver call for both
        int attrs[2] = {kPointerAttrRangeStart, kPointerAttrRangeSize};
        void *data[2] = {&start, &size};
        r = d->cuPointerGetAttributes(2, attrs, data, p);
        if (r == kCudaSuccess && size == 0) r = kCudaErrorInvalidValue;  // not known to the driver
    } else {
        r = d->cuPointerGetAttribute(&start, kPointerAttrRangeStart, p);
        if (r == kCudaSuccess) r = d->cuPointerGetAttribute(&size, kPointerAttrRangeSize, p);
    }
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

// The kernel's value of an integer knob ("k=v" in its knob text), or `otherwise`.
int knob_value(const KernelEntry &k, const char *name, int otherwise) {
    const size_t n = strlen(name);
    for (const char *p = k.knobs; (p = strstr(p, name)) != nullptr; p += n) {
        if ((p == k.knobs || p[-1] == ' ') && p[n] == '=') return atoi(p + n + 1);
    }
    return otherwise;
}

// Without an opt-in (which the Halide runtime does not make), a block may use 48 KiB of
// dynamic shared memory. The staged kernels keep a little more than their rows there (the row
// sum's per-chunk lane sums, 256 bytes a chunk, LayerNorm's shift), so rows get 44 KiB.
constexpr int64_t kSharedBytesPerBlock = 48 * 1024;
constexpr int64_t kSharedBytesForRows = kSharedBytesPerBlock - 4 * 1024;


// The compute capability (major * 10 + minor) of the current context's device, or 0; capped
// by NF_CUDA_MAX_CAPABILITY (e.g. "70": run the baseline kernels on a newer GPU, for tests).
// A device's capability is queried once (it cannot change).
int g_device_cc[kMaxDevices];

int current_device_cc(const CudaDriver *d) {
    CUdevice dev = 0;
    int major = 0, minor = 0;
    if (d->cuCtxGetDevice(&dev) != kCudaSuccess) return 0;
    const bool cacheable = dev >= 0 && dev < kMaxDevices;
    int cc = cacheable ? __atomic_load_n(&g_device_cc[dev], __ATOMIC_RELAXED) : 0;
    if (cc == 0) {
        if (d->cuDeviceGetAttribute(&major, kDeviceAttrCcMajor, dev) != kCudaSuccess ||
            d->cuDeviceGetAttribute(&minor, kDeviceAttrCcMinor, dev) != kCudaSuccess)
            return 0;
        cc = major * 10 + minor;
        if (cacheable) __atomic_store_n(&g_device_cc[dev], cc, __ATOMIC_RELAXED);
    }
    const char *cap = getenv("NF_CUDA_MAX_CAPABILITY");
    if (cap != nullptr && atoi(cap) > 0 && atoi(cap) < cc) cc = atoi(cap);
    return cc;
}

}  // namespace

const KernelEntry *find_cuda_kernel(KernelOp op, nf_dtype dtype, nf_weight_mode w, nf_rounding r, int bias,
                                    int64_t cols, bool aligned, int device_cc) {
    // One compiled kernel where the orders agree (see find_kernel).
    if (dtype == NF_F32 || w == NF_WEIGHT_NONE || (op != NF_OP_RMS_NORM && op != NF_OP_RMS_NORM_RESIDUAL))
        r = NF_ROUND_ONCE;
    const char *env = getenv("NF_CUDA_STAGE");
    const bool may_stage = env == nullptr || strcmp(env, "0") != 0;
    const KernelEntry *plain = nullptr, *staged = nullptr, *unaligned = nullptr;
    for (size_t i = 0; i < kNumKernels; i++) {
        const KernelEntry &k = kKernels[i];
        if (k.op != op || k.dtype != static_cast<int>(dtype) || k.weight != static_cast<int>(w) ||
            k.rounding != static_cast<int>(r) || k.bias != bias || k.min_cc == 0 || k.min_cc > device_cc)
            continue;
        const KernelEntry **slot = k.shape_class == NF_CLASS_gpu_staged      ? &staged
                                   : k.shape_class == NF_CLASS_gpu_unaligned ? &unaligned
                                                                             : &plain;
        if (*slot == nullptr || (*slot)->min_cc < k.min_cc) *slot = &k;
    }
    if (!aligned) return unaligned;
    if (staged != nullptr && may_stage) {
        const int64_t rows_per_block = knob_value(*staged, "rows_per_block", 32);
        const int64_t inputs = op == NF_OP_RMS_NORM_BACKWARD ? 2 : 1;  // dy and x
        if (inputs * rows_per_block * cols * static_cast<int64_t>(dtype_size(dtype)) <= kSharedBytesForRows)
            return staged;
    }
    return plain;
}

ScopedContext::ScopedContext(const CudaDriver *drv, CUcontext ctx) : d(drv) {
    d->cuCtxGetCurrent(&previous);
    if (previous != ctx) switched = d->cuCtxSetCurrent(ctx) == kCudaSuccess;
}

ScopedContext::~ScopedContext() {
    if (switched) d->cuCtxSetCurrent(previous);
}

DeviceView::DeviceView(void *uc, const void *data, halide_type_t type, int64_t rows, int64_t cols,
                       int64_t stride, int dimensions)
    : dims{{0, static_cast<int32_t>(cols), 1, 0},
           {0, static_cast<int32_t>(rows), static_cast<int32_t>(stride), 0}},
      buf{}, user_context(uc) {
    buf.type = type;
    buf.dimensions = dimensions;
    buf.dim = dims;
    wrapped = halide_cuda_wrap_device_ptr(uc, &buf, reinterpret_cast<uint64_t>(data)) == 0;
}

DeviceView::~DeviceView() {
    if (wrapped) halide_cuda_detach_device_ptr(user_context, &buf);
}

DeviceView DeviceView::rows(void *uc, const nf_matrix *m, int64_t r0, int64_t n) {
    const char *start = static_cast<const char *>(m->data) +
                        r0 * m->row_stride * static_cast<int64_t>(dtype_size(m->dtype));
    return DeviceView(uc, start, halide_type_of_dtype(m->dtype), n, m->cols, m->row_stride, 2);
}

DeviceView DeviceView::row_floats(void *uc, CUdeviceptr base, int64_t r0, int64_t n) {
    // 1 x n: the CUDA kernels' per-row outputs have a unit first dimension.
    return DeviceView(uc, reinterpret_cast<const void *>(base + r0 * sizeof(float)),
                      halide_type_t(halide_type_float, 32), n, 1, 1, 2);
}

// A NULL stream means the current context's default stream, so ctx is made current around the
// allocation and the free.
CUresult DeviceScratch::alloc(size_t bytes) {
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

DeviceScratch::~DeviceScratch() {
    if (ptr == 0) return;
    ScopedContext scope(d, ctx);
    if (async) {
        d->cuMemFreeAsync(ptr, stream);
    } else {
        d->cuStreamSynchronize(stream);  // the kernel may still be using it
        d->cuMemFree(ptr);
    }
}

nf_status cuda_driver_or_fail(const char *fn, const CudaDriver **out) {
    const char *why = nullptr;
    *out = cuda_driver(&why);
    if (*out == nullptr) return fail(NF_DEVICE_ERROR, "%s: CUDA is not available: %s", fn, why);
    return NF_OK;
}

nf_status prepare_cuda_call(const char *fn, const CudaDriver *d, KernelOp op, nf_dtype dtype, nf_weight_mode w,
                            nf_rounding r, int bias, int64_t cols, const void *x_data, const NamedSpan *spans,
                            int num_spans, void *stream, CudaCall *out) {
    CUcontext ctx = nullptr;
    if (nf_status s = choose_context(fn, d, x_data, &ctx)) return s;
    bool aligned = true;
    for (int i = 0; i < num_spans; i++) aligned = aligned && spans[i].aligned8;
    bool recreated = false;
    {
        // Device and pointer queries need the context current (the caller's is restored).
        ScopedContext scope(d, ctx);
        const int device_cc = current_device_cc(d);
        out->device_cc = device_cc;
        out->aligned = aligned;
        out->kernel = find_cuda_kernel(op, dtype, w, r, bias, cols, aligned, device_cc);
        if (out->kernel == nullptr)
            return fail(NF_UNSUPPORTED, "%s: no CUDA kernel for this dtype and variant on a device of compute "
                        "capability %d.%d (the kernels need 7.0 or newer)", fn, device_cc / 10, device_cc % 10);
        for (int i = 0; i < num_spans; i++)
            if (nf_status s = check_device_span(fn, d, spans[i].name, spans[i].span)) return s;
        recreated = note_context(d, ctx);
    }
    install_halide_handlers();
    pthread_once(&g_hooks_once, &install_hooks);
    out->d = d;
    out->context.context = ctx;
    out->context.stream = static_cast<CUstream>(stream);
    if (recreated) {
        // Drops the Halide runtime's modules cached for the dead context of the same handle.
        halide_device_release(&out->context, halide_cuda_device_interface());
        out->context.halide_error[0] = '\0';
    }
    return NF_OK;
}

int64_t rows_per_launch(const nf_matrix *m) {
    const int64_t kMaxElements = (int64_t(1) << 31) - 1;
    int64_t n = (kMaxElements - m->cols) / m->row_stride + 1;
    return n < 1 ? 1 : n;
}

int64_t launch_rows(const nf_matrix *a, const nf_matrix *b, const nf_matrix *c) {
    int64_t n = rows_per_launch(a);
    for (const nf_matrix *m : {b, c})
        if (m != nullptr && rows_per_launch(m) < n) n = rows_per_launch(m);
    return n;
}

bool rows_aligned8(const nf_matrix *m) {
    if (m == nullptr) return true;
    const int64_t stride_bytes = m->row_stride * static_cast<int64_t>(dtype_size(m->dtype));
    return reinterpret_cast<uintptr_t>(m->data) % 8 == 0 && stride_bytes % 8 == 0;
}

bool aligned8(const void *p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; }

nf_status kernel_failure(const char *fn, const CudaCall &c) {
    return fail(NF_DEVICE_ERROR, "%s: CUDA kernel %s failed: %s", fn, c.kernel->name,
                c.context.halide_error[0] ? c.context.halide_error : "could not wrap a device pointer");
}

}  // namespace normforge

// The Halide runtime's CUDA module looks up driver functions through this hook; its default
// opens "libcuda.so", which machines with only the driver (no toolkit) lack.
extern "C" void *halide_cuda_get_symbol(void *, const char *name) {
    void *lib = normforge::cuda_driver_library();
    return lib == nullptr ? nullptr : dlsym(lib, name);
}

extern "C" int nf_cuda_available(void) { return normforge::cuda_driver() != nullptr ? 1 : 0; }
