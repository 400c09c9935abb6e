// Which compiled feature level runs, and an optional cap on it (for tests, benchmarks, and
// users who want the same code path on every machine of a fleet).
#include <stdlib.h>
#include <string.h>

#include "HalideRuntime.h"
#include "errors.h"
#include "kernel_table.h"
#include "normforge/normforge.h"

#if !defined(__aarch64__)
#include <cpuid.h>

#include "x86_levels.h"
#endif

using namespace normforge;

#if !defined(__aarch64__)
X86CpuidBits normforge::read_x86_cpuid() {
    X86CpuidBits b;
    unsigned a = 0, bx = 0, c = 0, d = 0;
    const unsigned max_leaf = __get_cpuid(0, &a, &bx, &c, &d) ? a : 0;
    // "GenuineIntel" in EBX, EDX, ECX.
    b.intel = max_leaf > 0 && bx == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu;
    if (max_leaf >= 1 && __get_cpuid(1, &a, &bx, &c, &d)) b.leaf1_ecx = c;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, bx, c, d);
        b.leaf7_ebx = bx, b.leaf7_ecx = c, b.leaf7_edx = d;
        if (a >= 1) {  // EAX: the highest subleaf
            __cpuid_count(7, 1, a, bx, c, d);
            b.leaf7_1_eax = a;
        }
    }
    if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000001u && __get_cpuid(0x80000001u, &a, &bx, &c, &d))
        b.ext1_ecx = c;
    if (b.leaf1_ecx & (1u << 27)) {  // OSXSAVE: XGETBV may be executed
        uint32_t lo = 0, hi = 0;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        b.xcr0 = (uint64_t(hi) << 32) | lo;
    }
    return b;
}
#endif

namespace {

// Feature levels, lowest first per architecture; index = level.
#if defined(__aarch64__)
const char *const kLevels[] = {"arm64_neon", "arm64_neon_fp16"};
constexpr int kNumLevels = 2;
#else
const char *const kLevels[] = {"sse41", "avx2", "avx512_skylake", "avx512_zen4",
                               "avx512_sapphirerapids"};
constexpr int kNumLevels = 5;
#endif
int g_max_level = kNumLevels - 1;  // no cap

#if defined(__aarch64__)
int host_level() { return kNumLevels - 1; }  // Halide's runtime reads the hwcaps
#else
// This CPU's level (bits 0-7) and whether it is an Intel CPU (bit 8), from one CPUID read on first
// use (CPUID traps to the hypervisor in a VM; no function-local static: the library links without
// libstdc++'s guards); two threads racing here both compute the same value.
int g_host_info = -1;
int host_info() {
    int info = __atomic_load_n(&g_host_info, __ATOMIC_RELAXED);
    if (info < 0) {
        const X86CpuidBits bits = read_x86_cpuid();
        int level = x86_level_from_cpuid(bits);
        if (level < 0) level = 0;  // below SSE4.1: the baseline is all there is
        info = level | (bits.intel ? 0x100 : 0);
        __atomic_store_n(&g_host_info, info, __ATOMIC_RELAXED);
    }
    return info;
}
int host_level() { return host_info() & 0xFF; }
#endif

// The level the kernels run at: this CPU's, capped by nf_limit_cpu_variant / NF_MAX_CPU_VARIANT.
int level_in_use() {
    const int cap = __atomic_load_n(&g_max_level, __ATOMIC_RELAXED);
    return host_level() < cap ? host_level() : cap;
}

// Features that a level below `max_level` must not use.
bool denied(int feature, int max_level) {
#if defined(__aarch64__)
    return feature == halide_target_feature_arm_fp16 && max_level < 1;
#endif
    switch (feature) {
    case halide_target_feature_avx512_sapphirerapids: return max_level < 4;
    case halide_target_feature_avx512_zen4:
    case halide_target_feature_avx512_zen5:
    case halide_target_feature_avx512_cannonlake: return max_level < 3;
    case halide_target_feature_avx512:
    case halide_target_feature_avx512_skylake:
    case halide_target_feature_avx512_knl: return max_level < 2;
    case halide_target_feature_avx:
    case halide_target_feature_avx2:
    case halide_target_feature_fma:
    case halide_target_feature_f16c: return max_level < 1;
    default: return false;
    }
}

// Halide's multi-target wrapper asks this which compiled target it may run: not above the cap,
// not above what this CPU and OS support (x86_levels.h says why Halide's own check is not
// enough), and what Halide's runtime accepts.
int capped_can_use_target_features(int count, const uint64_t *features) {
    const int max_level = level_in_use();
    for (int f = 0; f < count * 64; f++) {
        if ((features[f / 64] >> (f % 64)) & 1) {
            if (denied(f, max_level)) return 0;
        }
    }
    return halide_default_can_use_target_features(count, features);
}

// "a, b, c": the level names, for messages (filled once, in install_cap).
char g_level_list[128];

int level_index(const char *name) {
    for (int i = 0; i < kNumLevels; i++)
        if (strcmp(name, kLevels[i]) == 0) return i;
    return -1;
}

pthread_once_t g_cap_once = PTHREAD_ONCE_INIT;

void install_cap() {
    for (int i = 0; i < kNumLevels; i++) {
        if (i) strncat(g_level_list, ", ", sizeof g_level_list - strlen(g_level_list) - 1);
        strncat(g_level_list, kLevels[i], sizeof g_level_list - strlen(g_level_list) - 1);
    }
    halide_set_custom_can_use_target_features(&capped_can_use_target_features);
    const char *env = getenv("NF_MAX_CPU_VARIANT");
    if (env != nullptr && env[0] != '\0') {
        int level = level_index(env);
        if (level >= 0) g_max_level = level;
    }
}

}  // namespace

namespace normforge {
void install_cpu_variant_cap() { pthread_once(&g_cap_once, &install_cap); }

bool avx512_level() {
#if defined(__aarch64__)
    return false;
#else
    install_cpu_variant_cap();
    return level_in_use() >= 2;  // avx512_skylake and above
#endif
}

bool intel_cpu() {
#if defined(__aarch64__)
    return false;
#else
    return (host_info() & 0x100) != 0;
#endif
}
}  // namespace normforge

extern "C" nf_status nf_limit_cpu_variant(const char *max_variant) {
    install_cpu_variant_cap();
    int level = kNumLevels - 1;
    if (max_variant != nullptr && max_variant[0] != '\0') {
        level = level_index(max_variant);
        if (level < 0)
            return fail(NF_INVALID_ARGUMENT, "nf_limit_cpu_variant: '%s' is not one of %s",
                        max_variant, g_level_list);
    }
    __atomic_store_n(&g_max_level, level, __ATOMIC_RELAXED);
    return NF_OK;
}

extern "C" const char *nf_cpu_variant(void) {
    install_halide_handlers();
    // The probe's codes (cpu_probe_generator.cpp): the x86 level index, or 10 + the AArch64 one.
    int level = run_cpu_probe();
#if defined(__aarch64__)
    level -= 10;
#endif
    return level >= 0 && level < kNumLevels ? kLevels[level] : "unknown";
}
