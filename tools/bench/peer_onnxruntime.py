#!/usr/bin/env python3
"""ONNX Runtime peer for `normforge bench`, run as a co-process so that its batches are timed
interleaved with the other implementations (same moments on a shared machine).

--op: rms_norm (SimplifiedLayerNormalization, opset 17: the contrib op ONNX Runtime fuses LLM
graphs into), rms_norm23 (the standard RMSNormalization, opset 23), layer_norm
(LayerNormalization with scale and bias) or rms_norm_residual (com.microsoft
SkipSimplifiedLayerNormalization: y and the sum x + skip, ONNX Runtime's fused residual op).
Every call runs through an IOBinding whose inputs and outputs are preallocated arrays, one set
per rotating buffer set, as an engine that cares about speed calls it (a plain session.run
allocates and returns new output arrays on every call, ~15% slower on a 64 MiB case).
Commands on stdin, one answer line each on stdout:
  (at start)            -> status <TAB> ok|why-not <TAB> version
  case ROWS COLS DTYPE SETS -> ready <TAB> ok|why-not   (builds the session and SETS bound
                           input/output sets, runs once, checks the outputs against float64)
  batch N               -> time <TAB> seconds-per-call  (N calls, rotating over the sets;
                           time.perf_counter around the loop, Python's call overhead included)
  quit"""
import argparse
import sys
import time

# --op: (ONNX op, domain, opset, its inputs, its node outputs ("" = not produced), the graph outputs)
OPS = {
    "rms_norm": ("SimplifiedLayerNormalization", "", 17, ["x", "w"], ["y"], ["y"]),
    "rms_norm23": ("RMSNormalization", "", 23, ["x", "w"], ["y"], ["y"]),
    "layer_norm": ("LayerNormalization", "", 17, ["x", "w", "b"], ["y"], ["y"]),
    "rms_norm_residual": ("SkipSimplifiedLayerNormalization", "com.microsoft", 1, ["x", "skip", "w"],
                          ["y", "", "", "sum"], ["y", "sum"]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="rms_norm", choices=sorted(OPS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eps", type=float, default=1e-6)
    ap.add_argument("--corrupt", action="store_true", help="test hook: perturb the first output before the check")
    a = ap.parse_args()
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError as e:
        print(f"status\tnot installed ({e.name}; make bench-peers installs it)\t", flush=True)
        return
    print(f"status\tok\t{ort.__version__}", flush=True)
    mods = (np, ort, TensorProto, helper)
    call = None
    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        if f[0] == "quit":
            break
        if f[0] == "case" and len(f) == 5:
            call = None  # free the previous case's buffers first
            status, call = build_case(mods, int(f[1]), int(f[2]), f[3], int(f[4]), a)
            print("ready\t" + status.replace("\t", " ").replace("\n", " "), flush=True)
        elif f[0] == "batch" and len(f) == 2 and call is not None:
            n = int(f[1])
            t0 = time.perf_counter()
            for _ in range(n):
                call()
            print(f"time\t{(time.perf_counter() - t0) / n!r}", flush=True)
        else:
            print("error\tunknown command or no case: " + line.strip(), flush=True)


def to_bf16(np, v):  # round to nearest even, as uint16 bits (finite values: no uint32 overflow)
    u = np.ascontiguousarray(v, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)


def from_bf16(np, u):
    return (np.asarray(u).view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def build_case(mods, rows, cols, dt, sets, a):
    """(status, call): call() runs the next bound set; status 'ok' or why the case cannot run."""
    np, ort, TensorProto, helper = mods
    bf16 = dt == "bf16"
    elem = TensorProto.BFLOAT16 if bf16 else TensorProto.FLOAT
    op_type, domain, opset, inputs, node_outputs, outputs = OPS[a.op]
    attrs = {"epsilon": a.eps} if domain else {"axis": -1, "epsilon": a.eps}
    node = helper.make_node(op_type, inputs, node_outputs, domain=domain or None, **attrs)
    shape = {"x": [rows, cols], "skip": [rows, cols], "w": [cols], "b": [cols], "y": [rows, cols], "sum": [rows, cols]}
    graph = helper.make_graph([node], a.op, [helper.make_tensor_value_info(n, elem, shape[n]) for n in inputs],
                              [helper.make_tensor_value_info(n, elem, shape[n]) for n in outputs])
    imports = [helper.make_opsetid("", opset if not domain else 17)]
    if domain:
        imports.append(helper.make_opsetid(domain, opset))
    model = helper.make_model(graph, opset_imports=imports)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    # Its pool threads must not spin between batches: they would take the cores from the
    # implementation timed next (the driver idles between its batches).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # no kernel for this type
        return "unsupported: " + str(e).splitlines()[0][:160], None

    # The arrays ONNX Runtime reads and writes: float32, or bf16 bits as uint16. Only those are
    # kept (a 65536x4096 case has 1 GiB per float32 matrix); the check reads a few rows back.
    rng = np.random.default_rng(2024)
    raw = (lambda v: to_bf16(np, v)) if bf16 else (lambda v: v)
    val = (lambda u: from_bf16(np, u).astype(np.float64)) if bf16 else (lambda u: np.asarray(u, dtype=np.float64))
    vec = {"w": raw((0.5 + (np.arange(cols) % 7) * 0.1).astype(np.float32)),
           "b": raw(((np.arange(cols) % 5) * 0.1 - 0.2).astype(np.float32))}
    mats = ["x", "skip"] if "skip" in inputs else ["x"]
    stored = np.uint16 if bf16 else np.float32
    try:
        bindings = []
        for _ in range(max(1, sets)):
            bd = sess.io_binding()
            keep = {}
            for n in inputs + outputs:
                if n in vec:
                    keep[n] = vec[n]
                elif n in mats:  # uniform in [-1, 1), made in pieces of rows (bounded temporaries)
                    keep[n] = np.empty((rows, cols), dtype=stored)
                    for r0 in range(0, rows, 1024):
                        piece = rng.random((min(1024, rows - r0), cols), dtype=np.float32) * 2 - 1
                        keep[n][r0:r0 + piece.shape[0]] = raw(piece)
                else:
                    keep[n] = np.zeros((rows, cols), dtype=stored)
                # Wraps the array's memory (no copy), for either dtype.
                ov = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(keep[n], elem)
                keep[n + "_ov"] = ov
                (bd.bind_ortvalue_input if n in inputs else bd.bind_ortvalue_output)(n, ov)
            bindings.append((bd, keep))
        sess.run_with_iobinding(bindings[0][0])
    except Exception as e:
        return "unsupported: " + str(e).splitlines()[0][:160], None

    # Check rows of the first set against float64 (the first, middle and last ones and a few more).
    k0 = bindings[0][1]
    w, b = val(vec["w"]), val(vec["b"])
    tol = 1e-5 if dt == "f32" else 1.6e-2
    for r in sorted({0, 1, rows // 3, rows // 2, rows - 2, rows - 1} & set(range(rows))):
        xd = val(k0["x"][r])
        y = val(k0["y"][r])
        if a.corrupt and r == 0:
            y[0] = y[0] * 4 + 1
        if "skip" in inputs:
            # The new residual is x + skip rounded to the dtype, and y normalizes that.
            want_sum = val(raw((xd + val(k0["skip"][r])).astype(np.float32)))
            got_sum = val(k0["sum"][r])
            bad = np.flatnonzero(got_sum != want_sum)
            if bad.size:
                c = bad[0]
                return f"wrong: sum({r},{c})={got_sum[c]} want {want_sum[c]}", None
            xd = want_sum
        if a.op == "layer_norm":
            dev = xd - xd.mean()
            n = dev / np.sqrt((dev * dev).mean() + a.eps) * w
            ref, scale = n + b, np.abs(n) + np.abs(b) + np.abs(w)
        else:
            ref = xd / np.sqrt((xd * xd).mean() + a.eps) * w
            scale = np.abs(ref)
        bad = np.flatnonzero(np.abs(y - ref) > tol * scale + 1e-6)
        if bad.size:
            c = bad[0]
            return f"wrong: y({r},{c})={y[c]} want {ref[c]}", None

    state = {"i": 0}

    def call():
        sess.run_with_iobinding(bindings[state["i"]][0])
        state["i"] = (state["i"] + 1) % len(bindings)

    return "ok", call


if __name__ == "__main__":
    main()
