// Which of the compiled x86-64 feature levels a CPU can run, from its CPUID and XCR0 bits: a
// pure function, so tests can feed it the registers of CPUs they do not run on.
//
// Why the runtime decides this itself: Halide 21's runtime does not list avx512_zen4 among the
// features it knows, so its multi-target wrapper accepts the zen4 kernels on *any* x86 CPU
// (SIGILL on Zen 2, Skylake-X, ...); and it never reads XCR0, so it would also accept AVX-512
// where the OS has not enabled the ZMM state. Each level below requires what the code Halide
// compiles for it may use (its LLVM -mcpu: penryn, haswell, skylake-avx512, znver4,
// sapphirerapids), plus the OS-enabled register state.
#pragma once

#include <stdint.h>

namespace normforge {

// The registers the decision reads (0 where a leaf does not exist).
struct X86CpuidBits {
    uint32_t leaf1_ecx = 0;       // CPUID(1).ECX
    uint32_t leaf7_ebx = 0;       // CPUID(7, 0).EBX
    uint32_t leaf7_ecx = 0;       // CPUID(7, 0).ECX
    uint32_t leaf7_edx = 0;       // CPUID(7, 0).EDX
    uint32_t leaf7_1_eax = 0;     // CPUID(7, 1).EAX
    uint32_t ext1_ecx = 0;        // CPUID(0x80000001).ECX
    uint64_t xcr0 = 0;            // XGETBV(0), when CPUID(1).ECX.OSXSAVE
    bool intel = false;           // CPUID(0) vendor "GenuineIntel" (large_calls.cpp's auto rule)
};

// Levels as in cpu_variant.cpp: 0 sse41, 1 avx2, 2 avx512_skylake, 3 avx512_zen4,
// 4 avx512_sapphirerapids; -1: not even the SSE4.1 level.
inline int x86_level_from_cpuid(const X86CpuidBits &b) {
    auto all = [](uint64_t have, uint64_t want) { return (have & want) == want; };
    auto bit = [](int i) { return uint64_t(1) << i; };
    // penryn: SSSE3, SSE4.1.
    if (!all(b.leaf1_ecx, bit(9) | bit(19))) return -1;
    // haswell: FMA, MOVBE, POPCNT, OSXSAVE, AVX, F16C; AVX2, BMI1, BMI2; LZCNT; the OS saves
    // XMM and YMM state.
    const bool avx2 = all(b.leaf1_ecx, bit(12) | bit(22) | bit(23) | bit(27) | bit(28) | bit(29)) &&
                      all(b.leaf7_ebx, bit(3) | bit(5) | bit(8)) && all(b.ext1_ecx, bit(5)) &&
                      all(b.xcr0, bit(1) | bit(2));
    if (!avx2) return 0;
    // skylake-avx512: AVX512 F, DQ, CD, BW, VL; the OS saves opmask and ZMM state.
    const bool skx = all(b.leaf7_ebx, bit(16) | bit(17) | bit(28) | bit(30) | bit(31)) &&
                     all(b.xcr0, bit(5) | bit(6) | bit(7));
    if (!skx) return 1;
    // znver4: IFMA; VBMI, VBMI2, GFNI, VAES, VPCLMULQDQ, VNNI, BITALG, VPOPCNTDQ; BF16.
    const bool zen4 = all(b.leaf7_ebx, bit(21)) &&
                      all(b.leaf7_ecx, bit(1) | bit(6) | bit(8) | bit(9) | bit(10) | bit(11) | bit(12) | bit(14)) &&
                      all(b.leaf7_1_eax, bit(5));
    if (!zen4) return 2;
    // sapphirerapids: AVX-VNNI, AVX512-FP16 (the AMX tile state is never used by these kernels).
    const bool spr = all(b.leaf7_1_eax, bit(4)) && all(b.leaf7_edx, bit(23));
    return spr ? 4 : 3;
}

// This CPU's registers (x86-64 builds only; defined in cpu_variant.cpp).
X86CpuidBits read_x86_cpuid();

}  // namespace normforge
