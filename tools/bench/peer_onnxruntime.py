#!/usr/bin/env python3
"""ONNX Runtime peer for `normforge bench`, run as a co-process so that its batches are timed
interleaved with the other implementations (same moments on a shared machine).

--op: rms_norm (SimplifiedLayerNormalization, opset 17: the contrib op ONNX Runtime fuses LLM
graphs into), rms_norm23 (the standard RMSNormalization, opset 23) or layer_norm
(LayerNormalization with scale and bias). Commands on stdin, one answer line each on stdout:
  (at start)            -> status <TAB> ok|why-not <TAB> version
  case ROWS COLS DTYPE SETS -> ready <TAB> ok|why-not   (builds the session and SETS input
                           buffers, runs once, checks y against a float64 reference)
  batch N               -> time <TAB> seconds-per-call  (N calls, rotating over the sets;
                           time.perf_counter around the loop, Python's call overhead included)
  quit"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="rms_norm", choices=["rms_norm", "rms_norm23", "layer_norm"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eps", type=float, default=1e-6)
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


def to_bf16(np, v):  # round to nearest even, as uint16 bits
    u = v.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def build_case(mods, rows, cols, dt, sets, a):
    """(status, call): call() runs the next input set; status 'ok' or why the case cannot run."""
    np, ort, TensorProto, helper = mods
    elem = {"f32": TensorProto.FLOAT, "bf16": TensorProto.BFLOAT16}[dt]
    ln = a.op == "layer_norm"
    inputs = ["x", "w", "b"] if ln else ["x", "w"]
    op_type, opset = {"rms_norm": ("SimplifiedLayerNormalization", 17), "rms_norm23": ("RMSNormalization", 23),
                      "layer_norm": ("LayerNormalization", 17)}[a.op]
    node = helper.make_node(op_type, inputs, ["y"], axis=-1, epsilon=a.eps)
    graph = helper.make_graph([node], a.op,
                              [helper.make_tensor_value_info("x", elem, [rows, cols])] +
                              [helper.make_tensor_value_info(n, elem, [cols]) for n in inputs[1:]],
                              [helper.make_tensor_value_info("y", elem, [rows, cols])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
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
    rng = np.random.default_rng(2024)
    xs = [rng.random((rows, cols), dtype=np.float32) * 2 - 1 for _ in range(max(1, sets))]
    w = (0.5 + (np.arange(cols) % 7) * 0.1).astype(np.float32)
    b = ((np.arange(cols) % 5) * 0.1 - 0.2).astype(np.float32)
    feeds = []
    if dt == "bf16":
        wb, bb = to_bf16(np, w), to_bf16(np, b)
        w = (wb.astype(np.uint32) << 16).view(np.float32)
        b = (bb.astype(np.uint32) << 16).view(np.float32)
        try:
            for i, x in enumerate(xs):
                xb = to_bf16(np, x)
                xs[i] = (xb.astype(np.uint32) << 16).view(np.float32)
                fd = {"x": ort.OrtValue.ortvalue_from_numpy_with_onnx_type(xb, elem),
                      "w": ort.OrtValue.ortvalue_from_numpy_with_onnx_type(wb, elem)}
                if ln:
                    fd["b"] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(bb, elem)
                feeds.append(fd)
        except Exception as e:
            return "unsupported: cannot feed bfloat16 from numpy: " + str(e)[:120], None
    else:
        feeds = [({"x": x, "w": w, "b": b} if ln else {"x": x, "w": w}) for x in xs]

    try:
        y = sess.run(None, feeds[0])[0]
    except Exception as e:
        return "unsupported: " + str(e).splitlines()[0][:160], None
    if dt == "bf16":
        y = (np.asarray(y).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    xd = xs[0].astype(np.float64)
    if ln:
        dev = xd - xd.mean(axis=1, keepdims=True)
        n = dev / np.sqrt((dev * dev).mean(axis=1, keepdims=True) + a.eps) * w.astype(np.float64)
        ref = n + b.astype(np.float64)
        scale = np.abs(n) + np.abs(b.astype(np.float64)) + np.abs(w.astype(np.float64))
    else:
        ref = xd / np.sqrt((xd * xd).mean(axis=1, keepdims=True) + a.eps) * w.astype(np.float64)
        scale = np.abs(ref)
    tol = 1e-5 if dt == "f32" else 1.6e-2
    err = np.abs(np.asarray(y, dtype=np.float64) - ref) > tol * scale + 1e-6
    if err.any():
        r, c = np.argwhere(err)[0]
        return f"wrong: y({r},{c})={float(y[r][c])} want {ref[r][c]}", None

    state = {"i": 0}

    def call():
        sess.run(None, feeds[state["i"]])
        state["i"] = (state["i"] + 1) % len(feeds)

    return "ok", call


if __name__ == "__main__":
    main()
