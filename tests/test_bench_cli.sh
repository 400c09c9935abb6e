#!/usr/bin/env bash
# `normforge bench` on tiny shapes: it runs, prints both tables, writes valid JSON with every
# implementation; a peer whose output is wrong is reported as WRONG and not timed (exit 1).
set -euo pipefail
normforge=$1 python=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$normforge" bench --shapes 2x64,16x1024 --dtypes f32,bf16 --reps 2 --json "$tmp/ok.json" > "$tmp/ok.txt"
grep -q "NormForge speed-up vs each" "$tmp/ok.txt"
# The large-call mode in the header and JSON follows NF_LARGE_CALLS; --other-large-calls adds
# NormForge in the other mode, checked and timed.
NF_LARGE_CALLS=two_pass "$normforge" bench --shapes 2x64 --dtypes f32 --reps 1 --other-large-calls \
  --json "$tmp/mode.json" > "$tmp/mode.txt"
grep -q "| large calls two_pass |" "$tmp/mode.txt"
"$python" - "$tmp/mode.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["large_calls"] == "two_pass", d["large_calls"]
impls = {r["impl"]: r for r in d["cases"][0]["results"]}
assert "normforge@two_pass" not in impls, impls.keys()
for name in ("normforge@pipelined", "normforge@two_pass_streamed"):
    r = impls[name]
    assert r["status"] == "ok" and r["median_s"] > 0, r
PY
# --streaming adds each op's NormForge call with every y streamed (nf_set_output_stores),
# checked and timed; where NF_OUTPUT_STORES already streams, the header says so and the column
# is not repeated.
"$normforge" bench --shapes 2x64 --dtypes f32,bf16 --ops rms_norm,rms_norm_residual,layer_norm --reps 1 \
  --streaming --json "$tmp/st.json" > "$tmp/st.txt"
grep -q "| output stores auto |" "$tmp/st.txt"
NF_OUTPUT_STORES=streaming "$normforge" bench --shapes 2x64 --dtypes f32 --reps 1 --streaming \
  --json "$tmp/st2.json" > "$tmp/st2.txt"
grep -q "| output stores streaming |" "$tmp/st2.txt"
"$python" - "$tmp/st.json" "$tmp/st2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["output_stores"] == "auto", d["output_stores"]
assert len(d["cases"]) == 6, [c["shape"] for c in d["cases"]]
for c in d["cases"]:
    impls = {r["impl"]: r for r in c["results"]}
    r = impls["normforge@streaming"]
    assert r["status"] == "ok" and r["median_s"] > 0, (c["op"] if "op" in c else c, r)
d2 = json.load(open(sys.argv[2]))
assert d2["output_stores"] == "streaming", d2["output_stores"]
assert "normforge@streaming" not in {r["impl"] for r in d2["cases"][0]["results"]}
PY
NF_OUTPUT_STORES=streaming "$normforge" info > "$tmp/info_st.txt"
grep -q "NF_OUTPUT_STORES): streaming$" "$tmp/info_st.txt"
NF_OUTPUT_STORES=bogus "$normforge" info > "$tmp/info_st.txt"
grep -q "NF_OUTPUT_STORES): auto$" "$tmp/info_st.txt"
NF_LARGE_CALLS=pipelined "$normforge" info > "$tmp/info.txt"
grep -q "): pipelined$" "$tmp/info.txt"
"$python" - "$tmp/ok.json" "$tmp/ok.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
notes = open(sys.argv[2]).read().split("\nnotes:\n")[-1]
assert d["machine"]["cores"] >= 1 and d["threads"] == 1, d["machine"]
assert d["large_calls"] in ("pipelined", "two_pass", "two_pass_streamed"), d["large_calls"]
assert [c["shape"] for c in d["cases"]] == ["2x64", "2x64", "16x1024", "16x1024"], d["cases"]
for c in d["cases"]:
    impls = {r["impl"]: r for r in c["results"]}
    for name in ("normforge", "memcpy", "ntcopy", "naive", "Mullapudi2016", "Li2018", "Adams2019", "onednn", "onnxruntime", "ort-rmsnorm23"):
        assert name in impls, (name, c["shape"])
    for name in ("normforge", "memcpy", "naive"):
        r = impls[name]
        assert r["status"] == "ok" and r["median_s"] > 0 and r["gbps"] > 0, r
    for name in ("Mullapudi2016", "Li2018"):  # scheduled for 4096x4096: may fail on small shapes
        r = impls[name]
        ok = r["status"] == "ok" and r["median_s"] > 0
        assert ok or r["status"].startswith("failed at this shape: "), r
    for r in c["results"]:  # anything not timed says why, in the JSON and in the notes
        assert r["status"] == "ok" or len(r["status"]) > 5, r
        if r["status"] != "ok":
            assert any(l.lstrip().startswith(r["impl"]) and l.endswith(": " + r["status"])
                       for l in notes.splitlines()), (r, notes)
print("bench JSON ok")
PY

# The plot (matplotlib comes with `make bench-peers`): one panel per dtype, a real PNG.
if "$python" -c "import matplotlib" 2>/dev/null; then
  "$python" "$(dirname "$0")/../tools/bench/plot.py" "$tmp/ok.json" "$tmp/ok.png" > /dev/null
  test "$(head -c 8 "$tmp/ok.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
  echo "plot written"
else
  echo "matplotlib is not installed in the venv (make bench-peers): the plot is not exercised here"
fi

if "$normforge" bench --shapes 2x64 --dtypes f32 --reps 2 --corrupt naive --json "$tmp/bad.json" > "$tmp/bad.txt"; then
  echo "a wrong implementation did not fail the bench"; exit 1
fi
grep -q "WRONG" "$tmp/bad.txt"
"$python" - "$tmp/bad.json" <<'PY'
import json, sys
r = {r["impl"]: r for r in json.load(open(sys.argv[1]))["cases"][0]["results"]}["naive"]
assert r["status"].startswith("wrong:") and "median_s" not in r, r
print("wrong output reported, not timed")
PY

# ONNX Runtime's co-process (installed by `make bench-peers`, not by `make test`): on a shape it
# runs (>= 2^20 elements), its ops are checked and timed interleaved with the rest, in fp32 and
# bf16 (its calls go through IOBindings: a plain session.run cannot hand back bf16 outputs), for
# rms_norm and for the fused residual op (SkipSimplifiedLayerNormalization); a wrong output from
# it is reported as wrong, not timed.
if "$python" -c "import onnxruntime, onnx, numpy" 2>/dev/null; then
  "$normforge" bench --shapes 1024x1024 --dtypes f32,bf16 --reps 2 --json "$tmp/ort.json" > "$tmp/ort.txt"
  "$normforge" bench --ops rms_norm_residual --shapes 1024x1024 --dtypes f32 --reps 2 --json "$tmp/ort-res.json" > "$tmp/ort-res.txt"
  if "$normforge" bench --shapes 1024x1024 --dtypes f32 --reps 2 --corrupt onnxruntime --json "$tmp/ort-bad.json" > "$tmp/ort-bad.txt"; then
    echo "a wrong ONNX Runtime output did not fail the bench"; exit 1
  fi
  "$python" - "$tmp/ort.json" "$tmp/ort-res.json" "$tmp/ort-bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f32, bf16 = ({r["impl"]: r for r in c["results"]} for c in d["cases"])
for name in ("onnxruntime", "ort-rmsnorm23"):
    assert f32[name]["status"] == "ok" and f32[name]["median_s"] > 0, f32[name]
r = bf16["onnxruntime"]
assert r["status"] == "ok" and r["median_s"] > 0, r
r = bf16["ort-rmsnorm23"]  # ONNX Runtime 1.32 has no bf16 Mul for opset 23's op: says so
assert (r["status"] == "ok" and r["median_s"] > 0) or r["status"].startswith("unsupported: "), r
assert d["peers"]["onnxruntime"][0].isdigit(), d["peers"]
r = {r["impl"]: r for r in json.load(open(sys.argv[2]))["cases"][0]["results"]}["onnxruntime"]
assert r["status"] == "ok" and r["median_s"] > 0, r
bad = {r["impl"]: r for r in json.load(open(sys.argv[3]))["cases"][0]["results"]}
assert bad["onnxruntime"]["status"].startswith("wrong: y(0,0)") and "median_s" not in bad["onnxruntime"], bad
assert bad["ort-rmsnorm23"]["status"] == "ok", bad  # only the corrupted one
print("ONNX Runtime checked and timed (fp32, bf16, fused residual); its wrong output reported")
PY
else
  echo "ONNX Runtime is not installed in the venv (make bench-peers): its co-process path is not exercised here"
fi
