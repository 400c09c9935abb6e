#!/usr/bin/env bash
# `normforge tune` on tiny shapes with a tiny budget: it completes, prints the comparison table
# (defaults, autoschedulers, tuned), writes valid JSON-lines records and a db entry whose knobs
# the generator accepts; a deliberately wrong candidate is rejected; --resume reuses records;
# an AArch64 target runs through --runner (qemu).
set -euo pipefail
normforge=$1 generator=$2 python=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(--op rms_norm --dtype f32 --shapes 4x256,512x512 --reps 3 --seed 7 --out "$tmp/x86-64.json")

"$normforge" tune "${args[@]}" --budget 60s --trials 3 | tee "$tmp/run1.txt"
grep -q "Mullapudi2016" "$tmp/run1.txt"
grep -q "tuned knobs" "$tmp/run1.txt"
grep -q "wrote $tmp/x86-64.json" "$tmp/run1.txt"
"$python" - "$tmp" "$generator" <<'PY'
import json, subprocess, sys
tmp, gen = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(f"{tmp}/tune-records.jsonl")]
assert recs, "no records"
for r in recs:
    for k in ("op", "dtype", "target", "shape", "shape_class", "status", "halide", "cpu", "threads", "date"):
        assert k in r, (k, r)
    assert r["status"] == "ok" or r["candidate"] == "autoscheduler", r
    if r["status"] == "ok":
        assert r["median_s"] > 0 and r["gbps"] > 0, r
assert {r["candidate"] for r in recs} >= {"default", "search", "autoscheduler"}
db = json.load(open(f"{tmp}/x86-64.json"))
entries = db["x86-64"]["rms_norm"]["f32"]
assert set(entries) == {"small", "medium"}, entries
target = recs[0]["target"]
for cls, e in entries.items():
    knobs = [f"{k}={v}" for k, v in e.items() if not k.startswith("_") and k != "stream_rows"]
    subprocess.run([gen, "-g", "rms_norm", "-f", "t", "-o", tmp, "-e", "h", f"target={target}-large_buffers",
                    "op=rms_norm", "dtype=float32", "weight_mode=scale", "rounding=once"] + knobs, check=True)
print("records and db entries OK:", len(recs), "records")
PY

# A wrong candidate (the test hook corrupts the first search candidate's output) is rejected.
"$normforge" tune "${args[@]}" --log "$tmp/wrong.jsonl" --budget 30s --trials 2 --strategy exhaustive \
    --no-baselines --corrupt-candidate 0 | tee "$tmp/run2.txt"
grep -q "rejected" "$tmp/run2.txt"
grep -q '"status": "wrong' "$tmp/wrong.jsonl"

# --resume: the search candidates of run 1 are not measured again.
before=$(grep -c '"phase": "search"' "$tmp/tune-records.jsonl")
"$normforge" tune "${args[@]}" --budget 60s --trials 3 --resume --no-baselines | tee "$tmp/run3.txt"
grep -q "resumed" "$tmp/run3.txt"
after=$(grep -c '"phase": "search"' "$tmp/tune-records.jsonl")
test "$before" = "$after"
# The fused op (its residual updated in place, as the runtime does) and the backward kernels
# (dx and dw, one class "block", serial) tune too; a wrong dx or dw is rejected.
"$normforge" tune --op rms_norm_residual --dtype bf16 --shapes 5x300,600x300 --trials 1 --reps 3 --budget 60s \
    --no-baselines --log "$tmp/res.jsonl" --out "$tmp/res.json" | tee "$tmp/run5.txt"
grep -q "wrote $tmp/res.json" "$tmp/run5.txt"
if grep -q '"status": "wrong' "$tmp/res.jsonl"; then echo "fused candidate rejected as wrong"; exit 1; fi
grep -q '"status": "ok' "$tmp/res.jsonl"
# The hand-set knobs (prefetch, hoist_weight) are not searched: a rewritten entry keeps the values
# it had, and a flavour member keeps those it turns off (its searched knobs go).
"$python" -c 'import json, sys; json.dump({"x86-64": {"rms_norm": {"f32": {"small": {"vec_mult": 1, "rows_per_task": 1,
    "parallel": 0, "unroll": 1, "stream_rows": 0, "prefetch": 1, "hoist_weight": 1,
    "avx512_zen4": {"prefetch": 0, "hoist_weight": 0, "unroll": 2, "_note": "n"}}}}}}, open(sys.argv[1], "w"))' "$tmp/pf.json"
"$normforge" tune --op rms_norm --dtype f32 --shapes 4x256 --trials 1 --reps 3 --budget 20s --no-baselines \
    --log "$tmp/pf.jsonl" --out "$tmp/pf.json" | tee "$tmp/run-pf.txt"
grep -q "kept prefetch=1" "$tmp/run-pf.txt"
"$python" -c 'import json, sys; e = json.load(open(sys.argv[1]))["x86-64"]["rms_norm"]["f32"]["small"]
assert e["prefetch"] == 1 and e["hoist_weight"] == 1, e
assert e["avx512_zen4"] == {"prefetch": 0, "hoist_weight": 0, "_note": "n"}, e' "$tmp/pf.json"
# --per-level: the winner goes in as the entry's member for this CPU's level (avx512, avx2 or
# sse41) with vec_mult, rows_per_task and unroll only; the family-wide knobs stay. Without a
# family-wide entry nothing is written (no empty entry either); not for AArch64 targets.
cp "$tmp/res.json" "$tmp/res-before.json"
"$normforge" tune --op rms_norm_residual --dtype bf16 --shapes 5x300 --trials 1 --reps 3 --budget 60s \
    --no-baselines --per-level --log "$tmp/res.jsonl" --out "$tmp/res.json" | tee "$tmp/run5l.txt"
"$python" - "$tmp/res-before.json" "$tmp/res.json" <<'PY'
import json, sys
before = json.load(open(sys.argv[1]))["x86-64"]["rms_norm_residual"]["bf16"]["small"]
after = json.load(open(sys.argv[2]))["x86-64"]["rms_norm_residual"]["bf16"]["small"]
levels = [l for l in ("avx512", "avx2", "sse41") if l in after]
assert len(levels) == 1, after
lv = after.pop(levels[0])
assert sorted(k for k in lv if not k.startswith("_")) == ["rows_per_task", "unroll", "vec_mult"], lv
assert "_tuned" in lv, lv
assert after == before, (after, before)
print("per-level entry OK:", levels[0], lv)
PY
"$normforge" tune --op rms_norm_residual --dtype bf16 --shapes 5x300 --trials 1 --reps 3 --budget 60s \
    --no-baselines --per-level --log "$tmp/res.jsonl" --out "$tmp/fresh.json" | tee "$tmp/run5m.txt"
grep -q "no family-wide entry" "$tmp/run5m.txt"
if grep -q null "$tmp/fresh.json"; then echo "--per-level wrote an empty entry"; exit 1; fi
if "$normforge" tune --target arm-64-linux --per-level --shapes 4x256 --budget 10s --no-baselines \
    --out "$tmp/arm-pl.json" 2> "$tmp/arm-pl.txt"; then
  echo "--per-level was accepted for an AArch64 target"; exit 1
fi
grep -q "per-level is for x86-64" "$tmp/arm-pl.txt"
# The generator applies a level's knobs on that level's targets only: vec_mult=4 gives 64-lane
# vectors on AVX-512 and 32-lane ones on AVX2; "avx512:vec_mult:1" makes the AVX-512 kernel's 16
# lanes and leaves the AVX2 one alone. A knob the runtime relies on may not differ per level.
gen_stmt() {  # target, extra params...
  local t=$1; shift
  "$generator" -g rms_norm -f lk -o "$tmp" -e stmt "target=$t-large_buffers" op=rms_norm dtype=float32 \
      weight_mode=scale rounding=once vec_mult=4 "$@"
}
gen_stmt x86-64-linux-avx512_skylake; grep -q "x64" "$tmp/lk.stmt"
gen_stmt x86-64-linux-avx512_skylake level_knobs=avx512:vec_mult:1
if grep -q "x64" "$tmp/lk.stmt"; then echo "avx512 level knobs not applied"; exit 1; fi
grep -q "x16" "$tmp/lk.stmt"
gen_stmt x86-64-linux-avx2-fma-f16c level_knobs=avx512:vec_mult:1; grep -q "x32" "$tmp/lk.stmt"
if gen_stmt x86-64-linux-avx2-fma-f16c level_knobs=avx512:parallel:1 2> "$tmp/lk.txt"; then
  echo "a per-level parallel knob was accepted"; exit 1
fi
grep -q "may not differ per level" "$tmp/lk.txt"
# An AVX-512 flavour's member applies on that flavour's target only: "avx512_zen4:hoist_weight:0"
# makes the bf16 pair kernel's zen4 code compute the weight operands per row (no w_low buffer per
# task) and leaves the skylake code hoisting them; a flavour may not turn a hand knob on.
gen_pairs() {  # target, extra params...
  local t=$1; shift
  "$generator" -g rms_norm -f lk -o "$tmp" -e stmt "target=$t-large_buffers" op=rms_norm dtype=bfloat16 pairs=true \
      weight_mode=scale rounding=once vec_mult=1 rows_per_task=4 "$@"
}
gen_pairs x86-64-linux-avx512_zen4; grep -q "allocate w_low" "$tmp/lk.stmt"
gen_pairs x86-64-linux-avx512_zen4 level_knobs=avx512_zen4:hoist_weight:0
if grep -q "allocate w_low" "$tmp/lk.stmt"; then echo "avx512_zen4 member not applied"; exit 1; fi
gen_pairs x86-64-linux-avx512_skylake level_knobs=avx512_zen4:hoist_weight:0; grep -q "allocate w_low" "$tmp/lk.stmt"
if gen_pairs x86-64-linux-avx512_zen4 level_knobs=avx512_zen4:prefetch:1 2> "$tmp/lk.txt"; then
  echo "a flavour member turned prefetch on"; exit 1
fi
grep -q "a level may only turn it off" "$tmp/lk.txt"
for op in rms_norm_backward rms_norm_dweight; do
  "$normforge" tune --op $op --dtype bf16 --shapes 3x300,200x257 --trials 2 --reps 3 --budget 60s \
      --strategy exhaustive --no-baselines --corrupt-candidate 1 --log "$tmp/$op.jsonl" --out "$tmp/bw.json" \
      | tee "$tmp/run-$op.txt"
  grep -q "rejected" "$tmp/run-$op.txt"
  grep -q '"status": "wrong' "$tmp/$op.jsonl"
  grep -q '"status": "ok' "$tmp/$op.jsonl"
done
"$python" - "$tmp" "$generator" <<'PY'
import json, subprocess, sys
tmp, gen = sys.argv[1], sys.argv[2]
db = json.load(open(f"{tmp}/bw.json"))["x86-64"]
target = json.loads(open(f"{tmp}/rms_norm_backward.jsonl").readline())["target"]
for op, extra in (("rms_norm_backward", ["weight_mode=scale"]), ("rms_norm_dweight", [])):
    e = db[op]["bf16"]["block"]
    assert e["parallel"] == 0, e  # serial kernels
    knobs = [f"{k}={v}" for k, v in e.items() if not k.startswith("_") and k != "stream_rows"]
    subprocess.run([gen, "-g", op, "-f", "t", "-o", tmp, "-e", "h", f"target={target}-large_buffers",
                    "dtype=bfloat16"] + extra + knobs, check=True)
print("backward db entries OK")
PY

# The pipelined kernel of nf_rms_norm's medium calls (one-row calls chained over the rows, as
# the runtime runs them; the one class "medium", serial) tunes too; a wrong y is rejected.
"$normforge" tune --op rms_norm_pipelined --dtype bf16 --shapes 40x300,70x4097 --trials 2 --reps 3 --budget 60s \
    --strategy exhaustive --no-baselines --corrupt-candidate 1 --log "$tmp/pipe.jsonl" --out "$tmp/pipe.json" \
    | tee "$tmp/run-pipe.txt"
grep -q "rejected" "$tmp/run-pipe.txt"
grep -q '"status": "wrong' "$tmp/pipe.jsonl"
grep -q '"status": "ok' "$tmp/pipe.jsonl"
"$python" - "$tmp" "$generator" <<'PY'
import json, subprocess, sys
tmp, gen = sys.argv[1], sys.argv[2]
db = json.load(open(f"{tmp}/pipe.json"))["x86-64"]["rms_norm_pipelined"]["bf16"]
assert set(db) == {"medium"}, db
e = db["medium"]
assert e["parallel"] == 0 and e["rows_per_task"] == 1, e
target = json.loads(open(f"{tmp}/pipe.jsonl").readline())["target"]
knobs = [f"{k}={v}" for k, v in e.items() if not k.startswith("_") and k != "stream_rows"]
subprocess.run([gen, "-g", "rms_norm_pipelined", "-f", "t", "-o", tmp, "-e", "h", f"target={target}-large_buffers",
                "dtype=bfloat16", "weight_mode=scale", "rounding=once"] + knobs, check=True)
print("pipelined db entry OK")
PY

# The bf16 pair kernels (dtype bf16p; x86-64): the runner passes bf16 rows as fp32 pairs, checks
# them as bf16, rejects a wrong candidate, and the db key is bf16p. Odd column counts are refused.
"$normforge" tune --op rms_norm --dtype bf16p --shapes 3x300,200x258 --trials 2 --reps 3 --budget 60s \
    --strategy exhaustive --no-baselines --corrupt-candidate 1 --log "$tmp/pairs.jsonl" --out "$tmp/pairs.json" \
    | tee "$tmp/run-pairs.txt"
grep -q "rejected" "$tmp/run-pairs.txt"
grep -q '"status": "wrong' "$tmp/pairs.jsonl"
grep -q '"status": "ok' "$tmp/pairs.jsonl"
"$python" - "$tmp" "$generator" <<'PY'
import json, subprocess, sys
tmp, gen = sys.argv[1], sys.argv[2]
db = json.load(open(f"{tmp}/pairs.json"))["x86-64"]["rms_norm"]
assert set(db) == {"bf16p"}, db
target = json.loads(open(f"{tmp}/pairs.jsonl").readline())["target"]
for cls, e in db["bf16p"].items():
    knobs = [f"{k}={v}" for k, v in e.items() if not k.startswith("_") and k != "stream_rows"]
    subprocess.run([gen, "-g", "rms_norm", "-f", "t", "-o", tmp, "-e", "h", f"target={target}-large_buffers",
                    "op=rms_norm", "dtype=bfloat16", "weight_mode=scale", "rounding=once", "pairs=true"] + knobs,
                   check=True)
print("bf16p db entries OK")
PY
# The fused op's pair kernels: the residual goes in and out as pairs too, and checks as bf16.
"$normforge" tune --op rms_norm_residual --dtype bf16p --shapes 5x300 --trials 1 --reps 3 --budget 30s \
    --no-baselines --log "$tmp/pairs-res.jsonl" --out "$tmp/pairs-res.json" | tee "$tmp/run-pairs-res.txt"
if grep -q '"status": "wrong' "$tmp/pairs-res.jsonl"; then echo "fused bf16p candidate rejected as wrong"; exit 1; fi
grep -q '"status": "ok' "$tmp/pairs-res.jsonl"
if "$normforge" tune --op rms_norm --dtype bf16p --shapes 3x301 --budget 10s --no-baselines \
    --log "$tmp/odd.jsonl" --out "$tmp/odd.json" 2> "$tmp/odd.txt"; then
  echo "an odd column count was accepted for bf16p"; exit 1
fi
grep -q "even number of columns" "$tmp/odd.txt"

# A cross target through --runner (qemu here): it runs, and its timings are labelled as such.
"$normforge" tune --target arm-64-linux --runner 'qemu-aarch64 -L /usr/aarch64-linux-gnu' --shapes 4x256 \
    --trials 1 --reps 3 --budget 60s --no-baselines --log "$tmp/arm.jsonl" --out "$tmp/arm-64.json" | tee "$tmp/run4.txt"
grep -q "not meaningful" "$tmp/run4.txt"
grep -q '"target": "arm-64-linux"' "$tmp/arm.jsonl"
grep -q "not meaningful under emulation" "$tmp/arm.jsonl"
"$python" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['arm-64']['rms_norm']['f32']['small']" "$tmp/arm-64.json"
echo "normforge tune: OK"
