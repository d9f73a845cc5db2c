"""Every place the emulator reaches into moto's internals, pinned to one moto version.

moto 5.2.5 runs Lambda code only inside Docker (there is no engine here, and no hook to plug
in another runner), so ``LambdaFunction.invoke`` — the one method that direct invokes, Step
Functions tasks and S3/SNS/Kinesis triggers all go through — is replaced with a call into our
``LambdaRuntime``. The runtime's log lines go to moto's CloudWatch Logs backend under
``/aws/lambda/<function>``, one stream per execution environment, as on AWS.

If moto is upgraded, re-check ``LambdaFunction.invoke``'s signature, ``code_bytes``,
``code_sha_256``, ``environment_vars``, ``logs_backend`` and the werkzeug app factory, then
bump ``PINNED_MOTO_VERSION``.
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any

import moto
from moto.awslambda.models import LambdaFunction
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

from radstream.emulator.lambda_types import FunctionSpec, Invocation
from radstream.emulator.lambda_runtime import LambdaRuntime

logger = logging.getLogger(__name__)

PINNED_MOTO_VERSION = "5.2.5"
_logs_lock = threading.Lock()

__all__ = ["install_lambda_runtime", "moto_wsgi_app", "MotoRequestHandler", "check_moto_version"]


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise RuntimeError(
            f"the embedded emulator is pinned to moto {PINNED_MOTO_VERSION} but {moto.__version__} is installed; "
            f"run `pip install moto[server]=={PINNED_MOTO_VERSION}` or re-check radstream/emulator/moto_patches.py"
        )


def moto_wsgi_app() -> Any:
    """moto's server-mode WSGI application (all services, dispatched by request)."""
    return DomainDispatcherApplication(create_backend_app)


def spec_of(function: LambdaFunction) -> FunctionSpec:
    return FunctionSpec(
        name=function.function_name,
        arn=function.function_arn,
        handler=function.handler,
        timeout_s=float(function.timeout or 3),
        memory_mb=int(function.memory_size or 128),
        environment=dict(function.environment_vars or {}),
        code_sha256=function.code_sha_256,
        code_zip=function.code_bytes,
        version=str(function.version),
        runtime=function.run_time or "python3.11",
    )


def _ship_logs(function: LambdaFunction, invocation: Invocation) -> None:
    from moto.core.utils import unix_time_millis

    backend = function.logs_backend
    group = function.logs_group_name
    with _logs_lock:
        backend.ensure_log_group(group)
        if invocation.log_stream not in backend.groups[group].streams:
            backend.create_log_stream(group, invocation.log_stream)
        now = unix_time_millis()
        backend.put_log_events(group, invocation.log_stream,
                               [{"timestamp": now, "message": line} for line in invocation.log_lines])


def install_lambda_runtime(runtime: LambdaRuntime) -> None:
    """Route every Lambda invocation in this process to ``runtime``."""

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        payload = body.decode("utf-8") if isinstance(body, bytes) else (body or "{}")
        invocation_type = (request_headers or {}).get("X-Amz-Invocation-Type") or \
            (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
        spec = spec_of(self)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runtime.invoke_async(spec, payload, lambda inv: _ship_logs(self, inv))
            return b""
        invocation = runtime.invoke(spec, payload)
        try:
            _ship_logs(self, invocation)
        except Exception:  # logs are best effort; never fail the invocation for them
            logger.exception("could not write CloudWatch Logs for %s", self.function_name)
        if invocation.function_error:
            response_headers["x-amz-function-error"] = invocation.function_error
        tail = "\n".join(invocation.log_lines).encode("utf-8")[-4096:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
        response_headers["x-amz-executed-version"] = spec.version
        return invocation.payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]
