"""torch.nn.functional.rms_norm timed like nf_cuda_bench (CUDA events around batches of calls,
rotating over 512 MiB of inputs, median of repetitions), output checked against float64 first.
Prints one line per case: TORCH <dtype> <rows>x<cols> ok|wrong <ms per call>."""
import argparse
import sys

import torch  # noqa: E402  (an ImportError is reported by the caller as "not installed")

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=21)
args = ap.parse_args()
dev = torch.device("cuda")
POOL = 512 << 20
for name, dt in (("bf16", torch.bfloat16), ("f32", torch.float32)):
    for rows, cols in ((1, 4096), (64, 4096), (16384, 8192)):
        es = torch.tensor([], dtype=dt).element_size()
        sets = max(1, POOL // (rows * cols * es))
        x = torch.randn(sets, rows, cols, device=dev).to(dt) * 1.5
        y = torch.empty_like(x[0])
        w = (0.5 + torch.rand(cols, device=dev)).to(dt)
        out = torch.nn.functional.rms_norm(x[0], (cols,), w, 1e-6)
        xd = x[0].double()
        ref = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6) * w.double()
        rel = ((out.double() - ref).norm() / ref.norm()).item()
        if not rel < (1e-6 if dt == torch.float32 else 4e-3):
            print(f"TORCH {name} {rows}x{cols} wrong 0 (rel {rel:.2e})", flush=True)
            continue

        def batch(n, start):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            for i in range(n):
                torch.nn.functional.rms_norm(x[(start + i) % sets], (cols,), w, 1e-6)
            b.record()
            b.synchronize()
            return a.elapsed_time(b) / n

        probe = sorted(batch(4, 0) for _ in range(3))[1]
        n = int(min(2000, max(1, 2.0 / max(probe, 1e-4))))
        times = sorted(batch(n, r * n) for r in range(args.reps))
        print(f"TORCH {name} {rows}x{cols} ok {times[len(times) // 2]:.6f}", flush=True)
        del x, y
sys.exit(0)
