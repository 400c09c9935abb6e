// How nf_rms_norm runs calls too large to stay in cache (pipelined_rows.h says which calls):
// with the pipelined kernel, which reads each row from memory once and writes y with ordinary
// stores, or with the shape class's two-pass kernels, which re-read each row from cache and,
// where the db's knobs say so, stream y out of cache-resident tiles (stream_rows: the large
// class in fp32 and fp16; row_driver.h) or prefetch the next row while writing this one
// (prefetch: the bf16 pair kernels' large class; schedules/next_row_prefetch.h; their small
// class prefetches too, but only medium and large calls count here). Which is
// faster depends on the machine more than on the shape (same run, cold buffers; README "Large
// calls"): on a Zen 2 (AVX2) pipelined was 1.11-1.18x faster in fp32; on a Zen 5 (AVX-512)
// two-pass was 1.22-1.28x faster in fp32 and 1.13-1.30x in bf16; on an Intel Xeon (Emerald
// Rapids, AVX-512) two-pass was faster where it streams y (fp32 large class) or prefetches
// (bf16 large: 1.17x) and pipelined elsewhere (fp32 calls of 4-16 MiB). So the modes are
// pipelined, two_pass and two_pass_streamed (two-pass only where its kernel streams y or
// prefetches the next row), and auto (the default) picks pipelined below AVX-512,
// two_pass_streamed on Intel's AVX-512 CPUs and two_pass on the others; nf_set_large_calls and
// the environment variable NF_LARGE_CALLS choose one for the whole process.
#pragma once

namespace normforge {

// Whether a call that is large enough for it (pipelined_rows.h) runs the pipelined kernel;
// two_pass_gain: whether the two-pass kernel it would run otherwise has a large-call gain of its
// own, i.e. streams y out of tiles (stream_rows > 0) or prefetches the next row (prefetch = 1).
bool pipelined_large_call(bool two_pass_gain);

// Whether the kernels run at an AVX-512 feature level (the CPU's, capped by
// nf_limit_cpu_variant); defined in cpu_variant.cpp, false on AArch64.
bool avx512_level();

// Whether this is an x86-64 CPU whose CPUID vendor is GenuineIntel; defined in cpu_variant.cpp,
// false on AArch64.
bool intel_cpu();

}  // namespace normforge
