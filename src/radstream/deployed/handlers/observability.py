"""What every handler reports about itself: CloudWatch metrics and structured logs, with Powertools for
AWS Lambda.

Metrics go out in CloudWatch's embedded metric format (EMF): one JSON line per invocation on stdout,
which CloudWatch Logs turns into metrics (on the embedded target the emulator does the same) — no API
call, nothing to wait for. Namespace ``RadStream``; every metric has the dimension ``service`` =
``radstream``:

=========================  =====================================  ===============================================
metric                     dimensions (besides service)           value
=========================  =====================================  ===============================================
``StageLatency``           ``Stage``                              handler time (Milliseconds)
``StageErrors``            ``Stage``; and ``Stage``, ``ErrorCode``  1 when the handler raised (0 otherwise, by Stage)
``MemoryUsed``             ``Stage``                              peak resident memory of the environment (Megabytes)
``MemoryAllocated``        ``Stage``                              the function's memory size (Megabytes)
``ImageBytes``             ``Stage``                              size of the image read (prepare_tensors)
``ColdStart``              ``function_name``                      1 on an environment's first successful invocation
``Studies``                ``Outcome``, ``ErrorCode``             1 per finished study (``ErrorCode`` ``none`` on success)
``StudyLatency``           ``Outcome``                            upload to outcome as send_telemetry measures it
=========================  =====================================  ===============================================

Logs are JSON lines with the request id, cold start, function name, ``stage`` and ``study_id`` on every
line (Powertools' Logger; loggers under ``radstream.`` write through it). A study id is never patient
information (``intake.study_id``).

The Kinesis telemetry of ``radstream.deployed.telemetry`` (stage events, performance records) is
separate: it feeds the data lake and Athena; these metrics feed CloudWatch dashboards and alarms.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from radstream.deployed import telemetry
from radstream.deployed.telemetry.instrumentation import peak_memory_mb

NAMESPACE = "RadStream"
SERVICE = "radstream"

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
logger = Logger(service=SERVICE)


def observed(stage: str, carry: bool = False) -> Callable[[Callable], Callable]:
    """Decorate a Lambda handler ``(event, context)``: stage metrics (EMF), JSON logs with the Lambda
    context, and the Kinesis stage event (``telemetry.instrument``; ``carry``: in the result, for the
    workflow's SendTelemetry to send with the study's records). Exceptions pass through unchanged."""

    def decorate(handler: Callable) -> Callable:
        instrumented = telemetry.instrument(stage, carry=carry)(handler)

        @functools.wraps(handler)
        def measured(event: Any, context: Any) -> Any:
            study_id = telemetry.study_id_from_event(event)
            logger.append_keys(stage=stage, study_id=study_id)
            started = time.perf_counter()
            error: Exception | None = None
            try:
                return instrumented(event, context)
            except Exception as exc:
                error = exc
                raise
            finally:
                _stage_metrics(stage, study_id, (time.perf_counter() - started) * 1000.0, error, context)

        wrapper = logger.inject_lambda_context(metrics.log_metrics(measured, capture_cold_start_metric=True))
        wrapper.__radstream_stage__ = stage  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _stage_metrics(stage: str, study_id: str, elapsed_ms: float, error: Exception | None, context: Any) -> None:
    metrics.add_dimension(name="Stage", value=stage)
    metrics.add_metric(name="StageLatency", unit=MetricUnit.Milliseconds, value=round(elapsed_ms, 3))
    metrics.add_metric(name="StageErrors", unit=MetricUnit.Count, value=1 if error else 0)
    metrics.add_metric(name="MemoryUsed", unit=MetricUnit.Megabytes, value=round(peak_memory_mb(), 1))
    allocated = getattr(context, "memory_limit_in_mb", None)
    if allocated not in (None, ""):
        metrics.add_metric(name="MemoryAllocated", unit=MetricUnit.Megabytes, value=int(allocated))
    metrics.add_metadata(key="study_id", value=study_id)  # searchable in the log line, not a dimension
    if error is not None:
        with single_metric(name="StageErrors", unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                           default_dimensions={"service": SERVICE}) as metric:
            metric.add_dimension(name="Stage", value=stage)
            metric.add_dimension(name="ErrorCode", value=type(error).__name__)


def image_bytes(size: int) -> None:
    """The size of the image a study brought (prepare_tensors)."""
    metrics.add_metric(name="ImageBytes", unit=MetricUnit.Bytes, value=size)


def study_outcome(status: str, error_code: str | None, latency_ms: float | None) -> None:
    """One finished study: ``Studies`` by outcome and error code, and its ``StudyLatency``."""
    outcome = "SUCCEEDED" if status in ("SUCCESS", "SUCCEEDED") else "FAILED"
    with single_metric(name="Studies", unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
                       default_dimensions={"service": SERVICE}) as metric:
        metric.add_dimension(name="Outcome", value=outcome)
        metric.add_dimension(name="ErrorCode", value=error_code or "none")
    if latency_ms is not None:
        with single_metric(name="StudyLatency", unit=MetricUnit.Milliseconds, value=round(latency_ms, 3),
                           namespace=NAMESPACE, default_dimensions={"service": SERVICE}) as metric:
            metric.add_dimension(name="Outcome", value=outcome)
