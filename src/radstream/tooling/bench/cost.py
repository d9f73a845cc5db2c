"""Cost per image from measured usage and a pricing file, component by component.

Every input is measured (:mod:`radstream.tooling.bench.readback`): billed Lambda duration and memory from
the REPORT lines, state transitions from the executions' histories, request counts from the emulator,
bytes stored and telemetry records read back. Prices come from :mod:`radstream.tooling.bench.pricing`.
Capacity priced by the hour (the model server's node, the Kinesis shard) is shared out over the
throughput the run sustained: price per hour / images per hour. A component that could not be measured
on a target is reported as ``None`` with the reason, never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from radstream.tooling.bench.pricing import Pricing
from radstream.tooling.bench.readback import Usage

GB = 1024 ** 3
TB = 1024 ** 4
MB = 1024 ** 2
ATHENA_MIN_BYTES = 10 * MB
KINESIS_PAYLOAD_UNIT = 25 * 1024
EXPRESS_MEMORY_GB = 64 / 1024
# S3 request classes as the price list groups them.
S3_PUT_CLASS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2", "ListBuckets",
                "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "UploadPartCopy"}
COMPONENTS = ("lambda", "step_functions", "s3_requests", "s3_storage", "kinesis", "firehose", "cloudwatch_logs",
              "athena", "sns", "model_server")


@dataclass
class CostBreakdown:
    per_image: dict[str, float | None]  # component -> USD per image (None: not measured here)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def total_per_image(self) -> float:
        return sum(v for v in self.per_image.values() if v)

    @property
    def largest(self) -> tuple[str, float]:
        name, value = max(((k, v) for k, v in self.per_image.items() if v), key=lambda kv: kv[1], default=("", 0.0))
        return name, value

    def as_dict(self) -> dict:
        total = self.total_per_image
        name, value = self.largest
        return {"per_image_usd": {k: v for k, v in self.per_image.items()},
                "total_per_image_usd": total, "per_1000_images_usd": total * 1000,
                "largest": {"component": name, "usd_per_image": value, "share": value / total if total else None},
                "not_measured": [k for k, v in self.per_image.items() if v is None], "notes": self.notes}


def cost_per_image(usage: Usage, pricing: Pricing, *, images_per_hour: float, workflow_type: str = "STANDARD",
                   tensor_storage: str = "standard") -> CostBreakdown:
    """``tensor_storage`` is the deployment's TensorStorage: with ``express-one-zone`` the tensors
    (``preprocessed`` bytes) are priced as S3 Express One Zone, everything else as S3 Standard."""
    n = max(1, usage.studies)
    p = pricing.usd
    months = pricing.assumption("storage_retention_months")
    per: dict[str, float | None] = {}
    notes: dict[str, str] = {}

    gb_s = sum(i.gb_seconds for i in usage.invocations)
    per["lambda"] = (gb_s * p("lambda_gb_second") + len(usage.invocations) * p("lambda_request")) / n
    notes["lambda"] = (f"{len(usage.invocations)} invocations, {gb_s:.3f} GB-s billed (REPORT lines: billed "
                       f"duration x memory size)")

    if workflow_type == "EXPRESS" and usage.execution_durations_s is None:
        per["step_functions"] = None
        notes["step_functions"] = ("Express: execution durations come from the performance telemetry, not "
                                   "delivered yet; not measured")
    elif workflow_type == "EXPRESS":
        # Express has no per-transition charge: each execution is a request, plus its duration rounded up
        # to 100 ms at 64 MB (the first memory step: our definition and payloads are a few KB), priced at
        # the first duration tier.
        billed_s = sum(math.ceil(d / 0.1 - 1e-9) * 0.1 for d in usage.execution_durations_s)
        per["step_functions"] = (len(usage.execution_durations_s) * p("sfn_express_request")
                                 + billed_s * EXPRESS_MEMORY_GB * p("sfn_express_gb_second")) / n
        notes["step_functions"] = (f"Express: {len(usage.execution_durations_s)} executions, {billed_s:.1f} s billed "
                                   "at 64 MB")
    elif usage.state_transitions is None:
        per["step_functions"] = None
        notes["step_functions"] = "state transitions could not be read (no execution history)"
    else:
        per["step_functions"] = usage.state_transitions * p("sfn_standard_transition") / n
        notes["step_functions"] = f"Standard: {usage.state_transitions} state transitions (execution histories)"

    if usage.requests is None:
        per["s3_requests"] = None
        notes["s3_requests"] = usage.requests_note or "request counts are not available on this target"
    else:  # counted by the embedded emulator only, where every bucket is S3 Standard
        s3_ops = usage.requests.get("s3", {})
        puts = sum(v for k, v in s3_ops.items() if k in S3_PUT_CLASS)
        gets = sum(v for k, v in s3_ops.items() if k not in S3_PUT_CLASS)
        per["s3_requests"] = (puts * p("s3_standard_put_request") + gets * p("s3_standard_get_request")) / n
        notes["s3_requests"] = f"{puts} PUT/LIST-class and {gets} GET-class requests (emulator counters)"

    express_bytes = usage.s3_bytes_per_study.get("preprocessed", 0) if tensor_storage == "express-one-zone" else 0
    stored = sum(usage.s3_bytes_per_study.values()) + usage.telemetry_bytes
    per["s3_storage"] = ((stored - express_bytes) * p("s3_standard_gb_month")
                         + express_bytes * p("s3_express_gb_month")) / GB * months / n
    notes["s3_storage"] = (("tensors in S3 Express One Zone; " if express_bytes else "")
                           + f"{stored / n / 1024:.0f} KiB per image kept {months:g} month(s): "
                           + ", ".join(f"{k} {v / n / 1024:.0f} KiB" for k, v in sorted(usage.s3_bytes_per_study.items()))
                           + f", telemetry {usage.telemetry_bytes / n / 1024:.1f} KiB (uncompressed; Firehose stores gzip)")

    payload_units = usage.telemetry_records  # every telemetry record is far below 25 KB
    shard_share = p("kinesis_shard_hour") / images_per_hour if images_per_hour else None
    if usage.telemetry_records == 0 and usage.studies:
        # Every study sends telemetry; none read back means it was not delivered yet (Firehose buffers up
        # to its interval on AWS), not that it costs nothing.
        per["kinesis"] = per["firehose"] = None
        notes["kinesis"] = notes["firehose"] = ("no telemetry delivered for these studies yet (Firehose buffers "
                                                "up to its interval); not measured")
    else:
        per["kinesis"] = None if shard_share is None else shard_share + payload_units * p("kinesis_put_payload_unit") / n
        notes["kinesis"] = (f"{payload_units} records = PUT payload units; 1 shard-hour / {images_per_hour:,.0f} images "
                            "per hour sustained" if images_per_hour else "no throughput measured")
        per["firehose"] = usage.telemetry_firehose_billed_bytes / GB * p("firehose_gb_ingested") / n
        notes["firehose"] = f"{usage.telemetry_records} records, billed in 5 KB steps"

    per["cloudwatch_logs"] = usage.log_bytes / GB * (p("cloudwatch_logs_gb_ingested")
                                                     + p("cloudwatch_logs_gb_month") * months) / n
    notes["cloudwatch_logs"] = f"{usage.log_events} log events, {usage.log_bytes / n:.0f} bytes per image ingested"

    queries = pricing.assumption("athena_queries_per_run")
    scanned = math.ceil(max(usage.telemetry_bytes, ATHENA_MIN_BYTES) / MB) * MB
    per["athena"] = queries * scanned / TB * p("athena_tb_scanned") / n
    notes["athena"] = (f"{queries:g} queries over this run's telemetry ({usage.telemetry_bytes / 1024:.0f} KiB; "
                       f"billed at least 10 MB each)")

    per["sns"] = usage.failed_studies * p("sns_publish") / n
    notes["sns"] = f"{usage.failed_studies} failure notifications"

    nodes = pricing.assumption("model_server_nodes")
    per["model_server"] = nodes * p("model_server_node_hour") / images_per_hour if images_per_hour else None
    notes["model_server"] = (f"{nodes:g} node(s) x ${p('model_server_node_hour')}/h / {images_per_hour:,.0f} images/h "
                             "sustained" if images_per_hour else "no throughput measured")
    return CostBreakdown(per, notes)
