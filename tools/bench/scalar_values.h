// One element of an fp32 or bf16 buffer, as float: what the baselines' scalar code and the
// bench's data set-up and checks share. bf16 stores round to nearest even.
// static: each translation unit keeps its own copy, so naive.cpp (-march=native) cannot lend
// its instructions to the others.
#pragma once

#include <cstdint>
#include <cstring>

#include "baselines.h"

namespace nfbench {

static inline float load_value(Dtype d, const void *p, int64_t i) {
    if (d == Dtype::F32) return static_cast<const float *>(p)[i];
    uint32_t u = uint32_t(static_cast<const uint16_t *>(p)[i]) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

static inline void store_value(Dtype d, void *p, int64_t i, float v) {
    if (d == Dtype::F32) {
        static_cast<float *>(p)[i] = v;
        return;
    }
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    static_cast<uint16_t *>(p)[i] = uint16_t(u >> 16);
}

}  // namespace nfbench
