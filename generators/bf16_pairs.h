// bf16 values read and written two at a time, as 32-bit words ("pairs"). Algorithm only.
//
// Why: Halide widens a bf16 vector to fp32 with vpmovzxwd (plus a shift) and narrows it back with
// a pack and a cross-lane permute (AVX2, SSE4.1) or vpmovdw (AVX-512), all on the shuffle port,
// and a bf16 kernel spends more on that than on its memory traffic (README: "bf16: the pair
// kernels"). A 32-bit word of a bf16 row holds columns 2p (low
// half) and 2p + 1 (high half); each becomes an fp32 value with one integer op, and two rounded
// values become one word again with a shift, a mask and an or: no shuffles at all.
//
// The results are bit for bit those of the storage.h casts on these CPUs: widening is exact,
// and narrowing is the same integer round-to-nearest-even as Halide's own lowering of an fp32
// -> bf16 cast (add 0x7FFF plus the lowest kept bit, keep the top 16 bits).
//
// The pair kernels declare their matrices as fp32 buffers of cols / 2 columns (the runtime
// passes the caller's bf16 rows that way: even column counts and strides, 4-byte aligned) and
// reinterpret each element's bits.
#pragma once

#include "Halide.h"

namespace normforge {

// The word of a pair as uint32 (the buffer's fp32 element, reinterpreted).
inline Halide::Expr pair_bits(const Halide::Expr &element) {
    return Halide::reinterpret(Halide::UInt(32, element.type().lanes()), element);
}

// Column 2p (the low half) and 2p + 1 (the high half) of the pair, as fp32 (exact).
inline Halide::Expr pair_low_f32(const Halide::Expr &bits) {
    return Halide::reinterpret(Halide::Float(32, bits.type().lanes()), bits << 16);
}
inline Halide::Expr pair_high_f32(const Halide::Expr &bits) {
    using namespace Halide;
    return reinterpret(Float(32, bits.type().lanes()), bits & Halide::Internal::make_const(bits.type(), 0xFFFF0000u));
}

// An fp32 value's bits with the round-to-nearest-even increment added: its top 16 bits are the
// bf16 result. The increment, 0x7FFF plus the lowest kept bit, is written as a choice between
// 0x8000 and 0x7FFF on that bit (the same sum): at AVX-512 LLVM makes it a bit test into a mask
// register and a masked blend (3 ops with the add, instead of shift, and, add, add); at AVX2
// and SSE4.1 it makes it and, compare, add, add as before.
inline Halide::Expr bf16_rounding_bits(const Halide::Expr &v) {
    using namespace Halide;
    Expr b = reinterpret(UInt(32, v.type().lanes()), v);
    auto k = [&](uint32_t value) { return Halide::Internal::make_const(b.type(), value); };
    return b + select((b & k(0x10000)) != k(0), k(0x8000), k(0x7FFF));
}

// v rounded to bf16, as fp32 (the value a bf16 store and reload gives).
inline Halide::Expr round_to_bf16_f32(const Halide::Expr &v) {
    using namespace Halide;
    Expr b = bf16_rounding_bits(v);
    return reinterpret(Float(32, v.type().lanes()), b & Halide::Internal::make_const(b.type(), 0xFFFF0000u));
}

// Two fp32 values rounded to bf16 and packed into one pair, as the buffer's fp32 element.
inline Halide::Expr pack_bf16_pair(const Halide::Expr &low, const Halide::Expr &high) {
    using namespace Halide;
    Expr lo = bf16_rounding_bits(low), hi = bf16_rounding_bits(high);
    Expr word = (lo >> 16) | (hi & Halide::Internal::make_const(hi.type(), 0xFFFF0000u));
    return reinterpret(Float(32, low.type().lanes()), word);
}

}  // namespace normforge
