// Rounding fp32 results to the storage dtype, shared by every op's algorithm.
#pragma once

#include "Halide.h"

namespace normforge {

// Rounds an fp32 value to the storage dtype (IEEE round to nearest even; NaN stays NaN: Halide's
// emulated fp16 conversion, used where the CPU has none (SSE4.1, baseline AArch64), turns NaN
// into Inf, so NaN is passed through explicitly; is_nan() is always evaluated strictly).
inline Halide::Expr to_storage(const Halide::Type &dtype, const Halide::Expr &v) {
    using namespace Halide;
    if (dtype != Float(16)) return cast(dtype, v);
    return select(is_nan(v), reinterpret(Float(16), cast<uint16_t>(0x7E00)), cast(dtype, v));
}

}  // namespace normforge
