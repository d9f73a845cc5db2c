"""`radstream fault`: inject the faults RadStream must survive into the embedded stack, and clear them.

Off by default; nothing here exists on LocalStack or AWS. Each fault is carried out where it happens:
the emulator's switch (``/_radstream/faults``) for AWS-side faults, the model server's own switch
(``/_faults``, served because the stack manager starts it with ``--fault-injection``) for a slow or
failing model, and the stack manager itself for a model server that is down (its process is stopped;
clearing the fault starts it again).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from radstream.tooling.errors import StackError
from radstream.tooling.stack import emulator_admin
from radstream.tooling.stack.embedded import EmbeddedStack

DEFAULT_SLOW_S = 90.0   # past run-inference's 60 s timeout


@dataclass(frozen=True)
class FaultKind:
    name: str
    where: str              # "emulator" | "model-server" | "stack"
    what: str


KINDS = {k.name: k for k in (
    FaultKind("model-server-down", "stack", "the model server's process is stopped (connections refused); "
                                            "clearing the fault starts it again"),
    FaultKind("model-server-slow", "model-server", "the model server answers inference --seconds late "
                                                   f"(default {DEFAULT_SLOW_S:g} s: past run-inference's timeout)"),
    FaultKind("model-server-500", "model-server", "the model server answers inference with HTTP 500"),
    FaultKind("model-server-503", "model-server", "the model server answers inference with HTTP 503"),
    FaultKind("s3-slowdown", "emulator", "S3 answers 503 SlowDown (--rate of requests, default all; --origins)"),
    FaultKind("kinesis-throughput", "emulator", "Kinesis PutRecord(s) answer ProvisionedThroughputExceededException"),
    FaultKind("lambda-crash", "emulator", "invocations of --function crash mid-invocation (Runtime.ExitError)"),
    FaultKind("lambda-oom", "emulator", "invocations of --function stop as out of memory (Runtime.OutOfMemory)"),
    FaultKind("trigger-crash", "emulator", "the upload trigger crashes (lambda-crash on radstream-upload-trigger)"),
)}


def inject(stack: EmbeddedStack, name: str, *, rate: float | None = None, count: int | None = None,
           function: str | None = None, seconds: float | None = None, origins: list[str] | None = None) -> str:
    """Set fault ``name``; returns what was set, in words. StackError when it cannot be."""
    kind = _kind(name)
    if kind.where == "stack":
        outcome = stack.stop_model_server()
        return f"{name}: model server {outcome}"
    if kind.where == "model-server":
        body = ({"mode": "slow", "seconds": seconds or DEFAULT_SLOW_S} if name == "model-server-slow"
                else {"mode": "status", "status": int(name.rsplit("-", 1)[1])})
        _model_server(stack, "POST", body)
        return f"{name}: {json.dumps(body)}"
    if name == "trigger-crash":
        name, function = "lambda-crash", function or "radstream-upload-trigger"
    if name in ("lambda-crash", "lambda-oom") and not function:
        raise StackError(f"{name} needs --function (e.g. radstream-run-inference)")
    try:
        active = emulator_admin.set_fault(stack.endpoint_url, name, rate=rate, count=count, function=function,
                                          origins=origins)
    except emulator_admin.AdminError as exc:
        raise StackError(str(exc)) from None
    if active is None:
        raise StackError(f"the emulator at {stack.endpoint_url} does not answer: `radstream up` first")
    return f"{name}: " + json.dumps(next(f for f in active if f["name"] == name))


def clear(stack: EmbeddedStack, name: str | None = None) -> list[str]:
    """Clear one fault (or all): the emulator's, the model server's, and a stopped model server."""
    if name is not None:
        _kind(name)
    cleared = []
    if name in (None, "model-server-down") and not stack.model_server.healthy():
        stack.start()
        cleared.append("model-server-down (model server started)")
    if name is None or KINDS[name].where == "model-server":
        if stack.model_server.healthy() and _model_server(stack, "GET").get("fault"):
            _model_server(stack, "DELETE")
            cleared.append("model server fault")
    if name is None or KINDS[name].where == "emulator":
        emulator_name = "lambda-crash" if name == "trigger-crash" else name
        cleared += emulator_admin.clear_faults(stack.endpoint_url, emulator_name) or []
    return cleared


def active(stack: EmbeddedStack) -> list[dict]:
    """Every fault in force now, wherever it lives."""
    found = [dict(f, where="emulator") for f in emulator_admin.faults(stack.endpoint_url) or []]
    if not stack.model_server.healthy():
        found.append({"name": "model-server-down", "where": "stack"})
    else:
        fault = _model_server(stack, "GET").get("fault")
        if fault:
            found.append({"name": "model-server-" + ("slow" if fault["mode"] == "slow" else str(fault["status"])),
                          "where": "model-server", **fault})
    return found


def _kind(name: str) -> FaultKind:
    if name not in KINDS:
        raise StackError(f"no fault named {name!r}; the faults are: {', '.join(KINDS)}")
    return KINDS[name]


def _model_server(stack: EmbeddedStack, method: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(stack.model_endpoint + "/_faults", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise StackError("the model server was started without --fault-injection (`radstream down` and "
                             "`radstream up` restart it with it)") from None
        raise StackError(f"the model server refused the fault: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(f"the model server at {stack.model_endpoint} does not answer ({exc})") from None
