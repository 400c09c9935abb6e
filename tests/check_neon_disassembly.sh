#!/usr/bin/env bash
# Proof of NEON: disassembles the AArch64 kernels and checks that their loops use vector
# instructions, so a scalar fallback cannot pass unnoticed. Each kernel has two compiled
# variants (Halide multi-target): arm_fp16 (ARMv8.2 FP16) and baseline ARMv8.0 NEON.
#   fp32: fadd and fmul on .4s (vector accumulators; the sums are strict_float, so no fused
#         fmla: the same bits as every other target);  bf16: shll (bf16 -> fp32), fmul .4s;
#   fp16, arm_fp16 variant: fcvtl/fcvtn (fp16 <-> fp32), fmul .4s;
#   fp16, baseline variant: fmul .4s, and integer widening (ushll) instead of fcvtl;
#   the baseline variants contain no half-precision arithmetic (their CPUs lack it).
# Usage: check_neon_disassembly.sh OBJDUMP LIBNORMFORGE_A
set -euo pipefail
objdump=$1 lib=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$objdump" -d --no-show-raw-insn "$lib" > "$tmp/all.s"

# body KERNEL VARIANT: instructions of the functions of KERNEL compiled for VARIANT
# (fp16: names containing arm_fp16; base: the others).
body() {
  awk -v k="$1" -v v="$2" '
    /^[0-9a-f]+ <.*>:$/ {
      name = $2
      fp16 = index(name, "arm_fp16") > 0
      mine = index(name, "<" k "-arm") == 1 || index(name, "<" k "___arm") == 1
      inside = mine && ((v == "fp16") == fp16)
      next
    }
    inside' "$tmp/all.s"
}
fail=0
need() {  # need KERNEL VARIANT REGEX WHAT
  local n
  n=$(body "$1" "$2" | grep -cE "$3" || true)
  if [ "$n" -eq 0 ]; then echo "FAIL: $1 [$2] has no $4"; fail=1; else echo "ok: $1 [$2]: $n x $4"; fi
}
FADD=$'\tfadd\tv[0-9]+\\.4s' FMUL=$'\tfmul\tv[0-9]+\\.4s'
for v in fp16 base; do
  for k in nf_k_rms_norm_f32_scale_once_small nf_k_rms_norm_f32_none_once_large; do
    need "$k" $v "$FADD" "fadd .4s"
    need "$k" $v "$FMUL" "fmul .4s"
  done
  for k in nf_k_rms_norm_bf16_scale_once_small nf_k_rms_norm_bf16_scale_llama_large; do
    need "$k" $v $'\tshll2?\tv[0-9]+\\.4s' "shll (bf16 -> fp32)"
    need "$k" $v "$FMUL" "fmul .4s"
  done
  for k in nf_k_rms_norm_f16_scale_once_small nf_k_rms_norm_f16_one_plus_llama_medium; do
    need "$k" $v "$FMUL" "fmul .4s"
    if [ $v = fp16 ]; then
      need "$k" $v $'\tfcvtl2?\tv[0-9]+\\.4s' "fcvtl (fp16 -> fp32)"
      need "$k" $v $'\tfcvtn2?\tv[0-9]+\\.[48]h' "fcvtn (fp32 -> fp16)"
    else
      need "$k" $v $'\tushll2?\tv[0-9]+\\.4s' "ushll (emulated fp16 -> fp32)"
    fi
  done
done
half=$(body nf_k_rms_norm base | grep -cE $'\tf(add|sub|mul|mla|mls|div|sqrt|max|min|cvt)[a-z0-9]*\t(v[0-9]+\\.[48]h|h[0-9]+)' || true)
if [ "$half" -ne 0 ]; then echo "FAIL: baseline variants use $half half-precision instructions"; fail=1
else echo "ok: baseline ARMv8.0 variants use no half-precision instructions"; fi
exit $fail
