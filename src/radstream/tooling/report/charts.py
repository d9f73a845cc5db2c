"""The report's charts (matplotlib, no display needed), each drawn from a saved result document."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

TARGET_P95_MS = 5000
PALETTE = ["#2874a6", "#ca6f1e", "#239b56", "#884ea0", "#b03a2e", "#7f8c8d"]


def latency(level: dict) -> Figure:
    """Histogram and CDF of end-to-end latency (upload -> execution end) of the level's studies."""
    values = np.array([t["e2e_ms"] for t in level["timeline"] if t["e2e_ms"] is not None])
    fig = Figure(figsize=(10, 3.6))
    hist, cdf = fig.subplots(1, 2)
    hist.hist(values, bins=min(30, max(5, len(values) // 2)), color=PALETTE[0], edgecolor="white")
    hist.set_xlabel("end-to-end latency (ms)")
    hist.set_ylabel("studies")
    hist.set_title(f"latency histogram, {len(values)} studies at {level['concurrency']} in flight", fontsize=10)
    ordered = np.sort(values)
    cdf.step(ordered, np.arange(1, len(ordered) + 1) / len(ordered), where="post", color=PALETTE[0])
    for q, style in (("p50", ":"), ("p95", "--"), ("p99", "-.")):
        v = level["latency_ms"][q]
        if v is not None:
            cdf.axvline(v, color="#555555", linestyle=style, linewidth=1)
            cdf.text(v, 0.02, f" {q} {v:,.0f}", rotation=90, fontsize=8, va="bottom")
    if ordered.size and ordered.max() > 0.5 * TARGET_P95_MS:
        cdf.axvline(TARGET_P95_MS, color="#b03a2e", linewidth=1.2, label="p95 target 5 s")
        cdf.legend(fontsize=8, loc="lower right")
    cdf.set_xlabel("end-to-end latency (ms)")
    cdf.set_ylabel("fraction of studies")
    cdf.set_ylim(0, 1.02)
    cdf.set_title("cumulative distribution", fontsize=10)
    cdf.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def throughput(level: dict) -> Figure:
    """Studies finished per second over the run, the rolling 10 s rate, uploads, and the compute floor."""
    ends = np.array(sorted(t["end_s"] for t in level["timeline"] if t["end_s"] is not None))
    starts = np.array(sorted(t["upload_s"] for t in level["timeline"]))
    fig = Figure(figsize=(10, 3.4))
    ax = fig.add_subplot()
    span = float(ends.max()) if ends.size else 1.0
    bin_s = 1.0 if span > 5 else 0.25
    bins = np.arange(0, span + bin_s, bin_s)
    counts, edges = np.histogram(ends, bins=bins)
    ax.bar(edges[:-1], counts / bin_s * 60, width=bin_s, align="edge", color=PALETTE[0], alpha=0.35,
           label=f"finished per {bin_s:g} s (as images/min)")
    window = 10.0
    grid = np.linspace(0, span, 200)
    rolling = [((ends > t - window) & (ends <= t)).sum() / min(window, max(t, bin_s)) * 60 for t in grid]
    ax.plot(grid, rolling, color=PALETTE[0], linewidth=2, label="rolling 10 s rate")
    uploads = [(starts <= t).sum() - (ends <= t).sum() for t in grid]
    tp = level["throughput"]
    ax.axhline(tp["sustained_per_min"], color="#555555", linestyle="--", linewidth=1,
               label=f"sustained {tp['sustained_per_min']:.0f}/min")
    ax.set_xlabel("seconds since the first upload")
    ax.set_ylabel("images per minute")
    ax2 = ax.twinx()
    ax2.plot(grid, uploads, color=PALETTE[1], linewidth=1, alpha=0.8, label="in flight")
    ax2.set_ylabel("studies in flight", color=PALETTE[1])
    handles = ax.get_legend_handles_labels()
    extra = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + extra[0], handles[1] + extra[1], fontsize=8, loc="lower right")
    ax.set_title(f"throughput over time ({level['concurrency']} in flight)", fontsize=10)
    fig.tight_layout()
    return fig


def floor(level: dict) -> Figure | None:
    fl = level.get("floor") or {}
    if not fl.get("available"):
        return None
    fig = Figure(figsize=(10, 2.2))
    ax = fig.add_subplot()
    names = ["pipeline (end to end)", "compute floor (no orchestration)"]
    values = [level["throughput"]["sustained_per_min"], fl["images_per_min"]]
    ax.barh(names, values, color=[PALETTE[0], "#95a5a6"])
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}/min", va="center", fontsize=9)
    ax.set_xlim(0, max(values) * 1.25)
    ax.set_xlabel("images per minute")
    ax.set_title(f"the pipeline sustains {fl.get('pipeline_fraction', 0):.0%} of the compute floor "
                 f"({fl['workers']} processes)", fontsize=10)
    fig.tight_layout()
    return fig


def stages(level: dict) -> Figure:
    """Each function's duration p50/p95 (bars) and peak memory against its memory size (labels)."""
    items = sorted(level["stages"].items(), key=lambda kv: kv[1]["duration_p95_ms"])
    names = [k for k, _ in items]
    y = np.arange(len(names))
    fig = Figure(figsize=(10, 0.5 * len(names) + 1.4))
    ax = fig.add_subplot()
    ax.barh(y + 0.2, [s["duration_p50_ms"] for _, s in items], height=0.4, color=PALETTE[0], label="p50")
    ax.barh(y - 0.2, [s["duration_p95_ms"] for _, s in items], height=0.4, color=PALETTE[1], label="p95")
    top = max([s["duration_p95_ms"] for _, s in items] or [1])
    for i, (_, s) in enumerate(items):
        ax.text(s["duration_p95_ms"] + top * 0.01, i - 0.2,
                f"{s['max_memory_used_mb']}/{s['memory_size_mb']} MB, {s['cold_starts']} cold", fontsize=8, va="center")
    ax.set_yticks(y, names)
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel("duration (ms, Lambda REPORT lines)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("per-stage duration; label: peak memory / memory size, cold starts", fontsize=10)
    fig.tight_layout()
    return fig


def cost(level: dict) -> Figure:
    c = level["cost"]
    items = sorted(((k, v) for k, v in c["per_image_usd"].items() if v is not None), key=lambda kv: kv[1])
    fig = Figure(figsize=(10, 0.42 * len(items) + 1.4))
    ax = fig.add_subplot()
    total = c["total_per_image_usd"] or 1
    ax.barh([k for k, _ in items], [v * 1e6 for _, v in items], color=PALETTE[2])
    for i, (_, v) in enumerate(items):
        ax.text(v * 1e6, i, f" {v * 1e6:.2f} µUSD ({v / total:.0%})", va="center", fontsize=8)
    ax.set_xlim(0, max([v for _, v in items] or [1]) * 1e6 * 1.3)
    ax.set_xlabel("micro-USD per image")
    missing = ", ".join(c["not_measured"])
    ax.set_title(f"cost per image {total:.6f} USD ({c['per_1000_images_usd']:.3f} USD per 1,000)"
                 + (f"; not measured: {missing}" if missing else ""), fontsize=10)
    fig.tight_layout()
    return fig


def levels(doc: dict) -> Figure | None:
    """Throughput and p95 against concurrency, when the benchmark ran several levels."""
    lv = doc["levels"]
    if len(lv) < 2:
        return None
    x = [level["concurrency"] for level in lv]
    fig = Figure(figsize=(10, 3.2))
    ax = fig.add_subplot()
    ax.plot(x, [level["throughput"]["sustained_per_min"] for level in lv], "o-", color=PALETTE[0], label="sustained")
    ax.set_xlabel("studies in flight")
    ax.set_ylabel("images per minute", color=PALETTE[0])
    ax2 = ax.twinx()
    ax2.plot(x, [level["latency_ms"]["p95"] for level in lv], "s--", color=PALETTE[1], label="p95")
    ax2.set_ylabel("p95 latency (ms)", color=PALETTE[1])
    ax.set_title("throughput and p95 by concurrency", fontsize=10)
    fig.tight_layout()
    return fig


def ab(doc: dict) -> Figure:
    """Each comparison's differences as a share of the first arm, with their intervals; and every block."""
    fig = Figure(figsize=(11, 0.9 * sum(len(c["metrics"]) for c in doc["comparisons"]) + 1.6))
    forest, blocks = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    labels, y = [], 0
    for ci, comparison in enumerate(doc["comparisons"]):
        for d in comparison["metrics"]:
            base = d["a"] or 1
            lo, mid, hi = d["low"] / base * 100, d["diff"] / base * 100, d["high"] / base * 100
            colour = ("#239b56" if (d["diff"] < 0) == d["lower_is_better"] else "#b03a2e") if d["significant"] else "#7f8c8d"
            forest.plot([lo, hi], [y, y], color=colour, linewidth=3, solid_capstyle="butt")
            forest.plot(mid, y, "o", color=colour)
            verdict = "no significant difference" if not d["significant"] else (
                "better" if (d["diff"] < 0) == d["lower_is_better"] else "worse")
            forest.text(mid, y - 0.22, f"{mid:+.1f}% [{lo:+.1f}, {hi:+.1f}] {verdict}", fontsize=8, ha="center",
                        va="bottom", color=colour)
            labels.append(f"{d['metric']}\n{comparison['b']} vs {comparison['a']}")
            y += 1
    forest.axvline(0, color="#333333", linewidth=1)
    forest.set_yticks(range(len(labels)), labels, fontsize=8)
    forest.set_ylim(len(labels) - 0.5, -0.7)  # first metric on top, room for its label
    forest.set_xlabel(f"difference, % of the first arm ({doc['comparisons'][0]['confidence']:.0%} bootstrap interval)")
    forest.set_title(f"A/B {doc['scenario']}: differences", fontsize=10)
    lim = max(abs(v) for c in doc["comparisons"] for d in c["metrics"] for v in
              (d["low"] / (d["a"] or 1) * 100, d["high"] / (d["a"] or 1) * 100)) * 2.2 + 12
    forest.set_xlim(-lim, lim)
    for i, arm in enumerate(doc["arms"]):
        rounds = [b["round"] + 1 for b in arm["blocks"]]
        blocks.plot(rounds, [b["throughput_per_min"] for b in arm["blocks"]], "o-", color=PALETTE[i], label=arm["name"])
    blocks.set_xticks(range(1, doc["design"]["blocks"] + 1))
    blocks.set_xlabel("round (every arm runs one block per round)")
    blocks.set_ylabel("images per minute")
    blocks.set_title("throughput of every block", fontsize=10)
    blocks.legend(fontsize=8)
    blocks.grid(alpha=0.3)
    fig.tight_layout()
    return fig
