// Running the pipelined RMSNorm kernel (generators/rms_norm_pipelined_generator.cpp) over the
// rows of an nf_rms_norm call. Each kernel call normalizes one row with the statistic computed
// by the previous call and sums the next row meanwhile, so the rows are cut into chains of
// consecutive rows (one per task of the thread pool) and each chain is run in order:
//   call 0:  sums its first row (its output row goes to per-thread scratch and is dropped);
//   call i:  writes row i - 1 with that statistic, sums row i;
//   last:    writes the chain's last row (the row it sums is scratch, and dropped).
// In place (y == x) is safe: a call reads the row it writes and the next row, not yet written.
#pragma once

#include <cstdint>

#include "HalideRuntime.h"
#include "halide_call.h"
#include "kernel_table.h"
#include "large_calls.h"
#include "normforge/normforge.h"

namespace normforge {

// Which nf_rms_norm calls run the pipelined kernel: calls with an output of at least
// kPipelinedMinBytes (medium and large shape classes: halide_call.h), at least kPipelinedMinRows
// rows (a chain costs one extra row) and rows of at least kPipelinedMinRowBytes (each row is a
// kernel call, about 0.1 us: on shorter rows that would eat the gain). Measured on a Zen 2, same
// run, against the kernels these calls ran before:
// - smaller calls keep the two-pass kernels: their data is likely still in cache, and there the
//   two-pass loop, which re-reads each row from L1, is faster (pipelined 1.13-1.23x faster with
//   cold buffers at 1 thread, but 0.73-0.96x with 1-2 MiB cache-resident ones; at 4 MiB of x
//   and y each the two were even warm, and from 8 MiB on pipelined was 1.11-1.18x faster warm);
// - large calls (16 MiB of output and more): pipelined 1.11-1.18x faster than streaming fp32 y
//   out of tiles at 1 thread and 1.02-1.10x at 2, fp16 1.17-1.22x and 1.18-1.5x, bf16 (two-pass
//   on the thread pool) 0.98-1.06x and 1.00-1.08x. Large calls with shorter rows keep their
//   class's kernel.
constexpr int64_t kPipelinedMinRows = 4;
constexpr int64_t kPipelinedMinBytes = int64_t(4) << 20;
constexpr int64_t kPipelinedMinRowBytes = int64_t(8) << 10;
// Whether the two-pass kernel k, which a call large enough for the pipelined kernel would run
// otherwise, has a large-call gain of its own: it streams y out of tiles or prefetches the next
// row (its stream_rows and prefetch knobs). A small-class kernel runs such a call only on one
// thread, in place of the medium one; its prefetch is for calls below kPipelinedMinBytes and
// does not count (with it, 512x13824 bf16 at 1 thread was not faster two-pass than pipelined).
// k.prefetch is the family-wide knob: a flavour whose db member turns it off (the pair kernels'
// avx512_zen4 code) still counts as prefetching; only two_pass_streamed asks, the default on
// Intel CPUs, which do not run that code.
inline bool two_pass_gain(const KernelEntry &k) {
    return (k.stream_rows > 0 || k.prefetch) && k.shape_class != NF_CLASS_small;
}

// And only where the large-call mode (large_calls.h) says so; two_pass_gain: two_pass_gain() of
// the kernel the call would run otherwise.
inline bool use_pipelined(int64_t rows, int64_t cols, int64_t elem_size, bool two_pass_gain) {
    return rows >= kPipelinedMinRows && cols * elem_size >= kPipelinedMinRowBytes &&
           rows * cols * elem_size >= kPipelinedMinBytes && pipelined_large_call(two_pass_gain);
}

// Normalizes all rows of x into y; inv (rows floats) receives each row's statistic. weight: the
// kernel's weight buffer (a valid one-element buffer for weight-less kernels). On a kernel
// failure returns NF_INTERNAL_ERROR with a message naming `fn`.
nf_status run_pipelined_rows(const char *fn, const KernelEntry *kernel, const nf_matrix *x,
                             halide_buffer_t *weight, float eps, const nf_matrix *y, float *inv);

}  // namespace normforge
