#!/bin/bash
# Checks the PTX embedded in every CUDA kernel: for the capability its name ends with (_sm86,
# _sm70), one kernel entry, warp shuffles for the row sum's tree (every op but the dweight
# sums, which add down columns), IEEE sqrt in the forward ops, no approximate sqrt, division or
# reciprocal anywhere, 8-byte loads in the kernels for aligned rows, shared memory and a
# barrier in the staged kernels; and that the bundled
# libnormforge.a carries them all. Usage: check_cuda_ptx.sh <libnormforge.a> <kernel archives...>
set -u
bundle="$1"; shift
fail=0
n=0
for lib in "$@"; do
  n=$((n + 1))
  name=$(basename "$lib" .a); name=${name#lib}
  ptx=$(strings -n 4 "$lib")
  cc=${name##*_sm}
  grep -q "^\.target sm_$cc\$" <<<"$ptx" || { echo "FAIL $name: no '.target sm_$cc' PTX"; fail=1; }
  entries=$(grep -c '^\.visible \.entry' <<<"$ptx")
  [ "$entries" -ge 1 ] || { echo "FAIL $name: no kernel entry point"; fail=1; }
  case "$name" in
    *_dweight_blocks_* | *_dweight_pairs_*) row_sum=0; forward=0 ;;
    *_rms_norm_backward_*) row_sum=1; forward=0 ;;
    *) row_sum=1; forward=1 ;;
  esac
  if [ $row_sum -eq 1 ]; then
    grep -q 'shfl\.sync' <<<"$ptx" || { echo "FAIL $name: no warp shuffle (shfl.sync)"; fail=1; }
  fi
  if [ $forward -eq 1 ]; then
    grep -q 'sqrt\.rn\.f32' <<<"$ptx" || { echo "FAIL $name: sqrt is not sqrt.rn.f32"; fail=1; }
  fi
  if grep -qE 'sqrt\.approx|rsqrt|div\.(approx|full)|rcp\.approx' <<<"$ptx"; then
    echo "FAIL $name: approximate sqrt, division or reciprocal"; fail=1
  fi
  if [[ "$name" != *_gpu_unaligned_sm* && "$name" != *_dweight_pairs_* ]]; then
    # rows on 8-byte boundaries are read in 8-byte pieces (Halide's PTX accesses are at most 8)
    grep -qE 'ld\.global\.nc\.(v2\.b32|v4\.b16|b64|v2\.f32)' <<<"$ptx" ||
      { echo "FAIL $name: no 8-byte loads (the aligned kernels read rows in 8-byte pieces)"; fail=1; }
  fi
  if [[ "$name" == *_gpu_staged_sm* ]]; then
    # rows staged in shared memory, with a barrier between the copy and the passes reading it
    grep -q 'st\.shared' <<<"$ptx" || { echo "FAIL $name: no shared-memory staging"; fail=1; }
    grep -q 'bar\.sync' <<<"$ptx" || { echo "FAIL $name: no barrier after staging"; fail=1; }
  fi
  grep -q "$name" < <(strings -n 8 "$bundle") || { echo "FAIL $name: missing from $bundle"; fail=1; }
done
[ "$n" -gt 0 ] || { echo "FAIL: no CUDA kernel archives given"; exit 1; }
bundle_entries=$(strings -n 4 "$bundle" | grep -c '^\.visible \.entry')
[ "$bundle_entries" -ge "$n" ] || { echo "FAIL: $bundle has $bundle_entries PTX entries for $n kernels"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: $n CUDA kernels, PTX for their capabilities with entry points and warp shuffles, all in $(basename "$bundle")"
exit $fail
