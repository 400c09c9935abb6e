#!/bin/bash
# Builds the CUDA variant timer (see cuda_variants.cpp) from a knob list, after `make build`:
#   tools/cuda_variants/build.sh LIST OUT
# LIST: one variant per line, "stage rows_per_block unroll out_unroll warps_per_row split_chunks"
# (schedules/knobs.h, GpuKnobs), e.g. tools/cuda_variants/example.txt. Each line becomes a bf16
# and an fp32 kernel. OUT/cuda_variants.xz is the program (static libstdc++) for a GPU machine:
#   xz -dkf cuda_variants.xz && chmod +x cuda_variants && ./cuda_variants
set -eu
cd "$(dirname "$0")/../.."
list=$(realpath "$1")
out=$(realpath -m "$2")
G=build/nf_generators
[ -x "$G" ] || { echo "build first (make build)"; exit 1; }
work=$(mktemp -d)
: > "$work/variants.inc"
for dt in bfloat16 float32; do
  code=$([ $dt = bfloat16 ] && echo 2 || echo 0)
  short=$([ $dt = bfloat16 ] && echo bf16 || echo f32)
  grep -v '^#' "$list" | while read -r st rpb un ou w sc; do
    [ -n "$st" ] || continue
    n=v_${short}_s${st}_r${rpb}_u${un}_o${ou}_w${w}_c${sc}
    echo "V($n, $code)" >> "$work/variants.inc"
    echo "$G -n $n -d 0 -g rms_norm -f $n -e object -o $work target=x86-64-linux-cuda-cuda_capability_86-user_context-no_runtime op=rms_norm dtype=$dt weight_mode=scale rounding=once rows_per_block=$rpb stage=$st unroll=$un out_unroll=$ou warps_per_row=$w split_chunks=$sc"
  done
done > "$work/cmds.sh"
xargs -P "$(nproc)" -I{} sh -c "{}" < "$work/cmds.sh"
ar rcs "$work/libvariants.a" "$work"/*.o
libs=$(grep -A6 "^build tools/nf_cuda_bench:" build/build.ninja | grep LINK_LIBRARIES | sed 's/.*LINK_LIBRARIES = //')
halide_include=$(ls -d .venv/lib/python3*/site-packages/halide/include | head -1)
(cd build && g++ -O2 -std=c++17 -I../runtime/src -I../runtime/include -I. -I"$work" -isystem "../$halide_include" \
   ../tools/cuda_variants/cuda_variants.cpp -o "$work/cuda_variants" "$work/libvariants.a" $libs \
   -static-libstdc++ -static-libgcc)
strip "$work/cuda_variants"
mkdir -p "$out"
xz -T0 -3 -c "$work/cuda_variants" > "$out/cuda_variants.xz"
rm -rf "$work"
echo "cuda_variants: $out/cuda_variants.xz ($(du -h "$out/cuda_variants.xz" | cut -f1))"
