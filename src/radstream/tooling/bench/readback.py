"""What a batch of studies used, read back from the target the way a bill would be computed.

- Lambda: every log event the functions wrote in the batch's time window (CloudWatch Logs); the
  REPORT lines give each invocation's duration, billed duration, memory size, peak memory and cold
  start; the events' bytes are the Logs ingestion.
- Step Functions: state transitions counted in each execution's history (Standard); executions and
  their durations (Express is billed by those; it has no history or DescribeExecution, so they come
  from the performance record each execution's SendTelemetry step sends: one per execution run).
- S3: the bytes each study left (image, sidecar, tensor, record), listed per study.
- Telemetry: the records Firehose delivered for these studies (read back from the telemetry bucket,
  one NDJSON line = one Kinesis record), with their sizes.
- Requests by service and operation: counted by the embedded emulator (its stats admin route, by
  origin): everything the pipeline's own parts asked for, plus the producer's uploads; the
  benchmark's polling and measuring are left out. Other targets do not count requests; the result says so.

Everything here is read after the batch ends and is excluded from the latency figures.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from botocore.exceptions import ClientError

from radstream.definition import stack as stack_def
from radstream.deployed import s3_layout

_REPORT = re.compile(r"^REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>[\d.]+) ms\tBilled Duration: "
                     r"(?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\tMax Memory Used: (?P<used>\d+) MB"
                     r"(?:\tInit Duration: (?P<init>[\d.]+) ms)?")


@dataclass
class Invocation:
    """One Lambda invocation as its REPORT line tells it."""

    function: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


def parse_report(function: str, message: str) -> Invocation | None:
    match = _REPORT.match(message.strip())
    if not match:
        return None
    return Invocation(function, float(match["duration"]), int(match["billed"]), int(match["memory"]),
                      int(match["used"]), float(match["init"]) if match["init"] else None)


@dataclass
class Usage:
    """Measured usage of one batch of studies (inputs to the cost model and the stage breakdown)."""

    studies: int
    window_s: float
    invocations: list[Invocation] = field(default_factory=list)
    log_bytes: int = 0
    log_events: int = 0
    state_transitions: int | None = None
    execution_durations_s: list | None = field(default_factory=list)  # None: not measured here
    failed_studies: int = 0
    s3_bytes_per_study: dict = field(default_factory=dict)  # prefix -> bytes, summed over the studies
    telemetry_records: int = 0
    telemetry_bytes: int = 0
    telemetry_firehose_billed_bytes: int = 0
    requests: dict | None = None  # {"service": {"Operation": n}}, the pipeline's (measuring excluded)
    requests_note: str = ""

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("invocations")
        out["lambda_invocations"] = len(self.invocations)
        out["lambda_gb_seconds"] = round(sum(i.gb_seconds for i in self.invocations), 4)
        return out


def lambda_invocations(logs_client, since_ms: int, until_ms: int, names) -> tuple[list[Invocation], int, int]:
    """(REPORT invocations, bytes, events) of the pipeline's functions in [since_ms, until_ms]."""
    invocations, total_bytes, events = [], 0, 0
    for fn in stack_def.FUNCTIONS:
        name = names.function(fn.short)
        try:
            for page in logs_client.get_paginator("filter_log_events").paginate(
                    logGroupName=f"/aws/lambda/{name}", startTime=since_ms, endTime=until_ms):
                for event in page.get("events", []):
                    message = event["message"]
                    total_bytes += len(message.encode())
                    events += 1
                    invocation = parse_report(fn.short, message)
                    if invocation:
                        invocations.append(invocation)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise  # a function never invoked has no log group yet
    return invocations, total_bytes, events


def state_transitions(sfn_client, execution_arns: list[str]) -> int:
    total = 0
    for arn in execution_arns:
        for page in sfn_client.get_paginator("get_execution_history").paginate(executionArn=arn):
            total += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
    return total


def study_bytes(s3_client, names, study_ids: list[str], tensors_bucket: str | None = None) -> dict[str, int]:
    """Bytes stored per kind of object, summed over the studies: incoming (image + sidecar) and
    preprocessed (tensor) in the images bucket (tensors: ``tensors_bucket`` when they go to the S3
    Express One Zone directory bucket), results or failures in the results bucket."""
    totals: dict[str, int] = defaultdict(int)

    def add(bucket: str, prefix: str, kind: str, keep=lambda key: True) -> None:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            totals[kind] += sum(o["Size"] for o in page.get("Contents", []) if keep(o["Key"]))

    for study_id in study_ids:
        add(names.images_bucket, f"{s3_layout.INCOMING_PREFIX}{study_id}/", "incoming")
        add(tensors_bucket or names.images_bucket, f"{s3_layout.PREPROCESSED_PREFIX}{study_id}/", "preprocessed")
        add(names.results_bucket, f"{s3_layout.RESULTS_PREFIX}{study_id}/", "results")
    wanted = set(study_ids)  # failure records are keyed by a record key, which is the study id when it is safe
    add(names.results_bucket, s3_layout.FAILURES_PREFIX, "failures",
        lambda key: s3_layout.study_id_from_key(key) in wanted)
    return dict(totals)


@dataclass
class Telemetry:
    """The telemetry delivered for a batch of studies."""

    records: int = 0
    bytes: int = 0
    firehose_billed_bytes: int = 0
    # study id -> processing_time_ms of each performance record (one per execution that reached SendTelemetry)
    performance_ms: dict = field(default_factory=dict)


def telemetry_of(s3_client, names, study_ids: set[str], since_epoch_s: float) -> Telemetry:
    """The telemetry delivered for these studies: objects written since ``since_epoch_s`` under
    raw_telemetry/, one NDJSON line per Kinesis record."""
    out = Telemetry()
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=names.telemetry_bucket,
                                                                    Prefix=s3_layout.TELEMETRY_PREFIX + "/"):
        for obj in page.get("Contents", []):
            if obj["LastModified"].timestamp() < since_epoch_s - 1:
                continue
            body = s3_client.get_object(Bucket=names.telemetry_bucket, Key=obj["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            for line in body.splitlines():
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    study = record.get("study_id")
                except (ValueError, AttributeError):
                    continue
                if study in study_ids:
                    n = len(line) + 1  # the producer sends each record with its newline
                    out.records += 1
                    out.bytes += n
                    out.firehose_billed_bytes += -(-n // 5120) * 5120  # Firehose bills each record in 5 KB steps
                    if record.get("record_type") == "performance" and record.get("processing_time_ms") is not None:
                        out.performance_ms.setdefault(study, []).append(float(record["processing_time_ms"]))
    return out


def pipeline_requests(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """Requests between two emulator snapshots, ``{service: {operation: n}}``: every origin but the
    client, plus the client's S3 uploads (a producer makes those; the rest is the benchmark polling)."""
    out: dict[str, dict[str, int]] = {}
    for origin, counts in after.get("requests", {}).items():  # {origin: {"service:Operation": n}}, growing
        earlier = before.get("requests", {}).get(origin, {})
        for key, n in counts.items():
            service, _, operation = key.partition(":")
            n -= earlier.get(key, 0)
            if n <= 0 or (origin == "client" and (service, operation) != ("s3", "PutObject")):
                continue
            out.setdefault(service, {})[operation] = out.get(service, {}).get(operation, 0) + n
    return out
