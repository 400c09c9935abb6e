// A one-value pipeline compiled for the same x86 feature levels as the kernels: calling it
// through Halide's multi-target wrapper reports which level the wrapper picks on this CPU
// (nf_cpu_variant()). Codes: 4 avx512_sapphirerapids, 3 avx512_zen4, 2 avx512_skylake,
// 1 avx2, 0 sse41 / baseline x86-64; 11 AArch64 NEON + FP16, 10 AArch64 NEON.
#include "Halide.h"

namespace normforge {
namespace {

class CpuProbeGenerator : public Halide::Generator<CpuProbeGenerator> {
public:
    Output<Halide::Buffer<int32_t, 0>> level{"level"};

    void generate() {
        using T = Halide::Target;
        const T t = get_target();
        int code = t.arch == T::ARM                         ? (t.has_feature(T::ARMFp16) ? 11 : 10)
                   : t.has_feature(T::AVX512_SapphireRapids) ? 4
                   : t.has_feature(T::AVX512_Zen4)         ? 3
                   : t.has_feature(T::AVX512_Skylake)      ? 2
                   : t.has_feature(T::AVX2)                ? 1
                                                           : 0;
        level() = code;
    }
};

}  // namespace
}  // namespace normforge

HALIDE_REGISTER_GENERATOR(normforge::CpuProbeGenerator, cpu_probe)
