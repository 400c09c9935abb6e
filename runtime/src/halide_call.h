// Building halide_buffer_t views over the caller's memory (no copies) and choosing a kernel.
#pragma once

#include <cstdint>

#include "HalideRuntime.h"
#include "kernel_table.h"
#include "normforge/normforge.h"

namespace normforge {

inline halide_type_t halide_type_of_dtype(nf_dtype d) {
    switch (d) {
    case NF_F16: return halide_type_t(halide_type_float, 16);
    case NF_BF16: return halide_type_t(halide_type_bfloat, 16);
    case NF_F32: break;
    }
    return halide_type_t(halide_type_float, 32);
}

// A 2-D view: dim 0 = columns (stride 1), dim 1 = rows (stride row_stride). (Inline, as is the
// 1-D one: built on every call.)
struct MatrixView {
    halide_dimension_t dims[2];
    halide_buffer_t buf;
    MatrixView(void *data, nf_dtype dtype, int64_t rows, int64_t cols, int64_t row_stride)
        : dims{{0, static_cast<int32_t>(cols), 1, 0},
               {0, static_cast<int32_t>(rows), static_cast<int32_t>(row_stride), 0}},
          buf{} {
        buf.host = static_cast<uint8_t *>(data);
        buf.type = halide_type_of_dtype(dtype);
        buf.dimensions = 2;
        buf.dim = dims;
    }
};

// A 1-D dense view of n elements.
struct VectorView {
    halide_dimension_t dim;
    halide_buffer_t buf;
    VectorView(const void *data, halide_type_t type, int64_t n) : dim{0, static_cast<int32_t>(n), 1, 0}, buf{} {
        buf.host = static_cast<uint8_t *>(const_cast<void *>(data));
        buf.type = type;
        buf.dimensions = 1;
        buf.dim = &dim;
    }
};

// Shape classes (each has its own kernel and db knobs):
//   small:  rows * cols <= kSmallCallElements; runs on the calling thread (decode);
//   large:  output of at least kLargeCallBytes, larger than what stays in cache for the next op;
//           tiles + streaming stores when the stream_rows knob is set;
//   medium: everything between.
constexpr int64_t kSmallCallElements = 65536;
constexpr int64_t kLargeCallBytes = int64_t(16) << 20;
KernelClass shape_class_of(int64_t rows, int64_t cols, size_t elem_size);

// Rows per kernel call: the runtime splits taller calls (rows are independent).
constexpr int64_t kMaxRowsPerCall = int64_t(1) << 30;

// A 64-byte aligned buffer of at least `bytes`, owned by the calling thread and reused across
// calls (freed when the thread exits). nullptr when out of memory.
void *thread_scratch(size_t bytes);

// What nf_set_num_threads last set (0: all cores). With one thread, medium calls run the
// small class's serial kernel: the thread pool only adds overhead then (the kernels of all
// classes compute the same bits).
void set_thread_count(int n);
int thread_count();  // what nf_set_num_threads set, else the online cores (at least 1)
bool single_threaded();

// The kernel for this op/dtype/variant/shape, or nullptr. bias: LayerNorm's (0/1), else 0. The
// backward kernels have the one class "block" whatever the shape.
const KernelEntry *find_kernel(KernelOp op, nf_dtype dtype, nf_weight_mode w, nf_rounding r, int bias,
                               int64_t rows, int64_t cols);
// The bf16 pair kernel (bf16_pairs.h) for a bf16 call of this shape, or nullptr (none compiled).
const KernelEntry *find_pairs_kernel(KernelOp op, nf_weight_mode w, nf_rounding r, int64_t rows, int64_t cols);
// A kernel that runs on the calling thread only, for the row driver's tasks: k itself if it is
// (the small class, and the large class where it streams y out of tiles: stream_rows requires
// parallel = 0), else the small-class kernel of the same op, dtype and variant (nullptr if none).
const KernelEntry *serial_kernel(const KernelEntry *k);

}  // namespace normforge
