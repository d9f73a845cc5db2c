"""Client of the emulator's admin API (``/_radstream/*``): how tooling reaches the emulator.

Tooling never imports the emulator; it starts it as a process (the stack manager) and talks to
it over HTTP like any other client. The routes are served by ``radstream.emulator.server``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)

HEALTH_PATH = "/_radstream/health"
FLUSH_PATH = "/_radstream/flush"
STATS_PATH = "/_radstream/stats"
FAULTS_PATH = "/_radstream/faults"
RESTORE_PATH = "/_radstream/restore"
WAIT_PATH = "/_radstream/executions/wait"


def _call(url: str, *, post: bool, timeout: float, method: str | None = None, body: dict | None = None,
          raise_refusal: bool = False) -> dict | None:
    data = json.dumps(body or {}).encode() if post or body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if post else "GET"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:  # the route answered: an error worth showing (e.g. a bad fault)
        if not raise_refusal:
            log.debug("emulator admin call %s answered HTTP %s", url, exc.code)
            return None
        try:
            detail = json.loads(exc.read() or b"{}").get("error")
        except ValueError:
            detail = None
        raise AdminError(detail or f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.debug("emulator admin call %s failed: %s", url, exc)
        return None


class AdminError(RuntimeError):
    """An admin route refused the request; the message says why."""


def health(endpoint_url: str, timeout: float = 2.0) -> dict | None:
    """The emulator's health document, or None when nothing answers."""
    return _call(endpoint_url.rstrip("/") + HEALTH_PATH, post=False, timeout=timeout)


def flush_telemetry(endpoint_url: str, timeout: float = 30.0) -> dict | None:
    """Deliver buffered Firehose records now (per-delivery-stream counters), or None when no
    emulator answers (LocalStack and AWS have no such route)."""
    return _call(endpoint_url.rstrip("/") + FLUSH_PATH, post=True, timeout=timeout)


def stats(endpoint_url: str, timeout: float = 5.0) -> dict | None:
    """What the emulator has served since it started, or None when no emulator answers:
    ``{"requests": {origin: {"service:Operation": n}}, "processes": [{"role", "pid", "cpu_s"}], "at"}``.
    Origins: ``client``, ``lambda`` (handlers), ``emulator`` (its Firehose delivery), ``stepfunctions``
    (task calls served in-process). Counters only grow: subtract two snapshots (:func:`stats_delta`)."""
    return _call(endpoint_url.rstrip("/") + STATS_PATH, post=False, timeout=timeout)


def stats_delta(before: dict, after: dict) -> dict:
    """Requests by origin and operation, and CPU seconds by role, between two :func:`stats` snapshots
    (roles: ``emulator``, ``lambda-zygote``, ``lambda:<function>`` summed over its environments)."""
    requests: dict[str, dict[str, int]] = {}
    for origin, counts in after.get("requests", {}).items():
        earlier = before.get("requests", {}).get(origin, {})
        diff = {op: n - earlier.get(op, 0) for op, n in counts.items() if n - earlier.get(op, 0)}
        if diff:
            requests[origin] = diff
    cpu_before, cpu_after = cpu_by_role(before), cpu_by_role(after)
    return {"requests": requests,
            "cpu_s": {role: round(cpu - cpu_before.get(role, 0.0), 3) for role, cpu in sorted(cpu_after.items())},
            "seconds": after.get("at", 0.0) - before.get("at", 0.0)}


def cpu_by_role(snapshot: dict) -> dict[str, float]:
    totals: dict[str, float] = {}
    for process in snapshot.get("processes", []):
        totals[process["role"]] = totals.get(process["role"], 0.0) + float(process.get("cpu_s") or 0.0)
    return totals


def wait_for_execution(endpoint_url: str, execution_arn: str, timeout_s: float) -> dict | None:
    """Block until the execution ends or ``timeout_s`` passes; ``{"execution_arn", "status"}`` with
    the status then (null: no such execution yet), or None when no emulator answers (other targets:
    poll DescribeExecution instead)."""
    query = urllib.parse.urlencode({"arn": execution_arn, "timeout": f"{timeout_s:.3f}"})
    return _call(f"{endpoint_url.rstrip('/')}{WAIT_PATH}?{query}", post=False, timeout=timeout_s + 10)


def faults(endpoint_url: str, timeout: float = 5.0) -> list[dict] | None:
    """The faults injected now, or None when no emulator answers."""
    answer = _call(endpoint_url.rstrip("/") + FAULTS_PATH, post=False, timeout=timeout)
    return None if answer is None else answer["faults"]


def set_fault(endpoint_url: str, fault: str, timeout: float = 5.0, **params) -> list[dict] | None:
    """Inject ``fault`` (``rate``, ``count``, ``function``, ``origins``); AdminError when refused."""
    answer = _call(endpoint_url.rstrip("/") + FAULTS_PATH, post=True, timeout=timeout, raise_refusal=True,
                   body={"fault": fault, **{k: v for k, v in params.items() if v is not None}})
    return None if answer is None else answer["faults"]


def clear_faults(endpoint_url: str, fault: str | None = None, timeout: float = 5.0) -> list[str] | None:
    query = "?" + urllib.parse.urlencode({"fault": fault}) if fault else ""
    answer = _call(endpoint_url.rstrip("/") + FAULTS_PATH + query, post=False, timeout=timeout, method="DELETE")
    return None if answer is None else answer["cleared"]


def restore(endpoint_url: str, buckets: list[str], timeout: float = 120.0) -> dict | None:
    """Put back what the emulator saved when it last stopped, for ``buckets``: ``{"restored": {bucket: n},
    "persisting": bool}``, or None when no emulator answers."""
    return _call(endpoint_url.rstrip("/") + RESTORE_PATH, post=True, timeout=timeout, body={"buckets": buckets})
