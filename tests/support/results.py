"""Result documents shaped exactly as `radstream bench --out` / `radstream ab --out` write them, built from
the real summarising code (stats, cost model, A/B comparison) over made-up timings: input for the report tests."""

from __future__ import annotations

import numpy as np

from radstream.definition.names import Names
from radstream.definition.workflow import render_definition
from radstream.tooling.bench import stats
from radstream.tooling.bench.ab import SCENARIOS, _summary, compare
from radstream.tooling.bench.benchmark import RESULT_KIND, TARGETS
from radstream.tooling.bench.cost import cost_per_image
from radstream.tooling.bench.pricing import load_pricing
from radstream.tooling.bench.readback import Usage, parse_report

import json

FUNCTIONS = ("upload-trigger", "validate-metadata", "prepare-tensors", "run-inference", "store-results", "send-telemetry")


def bench_level(concurrency: int = 4, studies: int = 40, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    uploads = np.sort(rng.uniform(0, 20, studies))
    e2e = rng.lognormal(np.log(600), 0.3, studies)
    ends = uploads + e2e / 1000
    invocations = [parse_report(fn, f"REPORT RequestId: r\tDuration: {d:.2f} ms\tBilled Duration: {int(d) + 1} ms\t"
                                    f"Memory Size: {1024 if fn == 'prepare-tensors' else 256} MB\tMax Memory Used: 80 MB")
                   for fn in FUNCTIONS for d in rng.uniform(5, 120, studies)]
    usage = Usage(studies=studies, window_s=21.0, invocations=invocations, log_bytes=studies * 1800, log_events=studies * 19,
                  state_transitions=studies * 6, s3_bytes_per_study={"incoming": studies * 650_000, "preprocessed": studies * 200_000},
                  telemetry_records=studies * 8, telemetry_bytes=studies * 3000, telemetry_firehose_billed_bytes=studies * 8 * 5120)
    tput = stats.throughput(list(uploads), list(ends))
    level = {
        "concurrency": concurrency, "studies": studies, "succeeded": studies - 1, "failed": 1, "success_pct": 97.5,
        "errors": {"count": 1, "pct": 2.5, "by_code": {"TruncatedImageError": 1}},
        "latency_ms": stats.latency_summary(list(e2e)), "workflow_latency_ms": stats.latency_summary(list(e2e * 0.8)),
        "throughput": tput,
        "stages": {fn: {"invocations": studies, "duration_p50_ms": 40.0, "duration_p95_ms": 90.0, "billed_p50_ms": 41,
                        "billed_total_ms": 1700, "gb_seconds": 0.4, "memory_size_mb": 256, "max_memory_used_mb": 80,
                        "memory_used_pct": 31.2, "cold_starts": 1, "init_p50_ms": 250.0} for fn in FUNCTIONS},
        "requests": {"available": False, "note": "not counted here", "per_study_by_service": None, "by_operation": None},
        "usage": usage.as_dict(),
        "cost": cost_per_image(usage, load_pricing(), images_per_hour=tput["sustained_per_min"] * 60).as_dict(),
        "timeline": [{"study_id": f"s{i}", "status": "SUCCEEDED" if i else "FAILED", "upload_s": float(u),
                      "end_s": float(e), "e2e_ms": float(d), "code": None if i else "TruncatedImageError"}
                     for i, (u, e, d) in enumerate(zip(uploads, ends, e2e))],
        "floor": {"available": True, "workers": concurrency, "images": studies, "failed": 0, "wall_s": 2.0,
                  "images_per_min": 1200.0, "pipeline_fraction": round(tput["sustained_per_min"] / 1200, 3),
                  "preprocess_ms": stats.latency_summary([20.0, 30.0]), "inference_ms": stats.latency_summary([10.0, 12.0])},
    }
    level["targets"] = [{"name": n, "threshold": t, "value": show(level), "pass": bool(ok(level))}
                        for n, t, ok, show in TARGETS]
    return level


def workflow() -> dict:
    return {"available": True, "name": "radstream-pipeline", "type": "STANDARD",
            "definition": json.loads(render_definition(Names()))}


def bench_doc(levels=(1, 4)) -> dict:
    return {"kind": RESULT_KIND, "version": 1, "started_at": "2026-11-28T21:00:00+00:00", "target": "embedded",
            "machine": {"cpus": 2, "note": "shared"}, "config": {"num_studies": 40, "levels": list(levels), "images": "synthetic"},
            "workflow": workflow(), "pricing": load_pricing().summary(),
            "levels": [bench_level(c, seed=i) for i, c in enumerate(levels)]}


def ab_doc(shift_ms: float = -150.0) -> dict:
    rng = np.random.default_rng(3)
    chosen = SCENARIOS["model-batching"]
    arms = []
    for k, arm in enumerate(chosen.arms):
        blocks = [{"round": r, "studies": 10, "errors": 0, "e2e_ms": list(rng.normal(700 + k * shift_ms, 40, 10)),
                   "p50_ms": 0.0, "p95_ms": 0.0, "throughput_per_min": float(rng.normal(200 - k * shift_ms / 5, 5)),
                   "cost_per_image_usd": float(rng.normal(2.5e-4, 1e-6)), "cost": {}, "stages": {}} for r in range(4)]
        arms.append({"name": arm.name, "label": arm.label, "model_options": list(arm.model_options), "blocks": blocks,
                     "summary": _summary(blocks)})
    metrics = [d.as_dict(arms[0]["name"], arms[1]["name"]) for d in compare(arms[0]["blocks"], arms[1]["blocks"], 0.95, 500, 0)]
    return {"kind": "radstream-ab", "version": 1, "scenario": chosen.name, "description": chosen.description,
            "target": "embedded", "started_at": "2026-11-28T21:10:00+00:00",
            "design": {"blocks": 4, "studies_per_block": 10, "concurrency": 4, "order": "ABAB...", "warmup_per_block": 4,
                       "bootstrap_resamples": 500, "seed": 0, "images": "synthetic"},
            "arms": arms, "comparisons": [{"a": arms[0]["name"], "b": arms[1]["name"], "confidence": 0.95, "metrics": metrics}],
            "notes": ["a note"], "machine": {"cpus": 2}, "workflow": workflow(), "pricing": load_pricing().summary()}
