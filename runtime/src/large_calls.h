// How nf_rms_norm runs calls too large to stay in cache (pipelined_rows.h says which calls):
// with the pipelined kernel, which reads each row from memory once and writes y with ordinary
// stores, or with the shape class's two-pass kernels, which re-read each row from cache and, in
// fp32 and fp16, stream y out of cache-resident tiles (row_driver.h). Which is faster depends on
// the machine more than on the shape (same run, 1 thread, cold buffers, 4096x4096 and
// 65536x4096): on a Zen 2 (AVX2) pipelined was 1.11-1.18x faster in fp32; on a Zen 5 (AVX-512)
// two-pass was 1.22-1.28x faster in fp32 and 1.13-1.30x in bf16 (2 threads: 1.09-1.28x and
// 1.10-1.20x), where streaming stores copy 1.2-1.25x faster than glibc's memcpy. So by default
// (auto) the AVX-512 levels run two-pass and the others pipelined; nf_set_large_calls and the
// environment variable NF_LARGE_CALLS choose either for the whole process.
#pragma once

namespace normforge {

// Whether a call that is large enough for it runs the pipelined kernel.
bool pipelined_large_calls();

// Whether the kernels run at an AVX-512 feature level (the CPU's, capped by
// nf_limit_cpu_variant); defined in cpu_variant.cpp, false on AArch64.
bool avx512_level();

}  // namespace normforge
