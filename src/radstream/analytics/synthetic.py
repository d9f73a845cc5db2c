"""Synthetic telemetry for tests and benchmarks: realistic studies, written in the Firehose layout.

Studies start around a UTC midnight (so day boundaries matter), pass the pipeline stages, fail at a
random stage now and then with one of a few error codes, and cold-start occasionally. Records are
built with the real builders in :mod:`radstream.deployed.telemetry.events` (unless ``fast=True``, which builds
the same dicts directly for million-row benchmarks).
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from radstream.deployed.telemetry import events

STAGES = ["validate_metadata", "prepare_tensors", "run_inference", "store_results"]
ERRORS = {"validate_metadata": "MetadataValidationError", "prepare_tensors": "StudyNotFoundError",
          "run_inference": "ModelServerUnavailableError", "store_results": "ClientError"}
BASE_MS = {"validate_metadata": 8.0, "prepare_tensors": 60.0, "run_inference": 250.0, "store_results": 20.0,
           "record_failure": 15.0, "send_telemetry": 12.0}


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _rec(fast: bool, **kw: Any) -> dict[str, Any]:
    if not fast:
        kind = kw.pop("kind")
        if kind == "stage":
            return events.stage_event(kw["study_id"], kw["component"], success=kw["success"],
                                      processing_time_ms=kw["ms"], memory_used_mb=kw["mem"],
                                      memory_limit_mb=kw["limit"], cold_start=kw["cold"],
                                      error_code=kw.get("error"), timestamp=kw["ts"], version="bench")
        if kind == "study":
            return events.study_event(kw["study_id"], status=kw["status"], processing_time_ms=kw["ms"],
                                      error_code=kw.get("error"), timestamp=kw["ts"], version="bench")
        return events.performance_record(kw["study_id"], status=kw["status"], processing_time_ms=kw["ms"],
                                         error_code=kw.get("error"), stage_timings=kw["timings"],
                                         timestamp=kw["ts"], version="bench")
    kind = kw["kind"]
    ok = kw.get("success", kw.get("status") == "SUCCESS")
    return {
        "event_id": str(uuid.UUID(int=random.getrandbits(128), version=4)),
        "record_type": "performance" if kind == "perf" else "event",
        "study_id": kw["study_id"],
        "component": kw.get("component", "pipeline"),
        "event_type": ("stage_completed" if ok else "stage_failed") if kind == "stage"
        else ("study_completed" if ok else "study_failed"),
        "status": "SUCCESS" if ok else "FAILURE",
        "processing_time_ms": round(kw["ms"], 3),
        "memory_used_mb": kw.get("mem"),
        "memory_limit_mb": kw.get("limit"),
        "cold_start": bool(kw.get("cold", False)),
        "error_code": None if ok else kw.get("error"),
        "timestamp": _fmt(kw["ts"]),
        "pipeline_version": "bench",
        "stage_timings": json.dumps({k: round(v, 3) for k, v in kw["timings"].items()}, sort_keys=True)
        if kind == "perf" else None,
    }


def generate(n_studies: int, *, seed: int = 7, start: datetime | None = None, span_s: float = 4 * 3600,
             failure_rate: float = 0.08, cold_rate: float = 0.05, fast: bool = False) -> list[dict[str, Any]]:
    """Records for ``n_studies`` studies (about 6.4 records per study)."""
    rng = random.Random(seed)
    random.seed(seed)
    start = start or datetime(2026, 3, 1, 22, 0, tzinfo=timezone.utc)  # 2 h before and after midnight UTC
    out: list[dict[str, Any]] = []
    for i in range(n_studies):
        sid = f"study-{i:07d}"
        t = start + timedelta(seconds=rng.random() * span_s)
        if i == 0:  # pin records right at a day boundary
            t = datetime(start.year, start.month, start.day, 23, 59, 59, 900000, tzinfo=timezone.utc)
        t0 = t
        fail_at = rng.choice(STAGES) if rng.random() < failure_rate else None
        timings: dict[str, float] = {}
        limit = None if rng.random() < 0.1 else rng.choice([512, 1024, 2048])
        error = None
        for stage in STAGES:
            cold = rng.random() < cold_rate
            ms = BASE_MS[stage] * rng.lognormvariate(0, 0.6) + (rng.choice([0, 900, 2500]) if cold else 0)
            if stage == "run_inference" and rng.random() < 0.05:
                ms += 6000  # a slow model call: the study misses the 5 s target
            if rng.random() < 0.02:
                ms = float(int(ms))  # whole milliseconds happen too
            t = t + timedelta(milliseconds=ms)
            ok = stage != fail_at
            if not ok:
                error = ERRORS[stage]
            out.append(_rec(fast, kind="stage", study_id=sid, component=stage, success=ok, ms=ms,
                            mem=round(100 + rng.random() * 400, 3), limit=limit, cold=cold, error=error, ts=t))
            timings[stage] = ms
            if not ok:
                ms = BASE_MS["record_failure"] * rng.lognormvariate(0, 0.3)
                t = t + timedelta(milliseconds=ms)
                out.append(_rec(fast, kind="stage", study_id=sid, component="record_failure", success=True,
                                ms=ms, mem=150.0, limit=limit, cold=False, ts=t))
                break
        ms = BASE_MS["send_telemetry"] * rng.lognormvariate(0, 0.3)
        t = t + timedelta(milliseconds=ms)
        out.append(_rec(fast, kind="stage", study_id=sid, component="send_telemetry", success=True, ms=ms,
                        mem=120.0, limit=limit, cold=rng.random() < cold_rate, ts=t))
        status = "FAILURE" if fail_at else "SUCCESS"
        e2e = (t - t0).total_seconds() * 1000.0 + rng.random() * 50
        out.append(_rec(fast, kind="perf", study_id=sid, status=status, ms=e2e, error=error, timings=timings, ts=t))
        out.append(_rec(fast, kind="study", study_id=sid, status=status, ms=e2e, error=error, ts=t))
    return out


def write_partitioned(records: Iterable[dict[str, Any]], root: str | Path, *, compress: bool = True,
                      max_records_per_file: int = 50_000) -> int:
    """Write records under ``root/record_type=../dt=../hour=../`` as Firehose would (by timestamp here)."""
    root = Path(root)
    groups: dict[tuple[str, str, str], list[str]] = {}
    for r in records:
        ts = r["timestamp"]
        groups.setdefault((r["record_type"], ts[:10], ts[11:13]), []).append(json.dumps(r, separators=(",", ":")))
    files = 0
    for (rt, dt, hour), lines in groups.items():
        d = root / f"record_type={rt}" / f"dt={dt}" / f"hour={hour}"
        d.mkdir(parents=True, exist_ok=True)
        for n in range(0, len(lines), max_records_per_file):
            body = ("\n".join(lines[n:n + max_records_per_file]) + "\n").encode()
            name = f"radstream-telemetry-firehose-1-{dt}-{hour}-00-00-{files:06d}"
            if compress:
                (d / (name + ".gz")).write_bytes(gzip.compress(body, compresslevel=1))
            else:
                (d / name).write_bytes(body)
            files += 1
    return files
