#!/usr/bin/env bash
# `make demo`: the example host app built against the installed package, then a short bench.
set -euo pipefail
build=$1 prefix=$2
cmake -S examples -B "$build/example" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" > /dev/null
cmake --build "$build/example" > /dev/null
echo "== examples/normalize_tokens (linked against $prefix) =="
"$build/example/normalize_tokens"
echo
echo "== normforge bench --quick =="
"$build/tools/normforge" bench --quick
