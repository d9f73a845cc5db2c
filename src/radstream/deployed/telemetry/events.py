"""The telemetry record schema and the functions that build records.

One schema serves both kinds of record RadStream emits; ``record_type`` tells them apart and
decides where Firehose puts them (``raw_telemetry/record_type=<record_type>/...``) and therefore
which Glue table sees them:

* ``record_type = "event"`` -> table ``telemetry_events``: one record per pipeline stage invocation
  (success or failure) plus one ``study_completed``/``study_failed`` event per study.
* ``record_type = "performance"`` -> table ``performance_metrics``: one record per study with its
  end-to-end latency and per-stage timings.

Fields (every record has all of them; ``None`` is written as JSON ``null``):

==================  =========  ==============================================================
field               type       meaning
==================  =========  ==============================================================
event_id            string     random UUID4, unique per record
record_type         string     ``"event"`` or ``"performance"``
study_id            string     the study identifier (never patient information)
component           string     the pipeline stage (``validate_metadata``, ``prepare_tensors``,
                               ``run_inference``, ``store_results``, ``record_failure``,
                               ``send_telemetry``, ``upload_trigger``) or ``"pipeline"``;
                               ``telemetry_probe`` for `radstream telemetry send-test`'s events
event_type          string     ``stage_completed``/``stage_failed`` (stage events),
                               ``study_completed``/``study_failed`` (study events and
                               performance records)
status              string     ``"SUCCESS"`` or ``"FAILURE"``
processing_time_ms  double     stage wall time; for performance records the end-to-end latency
memory_used_mb      double     peak resident memory of the process (ru_maxrss), MiB
memory_limit_mb     integer    memory configured for the function (Lambda context), if known
cold_start          boolean    first invocation of this component in its process
error_code          string     exception class name on failure, else null
timestamp           string     ISO-8601 UTC with milliseconds and ``Z``: ``2026-11-27T17:10:27.123Z``
pipeline_version    string     ``RADSTREAM_PIPELINE_VERSION`` (default ``"0.1.0"``)
stage_timings       string     performance records: JSON object ``{stage: ms}``; else null
==================  =========  ==============================================================

No patient information goes into a record: no names, dates of birth, S3 keys or file names
(those may carry identifiers) -- only the study id. :func:`validate_record` enforces the shape.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

from .errors import TelemetrySchemaError

RECORD_TYPES = ("event", "performance")
STATUSES = ("SUCCESS", "FAILURE")
PIPELINE_COMPONENT = "pipeline"
STAGE_COMPONENTS = (
    "upload_trigger",
    "validate_metadata",
    "prepare_tensors",
    "run_inference",
    "store_results",
    "record_failure",
    "send_telemetry",
)
EVENT_TYPES = ("stage_completed", "stage_failed", "study_completed", "study_failed")

#: Column name -> Hive/Glue type. The order is the column order of both Glue tables.
FIELDS: dict[str, str] = {
    "event_id": "string",
    "record_type": "string",
    "study_id": "string",
    "component": "string",
    "event_type": "string",
    "status": "string",
    "processing_time_ms": "double",
    "memory_used_mb": "double",
    "memory_limit_mb": "int",
    "cold_start": "boolean",
    "error_code": "string",
    "timestamp": "string",
    "pipeline_version": "string",
    "stage_timings": "string",
}

DEFAULT_PIPELINE_VERSION = "0.1.0"
_SUCCESS_WORDS = {"SUCCESS", "SUCCEEDED", "SUCCESSFUL", "OK", "COMPLETED"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(ts: datetime | None = None) -> str:
    """ISO-8601 in UTC with millisecond precision and a ``Z`` suffix."""
    ts = ts or utc_now()
    if ts.tzinfo is None:
        raise TelemetrySchemaError("timestamps must be timezone-aware (UTC); got a naive datetime")
    ts = ts.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset); naive values are taken as UTC."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


def normalize_status(status: Any) -> str:
    """Map the many spellings of success (SUCCEEDED, ok, ...) to SUCCESS, everything else to FAILURE."""
    if isinstance(status, bool):
        return "SUCCESS" if status else "FAILURE"
    return "SUCCESS" if str(status or "").strip().upper() in _SUCCESS_WORDS else "FAILURE"


def pipeline_version() -> str:
    return os.environ.get("RADSTREAM_PIPELINE_VERSION") or DEFAULT_PIPELINE_VERSION


def _ms(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise TelemetrySchemaError(f"processing time must be a finite number, got {value!r}")
    return round(v, 3)


def _base(record_type: str, study_id: str, component: str, event_type: str, status: str,
          processing_time_ms: Any, memory_used_mb: Any, memory_limit_mb: Any, cold_start: bool,
          error_code: str | None, timestamp: datetime | str | None, version: str | None,
          stage_timings: Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(timestamp, str):
        ts = format_timestamp(parse_timestamp(timestamp))
    else:
        ts = format_timestamp(timestamp)
    rec = {
        "event_id": str(uuid.uuid4()),
        "record_type": record_type,
        "study_id": str(study_id),
        "component": component,
        "event_type": event_type,
        "status": normalize_status(status),
        "processing_time_ms": _ms(processing_time_ms),
        "memory_used_mb": None if memory_used_mb is None else round(float(memory_used_mb), 3),
        "memory_limit_mb": None if memory_limit_mb is None else int(memory_limit_mb),
        "cold_start": bool(cold_start),
        "error_code": None if error_code in (None, "") else str(error_code),
        "timestamp": ts,
        "pipeline_version": version or pipeline_version(),
        "stage_timings": None if stage_timings is None else json.dumps(
            {str(k): _ms(v) for k, v in stage_timings.items()}, sort_keys=True),
    }
    validate_record(rec)
    return rec


def stage_event(study_id: str, component: str, *, success: bool, processing_time_ms: float,
                memory_used_mb: float | None = None, memory_limit_mb: int | None = None,
                cold_start: bool = False, error_code: str | None = None,
                timestamp: datetime | str | None = None, version: str | None = None) -> dict[str, Any]:
    """One stage invocation finished (``success``) or raised (``error_code`` = exception class)."""
    return _base("event", study_id, component, "stage_completed" if success else "stage_failed",
                 "SUCCESS" if success else "FAILURE", processing_time_ms, memory_used_mb,
                 memory_limit_mb, cold_start, None if success else (error_code or "UnknownError"),
                 timestamp, version, None)


def study_event(study_id: str, *, status: Any, processing_time_ms: float | None,
                error_code: str | None = None, timestamp: datetime | str | None = None,
                version: str | None = None) -> dict[str, Any]:
    """The study reached its end state (one per study, component ``pipeline``)."""
    st = normalize_status(status)
    return _base("event", study_id, PIPELINE_COMPONENT,
                 "study_completed" if st == "SUCCESS" else "study_failed", st, processing_time_ms,
                 None, None, False, None if st == "SUCCESS" else (error_code or "UnknownError"),
                 timestamp, version, None)


def performance_record(study_id: str, *, status: Any, processing_time_ms: float | None,
                       error_code: str | None = None, stage_timings: Mapping[str, Any] | None = None,
                       timestamp: datetime | str | None = None, version: str | None = None) -> dict[str, Any]:
    """The per-study performance record: end-to-end latency plus per-stage timings."""
    st = normalize_status(status)
    return _base("performance", study_id, PIPELINE_COMPONENT,
                 "study_completed" if st == "SUCCESS" else "study_failed", st, processing_time_ms,
                 None, None, False, None if st == "SUCCESS" else (error_code or "UnknownError"),
                 timestamp, version, stage_timings or {})


def validate_record(rec: Mapping[str, Any]) -> None:
    """Raise :class:`TelemetrySchemaError` unless ``rec`` has exactly the documented fields."""
    keys = set(rec)
    if keys != set(FIELDS):
        missing = sorted(set(FIELDS) - keys)
        extra = sorted(keys - set(FIELDS))
        raise TelemetrySchemaError(f"telemetry record fields differ from the schema: missing {missing}, "
                                   f"unexpected {extra} (see radstream.deployed.telemetry.events)")
    if rec["record_type"] not in RECORD_TYPES:
        raise TelemetrySchemaError(f"record_type must be one of {RECORD_TYPES}, got {rec['record_type']!r}")
    if rec["status"] not in STATUSES:
        raise TelemetrySchemaError(f"status must be one of {STATUSES}, got {rec['status']!r}")
    if rec["event_type"] not in EVENT_TYPES:
        raise TelemetrySchemaError(f"event_type must be one of {EVENT_TYPES}, got {rec['event_type']!r}")
    if not rec["study_id"]:
        raise TelemetrySchemaError("study_id is empty; every telemetry record names its study")
    if not isinstance(rec["cold_start"], bool):
        raise TelemetrySchemaError("cold_start must be a boolean")


def encode(rec: Mapping[str, Any]) -> bytes:
    """The wire form: compact JSON plus a newline (Firehose concatenates records as they are)."""
    return (json.dumps(rec, separators=(",", ":"), sort_keys=False) + "\n").encode("utf-8")
