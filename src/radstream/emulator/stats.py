"""What the emulator served: AWS requests by service and operation, and CPU by process.

Every HTTP request that reaches moto is classified the way AWS names it — service from the SigV4
credential scope, operation from ``X-Amz-Target`` (JSON protocols), ``Action`` (query protocol) or
the service model's HTTP bindings (REST protocols: S3, Lambda) — and counted by origin:

- ``lambda``: a Lambda handler (botocore adds ``exec-env/AWS_Lambda_*`` to the user agent);
- ``emulator``: the emulator's own clients (Firehose delivery), tagged ``radstream-emulator``;
- ``client``: everyone else (tooling, tests, moto's own Step Functions clients until tasks are
  served in-process).

Calls the emulator serves without HTTP (Step Functions tasks invoking Lambda in-process) are
counted with :meth:`RequestStats.count_internal` under the origin ``stepfunctions``.

Counters only grow; consumers take two snapshots and subtract (a marker, never a reset, so two
consumers never disturb each other). CPU comes from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections import Counter
from urllib.parse import parse_qs

EMULATOR_USER_AGENT = "radstream-emulator"

_CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU time of a process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state(0) ... utime(11) stime(12) (fields 14 and 15 of proc(5)).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class RequestStats:
    """Thread-safe counters of requests served, keyed ``origin -> "service:Operation"``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter] = {}
        self.started_at = time.time()

    def count_request(self, environ: dict) -> tuple[str, str, str]:
        """Count one request; returns its (origin, service, operation)."""
        service, operation = classify(environ)
        origin = origin_of(environ.get("HTTP_USER_AGENT", ""))
        self._add(origin, f"{service}:{operation}")
        return origin, service, operation

    def count_internal(self, origin: str, service: str, operation: str) -> None:
        self._add(origin, f"{service}:{operation}")

    def _add(self, origin: str, key: str) -> None:
        with self._lock:
            self._counts.setdefault(origin, Counter())[key] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {origin: dict(sorted(counts.items())) for origin, counts in sorted(self._counts.items())}


def origin_of(user_agent: str) -> str:
    if EMULATOR_USER_AGENT in user_agent:
        return "emulator"
    if "exec-env/AWS_Lambda" in user_agent:
        return "lambda"
    return "client"


# -- classification -----------------------------------------------------------------------------
def classify(environ: dict) -> tuple[str, str]:
    """(service, operation) of one request, e.g. ("s3", "PutObject"); "unknown" where it cannot tell."""
    path = environ.get("PATH_INFO", "") or "/"
    if path.startswith("/moto-api"):
        return "moto-api", path[len("/moto-api"):].strip("/") or "index"
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1).lower() if match else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.rsplit(".", 1)[-1]
    query = environ.get("QUERY_STRING", "")
    action = _action(query, environ)
    if action:
        return service, action
    return service, _rest_operation(service, environ.get("REQUEST_METHOD", "GET"), path, query, environ)


def _action(query: str, environ: dict) -> str | None:
    """The query protocol's ``Action`` (SNS, IAM, STS), from the query string or a form body."""
    if "Action=" in query:
        return parse_qs(query).get("Action", [None])[0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]


class _Route:
    """One operation's HTTP binding from the botocore service model, compiled for matching."""

    def __init__(self, name: str, method: str, request_uri: str, required_query: set, required_headers: set,
                 deprecated: bool):
        path, _, literal_query = request_uri.partition("?")
        self.name, self.method = name, method
        self.segments = [s for s in path.split("/") if s]
        self.greedy = bool(self.segments) and self.segments[-1].endswith("+}")
        self.query = {q.split("=", 1)[0]: (q.split("=", 1)[1] if "=" in q else None)
                      for q in literal_query.split("&") if q} | {q: None for q in required_query}
        self.headers = {h.lower() for h in required_headers}
        literal_segments = sum(1 for s in self.segments if not s.startswith("{"))
        # Two operations can share a binding (S3's deprecated GetBucketNotification): prefer the current one.
        self.specificity = (literal_segments, len(self.query) + len(self.headers), not self.greedy, not deprecated)

    def matches(self, method: str, segments: list[str], query: dict, headers: set) -> bool:
        if method != self.method:
            return False
        if self.greedy:
            if len(segments) < len(self.segments):
                return False
        elif len(segments) != len(self.segments):
            return False
        for template, actual in zip(self.segments, segments):
            if not template.startswith("{") and template != actual:
                return False
        for key, value in self.query.items():
            if key not in query or (value is not None and query[key] != value):
                return False
        return self.headers <= headers


@functools.lru_cache(maxsize=64)
def _routes(service: str) -> list[_Route]:
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # an unknown signing name: nothing to match against
        return []
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        required_query, required_headers = set(), set()
        shape = operation.input_shape
        if shape is not None:
            required = set(shape.metadata.get("required", []))
            for member, member_shape in shape.members.items():
                if member not in required:
                    continue
                location = member_shape.serialization.get("location")
                if location == "querystring":
                    required_query.add(member_shape.serialization.get("name", member))
                elif location == "header":
                    required_headers.add(member_shape.serialization.get("name", member))
        routes.append(_Route(name, operation.http.get("method", "POST"), operation.http.get("requestUri", "/"),
                             required_query, required_headers, operation.deprecated))
    # Most specific first: literal path segments, then query/header constraints, then exact length.
    return sorted(routes, key=lambda r: r.specificity, reverse=True)


def _rest_operation(service: str, method: str, path: str, query: str, environ: dict) -> str:
    segments = [s for s in path.split("/") if s]
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    headers = {k[5:].replace("_", "-").lower() for k in environ if k.startswith("HTTP_")}
    for route in _routes(service):
        if route.matches(method, segments, params, headers):
            return route.name
    return f"{method} (unmatched)"
