/* NormForge: RMSNorm (and LayerNorm) kernels compiled ahead of time with Halide, behind one C ABI.
 *
 * Every function checks its arguments before doing any work. On failure it returns a status
 * other than NF_OK, writes no output byte, and nf_last_error() says what was wrong.
 * Nothing in this library aborts the host process. All functions are thread-safe. */
#ifndef NORMFORGE_NORMFORGE_H
#define NORMFORGE_NORMFORGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NF_OK = 0,
    NF_INVALID_ARGUMENT = 1, /* a pointer, size, stride, enum or eps the call cannot accept */
    NF_UNSUPPORTED = 2,      /* valid, but not something this build can do */
    NF_DEVICE_ERROR = 3,     /* no usable device (GPU) or a device failure */
    NF_INTERNAL_ERROR = 4    /* a kernel failed (out of memory, ...) */
} nf_status;

typedef enum { NF_F32 = 0, NF_F16 = 1, NF_BF16 = 2 } nf_dtype;
typedef enum { NF_WEIGHT_NONE = 0, NF_WEIGHT_SCALE = 1, NF_WEIGHT_ONE_PLUS = 2 } nf_weight_mode;
typedef enum { NF_ROUND_ONCE = 0, NF_ROUND_LLAMA = 1 } nf_rounding;

/* A row-major matrix: row r starts at element r * row_stride (row_stride >= cols). */
typedef struct {
    void *data;
    nf_dtype dtype;
    int64_t rows, cols, row_stride;
} nf_matrix;

typedef struct {
    float eps;                  /* >= 0 and finite */
    nf_weight_mode weight_mode; /* y = x * inv_rms * w' with w' = 1, w, or 1 + w (Gemma) */
    nf_rounding rounding;       /* ONCE: fp32 weight multiply, one rounding (PyTorch);
                                   LLAMA: round x * inv_rms to the dtype, then multiply by w' in
                                   the dtype (Hugging Face Llama) */
} nf_norm_params;

/* RMSNorm of every row: inv_rms = 1 / sqrt(mean(x^2) + eps), accumulated in fp32.
   weight: cols elements of x's dtype, NULL when weight_mode is NONE.
   y: same dtype and shape as x; may be exactly x (in place); must not partially overlap x.
   inv_rms: NULL, or rows floats receiving 1/sqrt(mean(x^2)+eps).
   rows == 0 is a successful no-op. A row's result does not depend on the other rows of the
   call or on the thread count. */
nf_status nf_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                      nf_matrix *y, float *inv_rms);

/* Fused residual add + RMSNorm (vLLM's fused_add_rms_norm), one pass over memory:
   s = x + residual; residual <- s rounded to the dtype; y <- rms_norm(s). The statistic is
   computed from the rounded s (what is stored in residual). residual: x's dtype and shape,
   updated in place, must not overlap x, y, weight or inv_rms. y may be exactly x. Same checks,
   messages and "nothing written on failure" rule as nf_rms_norm. */
nf_status nf_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                               const nf_norm_params *p, nf_matrix *y, float *inv_rms);

/* LayerNorm of every row: y = (x - mean) * inv_std * w + b, mean and inv_std = 1/sqrt(var + eps)
   in fp32 (var: the biased variance, summed as squared deviations from the mean, so rows with a
   large mean lose no precision). weight, bias: NULL or cols elements of x's dtype (each NULL
   means no scale / no shift). y: x's dtype and shape; may be exactly x. mean, inv_std: NULL, or
   rows floats. eps >= 0 and finite. Same checks, messages and "nothing written on failure" rule
   as nf_rms_norm; a row's result does not depend on the other rows or on the thread count. */
nf_status nf_layer_norm(const nf_matrix *x, const void *weight, const void *bias, float eps,
                        nf_matrix *y, float *mean, float *inv_std);

/* RMSNorm backward. Given dy (the gradient of y), the forward's input x, weight and params, and
   the inv_rms (rows floats) the forward pass wrote:
     dx = inv_rms * g - x * inv_rms^3 * sum(g * x) / cols,  g = dy * w'  (w' = 1, w, or 1 + w)
     dweight[c] = sum over rows of dy * x * inv_rms      (the same for SCALE and ONE_PLUS)
   dy, x, dx: same dtype and shape; dx may be exactly dy or x. dweight: NULL (not computed), or
   cols floats, overwritten; must be NULL when weight_mode is NONE. All sums are fp32. dweight is
   bitwise identical for any thread count and any machine load (rows are summed in blocks of 128
   in order, and the blocks by a fixed tree). params->eps is not used (inv_rms carries it) but
   must be valid; both rounding orders have the same gradient. rows == 0: dweight, if given (and
   cols > 0), is set to zeros. */
nf_status nf_rms_norm_backward(const nf_matrix *dy, const nf_matrix *x, const void *weight,
                               const nf_norm_params *p, const float *inv_rms, nf_matrix *dx,
                               float *dweight);

/* ---- CUDA (x86-64 builds). All matrix/vector pointers are DEVICE pointers (cudaMalloc,
   cuMemAlloc, managed or host-registered memory); the call only enqueues work.
   The kernels run on the calling thread's current CUDA context (if none is current: the context
   that owns x's memory) and on `stream` (a cudaStream_t/CUstream of that context; NULL = the
   context's default stream), asynchronously: synchronize the stream before reading y on the
   host. The NVIDIA driver (libcuda.so.1) is loaded at run time; no CUDA toolkit is needed to
   link. Same semantics, checks, messages and "nothing written on failure" rule as the CPU
   functions; in addition each pointer must lie entirely inside one device allocation (a host
   pointer or a too-small buffer is NF_INVALID_ARGUMENT, not a device fault). Without a driver
   or device: NF_DEVICE_ERROR. Any alignment works for the forward ops; rows starting on 8-byte
   boundaries (pointers and row strides in bytes multiples of 8) get the faster kernels. The primary context of each
   device used is retained until the process exits (as the CUDA runtime API does). */

/* 1 if the NVIDIA driver loads and has at least one device, else 0. Never aborts. */
int nf_cuda_available(void);
/* nf_rms_norm on the GPU. inv_rms: NULL or rows floats in device memory. */
nf_status nf_cuda_rms_norm(const nf_matrix *x, const void *weight, const nf_norm_params *p,
                           nf_matrix *y, float *inv_rms, void *stream);
/* nf_rms_norm_residual on the GPU (residual is updated in place). */
nf_status nf_cuda_rms_norm_residual(const nf_matrix *x, nf_matrix *residual, const void *weight,
                                    const nf_norm_params *p, nf_matrix *y, float *inv_rms,
                                    void *stream);
/* nf_layer_norm on the GPU. mean, inv_std: NULL or rows floats in device memory. */
nf_status nf_cuda_layer_norm(const nf_matrix *x, const void *weight, const void *bias, float eps,
                             nf_matrix *y, float *mean, float *inv_std, void *stream);
/* nf_rms_norm_backward on the GPU. inv_rms: rows floats, dweight: NULL or cols floats, in
   device memory. dweight is summed in the CPU function's order (blocks of 128 rows in row
   order, the same pairwise tree; no atomics) and has the same bits on every call; the GPU may
   fuse a product into its add, so it can differ from the CPU's in the last bits. With more than
   128 rows it needs ceil(rows / 128) x cols floats of device scratch, allocated on the stream.
   Rows on 8-byte boundaries (dy, x, dx, weight and row strides in bytes multiples of 8) are
   read and written in place; other rows are staged through device scratch with aligned rows
   (copies on the stream, pieces of at most ~64 MiB per matrix). */
nf_status nf_cuda_rms_norm_backward(const nf_matrix *dy, const nf_matrix *x, const void *weight,
                                    const nf_norm_params *p, const float *inv_rms, nf_matrix *dx,
                                    float *dweight, void *stream);

/* Message of the last failed call on this thread ("" if none failed yet). */
const char *nf_last_error(void);
/* Library version, e.g. "0.1.0". */
const char *nf_version(void);
/* The compiled feature level that runs on this CPU: on x86-64 "avx512_sapphirerapids",
   "avx512_zen4", "avx512_skylake", "avx2" or "sse41"; on AArch64 "arm64_neon_fp16" or
   "arm64_neon". */
const char *nf_cpu_variant(void);
/* Caps the feature level the kernels may use (process-wide): one of the names nf_cpu_variant()
   returns on this architecture, or NULL/"" for no cap. The environment variable
   NF_MAX_CPU_VARIANT sets the same cap at start-up. */
nf_status nf_limit_cpu_variant(const char *max_variant);
/* How nf_rms_norm runs calls too large to stay in cache (4 MiB of output and more, in rows of
   8 KiB and more), process-wide: "pipelined" (one kernel call per row that writes it while it
   sums the next: each row is read from memory once), "two_pass" (the row blocks' kernels, which
   re-read each row from cache and, in the large class in fp32 and fp16, stream the output past
   the cache), "two_pass_streamed" (two_pass for the calls whose kernel streams the output,
   pipelined for the others), or NULL/""/"auto" (the default: pipelined below the AVX-512
   feature levels; at them two_pass_streamed on Intel CPUs and two_pass on others; README
   "Large calls" gives the measurements). Results are bitwise the same in every mode. The
   environment variable NF_LARGE_CALLS sets the same at start-up (an unknown value there is
   ignored, as NF_MAX_CPU_VARIANT's). */
nf_status nf_set_large_calls(const char *mode);
/* The mode in effect now, auto resolved: "pipelined", "two_pass" or "two_pass_streamed". */
const char *nf_large_calls(void);
/* How the CPU ops (nf_rms_norm, nf_rms_norm_residual, nf_layer_norm) store y, process-wide:
   NULL/""/"auto" (the default: ordinary stores, so y stays in cache for the next op, except in
   calls of 16 MiB of output and more whose kernel streams it: README "Large calls") or
   "streaming" (every call's rows are normalized into a cache-resident buffer and written to y
   with non-temporal stores, which skip reading y's old contents but leave y out of cache:
   faster when x and y are not in cache and y is not read soon, slower when the next op reads
   y; README "Streaming output" gives the measurements). Results are bitwise the same in both
   modes. The environment variable NF_OUTPUT_STORES sets the same at start-up (an unknown value
   there is ignored). */
nf_status nf_set_output_stores(const char *mode);
/* The mode in effect now: "auto" or "streaming". */
const char *nf_output_stores(void);
/* Threads the kernels may use: n >= 1, or 0 for all cores. Process-wide. */
void nf_set_num_threads(int n);

/* Introspection (used by `normforge info`): the compiled kernels. Returns 0 past the end. */
typedef struct {
    const char *name;       /* kernel function name */
    const char *db_entry;   /* which schedules/db entry its knobs came from */
    const char *knobs;      /* the knob values, "k=v k=v" */
} nf_kernel_info;
int nf_get_kernel_info(int index, nf_kernel_info *out);
/* The x86 feature levels compiled into every kernel, most specific first. */
const char *nf_compiled_targets(void);

#ifdef __cplusplus
}
#endif

#endif /* NORMFORGE_NORMFORGE_H */
