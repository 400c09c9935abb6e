#!/usr/bin/env python3
"""Plots a `normforge bench --json` file: GB/s per case, one panel per dtype, one line per
implementation, with the copy floors drawn dashed. Usage: plot.py BENCH.json OUT.png"""
import json
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.load(open(src))
    ops = list(dict.fromkeys(c.get("op", "rms_norm") for c in data["cases"]))
    many = len(ops) > 1  # one line per (op, implementation) when several ops were run
    # One panel per dtype (fp32 and bf16 move different bytes per element and have different
    # peers), the cases in run order along x.
    dtypes = list(dict.fromkeys(c["dtype"] for c in data["cases"]))
    fig, axes = plt.subplots(len(dtypes), 1, squeeze=False,
                             figsize=(max(8, 0.9 * len(data["cases"]) / len(dtypes) + 3), 4.2 * len(dtypes)))
    m = data["machine"]
    names = {"rms_norm": "RMSNorm", "rms_norm_residual": "fused residual RMSNorm", "layer_norm": "LayerNorm"}
    # The same colour for an implementation in every panel.
    keys = list(dict.fromkeys((f"{c['op']}: {r['impl']}" if many else r["impl"])
                              for c in data["cases"] for r in c["results"] if r["status"] == "ok"))
    cmap = plt.get_cmap("tab20" if len(keys) > 10 else "tab10")
    colour = {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
    for ax, dt in zip(axes[:, 0], dtypes):
        cases = [c for c in data["cases"] if c["dtype"] == dt]
        labels = [c["shape"] + (f"\n{c['op']}" if many else "") for c in cases]
        series = {}
        for i, c in enumerate(cases):
            for r in c["results"]:
                if r["status"] == "ok":
                    key = f"{c['op']}: {r['impl']}" if many else r["impl"]
                    series.setdefault(key, {})[i] = r["gbps"]
        for name, pts in series.items():
            xs = sorted(pts)
            impl = name.split(": ")[-1]
            style = dict(linestyle="--", linewidth=1.2) if impl in ("memcpy", "ntcopy") else dict(marker="o")
            if impl == "normforge":
                style.update(linewidth=2.5)
            ax.plot(xs, [pts[i] for i in xs], label=name, color=colour[name], **style)
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("GB/s (bytes moved / median time)")
        ax.set_title(f"{', '.join(names.get(o, o) for o in ops)} {dt}, {m['cpu']} ({m['cores']} cores), "
                     f"{data['threads']} thread(s), {'warm' if data.get('warm') else 'cold'} buffers, "
                     f"{data['date'][:10]}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
