#!/usr/bin/env bash
# `normforge compile --target arm-64-linux --out DIR`: an AArch64 static library and headers
# that an AArch64 program links directly and runs (under qemu); bad requests write nothing.
set -euo pipefail
normforge=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$normforge" compile --target arm-64-linux --out "$tmp/arm"
test -f "$tmp/arm/libnormforge_kernels.a" -a -f "$tmp/arm/normforge_kernels.h" -a -f "$tmp/arm/HalideRuntime.h"
aarch64-linux-gnu-objdump -f "$tmp/arm/libnormforge_kernels.a" > "$tmp/format.txt"
grep -q "elf64-littleaarch64" "$tmp/format.txt"
aarch64-linux-gnu-gcc -O2 -o "$tmp/app" "$src/compile_cli_app.c" -I"$tmp/arm" "$tmp/arm/libnormforge_kernels.a" -lpthread -ldl -lm
qemu-aarch64 -L /usr/aarch64-linux-gnu "$tmp/app" | tee "$tmp/out.txt"
grep -q "kernels OK" "$tmp/out.txt"

# Refusals: an unknown target and a non-empty output directory; nothing written.
if "$normforge" compile --target riscv-64-linux --out "$tmp/bad" 2> "$tmp/err.txt"; then exit 1; fi
grep -q "is not supported" "$tmp/err.txt"
test ! -e "$tmp/bad"
if "$normforge" compile --target arm-64-linux --out "$tmp/arm" 2> "$tmp/err.txt"; then exit 1; fi
grep -q "is not an empty directory" "$tmp/err.txt"
echo "normforge compile: OK"
