#!/bin/bash
# The GPU check, one command on a machine with an NVIDIA GPU (about 2 minutes):
#   1. the CUDA test suite (nf_cuda_tests: the full correctness matrix against the float64
#      reference, streams, contexts, bad pointers), three times: as is, with NF_CUDA_STAGE=0 (the
#      kernels that re-read x) and with NF_CUDA_MAX_CAPABILITY=70 (the baseline PTX),
#   2. the benchmark tables (nf_cuda_bench: GB/s for 1x4096, 64x4096, 16384x8192 in bf16 and fp32,
#      a device-to-device copy of the same bytes, and torch.nn.functional.rms_norm when PyTorch
#      is installed; then nf_cuda_rms_norm_backward at 4096x4096 and 16384x8192 against the
#      forward call and a copy), also written as JSON.
#
#   tools/gpu_check.sh                  build here (make build), then run
#   tools/gpu_check.sh --package DIR    build here, pack the two programs and the PyTorch script
#                                       into DIR/gpu_check.tar.xz (for a GPU machine without
#                                       Halide), then stop
#   tools/gpu_check.sh --prebuilt DIR   run the programs from DIR (made by --package)
# Results go to $OUT (if set) or build/: gpu_tests.log, cuda_bench.json, cuda_bench.md.
set -u
cd "$(dirname "$0")/.."
mode=build
dir=""
case "${1:-}" in
  --package) mode=package; dir="${2:?--package needs a folder}" ;;
  --prebuilt) mode=prebuilt; dir="${2:?--prebuilt needs a folder}" ;;
  "") ;;
  *) echo "usage: $0 [--package DIR | --prebuilt DIR]"; exit 2 ;;
esac

if [ "$mode" != prebuilt ]; then
  make build >/tmp/nf_gpu_build.log 2>&1 || { tail -30 /tmp/nf_gpu_build.log; echo "gpu_check: build failed"; exit 1; }
  tests=build/tests/nf_cuda_tests
  bench=build/tools/nf_cuda_bench
  torch_script=tools/cuda_bench_torch.py
fi
if [ "$mode" = package ]; then
  # One compressed archive (about 6 MB instead of 60: every kernel is in both programs).
  stage=$(mktemp -d)
  cp build/tests/nf_cuda_tests build/tools/nf_cuda_bench tools/cuda_bench_torch.py "$stage/"
  strip "$stage/nf_cuda_tests" "$stage/nf_cuda_bench"
  mkdir -p "$dir"
  tar -C "$stage" -cJf "$dir/gpu_check.tar.xz" . && rm -rf "$stage"
  echo "gpu_check: packaged $dir/gpu_check.tar.xz ($(du -h "$dir/gpu_check.tar.xz" | cut -f1))"
  exit 0
fi
if [ "$mode" = prebuilt ]; then
  if [ -f "$dir/gpu_check.tar.xz" ]; then
    unpacked=$(mktemp -d)
    tar -C "$unpacked" -xJf "$dir/gpu_check.tar.xz" || { echo "gpu_check: cannot unpack $dir/gpu_check.tar.xz"; exit 1; }
    dir=$unpacked
  fi
  tests="$dir/nf_cuda_tests"
  bench="$dir/nf_cuda_bench"
  torch_script="$dir/cuda_bench_torch.py"
fi

out="${OUT:-build}"
mkdir -p "$out"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== CUDA tests"
"$tests" --gtest_brief=1 >"$out/gpu_tests.log" 2>&1
tests_rc=$?
echo "-- again with NF_CUDA_STAGE=0 (the kernels that re-read x)" >>"$out/gpu_tests.log"
NF_CUDA_STAGE=0 "$tests" --gtest_brief=1 >>"$out/gpu_tests.log" 2>&1 || tests_rc=$?
echo "-- again with NF_CUDA_MAX_CAPABILITY=70 (the baseline PTX)" >>"$out/gpu_tests.log"
NF_CUDA_MAX_CAPABILITY=70 "$tests" --gtest_brief=1 >>"$out/gpu_tests.log" 2>&1 || tests_rc=$?
grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED TEST|Failure|info \]" "$out/gpu_tests.log" | head -60
if grep -q "SKIPPED" "$out/gpu_tests.log" && [ "$tests_rc" -eq 0 ]; then
  echo "gpu_check: GPU tests were skipped: no usable GPU here"; tests_rc=3
fi
echo "== benchmark"
python=python3
command -v "$python" >/dev/null || python=""
PYTHONUNBUFFERED=1 "$bench" --json "$out/cuda_bench.json" ${python:+--python "$python" --torch-script "$torch_script"} \
  | tee "$out/cuda_bench.md"
bench_rc=${PIPESTATUS[0]}
echo "gpu_check: tests rc=$tests_rc, bench rc=$bench_rc (results in $out)"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
