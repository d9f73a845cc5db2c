"""`radstream bench`: end-to-end latency, throughput, errors and cost of the deployed pipeline.

Each concurrency level submits the same number of studies through the real path (S3 upload ->
trigger -> Step Functions -> Lambda -> model server) and waits for every terminal record. The
level starts with an unmeasured warm-up of as many studies as it has in flight, so cold starts
(which `radstream run` shows) do not masquerade as steady-state latency. The first level is the baseline: throughput and p95 of the others are printed as ratios against it,
measured in the same run.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from radstream.tooling.bench.usage import StackProbe, usage_per_study
from radstream.tooling.bench.cost import Cost, lambda_usage, report_lines_since, state_transitions
from radstream.tooling.client import PipelineClient, Study, dicom_sidecar
from radstream.definition import stack as stack_def
from radstream.tooling.runner import percentile


@dataclass
class LevelResult:
    concurrency: int
    studies: int
    succeeded: int
    failed: int
    errors: dict
    wall_s: float
    studies_per_min: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    lambda_invocations: int
    lambda_gb_seconds: float
    state_transitions: int
    cost_per_image_usd: float
    # Embedded target only (None elsewhere): CPU seconds per study by process of the stack and the
    # bench client itself, and AWS requests per study by operation (and by origin), measured.
    cpu_s_per_study: dict | None = None
    requests_per_study: dict | None = None
    requests_per_study_by_origin: dict | None = None


def load_studies(image_dir: Path | None, count: int, run_id: str) -> list[Study]:
    """``count`` studies: the images in ``image_dir`` (cycled; sidecar = same stem .json, or
    derived from DICOM), or synthetic 2048x2048 chest JPEGs when no directory is given."""
    import json

    if image_dir is None:
        from radstream.tooling import synthetic_images as synthetic

        images = [(f"synthetic-{i}.jpg", synthetic.chest_jpeg(i, (2048, 2048)), None) for i in range(min(count, 8))]
    else:
        files = sorted(p for p in Path(image_dir).iterdir()
                       if p.suffix.lower() in (".dcm", ".dicom", ".jpg", ".jpeg", ".png"))
        if not files:
            raise ValueError(f"no .dcm/.jpg/.jpeg/.png images in {image_dir}")
        images = []
        for path in files:
            sidecar = path.with_suffix(".json")
            data = path.read_bytes()
            images.append((path.name, data, json.loads(sidecar.read_text()) if sidecar.exists() else dicom_sidecar(data)))
    studies = []
    for i in range(count):
        name, data, metadata = images[i % len(images)]
        study_id = f"bench-{run_id}-{i:05d}"
        metadata = dict(metadata or {"view": "PA", "timestamp": "2024-01-15T10:00:00Z"}, study_id=study_id)
        studies.append(Study(data, name, metadata, study_id))
    return studies


def run_level(target, studies: list[Study], concurrency: int, progress=None, probe: StackProbe | None = None
              ) -> LevelResult:
    client = PipelineClient(target)
    since_ms = int(time.time() * 1000) - 1000
    records = []
    before = probe.snapshot() if probe else None
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in as_completed([pool.submit(client.submit, s) for s in studies]):
            records.append(future.result())
            if progress:
                progress()
    wall_s = time.perf_counter() - started
    usage = usage_per_study(before, probe.snapshot() if probe else None, len(records)) or {}
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None] or [0.0]
    errors: dict[str, int] = {}
    for r in records:
        if r["status"] != "SUCCEEDED":
            code = r.get("error", {}).get("code", r["status"])
            errors[code] = errors.get(code, 0) + 1
    names = [target.names.function(f.short) for f in stack_def.FUNCTIONS]
    invocations, gb_seconds = lambda_usage(report_lines_since(target.client("logs"), names, since_ms))
    transitions = state_transitions(target.client("stepfunctions"), [r["execution_arn"] for r in records])
    cost = Cost(invocations, gb_seconds, transitions)
    succeeded = sum(r["status"] == "SUCCEEDED" for r in records)
    return LevelResult(
        concurrency=concurrency, studies=len(records), succeeded=succeeded, failed=len(records) - succeeded,
        errors=errors, wall_s=round(wall_s, 2), studies_per_min=round(len(records) / wall_s * 60, 1),
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95), p99_ms=percentile(latencies, 99),
        lambda_invocations=invocations, lambda_gb_seconds=round(gb_seconds, 3), state_transitions=transitions,
        cost_per_image_usd=cost.usd / max(1, len(records)),
        cpu_s_per_study=usage.get("cpu_s_per_study"), requests_per_study=usage.get("requests_per_study"),
        requests_per_study_by_origin=usage.get("requests_per_study_by_origin"),
    )


def run_benchmark(target, image_dir: Path | None, num_studies: int, levels: list[int], progress_factory=None,
                  probe: StackProbe | None = None) -> list[LevelResult]:
    """``probe`` (embedded target) adds CPU per study by process and requests per study by operation."""
    results = []
    for level in levels:
        run_level(target, load_studies(image_dir, level, f"warm-{uuid.uuid4().hex[:6]}-c{level}"), level)
        studies = load_studies(image_dir, num_studies, f"{uuid.uuid4().hex[:6]}-c{level}")
        advance = progress_factory(level, len(studies)) if progress_factory else None
        results.append(run_level(target, studies, level, advance, probe))
    return results


def as_dicts(results: list[LevelResult]) -> list[dict]:
    return [asdict(r) for r in results]
