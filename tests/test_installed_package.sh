#!/usr/bin/env bash
# Installs the build into a fresh prefix, then builds examples/ as a separate CMake project
# with find_package(NormForge), and links the same program by hand with only
# libnormforge.a -lpthread -ldl -lm; both must run and print "example OK".
set -euo pipefail
build=$1 examples=$2 cmake=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" > /dev/null
test -f "$tmp/prefix/include/normforge/normforge.h"
test -f "$tmp/prefix/lib/libnormforge.a"
test -f "$tmp/prefix/lib/cmake/NormForge/NormForgeConfig.cmake"

"$cmake" -S "$examples" -B "$tmp/app" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > /dev/null
"$cmake" --build "$tmp/app" > /dev/null
"$tmp/app/normalize_tokens" | tee "$tmp/out1.txt"
grep -q "example OK" "$tmp/out1.txt"

cc -O2 -o "$tmp/by_hand" "$examples/normalize_tokens.c" -I"$tmp/prefix/include" \
   "$tmp/prefix/lib/libnormforge.a" -lpthread -ldl -lm
"$tmp/by_hand" > "$tmp/out2.txt"
grep -q "example OK" "$tmp/out2.txt"
echo "installed package: find_package and plain cc link both work"
