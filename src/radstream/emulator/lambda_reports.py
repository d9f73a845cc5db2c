"""The lines and error documents Lambda writes around an invocation, spelled exactly as Lambda does.

START/END/REPORT lines (duration, billed duration rounded up to the next millisecond, memory size,
max memory used, init duration on a cold start) and the runtime's own failures (timeout, out of
memory, process exit) as both a log line and the error payload the caller receives. Pure text:
the pool (``lambda_runtime``) decides what happened and puts these into CloudWatch Logs' order.
"""

from __future__ import annotations

import json
import math
from datetime import datetime


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_duration_ms(duration_ms: float) -> int:
    """Lambda bills every started millisecond, and at least one."""
    return max(1, int(math.ceil(duration_ms)))


def max_memory_used_mb(peak_mb: float, memory_mb: int) -> int:
    """Peak resident memory in whole MB, never above the function's memory size (which stands in
    when the peak could not be read)."""
    return min(int(math.ceil(peak_mb)), memory_mb) if peak_mb else memory_mb


def report_line(request_id: str, duration_ms: float, billed_ms: int, memory_mb: int, max_memory_mb: int,
                init_ms: float | None) -> str:
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
              f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB")
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    return report


def timed_out(request_id: str, timeout_s: float, at: datetime) -> tuple[str, str]:
    """(log line, error payload) for an invocation that ran past the function's timeout."""
    return _failure(request_id, "Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds", at,
                    logged_as_error=False)


def out_of_memory(request_id: str, memory_mb: int, at: datetime) -> tuple[str, str]:
    """(log line, error payload) for an environment killed for exceeding the function's memory size."""
    message = f"Runtime exited with error: signal: killed (memory used exceeded the function's {memory_mb} MB)"
    return _failure(request_id, "Runtime.OutOfMemory", message, at)


def exited(request_id: str, exit_status: int | None, at: datetime) -> tuple[str, str]:
    """(log line, error payload) for a worker process that died during the invocation."""
    return _failure(request_id, "Runtime.ExitError", f"Runtime exited with error: exit status {exit_status}", at)


def _failure(request_id: str, error_type: str, message: str, at: datetime, *,
             logged_as_error: bool = True) -> tuple[str, str]:
    timestamp = at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    line = f"{timestamp} {request_id} {'Error: ' if logged_as_error else ''}{message}"
    payload = json.dumps({"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"})
    return line, payload
