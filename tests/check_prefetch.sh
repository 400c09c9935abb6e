#!/bin/bash
# Checks the next-row prefetch (knob prefetch, schedules/next_row_prefetch.h) in the compiled
# kernels: every target's object of a kernel with the knob holds prefetcht0 (the hint the build
# sets, tools/gen_prefetch_t0.cpp) and no prefetchnta (Halide's own hint, measured slower), at
# least one per 64-byte line of a vector iteration at AVX-512, except the targets of the levels
# its knobs turn it off at (ARCHIVE@LEVEL@...: e.g. @avx512_zen4, schedules/knobs.h), which hold
# none; a kernel without the knob holds no prefetch at all.
# Usage: check_prefetch.sh <objdump> --with <archives[@levels]...> --without <archives...>
set -u
objdump="$1"; shift
fail=0
mode=""
n=0
for arg in "$@"; do
  case "$arg" in --with | --without) mode="$arg"; continue ;; esac
  n=$((n + 1))
  off=""
  case "$arg" in *@*) off="${arg#*@}"; arg="${arg%%@*}" ;; esac
  name=$(basename "$arg" .a)
  # One block per member object (one per x86 feature level, plus the dispatch wrapper).
  members=$("$objdump" -d --no-show-raw-insn "$arg" |
    awk '/file format/ {obj = $1} match($0, /prefetch[a-z0-9]*/) {print obj, substr($0, RSTART, RLENGTH)}' | sort | uniq -c)
  if [ "$mode" = "--without" ]; then
    if [ -n "$members" ]; then echo "FAIL $name: has prefetches but no prefetch knob:"; echo "$members"; fail=1; fi
    continue
  fi
  targets=$("$objdump" -d "$arg" | awk '/file format/ && $1 !~ /_wrapper/ {print $1}')
  for t in $targets; do
    bad=$fail
    fail=0
    t=${t%:}
    is_off=0
    for level in ${off//@/ }; do case "$t" in *"-$level"*) is_off=1 ;; esac; done
    if [ $is_off -eq 1 ]; then
      any=$(grep -F "$t" <<<"$members" | awk '{s += $1} END {print s + 0}')
      [ "$any" -eq 0 ] || { echo "FAIL $name $t: $any prefetches, but its level knobs turn them off"; fail=1; }
      [ $fail -eq 0 ] && echo "ok $name $t: no prefetch (off at this level)"
      [ $bad -eq 0 ] || fail=1
      continue
    fi
    t0=$(grep -F "$t" <<<"$members" | awk '$3 == "prefetcht0" {s += $1} END {print s + 0}')
    nta=$(grep -F "$t" <<<"$members" | awk '$3 == "prefetchnta" {s += $1} END {print s + 0}')
    [ "$nta" -eq 0 ] || { echo "FAIL $name $t: $nta prefetchnta (the hint was not rewritten)"; fail=1; }
    [ "$t0" -ge 1 ] || { echo "FAIL $name $t: no prefetcht0"; fail=1; }
    case "$t" in *avx512*)
      # vec_mult 2 x 16 lanes x unroll 4 = 128 fp32-sized elements = 8 lines per iteration.
      [ "$t0" -ge 8 ] || { echo "FAIL $name $t: $t0 prefetcht0, expected at least 8 (one per line)"; fail=1; } ;;
    esac
    [ $fail -eq 0 ] && echo "ok $name $t: $t0 prefetcht0"
    [ $bad -eq 0 ] || fail=1
  done
done
[ $n -ge 2 ] || { echo "FAIL: expected kernels with and without the knob"; fail=1; }
exit $fail
