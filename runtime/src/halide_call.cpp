#include "halide_call.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

namespace normforge {

namespace {

struct Scratch {
    size_t bytes;
    void *data;
};
pthread_key_t g_scratch_key;
pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

void free_scratch(void *p) {
    auto *s = static_cast<Scratch *>(p);
    free(s->data);
    free(s);
}

void make_scratch_key() { pthread_key_create(&g_scratch_key, &free_scratch); }

}  // namespace

void *thread_scratch(size_t bytes) {
    pthread_once(&g_scratch_once, &make_scratch_key);
    auto *s = static_cast<Scratch *>(pthread_getspecific(g_scratch_key));
    if (s == nullptr) {
        s = static_cast<Scratch *>(calloc(1, sizeof(Scratch)));
        if (s == nullptr || pthread_setspecific(g_scratch_key, s) != 0) {
            free(s);
            return nullptr;
        }
    }
    if (s->bytes < bytes) {
        free(s->data);
        s->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
        s->bytes = s->data ? bytes : 0;
    }
    return s->data;
}

namespace {
int g_thread_count = 0;  // written by nf_set_num_threads
int g_cores = 0;         // online cores, looked up once (0: not yet)
}  // namespace

void set_thread_count(int n) { __atomic_store_n(&g_thread_count, n, __ATOMIC_RELAXED); }

int thread_count() {
    const int n = __atomic_load_n(&g_thread_count, __ATOMIC_RELAXED);
    if (n > 0) return n;
    // No function-local static: its guard would need libstdc++, which the C API avoids.
    int cores = __atomic_load_n(&g_cores, __ATOMIC_RELAXED);
    if (cores == 0) {
        cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
        if (cores < 1) cores = 1;
        __atomic_store_n(&g_cores, cores, __ATOMIC_RELAXED);
    }
    return cores;
}

bool single_threaded() { return thread_count() == 1; }

KernelClass shape_class_of(int64_t rows, int64_t cols, size_t elem_size) {
    if (rows * cols <= kSmallCallElements) return NF_CLASS_small;
    if (rows * cols * static_cast<int64_t>(elem_size) >= kLargeCallBytes) return NF_CLASS_large;
    return NF_CLASS_medium;
}

namespace {

// The compiled kernel with exactly these fields, or nullptr.
const KernelEntry *table_entry(KernelOp op, KernelDtype kd, int weight, int rounding, int bias, KernelClass cls) {
    for (size_t i = 0; i < kNumKernels; i++) {
        const KernelEntry &k = kKernels[i];
        if (k.op == op && k.dtype == kd && k.weight == weight && k.rounding == rounding && k.bias == bias &&
            k.shape_class == cls)
            return &k;
    }
    return nullptr;
}

const KernelEntry *find_kernel_of(KernelOp op, KernelDtype kd, size_t elem_size, nf_weight_mode w, nf_rounding r,
                                  int bias, int64_t rows, int64_t cols) {
    // The HF-Llama order is the same computation as round-once for f32 and without a weight
    // (and for the other ops): those share one compiled kernel.
    if (kd == NF_f32 || w == NF_WEIGHT_NONE ||
        (op != NF_OP_RMS_NORM && op != NF_OP_RMS_NORM_RESIDUAL && op != NF_OP_RMS_NORM_PIPELINED))
        r = NF_ROUND_ONCE;
    const bool block = op == NF_OP_RMS_NORM_BACKWARD || op == NF_OP_RMS_NORM_DWEIGHT;
    KernelClass cls = block ? NF_CLASS_block : shape_class_of(rows, cols, elem_size);
    if (op == NF_OP_RMS_NORM_PIPELINED) cls = NF_CLASS_medium;  // its one class
    else if (cls == NF_CLASS_medium && single_threaded()) cls = NF_CLASS_small;
    return table_entry(op, kd, static_cast<int>(w), static_cast<int>(r), bias, cls);
}

}  // namespace

const KernelEntry *find_kernel(KernelOp op, nf_dtype dtype, nf_weight_mode w, nf_rounding r, int bias,
                               int64_t rows, int64_t cols) {
    return find_kernel_of(op, static_cast<KernelDtype>(dtype), dtype == NF_F32 ? 4 : 2, w, r, bias, rows, cols);
}

const KernelEntry *find_pairs_kernel(KernelOp op, nf_weight_mode w, nf_rounding r, int64_t rows, int64_t cols) {
    return find_kernel_of(op, NF_bf16p, 2, w, r, 0, rows, cols);
}

const KernelEntry *serial_kernel(const KernelEntry *k) {
    if (k->shape_class == NF_CLASS_small || (k->shape_class == NF_CLASS_large && k->stream_rows > 0)) return k;
    return table_entry(k->op, k->dtype, k->weight, k->rounding, k->bias, NF_CLASS_small);
}

}  // namespace normforge
