"""`radstream bench`: end-to-end latency, throughput, errors, stages, requests and cost of the deployed pipeline.

Each concurrency level submits its studies through the real path (S3 upload -> trigger -> Step
Functions -> Lambda -> model server), ``concurrency`` in flight, and waits for every terminal record.
A level starts with an unmeasured warm-up of as many studies as it has in flight, so cold starts
(which `radstream run` shows) do not masquerade as steady-state latency. Latency is measured from the
start of the upload to the moment the study's terminal record was written (its ``stored_at``; the
execution's end where a study has no record), the same point on Standard and Express workflows;
clocks are the same machine's on the embedded target. After the level, with the pipeline idle, the
same images go through the compute floor (:mod:`radstream.tooling.bench.floor`). Usage and cost are
read back afterwards (:mod:`radstream.tooling.bench.readback`, :mod:`radstream.tooling.bench.cost`).

The first level is the baseline: the others are also printed as ratios against it, measured in the same run.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from botocore.exceptions import ClientError

from radstream.definition import names as naming
from radstream.infra.deploy import deployed_workflow, stack_outputs
from radstream.tooling.bench import readback
from radstream.tooling.bench.cost import cost_per_image
from radstream.tooling.bench.floor import compute_floor
from radstream.tooling.bench.pricing import Pricing
from radstream.tooling.bench.stats import latency_summary, percentile, throughput
from radstream.tooling.bench.usage import StackProbe, usage_per_study
from radstream.tooling.client import PipelineClient, Study, dicom_sidecar
from radstream.tooling.errors import StudyIdTakenError
from radstream.tooling.stack.emulator_admin import flush_telemetry

RESULT_KIND = "radstream-bench"
# The product's targets (PASS/FAIL per level).
TARGETS = (
    ("p95 latency", "< 5 s", lambda level: level["latency_ms"]["p95"] is not None and level["latency_ms"]["p95"] < 5000,
     lambda level: f"{(level['latency_ms']['p95'] or 0) / 1000:.2f} s"),
    ("throughput", ">= 10 images/min", lambda level: level["throughput"]["sustained_per_min"] >= 10,
     lambda level: f"{level['throughput']['sustained_per_min']:.1f} images/min"),
    ("cost per image", "< $0.002", lambda level: level["cost"]["total_per_image_usd"] < 0.002,
     lambda level: f"${level['cost']['total_per_image_usd']:.6f}"
     + (f" (not measured: {', '.join(level['cost']['not_measured'])})" if level["cost"]["not_measured"] else "")),
    ("success", "> 99%", lambda level: level["success_pct"] > 99, lambda level: f"{level['success_pct']:.1f}%"),
)


def load_studies(image_dir: Path | None, count: int, run_id: str) -> list[Study]:
    """``count`` studies: the images in ``image_dir`` (cycled; sidecar = same stem .json, or
    derived from DICOM), or synthetic 2048x2048 chest JPEGs when no directory is given."""
    if image_dir is None:
        from radstream.tooling import synthetic_images as synthetic

        images = [(f"synthetic-{i}.jpg", synthetic.chest_jpeg(i, (2048, 2048)), None) for i in range(min(count, 8))]
    else:
        if not Path(image_dir).is_dir():
            raise ValueError(f"--image-dir {image_dir}: no such directory")
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


def run_batch(target, studies: list[Study], concurrency: int, progress=None) -> list[dict]:
    """Submit ``studies`` with ``concurrency`` in flight; each record gains ``upload_start`` and
    ``ended_at`` (epoch s) and ``e2e_ms`` (upload start -> terminal record written)."""
    client = PipelineClient(target)

    def one(study: Study) -> dict:
        upload_start = time.time()
        try:
            client.upload(study)
        except (ClientError, StudyIdTakenError) as exc:
            code = exc.code if isinstance(exc, StudyIdTakenError) else exc.response["Error"]["Code"]
            return {"study_id": study.study_id, "status": "UPLOAD_REFUSED", "upload_start": upload_start,
                    "error": {"code": code, "message": str(exc)}}
        record = client.wait(study.study_id)
        record["upload_start"] = upload_start
        ended = record.get("recorded_at") or record.get("stopped_at")
        record["ended_at"] = ended
        record["e2e_ms"] = round((ended - upload_start) * 1000, 1) if ended else None
        return record

    records = []
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        for future in as_completed([pool.submit(one, s) for s in studies]):
            records.append(future.result())
            if progress:
                progress()
    finally:  # on Ctrl-C, drop the studies not yet submitted instead of waiting for all of them
        pool.shutdown(wait=True, cancel_futures=True)
    return records


def stage_breakdown(invocations: list[readback.Invocation]) -> dict:
    """Per function: duration p50/p95, billed duration, peak memory against memory size, cold starts."""
    by_fn: dict[str, list] = defaultdict(list)
    for inv in invocations:
        by_fn[inv.function].append(inv)
    out = {}
    for fn, items in by_fn.items():
        durations = [i.duration_ms for i in items]
        billed = [i.billed_ms for i in items]
        memory = max(i.memory_mb for i in items)
        peak = max(i.max_memory_mb for i in items)
        inits = [i.init_ms for i in items if i.init_ms is not None]
        out[fn] = {"invocations": len(items), "duration_p50_ms": round(percentile(durations, 50), 1),
                   "duration_p95_ms": round(percentile(durations, 95), 1),
                   "billed_p50_ms": percentile(billed, 50), "billed_total_ms": sum(billed),
                   "gb_seconds": round(sum(i.gb_seconds for i in items), 4),
                   "memory_size_mb": memory, "max_memory_used_mb": peak, "memory_used_pct": round(peak / memory * 100, 1),
                   "cold_starts": len(inits), "init_p50_ms": round(percentile(inits, 50), 1) if inits else None}
    return dict(sorted(out.items()))


def describe_workflow(target) -> dict:
    """The deployed state machine: its type and definition (read with DescribeStateMachine)."""
    try:
        sm = target.client("stepfunctions").describe_state_machine(
            stateMachineArn=deployed_workflow(target).state_machine_arn)
    except ClientError as exc:
        return {"available": False, "reason": exc.response["Error"]["Message"]}
    return {"available": True, "name": sm["name"], "type": sm.get("type", "STANDARD"),
            "definition": json.loads(sm["definition"])}


def measure(target, studies: list[Study], concurrency: int, pricing: Pricing, *, workflow_type: str = "STANDARD",
            tensor_storage: str = "standard", progress=None, probe: StackProbe | None = None) -> dict:
    """Run one measured batch and read back what it used: the figures of one level (or one A/B block).
    ``probe`` (embedded target) snapshots the stack's request counters and CPU around the batch."""
    before = probe.snapshot() if probe else None
    since_ms = int(time.time() * 1000)
    records = run_batch(target, studies, concurrency, progress)
    until_ms = int(time.time() * 1000) + 1
    after = probe.snapshot() if probe else None
    return summarise(target, records, concurrency, pricing, since_ms=since_ms, until_ms=until_ms,
                     snapshots=(before, after), workflow_type=workflow_type, tensor_storage=tensor_storage)


def summarise(target, records: list[dict], concurrency: int, pricing: Pricing, *, since_ms: int, until_ms: int,
              snapshots, workflow_type: str, tensor_storage: str = "standard") -> dict:
    names = target.names
    n = len(records)
    succeeded = sum(r["status"] == "SUCCEEDED" for r in records)
    errors = Counter(r.get("error", {}).get("code", r["status"]) for r in records if r["status"] != "SUCCEEDED")
    e2e = [r["e2e_ms"] for r in records if r.get("e2e_ms") is not None]
    workflow = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    finished = [r for r in records if r.get("ended_at")]
    tput = throughput([r["upload_start"] for r in records], [r["ended_at"] for r in finished])

    if target.name == "embedded":
        flush_telemetry(target.endpoint_url)  # deliver this batch's telemetry now instead of at the buffer interval
    logs, sfn, s3 = target.client("logs"), target.client("stepfunctions"), target.client("s3")
    invocations, log_bytes, log_events = readback.lambda_invocations(logs, since_ms, until_ms, names)
    arns = [r["execution_arn"] for r in records if r.get("execution_arn")]
    try:
        transitions = readback.state_transitions(sfn, arns) if workflow_type == "STANDARD" else None
    except ClientError:
        transitions = None  # Express executions have no history API
    telemetry = readback.telemetry_of(s3, names, {r["study_id"] for r in records}, since_ms / 1000)
    before, after = snapshots
    stack_usage = usage_per_study(before, after, n)
    if stack_usage is not None:
        pipeline_requests, note = readback.pipeline_requests(before.served, after.served), "counted by the emulator"
    elif target.name == "embedded":
        pipeline_requests, note = None, "the emulator did not answer its stats route"
    else:
        pipeline_requests, note = None, (f"{target.name} does not report requests per operation to a client "
                                         "(CloudTrail data events would); not measured")
    used = readback.Usage(
        studies=n, window_s=(until_ms - since_ms) / 1000, invocations=invocations, log_bytes=log_bytes,
        log_events=log_events, state_transitions=transitions,
        execution_durations_s=execution_durations(records, telemetry, workflow_type),
        failed_studies=n - succeeded,
        s3_bytes_per_study=readback.study_bytes(s3, names, [r["study_id"] for r in records],
                                                stack_outputs(target).get("TensorsBucketName")),
        telemetry_records=telemetry.records, telemetry_bytes=telemetry.bytes,
        telemetry_firehose_billed_bytes=telemetry.firehose_billed_bytes,
        requests=pipeline_requests, requests_note=note)
    cost = cost_per_image(used, pricing, images_per_hour=tput["sustained_per_min"] * 60, workflow_type=workflow_type,
                          tensor_storage=tensor_storage)
    per_study_requests = None
    if pipeline_requests is not None:
        per_study_requests = {svc: round(sum(ops.values()) / max(1, n), 2) for svc, ops in pipeline_requests.items()}
    t0 = min(r["upload_start"] for r in records) if records else 0.0
    level = {
        "concurrency": concurrency, "studies": n, "succeeded": succeeded, "failed": n - succeeded,
        "success_pct": round(succeeded / n * 100, 2) if n else 0.0,
        "errors": {"count": n - succeeded, "pct": round((n - succeeded) / n * 100, 2) if n else 0.0,
                   "by_code": dict(errors.most_common())},
        "latency_ms": latency_summary(e2e), "workflow_latency_ms": latency_summary(workflow),
        "throughput": tput, "stages": stage_breakdown(invocations),
        "requests": {"available": pipeline_requests is not None, "note": note, "per_study_by_service": per_study_requests,
                     "by_operation": pipeline_requests,
                     # every origin, the benchmark's polling included, per study (emulator stats)
                     "all_origins_per_study": (stack_usage or {}).get("requests_per_study"),
                     "by_origin_per_study": (stack_usage or {}).get("requests_per_study_by_origin")},
        # CPU seconds per study by process of the embedded stack and the bench client (None elsewhere)
        "cpu_s_per_study": (stack_usage or {}).get("cpu_s_per_study"),
        "usage": used.as_dict(), "cost": cost.as_dict(),
        "timeline": [{"study_id": r["study_id"], "status": r["status"], "upload_s": round(r["upload_start"] - t0, 3),
                      "end_s": round(r["ended_at"] - t0, 3) if r.get("ended_at") else None,
                      "e2e_ms": r.get("e2e_ms"), "code": r.get("error", {}).get("code")} for r in records],
    }
    level["targets"] = [{"name": name, "threshold": threshold, "value": show(level), "pass": bool(ok(level))}
                        for name, threshold, ok, show in TARGETS]
    return level


def execution_durations(records: list[dict], telemetry: readback.Telemetry, workflow_type: str) -> list[float] | None:
    """Seconds each execution ran. Standard: start to stop (DescribeExecution). Express: the performance
    record each run's SendTelemetry step sent (execution start to that step: a few ms short of the end),
    for every run of the studies that had an execution (a study run twice counts twice, as it is billed);
    None when none has been delivered yet."""
    if workflow_type != "EXPRESS":
        return [r["stopped_at"] - r["started_at"] for r in records if r.get("started_at") and r.get("stopped_at")]
    ran = [r["study_id"] for r in records if r.get("executed")]
    durations = [ms / 1000 for study in ran for ms in telemetry.performance_ms.get(study, [])]
    return durations if durations or not ran else None


def run_benchmark(target, image_dir: Path | None, num_studies: int, levels: list[int], pricing: Pricing,
                  progress_factory=None, floor: bool = True, probe: StackProbe | None = None) -> dict:
    """Every level, each followed by its compute floor; the whole result document (``--json``/``--out``)."""
    workflow = describe_workflow(target)
    workflow_type = workflow.get("type", "STANDARD") if workflow["available"] else "STANDARD"
    started = datetime.now(timezone.utc).isoformat()
    results = []
    for level in levels:
        run_batch(target, load_studies(image_dir, level, f"warm-{uuid.uuid4().hex[:6]}-c{level}"), level)
        studies = load_studies(image_dir, num_studies, f"{uuid.uuid4().hex[:6]}-c{level}")
        advance = progress_factory(level, len(studies)) if progress_factory else None
        result = measure(target, studies, level, pricing, workflow_type=workflow_type, progress=advance, probe=probe)
        result["floor"] = (compute_floor(studies, target.model_endpoint, naming.model_name(), level) if floor
                           else {"available": False, "reason": "skipped (--no-floor)"})
        if result["floor"].get("available") and result["floor"]["images_per_min"]:
            result["floor"]["pipeline_fraction"] = round(
                result["throughput"]["sustained_per_min"] / result["floor"]["images_per_min"], 3)
        results.append(result)
    return {"kind": RESULT_KIND, "version": 1, "started_at": started, "target": target.name,
            "machine": {"cpus": os.cpu_count(), "note": "shared development machine: absolute figures are noisy; "
                        "ratios within one run are meaningful"},
            "config": {"num_studies": num_studies, "levels": levels,
                       "images": str(image_dir) if image_dir else "synthetic 2048x2048 JPEGs"},
            "workflow": workflow, "pricing": pricing.summary(), "levels": results}
