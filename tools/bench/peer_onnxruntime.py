#!/usr/bin/env python3
"""ONNX Runtime peer for `normforge bench`: SimplifiedLayerNormalization (--op rms_norm) or
LayerNormalization with scale and bias (--op layer_norm) per shape and dtype, timed like the C++ bench (warm-up, batches of at least --batch-s, --reps repetitions,
median), output checked against a float64 reference before timing. Prints tab-separated lines:
  status <TAB> ok|why-not <TAB> version
  result <TAB> ROWSxCOLS <TAB> dtype <TAB> status <TAB> median_s <TAB> min_s <TAB> max_s"""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--op", default="rms_norm", choices=["rms_norm", "layer_norm"])
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--dtypes", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--batch-s", type=float, default=0.02)
    ap.add_argument("--eps", type=float, default=1e-6)
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError as e:
        print(f"status\tnot installed ({e.name}; make bench-peers installs it)\t")
        return

    print(f"status\tok\t{ort.__version__}", flush=True)
    for shape in a.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        for dt in a.dtypes.split(","):
            r = run_case(np, onnx, ort, TensorProto, helper, rows, cols, dt, a)
            status = r["status"].replace("\t", " ").replace("\n", " ")
            print(f"result\t{r['shape']}\t{dt}\t{status}\t{r.get('median_s', 0)}\t"
                  f"{r.get('min_s', 0)}\t{r.get('max_s', 0)}", flush=True)


def run_case(np, onnx, ort, TensorProto, helper, rows, cols, dt, a):
    res = {"shape": f"{rows}x{cols}", "dtype": dt}
    elem = {"f32": TensorProto.FLOAT, "bf16": TensorProto.BFLOAT16}[dt]
    ln = a.op == "layer_norm"
    inputs = ["x", "w", "b"] if ln else ["x", "w"]
    node = helper.make_node("LayerNormalization" if ln else "SimplifiedLayerNormalization", inputs, ["y"],
                            axis=-1, epsilon=a.eps)
    graph = helper.make_graph([node], a.op,
                              [helper.make_tensor_value_info("x", elem, [rows, cols])] +
                              [helper.make_tensor_value_info(n, elem, [cols]) for n in inputs[1:]],
                              [helper.make_tensor_value_info("y", elem, [rows, cols])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # no kernel for this type
        res["status"] = "unsupported: " + str(e).splitlines()[0][:160]
        return res
    rng = np.random.default_rng(2024)
    x = (rng.random((rows, cols), dtype=np.float32) * 2 - 1)
    w = (0.5 + (np.arange(cols) % 7) * 0.1).astype(np.float32)
    b = ((np.arange(cols) % 5) * 0.1 - 0.2).astype(np.float32)
    if dt == "bf16":
        def to_bf16(v):  # round to nearest even, as uint16 bits
            u = v.view(np.uint32).astype(np.uint64)
            return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        xb, wb, bb = to_bf16(x), to_bf16(w), to_bf16(b)
        x = (xb.astype(np.uint32) << 16).view(np.float32)
        w = (wb.astype(np.uint32) << 16).view(np.float32)
        b = (bb.astype(np.uint32) << 16).view(np.float32)
        try:
            feeds = {"x": ort.OrtValue.ortvalue_from_numpy_with_onnx_type(xb, elem),
                     "w": ort.OrtValue.ortvalue_from_numpy_with_onnx_type(wb, elem)}
            if ln:
                feeds["b"] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(bb, elem)
        except Exception as e:
            res["status"] = "unsupported: cannot feed bfloat16 from numpy: " + str(e)[:120]
            return res
    else:
        feeds = {"x": x, "w": w, "b": b} if ln else {"x": x, "w": w}

    def call():
        return sess.run(None, feeds)[0]

    try:
        y = call()
    except Exception as e:
        res["status"] = "unsupported: " + str(e).splitlines()[0][:160]
        return res
    if dt == "bf16":
        y = (np.asarray(y).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    xd = x.astype(np.float64)
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
        res["status"] = f"wrong: y({r},{c})={float(y[r][c])} want {ref[r][c]}"
        return res

    call()  # warm-up
    t0 = time.perf_counter()
    call()
    iters = max(1, int(min(1e6, a.batch_s / max(time.perf_counter() - t0, 1e-9))))
    samples = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            call()
        samples.append((time.perf_counter() - t0) / iters)
    samples.sort()
    n = len(samples)
    med = samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])
    res.update(status="ok", median_s=med, min_s=samples[0], max_s=samples[-1])
    return res


if __name__ == "__main__":
    main()
