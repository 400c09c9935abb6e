// Converting between the storage dtype and fp32, shared by every op's algorithm.
#pragma once

#include "Halide.h"

namespace normforge {

// Halide 21's CUDA (PTX) code generator fails on bfloat16 <-> float casts (an LLVM "Invalid
// cast" assertion, even for a plain scalar cast). Generators compiling for a GPU set this, and
// bfloat16 values are then converted through their bits: the same IEEE results (exact widening;
// round to nearest even when narrowing, NaN stays NaN). CPU kernels keep Halide's casts (native
// conversion instructions where the CPU has them).
inline bool &bf16_conversion_via_bits() {
    static bool on = false;
    return on;
}

// A storage value (f32, f16 or bf16) as fp32 (exact).
inline Halide::Expr to_f32(const Halide::Expr &v) {
    using namespace Halide;
    if (v.type().is_bfloat() && bf16_conversion_via_bits()) {
        const int lanes = v.type().lanes();
        Expr bits = cast(UInt(32, lanes), reinterpret(UInt(16, lanes), v));
        return reinterpret(Float(32, lanes), bits << 16);
    }
    return cast(Float(32, v.type().lanes()), v);
}

// Rounds an fp32 value to the storage dtype (IEEE round to nearest even; NaN stays NaN: Halide's
// emulated fp16 conversion, used where the CPU has none (SSE4.1, baseline AArch64), turns NaN
// into Inf, so NaN is passed through explicitly; is_nan() is always evaluated strictly).
inline Halide::Expr to_storage(const Halide::Type &dtype, const Halide::Expr &v) {
    using namespace Halide;
    if (dtype.is_bfloat() && bf16_conversion_via_bits()) {
        // Round to nearest even on the bits: add 0x7FFF plus the lowest kept bit, keep the top
        // 16 (a carry into the exponent is the correct rounding up, to Inf past the largest
        // finite value). NaN keeps its sign and top payload bits, made quiet.
        Expr b = reinterpret(UInt(32, v.type().lanes()), v);
        Expr rounded = (b + (cast<uint32_t>(0x7FFF) + ((b >> 16) & 1))) >> 16;
        Expr quiet_nan = (b >> 16) | 0x40;
        return reinterpret(dtype.with_lanes(v.type().lanes()),
                           cast(UInt(16, v.type().lanes()), select(is_nan(v), quiet_nan, rounded)));
    }
    if (dtype != Float(16)) return cast(dtype, v);
    return select(is_nan(v), reinterpret(Float(16), cast<uint16_t>(0x7E00)), cast(dtype, v));
}

}  // namespace normforge
