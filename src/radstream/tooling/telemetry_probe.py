"""The telemetry producer on its own: a burst of test events into Kinesis, then find them in the lake.

`radstream telemetry send-test` builds well-formed stage events (component ``telemetry_probe``, study ids
``probe-<run>-<n>``: they show up as such in ``telemetry_events``, never as studies) and puts them
through the deployed producer (``TelemetryProducer``: batching, retries) into the telemetry stream.
The run is remembered in the state directory. `radstream telemetry check` then reads the delivered
objects (Firehose -> S3, on the embedded target the emulator's delivery) and reports how many of the
run's records arrived, in which objects, and how long after sending: on any target.
"""

from __future__ import annotations

import gzip
import json
import math
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from radstream.deployed.s3_layout import TELEMETRY_PREFIX
from radstream.deployed.telemetry import TelemetryProducer, stage_event
from radstream.infra.targets import Target
from radstream.tooling.errors import StackError
from radstream.tooling.stack import emulator_admin

PROBE_COMPONENT = "telemetry_probe"
RUN_FILE = "telemetry-probe.json"
# LocalStack's Firehose keeps the prefix's expressions literally and adds YYYY/MM/DD/HH (analytics/duckdb_engine.py).
LITERAL_PREFIX = f"{TELEMETRY_PREFIX}/record_type=!{{partitionKeyFromQuery:record_type}}/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"


def send_test(target: Target, count: int, state_dir: Path) -> dict[str, Any]:
    """Put ``count`` test events through the producer into the stream; remember the run."""
    if count < 1:
        raise ValueError("--count takes a positive number of events")
    run_id = f"probe-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    records = [stage_event(f"{run_id}-{i:05d}", PROBE_COMPONENT, success=True, processing_time_ms=0.0)
               for i in range(count)]
    producer = TelemetryProducer(target.client("kinesis"), target.names.telemetry_stream, flush_at_exit=False)
    sent_at = time.time()
    result = producer.send(records)
    run = {"run_id": run_id, "target": target.name, "stream": target.names.telemetry_stream, "count": count,
           "sent": result.sent, "failed": len(result.failed), "put_calls": result.calls, "retries": result.retries,
           "sent_at": sent_at, "send_s": round(time.time() - sent_at, 3),
           "errors": sorted({f.error_code for f in result.failed})}
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / RUN_FILE).write_text(json.dumps(run, indent=2))
    return run


def last_run(state_dir: Path) -> dict[str, Any]:
    path = state_dir / RUN_FILE
    if not path.is_file():
        raise StackError(f"no test events sent from here yet ({path} is missing): run `radstream telemetry send-test`")
    return json.loads(path.read_text())


def check(target: Target, run: dict[str, Any], wait_s: float, poll_s: float = 2.0,
          on_poll: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Look for the run's records in the lake until all are there or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        if target.name == "embedded":
            emulator_admin.flush_telemetry(target.endpoint_url)  # deliver what Firehose still buffers
        found = find(target, run)
        if on_poll is not None:
            on_poll(found)
        if found["records"] >= run["sent"] or time.monotonic() >= deadline:
            return found
        time.sleep(poll_s)


def find(target: Target, run: dict[str, Any]) -> dict[str, Any]:
    """The run's records in the telemetry bucket: per object and in total, with the delivery lag."""
    s3 = target.client("s3")
    bucket = target.names.telemetry_bucket
    sent_at = float(run["sent_at"])
    objects, seen = [], set()
    for prefix in _prefixes(sent_at, time.time()):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item["LastModified"].timestamp()
                if modified < sent_at - 2 or item["Key"] in seen:
                    continue
                seen.add(item["Key"])
                ids = _probe_ids(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read(), run["run_id"])
                if ids:
                    # LastModified has whole seconds: the lag is measured from the second the run was sent in
                    objects.append({"key": item["Key"], "records": len(ids), "bytes": item["Size"],
                                    "lag_s": max(0.0, modified - math.floor(sent_at)), "ids": ids})
    ids = [i for o in objects for i in o.pop("ids")]
    lags = [o["lag_s"] for o in objects]
    return {"run_id": run["run_id"], "target": target.name, "bucket": bucket, "expected": run["sent"],
            "records": len(set(ids)), "duplicates": len(ids) - len(set(ids)), "objects": objects,
            "first_delivery_lag_s": min(lags) if lags else None, "last_delivery_lag_s": max(lags) if lags else None,
            "complete": len(set(ids)) >= run["sent"]}


def _prefixes(start: float, end: float) -> list[str]:
    """The Hive partitions (and LocalStack's literal layout) of every UTC hour from ``start`` to ``end``."""
    hour = datetime.fromtimestamp(start, tz=timezone.utc).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(end, tz=timezone.utc)
    out = []
    while hour <= last:
        out.append(f"{TELEMETRY_PREFIX}/record_type=event/dt={hour:%Y-%m-%d}/hour={hour:%H}/")
        out.append(f"{LITERAL_PREFIX}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return out


def _probe_ids(body: bytes, run_id: str) -> list[str]:
    text = (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        if run_id in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if str(record.get("study_id", "")).startswith(run_id + "-"):
                out.append(record["study_id"])
    return out
