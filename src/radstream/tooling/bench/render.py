"""Terminal output of `radstream bench` and `radstream ab` (rich tables), from their result documents."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table


def _ms(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _usd(v) -> str:
    return "not measured" if v is None else f"{v:.7f}"


def print_bench(doc: dict, out: Console) -> None:
    levels = doc["levels"]
    base = levels[0]
    out.print(f"[bold]RadStream end to end[/bold] on {doc['target']}: {doc['config']['num_studies']} studies per level "
              f"({doc['config']['images']}), warm-up excluded; latency = upload start -> execution end")
    table = Table(title="latency (ms) and throughput (images/min)")
    for col in ("in flight", "p50", "p95", "p99", "mean", "min", "max", "sustained", "peak 10 s", "vs base",
                "p95 vs base", "errors"):
        table.add_column(col, justify="right")
    for lv in levels:
        lat, tp = lv["latency_ms"], lv["throughput"]
        errors = lv["errors"]
        err = f"{errors['count']} ({errors['pct']:.1f}%)" + (
            ": " + ", ".join(f"{k} {v}" for k, v in errors["by_code"].items()) if errors["count"] else "")
        peak = f"{tp['peak_per_min']:.1f}" + ("" if tp["peak_window_s"] == 10.0 else f" ({tp['peak_window_s']:.0f} s run)")
        table.add_row(str(lv["concurrency"]), _ms(lat["p50"]), _ms(lat["p95"]), _ms(lat["p99"]), _ms(lat["mean"]),
                      _ms(lat["min"]), _ms(lat["max"]), f"{tp['sustained_per_min']:.1f}", peak,
                      _ratio(tp["sustained_per_min"], base["throughput"]["sustained_per_min"]),
                      _ratio(lat["p95"], base["latency_ms"]["p95"]), err)
    out.print(table)
    for lv in levels:
        _print_level_detail(lv, out, len(levels) > 1)
    pricing = doc["pricing"]
    out.print(f"[dim]prices: {pricing['file']} ({pricing['region']}, as of {pricing['valid_as_of']}"
              f"{', TO BE CHECKED against the sources in the file' if pricing['to_be_checked'] else ''}); "
              f"{doc['machine']['note']}[/dim]")


def _ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "—"


def _print_level_detail(lv: dict, out: Console, heading: bool) -> None:
    if heading:
        out.rule(f"{lv['concurrency']} in flight")
    stages = Table(title="per stage (Lambda REPORT lines)")
    for col in ("function", "invocations", "p50 ms", "p95 ms", "billed p50 ms", "GB-s", "peak MB / size", "cold starts"):
        stages.add_column(col, justify="right" if col != "function" else "left")
    for fn, s in lv["stages"].items():
        stages.add_row(fn, str(s["invocations"]), f"{s['duration_p50_ms']:.1f}", f"{s['duration_p95_ms']:.1f}",
                       str(s["billed_p50_ms"]), f"{s['gb_seconds']:.3f}",
                       f"{s['max_memory_used_mb']} / {s['memory_size_mb']} ({s['memory_used_pct']:.0f}%)",
                       str(s["cold_starts"]) + (f" (init p50 {s['init_p50_ms']:.0f} ms)" if s["cold_starts"] else ""))
    out.print(stages)
    req = lv["requests"]
    if req["available"]:
        per = ", ".join(f"{svc} {n:g}" for svc, n in sorted(req["per_study_by_service"].items(), key=lambda kv: -kv[1]))
        out.print(f"AWS requests per study by service: {per} (total {sum(req['per_study_by_service'].values()):g}; "
                  f"{req['note']}, the benchmark's polling excluded, the uploads kept)")
    else:
        out.print(f"AWS requests per study: not available — {req['note']}")
    cpu = lv.get("cpu_s_per_study")
    if cpu:
        parts = ", ".join(f"{role} {v * 1000:.0f}" for role, v in sorted(cpu.items(), key=lambda kv: -kv[1])
                          if role != "total")
        out.print(f"CPU ms per study by process: {parts} (total {cpu['total'] * 1000:.0f} ms on "
                  f"{os.cpu_count()} cores)")
    cost = lv["cost"]
    table = Table(title=f"cost per image: ${cost['total_per_image_usd']:.7f}  (${cost['per_1000_images_usd']:.4f} per 1,000)")
    for col in ("component", "USD / image", "USD / 1,000", "share", "measured from"):
        table.add_column(col, justify="left" if col in ("component", "measured from") else "right")
    total = cost["total_per_image_usd"] or 1
    for name, v in sorted(cost["per_image_usd"].items(), key=lambda kv: -(kv[1] or 0)):
        table.add_row(name, _usd(v), "—" if v is None else f"{v * 1000:.5f}", "—" if v is None else f"{v / total:.1%}",
                      cost["notes"].get(name, ""))
    out.print(table)
    largest = cost["largest"]
    if largest["component"]:
        out.print(f"largest share: {largest['component']} ({largest['share']:.0%} of the cost per image)")
    floor = lv.get("floor") or {}
    if floor.get("available"):
        out.print(f"compute floor ({floor['workers']} processes, preprocessing + inference, no orchestration): "
                  f"{floor['images_per_min']:.1f} images/min (preprocess p50 {floor['preprocess_ms']['p50']:.0f} ms, "
                  f"inference p50 {floor['inference_ms']['p50']:.0f} ms); the pipeline sustains "
                  f"[bold]{floor.get('pipeline_fraction', 0):.0%}[/bold] of it")
    else:
        out.print(f"compute floor: not measured — {floor.get('reason', 'skipped')}")
    targets = Table(title="targets")
    for col in ("target", "threshold", "measured", "result"):
        targets.add_column(col)
    for t in lv["targets"]:
        targets.add_row(t["name"], t["threshold"], t["value"], "[green]PASS[/green]" if t["pass"] else "[red]FAIL[/red]")
    out.print(targets)


def print_ab(doc: dict, out: Console) -> None:
    arms = [a["name"] for a in doc["arms"]]
    out.print(f"[bold]A/B {doc['scenario']}[/bold] on {doc['target']}: {', '.join(arms)}; {doc['design']['blocks']} "
              f"interleaved rounds x {doc['design']['studies_per_block']} studies at {doc['design']['concurrency']} in flight "
              f"per arm (order {doc['design']['order']})")
    out.print(f"[dim]{doc['description']}[/dim]")
    table = Table(title="per arm (all blocks pooled)")
    for col in ("arm", "config", "studies", "p50 ms", "p95 ms", "images/min (block mean)", "USD / image", "errors"):
        table.add_column(col, justify="left" if col in ("arm", "config") else "right")
    for arm in doc["arms"]:
        s = arm["summary"]
        table.add_row(arm["name"], arm["label"], str(s["studies"]), _ms(s["p50_ms"]), _ms(s["p95_ms"]),
                      f"{s['throughput_per_min']:.1f}", _usd(s["cost_per_image_usd"]), str(s["errors"]))
    out.print(table)
    for comparison in doc["comparisons"]:
        table = Table(title=f"{comparison['b']} vs {comparison['a']} (difference = {comparison['b']} - {comparison['a']}, "
                            f"{comparison['confidence']:.0%} bootstrap interval)")
        for col in ("metric", comparison["a"], comparison["b"], "difference", "interval", "verdict"):
            table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
        for d in comparison["metrics"]:
            style = "green" if d["significant"] else "dim"
            table.add_row(d["metric"], f"{d['a']:.4g}", f"{d['b']:.4g}", f"{d['diff']:+.4g}",
                          f"[{d['low']:+.4g}, {d['high']:+.4g}]", f"[{style}]{d['verdict']}[/{style}]")
        out.print(table)
    for note in doc.get("notes", []):
        out.print(f"[dim]- {note}[/dim]")
