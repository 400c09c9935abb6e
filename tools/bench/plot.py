#!/usr/bin/env python3
"""Plots a `normforge bench --json` file: GB/s per case, one line per implementation, with the
copy floors drawn dashed. Usage: plot.py BENCH.json OUT.png"""
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
    cases = [f"{c['shape']}\n{c['dtype']}" + (f"\n{c['op']}" if many else "") for c in data["cases"]]
    series = {}
    for i, c in enumerate(data["cases"]):
        for r in c["results"]:
            if r["status"] == "ok":
                key = f"{c['op']}: {r['impl']}" if many else r["impl"]
                series.setdefault(key, {})[i] = r["gbps"]
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(cases)), 5.5))
    for name, pts in series.items():
        xs = sorted(pts)
        impl = name.split(": ")[-1]
        style = dict(linestyle="--", linewidth=1.2) if impl in ("memcpy", "ntcopy") else dict(marker="o")
        if impl == "normforge":
            style.update(linewidth=2.5)
        ax.plot(xs, [pts[i] for i in xs], label=name, **style)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, fontsize=7)
    ax.set_ylabel("GB/s (bytes the op moves / median time)")
    m = data["machine"]
    names = {"rms_norm": "RMSNorm", "rms_norm_residual": "fused residual RMSNorm", "layer_norm": "LayerNorm"}
    ax.set_title(f"{', '.join(names.get(o, o) for o in ops)}, {m['cpu']} ({m['cores']} cores), {data['threads']} thread(s), "
                 f"{data['date'][:10]}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
