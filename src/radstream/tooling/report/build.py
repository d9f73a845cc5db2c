"""Builds the report: ``report.html`` (self-contained: charts embedded as PNG data) and the PNGs beside it.

Inputs are the documents `radstream bench --out` and `radstream ab --out` save. Sections: targets
PASS/FAIL, the pipeline diagram (from the state machine definition the benchmark read from the
deployment), then per benchmark level latency (histogram, CDF), throughput over time, the compute
floor, per-stage breakdown and cost breakdown, then each A/B experiment with its intervals.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display

from matplotlib.figure import Figure  # noqa: E402

from radstream.tooling.bench.ab import RESULT_KIND as AB_KIND  # noqa: E402
from radstream.tooling.bench.benchmark import RESULT_KIND as BENCH_KIND  # noqa: E402
from radstream.tooling.report import charts, diagram  # noqa: E402

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       color: #1c2833; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #d5d8dc; padding-bottom: .2em; margin-top: 1.8em; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #d5d8dc; padding: .3em .6em; text-align: right; }
th { background: #f4f6f7; } td.l, th.l { text-align: left; }
.pass { color: #1e8449; font-weight: bold; } .fail { color: #b03a2e; font-weight: bold; }
.note { color: #566573; font-size: .88em; } img { max-width: 100%; border: 1px solid #eaecee; margin: .4em 0; }
"""


class ReportError(ValueError):
    """An input that is not a saved benchmark or A/B result."""


def load(paths: list[str | Path]) -> tuple[list[dict], list[dict]]:
    benches, abs_ = [], []
    for path in paths:
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as exc:
            raise ReportError(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ReportError(f"{path} is not JSON: {exc}") from None
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind == BENCH_KIND:
            benches.append(doc | {"_path": str(path)})
        elif kind == AB_KIND:
            abs_.append(doc | {"_path": str(path)})
        else:
            raise ReportError(f"{path} is not a result of `radstream bench --out` or `radstream ab --out` "
                              f"(kind {kind!r})")
    if not benches and not abs_:
        raise ReportError("no results given: pass the files `radstream bench --out` / `radstream ab --out` wrote")
    return benches, abs_


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.parts: list[str] = []
        self.pngs: list[Path] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str, cls: str = "") -> None:
        self.parts.append(f"<p class='{cls}'>{html.escape(text)}</p>" if cls else f"<p>{html.escape(text)}</p>")

    def figure(self, fig: Figure | None, name: str, alt: str) -> None:
        if fig is None:
            return
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        data = buffer.getvalue()
        path = self.out_dir / f"{name}.png"
        path.write_bytes(data)
        self.pngs.append(path)
        self.parts.append(f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>")

    def table(self, header: list[str], rows: list[list], left: int = 1) -> None:
        out = ["<table><tr>" + "".join(f"<th class='{'l' if i < left else ''}'>{html.escape(h)}</th>"
                                       for i, h in enumerate(header)) + "</tr>"]
        for row in rows:
            cells = []
            for i, cell in enumerate(row):
                cls = "l" if i < left or not _numeric(cell) else ""
                if cell in ("PASS", "FAIL"):
                    cls += " pass" if cell == "PASS" else " fail"
                cells.append(f"<td class='{cls}'>{html.escape(str(cell))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append("".join(out) + "</table>")


def _numeric(cell) -> bool:
    text = str(cell).replace(",", "").replace("%", "").split(" (")[0].strip()
    try:
        float(text)
        return True
    except ValueError:
        return text in ("—", "not measured")


def build_report(paths: list[str | Path], out_dir: str | Path, definition: dict | None = None) -> Path:
    """Write ``out_dir/report.html`` and its PNGs; returns the HTML's path. ``definition`` (a live
    DescribeStateMachine) is used when no benchmark result carries one."""
    benches, experiments = load(paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = _Writer(out)
    w.h(1, "RadStream performance report")
    w.p(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from "
        + ", ".join(d["_path"] for d in benches + experiments)
        + ". Figures measured on a shared machine: absolute values are noisy; ratios and A/B differences within "
          "one run are what to compare.", "note")

    for i, doc in enumerate(benches):
        w.h(2, f"Targets — benchmark {i + 1} ({doc['target']}, {doc['started_at'][:16]})")
        w.table(["in flight", "target", "threshold", "measured", "result"],
                [[lv["concurrency"], t["name"], t["threshold"], t["value"], "PASS" if t["pass"] else "FAIL"]
                 for lv in doc["levels"] for t in lv["targets"]], left=3)

    workflow = next((d["workflow"] for d in benches if d.get("workflow", {}).get("available")), None)
    workflow = workflow or next((d["workflow"] for d in experiments if d.get("workflow", {}).get("available")), None)
    w.h(2, "Pipeline")
    if workflow or definition:
        chosen = workflow or definition
        w.figure(diagram.draw(chosen["definition"], f"{chosen.get('name', 'state machine')} "
                                                    f"({chosen.get('type', 'STANDARD')}), as deployed"),
                 "pipeline", "pipeline diagram")
        w.p("Drawn from the state machine definition read from the deployment (DescribeStateMachine): solid "
            "arrows are Next, dashed red arrows are Catch into the failure path.", "note")
    else:
        w.p("No state machine definition: neither the results nor a reachable target had one.", "note")

    for i, doc in enumerate(benches):
        suffix = f"b{i + 1}"
        w.h(2, f"Benchmark {i + 1}: {doc['config']['num_studies']} studies per level, {doc['config']['images']}")
        w.p(f"Target {doc['target']}; prices {doc['pricing']['file']} ({doc['pricing']['region']}, "
            f"as of {doc['pricing']['valid_as_of']}{', to be checked' if doc['pricing']['to_be_checked'] else ''}).",
            "note")
        w.figure(charts.levels(doc), f"{suffix}-levels", "throughput and p95 by concurrency")
        for lv in doc["levels"]:
            tag = f"{suffix}-c{lv['concurrency']}"
            lat, tp = lv["latency_ms"], lv["throughput"]
            w.h(3, f"{lv['concurrency']} in flight")
            w.table(["studies", "errors", "p50 ms", "p95 ms", "p99 ms", "mean", "min", "max", "sustained /min",
                     "peak 10 s /min"],
                    [[lv["studies"], f"{lv['errors']['count']} ({lv['errors']['pct']}%)", lat["p50"], lat["p95"],
                      lat["p99"], lat["mean"], lat["min"], lat["max"], tp["sustained_per_min"], tp["peak_per_min"]]],
                    left=0)
            if lv["errors"]["by_code"]:
                w.p("errors by code: " + ", ".join(f"{k} {v}" for k, v in lv["errors"]["by_code"].items()))
            w.figure(charts.latency(lv), f"{tag}-latency", "latency histogram and CDF")
            w.figure(charts.throughput(lv), f"{tag}-throughput", "throughput over time")
            w.figure(charts.floor(lv), f"{tag}-floor", "pipeline vs compute floor")
            w.figure(charts.stages(lv), f"{tag}-stages", "per-stage breakdown")
            w.table(["function", "invocations", "p50 ms", "p95 ms", "billed p50 ms", "GB-s", "peak / size MB",
                     "cold starts"],
                    [[fn, s["invocations"], s["duration_p50_ms"], s["duration_p95_ms"], s["billed_p50_ms"],
                      s["gb_seconds"], f"{s['max_memory_used_mb']} / {s['memory_size_mb']}", s["cold_starts"]]
                     for fn, s in lv["stages"].items()])
            req = lv["requests"]
            w.p("AWS requests per study by service: " + (
                ", ".join(f"{k} {v:g}" for k, v in req["per_study_by_service"].items()) if req["available"]
                else f"not available ({req['note']})"))
            w.figure(charts.cost(lv), f"{tag}-cost", "cost breakdown")
            c = lv["cost"]
            w.table(["component", "USD per image", "USD per 1,000", "measured from"],
                    [[k, "not measured" if v is None else f"{v:.7f}", "—" if v is None else f"{v * 1000:.5f}",
                      c["notes"].get(k, "")] for k, v in sorted(c["per_image_usd"].items(), key=lambda kv: -(kv[1] or 0))])

    for i, doc in enumerate(experiments):
        w.h(2, f"A/B {doc['scenario']} ({doc['target']})")
        design = doc["design"]
        w.p(f"{doc['description']} {design['blocks']} interleaved rounds ({design['order']}) x "
            f"{design['studies_per_block']} studies at {design['concurrency']} in flight per arm, "
            f"{design['warmup_per_block']} warm-up studies before each block.")
        w.table(["arm", "configuration", "studies", "errors", "p50 ms", "p95 ms", "images/min", "USD/image"],
                [[a["name"], a["label"], a["summary"]["studies"], a["summary"]["errors"], a["summary"]["p50_ms"],
                  a["summary"]["p95_ms"], f"{a['summary']['throughput_per_min']:.1f}",
                  f"{a['summary']['cost_per_image_usd']:.7f}"] for a in doc["arms"]], left=2)
        w.figure(charts.ab(doc), f"ab{i + 1}-{doc['scenario']}", "A/B differences with intervals")
        for comparison in doc["comparisons"]:
            w.table(["metric", comparison["a"], comparison["b"], "difference", "interval", "verdict"],
                    [[d["metric"], f"{d['a']:.4g}", f"{d['b']:.4g}", f"{d['diff']:+.4g}",
                      f"[{d['low']:+.4g}, {d['high']:+.4g}]", d["verdict"]] for d in comparison["metrics"]])
        for note in doc.get("notes", []):
            w.p(note, "note")

    page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>RadStream performance report</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(w.parts) + "</body></html>")
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
