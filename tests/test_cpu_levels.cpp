// The x86-64 feature level the dispatch may run (runtime/src/x86_levels.h), from the CPUID and
// XCR0 bits of CPUs this machine is not, and the level actually dispatched on this machine.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "normforge/normforge.h"

#if !defined(__aarch64__)
#include <cpuid.h>

#include "runtime/src/x86_levels.h"

namespace {

using normforge::X86CpuidBits;
using normforge::x86_level_from_cpuid;

constexpr uint32_t bit(int i) { return uint32_t(1) << i; }

// An AVX2 machine: read off the development VM (AMD EPYC, Zen 2) on 2026-12-03.
X86CpuidBits zen2() {
    X86CpuidBits b;
    b.leaf1_ecx = 0xfff83203u;
    b.leaf7_ebx = 0x219c01abu;
    b.leaf7_ecx = 0x00400004u;
    b.leaf7_edx = 0x88000000u;
    b.ext1_ecx = 0x004003f3u;
    b.xcr0 = 0x7;
    return b;
}

// zen2() plus AVX-512 F/DQ/CD/BW/VL and the OS's opmask/ZMM state (Skylake-SP's level).
X86CpuidBits skylake_level() {
    X86CpuidBits b = zen2();
    b.leaf7_ebx |= bit(16) | bit(17) | bit(28) | bit(30) | bit(31);
    b.xcr0 = 0xe7;
    return b;
}

// Ice Lake-SP's additions: IFMA, VBMI, VBMI2, GFNI, VAES, VPCLMULQDQ, VNNI, BITALG, VPOPCNTDQ.
X86CpuidBits icelake_level() {
    X86CpuidBits b = skylake_level();
    b.leaf7_ebx |= bit(21);
    b.leaf7_ecx |= bit(1) | bit(6) | bit(8) | bit(9) | bit(10) | bit(11) | bit(12) | bit(14);
    return b;
}

X86CpuidBits zen4_level() {  // Ice Lake's set plus AVX512-BF16
    X86CpuidBits b = icelake_level();
    b.leaf7_1_eax |= bit(5);
    return b;
}

TEST(CpuLevels, FromCpuidBits) {
    EXPECT_EQ(x86_level_from_cpuid(zen2()), 1);            // avx2: no AVX-512 at all
    EXPECT_EQ(x86_level_from_cpuid(skylake_level()), 2);   // avx512_skylake
    EXPECT_EQ(x86_level_from_cpuid(icelake_level()), 2);   // no BF16: not the zen4 kernels
    EXPECT_EQ(x86_level_from_cpuid(zen4_level()), 3);      // avx512_zen4
    X86CpuidBits spr = zen4_level();
    spr.leaf7_1_eax |= bit(4);                             // AVX-VNNI
    EXPECT_EQ(x86_level_from_cpuid(spr), 3);               // still no AVX512-FP16
    spr.leaf7_edx |= bit(23);
    EXPECT_EQ(x86_level_from_cpuid(spr), 4);               // avx512_sapphirerapids

    // The CPU has AVX-512 but the OS does not save ZMM state: AVX2 is the most it may run.
    X86CpuidBits no_zmm = zen4_level();
    no_zmm.xcr0 = 0x7;
    EXPECT_EQ(x86_level_from_cpuid(no_zmm), 1);
    // No OSXSAVE (so no XCR0): no AVX at all.
    X86CpuidBits no_osxsave = zen2();
    no_osxsave.leaf1_ecx &= ~bit(27);
    no_osxsave.xcr0 = 0;
    EXPECT_EQ(x86_level_from_cpuid(no_osxsave), 0);
    // AVX2 without BMI2 (haswell code may use BMI2): the SSE4.1 kernels.
    X86CpuidBits no_bmi2 = zen2();
    no_bmi2.leaf7_ebx &= ~bit(8);
    EXPECT_EQ(x86_level_from_cpuid(no_bmi2), 0);
    // Not even SSE4.1.
    EXPECT_EQ(x86_level_from_cpuid(X86CpuidBits{}), -1);
}

// What runs here is the highest compiled level this CPU supports, under any cap.
TEST(CpuLevels, DispatchNeverExceedsThisCpu) {
    const char *names[] = {"sse41", "avx2", "avx512_skylake", "avx512_zen4", "avx512_sapphirerapids"};
    int expected = x86_level_from_cpuid(normforge::read_x86_cpuid());
    if (expected < 0) expected = 0;
    const char *cap = std::getenv("NF_MAX_CPU_VARIANT");
    if (cap != nullptr && *cap != '\0') {
        for (int i = 0; i < 5; i++)
            if (std::string(cap) == names[i] && i < expected) expected = i;
    }
    EXPECT_STREQ(nf_cpu_variant(), names[expected]);
}

// The vendor that the library reads with the level bits (the large-call rule's input) is the
// one CPUID leaf 0 names, read here separately; the zero-filled record says "not Intel".
TEST(CpuLevels, VendorReadWithTheLevelBits) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    ASSERT_TRUE(__get_cpuid(0, &a, &b, &c, &d));
    char v[13] = {};
    std::memcpy(v, &b, 4), std::memcpy(v + 4, &d, 4), std::memcpy(v + 8, &c, 4);
    EXPECT_EQ(normforge::read_x86_cpuid().intel, std::string(v) == "GenuineIntel") << "vendor " << v;
    EXPECT_FALSE(X86CpuidBits{}.intel);
}

}  // namespace
#endif
