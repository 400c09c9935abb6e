#!/usr/bin/env bash
# Installs the build into a fresh prefix, then builds examples/ as a separate CMake project
# with find_package(NormForge), and links the same program by hand with only
# libnormforge.a -lpthread -ldl -lm; both must run and print "example OK".
# Usage: test_installed_package.sh BUILD EXAMPLES CMAKE [CC TOOLCHAIN_FILE RUNNER]
# (a toolchain file and a runner such as "qemu-aarch64 -L /usr/aarch64-linux-gnu" for a cross build).
set -euo pipefail
build=$1 examples=$2 cmake=$3 cc=${4:-cc} toolchain=${5:-} runner=${6:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" > /dev/null
lib=$(find "$tmp/prefix/lib" -name libnormforge.a | head -n 1)
test -f "$tmp/prefix/include/normforge/normforge.h"
test -n "$lib"
test -f "$tmp/prefix/lib/cmake/NormForge/NormForgeConfig.cmake"

# On x86-64 the archive carries the CUDA kernels' PTX (both capabilities) for linking without a
# CUDA toolkit.
if [ -z "$toolchain" ]; then
  ptx_targets=$(strings -n 8 "$lib" | grep -E '^\.target sm_[0-9]+$' | sort | uniq -c)
  grep -q 'sm_86' <<<"$ptx_targets" && grep -q 'sm_70' <<<"$ptx_targets" ||
    { echo "installed $lib lacks the CUDA kernels' PTX: $ptx_targets"; exit 1; }
fi

tc_args=()
[ -n "$toolchain" ] && tc_args=(-DCMAKE_TOOLCHAIN_FILE="$toolchain")
"$cmake" -S "$examples" -B "$tmp/app" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" "${tc_args[@]}" > /dev/null
"$cmake" --build "$tmp/app" > /dev/null
$runner "$tmp/app/normalize_tokens" | tee "$tmp/out1.txt"
grep -q "example OK" "$tmp/out1.txt"

"$cc" -O2 -o "$tmp/by_hand" "$examples/normalize_tokens.c" -I"$tmp/prefix/include" "$lib" -lpthread -ldl -lm
$runner "$tmp/by_hand" > "$tmp/out2.txt"
grep -q "example OK" "$tmp/out2.txt"
echo "installed package ($lib): find_package and plain $cc link both work"
