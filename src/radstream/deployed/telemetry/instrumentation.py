"""What the Lambda handlers call: the ``instrument`` decorator and ``record_study_outcome``.

Both send synchronously (a frozen Lambda sandbox would lose a buffer) through one lazily created,
process-wide :class:`~radstream.deployed.telemetry.producer.TelemetryProducer` (made by the factory
the handlers package installs). Telemetry never fails a
handler: emission errors are logged and reported in the return value, never raised.

Batched per study: a workflow stage instrumented with ``carry=True`` does not send its stage event when
it succeeds; it returns it in its result (``STAGE_EVENT_KEY``), the workflow keeps it in its state, and
``record_study_outcome`` sends every carried event with the study's own records in one PutRecords (the
failure path's SendFailureTelemetry too: it gets the whole state). A stage that fails sends its event at
once, as every stage did before: its result, and so the event, would otherwise be lost.

Environment:
  RADSTREAM_TELEMETRY          ``off`` disables emission (records are built, not sent)
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Callable

from radstream.deployed.s3_layout import study_id_from_key

from . import events
from .errors import TelemetrySchemaError
from .producer import SendResult, TelemetryProducer

log = logging.getLogger("radstream.deployed.telemetry")

_lock = threading.Lock()
_producer: TelemetryProducer | None = None
_producer_factory: Callable[[], TelemetryProducer] | None = None
_invoked_components: set[str] = set()
STAGE_EVENT_KEY = "stage_event"  # where a carrying stage's result holds its stage event


def enabled() -> bool:
    return (os.environ.get("RADSTREAM_TELEMETRY") or "on").strip().lower() not in {"off", "0", "false", "no"}


def use_producer_factory(factory: Callable[[], TelemetryProducer] | None) -> None:
    """How to make the producer on first use: the handlers package installs one that wraps a
    Kinesis client, so this package never imports AWS code."""
    global _producer_factory, _producer
    with _lock:
        _producer_factory, _producer = factory, None


def set_producer(producer: TelemetryProducer | None) -> None:
    """Install the producer the handlers use (tests; or ``None`` to recreate lazily)."""
    global _producer
    with _lock:
        _producer = producer


def get_producer() -> TelemetryProducer:
    global _producer
    with _lock:
        if _producer is None:
            if _producer_factory is None:
                raise RuntimeError("telemetry has no producer: import radstream.deployed.handlers "
                                   "(it installs one) or call set_producer()")
            _producer = _producer_factory()
        return _producer


def _send(records: list[dict[str, Any]]) -> SendResult:
    if not enabled():
        return SendResult()
    try:
        return get_producer().send(records)
    except Exception as exc:  # noqa: BLE001 - telemetry must never fail a handler
        log.error("telemetry: could not send %d record(s): %s: %s", len(records), type(exc).__name__, exc)
        from .producer import FailedRecord

        return SendResult(failed=[FailedRecord(r, str(r.get("study_id")), type(exc).__name__, str(exc)[:300])
                                  for r in records])


def peak_memory_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def study_id_from_event(event: Any) -> str:
    """Find the study id in a handler's event: ``study_id``, ``metadata.study_id``, or an S3 key."""
    if isinstance(event, dict):
        for key in ("study_id", "studyId"):
            if event.get(key):
                return str(event[key])
        md = event.get("metadata")
        if isinstance(md, dict) and md.get("study_id"):
            return str(md["study_id"])
        for key in ("s3_path", "preprocessed_data_ref", "results_s3_path"):
            sid = study_id_from_key(event.get(key))
            if sid:
                return sid
        recs = event.get("Records")
        if isinstance(recs, list) and recs and isinstance(recs[0], dict):
            key = ((recs[0].get("s3") or {}).get("object") or {}).get("key")
            sid = study_id_from_key(urllib.parse.unquote_plus(key) if key else None)
            if sid:
                return sid
        for nested in ("input", "detail"):  # the failure path passes the whole state as "input"
            if isinstance(event.get(nested), dict):
                sid = study_id_from_event(event[nested])
                if sid != "unknown":
                    return sid
    return "unknown"



def instrument(component: str, carry: bool = False) -> Callable[[Callable], Callable]:
    """Decorate a Lambda handler ``(event, context)`` to emit one stage event per invocation.

    On success: ``stage_completed``/``SUCCESS``; on an exception: ``stage_failed``/``FAILURE`` with
    ``error_code`` = the exception class name, then the exception is re-raised unchanged. With
    ``carry``, a successful invocation's event goes into its result (a dict) under ``STAGE_EVENT_KEY``
    instead of being sent (``None`` when it could not be built: the key is always there, so the
    workflow's paths to it never fail); ``record_study_outcome`` sends it.
    """

    def decorate(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any = None, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                cold = component not in _invoked_components
                _invoked_components.add(component)
            start = time.perf_counter()
            error: BaseException | None = None
            result: Any = None
            try:
                result = handler(event, context, *args, **kwargs)
                return result
            except BaseException as exc:
                error = exc
                raise
            finally:
                elapsed_ms = (time.perf_counter() - start) * 1000.0
                carried = carry and error is None and isinstance(result, dict)
                rec = None
                try:
                    limit = getattr(context, "memory_limit_in_mb", None)
                    rec = events.stage_event(
                        study_id_from_event(event), component, success=error is None,
                        processing_time_ms=elapsed_ms, memory_used_mb=peak_memory_mb(),
                        memory_limit_mb=int(limit) if limit not in (None, "") else None,
                        cold_start=cold, error_code=type(error).__name__ if error is not None else None)
                    if not carried:
                        res = _send([rec])
                        if res.failed:
                            log.error("telemetry: stage event for %s not delivered (%s)", component,
                                      res.failed[0].error_code)
                except Exception:  # noqa: BLE001 - never fail the handler because of telemetry
                    log.exception("telemetry: building/sending the %s stage event failed", component)
                if carried:
                    result[STAGE_EVENT_KEY] = rec

        wrapper.__radstream_component__ = component  # type: ignore[attr-defined]
        return wrapper

    return decorate


def carried_stage_events(state: Any) -> list[dict[str, Any]]:
    """The stage events carried in a workflow state: the results it holds (one level down) that have
    ``STAGE_EVENT_KEY``, oldest first."""
    if not isinstance(state, dict):
        return []
    found = [value[STAGE_EVENT_KEY] for value in state.values()
             if isinstance(value, dict) and isinstance(value.get(STAGE_EVENT_KEY), dict)]
    return sorted(found, key=lambda rec: str(rec.get("timestamp", "")))


def _processing_time_ms(event: dict[str, Any]) -> float | None:
    value = event.get("processing_time_ms")
    if value not in (None, ""):
        return float(value)
    start = event.get("execution_start_time")
    if start:
        started = events.parse_timestamp(str(start))
        return max(0.0, (datetime.now(timezone.utc) - started).total_seconds() * 1000.0)
    return None


def build_study_outcome(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance record and the study event for a send_telemetry input (no sending)."""
    if not isinstance(event, dict):
        raise TelemetrySchemaError("send_telemetry expects a JSON object event")
    sid = study_id_from_event(event)
    ms = _processing_time_ms(event)
    status = event.get("status")
    error_code = event.get("error_code")
    if not error_code and isinstance(event.get("error"), dict):
        error_code = event["error"].get("code") or event["error"].get("Error")
    timings = event.get("stage_timings") if isinstance(event.get("stage_timings"), dict) else None
    perf = events.performance_record(sid, status=status, processing_time_ms=ms, error_code=error_code,
                                     stage_timings=timings)
    ev = events.study_event(sid, status=status, processing_time_ms=ms, error_code=error_code,
                            timestamp=perf["timestamp"])
    return [perf, ev]


def record_study_outcome(event: dict[str, Any], stage_events: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Emit the per-study performance record and study event, with the stage events the workflow
    carried, in one send; the send_telemetry handler's job.

    Input: ``{"study_id", "s3_path", "status", "processing_time_ms"}``; ``processing_time_ms`` may be
    replaced by ``execution_start_time`` (ISO-8601); optional ``error_code`` and ``stage_timings``.
    ``stage_events``: the ones the workflow carried (``carried_stage_events`` of its state).
    Returns ``{"status": "SUCCESS"|"TELEMETRY_NOT_DELIVERED", "records_sent", "records_failed",
    "study_id", "study_status", "error_code", "processing_time_ms", "stage_events", ...}``; never raises
    for delivery problems.
    """
    records = build_study_outcome(event)
    carried = list(stage_events)
    res = _send(records + carried)
    out: dict[str, Any] = {
        "status": "SUCCESS" if res.ok else "TELEMETRY_NOT_DELIVERED",
        "records_sent": res.sent if enabled() else 0,
        "records_failed": len(res.failed),
        "study_id": records[0]["study_id"],
        "study_status": records[0]["status"],
        "error_code": records[0]["error_code"],
        "processing_time_ms": records[0]["processing_time_ms"],
        "stage_events": len(carried),
        "telemetry_enabled": enabled(),
    }
    if res.failed:
        out["error_codes"] = sorted({f.error_code for f in res.failed})
    return out
