"""Every place the emulator reaches into moto's internals, pinned to one moto version.

moto 5.2.5 runs Lambda code only inside Docker (there is no engine here, and no hook to plug
in another runner), so ``LambdaFunction.invoke`` — the one method that direct invokes, Step
Functions tasks and S3/SNS/Kinesis triggers all go through — is replaced with a call into our
``LambdaRuntime``. The runtime's log lines go to moto's CloudWatch Logs backend under
``/aws/lambda/<function>``, one stream per execution environment, as on AWS.

The second half removes costs moto repeats per request or per execution (see "speed" below).

moto's CloudWatch stores metrics and alarms but computes no percentile and evaluates no alarm; the
CloudWatch section puts the emulator's metric store (``metric_store``) behind its API and gives the
alarm evaluator (``alarm_evaluation``) and the metric publisher what they read and write.

moto's CloudFormation lacks resource types template.yaml uses (Firehose, Glue, Athena, SNS
subscriptions, bucket policies, ...) and handles others in part (state machines land in a backend
that never executes them; bucket notifications are dropped): ``install_cloudformation_resources``
(the last section) fills those gaps, one clearly separated function or class per gap, each saying why.

If moto is upgraded, re-check ``LambdaFunction.invoke``'s signature, ``code_bytes``,
``code_sha_256``, ``environment_vars``, ``logs_backend``, the werkzeug app factory and what the
speed patches replace (``DomainDispatcherApplication.get_backend_for_host``,
``ExecutionWorker._get_evaluation_entrypoint``, ``EvalComponent.heap_key``, the ``parse`` used by
``asl.utils.json_path`` and ``ResultPath``, ``boto_client_for`` and the Lambda task's use of it,
``LambdaBackend.invoke``, ``kinesis.models.Shard``, ``KinesisBackend.put_record(s)``,
``StateMachine``/``StepFunctionBackend`` execution lookups, ``BaseExecutionWorkerCommunication.terminated``
and ``moto.core.request``'s header-name preservation), the CloudWatch section (``CloudWatchBackend``'s
``put_metric_data``, ``put_metric_alarm``, ``alarms``, ``Alarm``/``MetricDataQuery`` attributes,
``CloudWatchResponse``'s metric reads, ``parser.backend.execution.Execution.start``, SQS queue counters,
``SNSBackend.publish``; tests/functional/emulator/test_cloudwatch.py) and every patch of the CloudFormation
section (tests/functional/emulator/test_cloudformation_patches.py), then bump ``PINNED_MOTO_VERSION``.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import moto
from moto.awslambda.models import LambdaFunction
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError
from moto.core.request import (PRESERVED_HEADER_NAMES_ENVIRON_KEY, environ_key_for_header,
                               should_preserve_original_header_name)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from radstream.emulator.lambda_async import AsyncConfig, AsyncInvoker, Outcome
from radstream.emulator.lambda_types import FunctionSpec, Invocation
from radstream.emulator.lambda_runtime import LambdaRuntime
from radstream.emulator.alarm_evaluation import AlarmSpec, Evaluation
from radstream.emulator.metric_publisher import MetricPublisher
from radstream.emulator.metric_store import MetricQueryError, MetricStore, epoch, metric_data

logger = logging.getLogger(__name__)

PINNED_MOTO_VERSION = "5.2.5"
_logs_lock = threading.RLock()  # _ship_logs holds it while the log retention (install_log_retention) trims

__all__ = ["install_lambda_runtime", "install_async_invocations", "install_atomic_conditional_puts",
           "install_start_execution_input_limit", "install_cloudformation_resources", "install_cloudwatch_metrics",
           "install_alarm_state_keeping", "install_execution_metrics", "snapshot_s3", "restore_s3", "moto_wsgi_app",
           "preserve_header_names", "check_moto_version"]


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise RuntimeError(
            f"the embedded emulator is pinned to moto {PINNED_MOTO_VERSION} but {moto.__version__} is installed; "
            f"run `pip install moto[server]=={PINNED_MOTO_VERSION}` or re-check radstream/emulator/moto_patches.py"
        )


def moto_wsgi_app() -> Any:
    """moto's server-mode WSGI application (all services, dispatched by request), with its Flask
    apps out of debug mode (see ``_production_backend_app``)."""
    return DomainDispatcherApplication(_production_backend_app)


def _production_backend_app(service: Any) -> Any:
    """moto switches every backend's Flask app to debug mode. In debug mode Flask creates a new class
    for every request that carries form data (``attach_enctype_error_multidict``), which costs CPU on
    every such request and kept each request alive (measured: ~5 KB per study that never went away),
    and lets exceptions escape to the server instead of answering 500 itself. The emulator is a
    server, not a debugging session: debug off, errors still answered as 500 and logged."""
    app = create_backend_app(service)
    app.debug = False
    return app


def preserve_header_names(environ: dict, header_names: list[str]) -> None:
    """What moto's own request handler (``MotoRequestHandler.make_environ``) adds to the WSGI
    environ, for any server: WSGI folds ``-`` and ``_`` in header names together, and S3 keeps
    user-metadata keys with underscores distinct, so their original spelling is recorded."""
    dashed = {environ_key_for_header(name) for name in header_names if "_" not in name}
    names: dict[str, str] = {}
    for name in header_names:
        key = environ_key_for_header(name)
        if should_preserve_original_header_name(name) and key not in dashed:
            names.setdefault(key, name)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names


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


# Lambda's invocation payload quotas: 6 MB synchronous (request and response), 256 KB asynchronous.
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024


def install_lambda_runtime(runtime: LambdaRuntime, invoker: AsyncInvoker | None = None,
                           metrics: MetricPublisher | None = None) -> None:
    """Route every Lambda invocation in this process to ``runtime`` (``InvocationType=Event`` to
    ``invoker``, which retries as Lambda does). Requests over Lambda's payload quotas are refused with
    ``RequestEntityTooLargeException`` (413), as Lambda refuses them; moto already turns an oversized
    response into ``Function.ResponseSizeTooLarge``. With ``metrics``, invocations are counted as Lambda
    counts them (``run_counted``) and a synchronous one beyond the function's reserved concurrency is
    throttled, as on AWS: ``TooManyRequestsException`` (HTTP 429; in Step Functions
    ``Lambda.TooManyRequestsException``)."""

    def invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        payload = body.decode("utf-8") if isinstance(body, bytes) else (body or "{}")
        invocation_type = (request_headers or {}).get("X-Amz-Invocation-Type") or \
            (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
        size = len(payload.encode("utf-8"))
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if size > limit:
            error = JsonRESTError("RequestEntityTooLargeException", f"{size} byte payload is too large for the "
                                  f"{invocation_type} invocation type (limit {limit} bytes)")
            error.code = 413
            raise error
        spec = spec_of(self)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            if invoker is not None:
                invoker.submit(self.function_arn, payload)
            else:  # (no invoker: no retries, and no concurrency count)
                runtime.invoke_async(spec, payload, lambda inv: _invoked(self, inv, metrics))
            return b""
        invocation = run_counted(runtime, self, payload, metrics, throttle=True)
        if invocation.function_error:
            response_headers["x-amz-function-error"] = invocation.function_error
        tail = "\n".join(invocation.log_lines).encode("utf-8")[-4096:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode("ascii")
        response_headers["x-amz-executed-version"] = spec.version
        return invocation.payload

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


def run_counted(runtime: LambdaRuntime, function: LambdaFunction, payload: str, metrics: MetricPublisher | None,
                throttle: bool) -> Invocation:
    """One invocation through ``runtime``, counted as Lambda counts it: in flight while it runs
    (``ConcurrentExecutions``; with ``throttle``, refused with ``TooManyRequestsException`` when the
    function's reserved concurrency is in flight already), then ``Invocations``/``Errors``/``Duration``,
    its log lines shipped to CloudWatch Logs and their EMF metrics extracted."""
    spec = spec_of(function)
    account, region = _account_and_region(function.function_arn)
    if metrics is not None:
        reserved = _reserved_concurrency(function) if throttle else None
        if metrics.begin_invocation(account, region, spec.name, reserved) is None:
            raise _TooManyRequests()
    try:
        invocation = runtime.invoke(spec, payload)
    finally:
        if metrics is not None:
            metrics.end_invocation(account, region, spec.name)
    _invoked(function, invocation, metrics)
    return invocation


def _invoked(function: LambdaFunction, invocation: Invocation, metrics: MetricPublisher | None) -> None:
    account, region = _account_and_region(function.function_arn)
    try:
        _ship_logs(function, invocation)
        if metrics is not None:
            metrics.invoked(account, region, function.function_name, invocation.duration_ms,
                            bool(invocation.function_error))
            metrics.log_lines(account, region, invocation.log_lines)
    except Exception:  # logs and metrics are best effort; never fail the invocation for them
        logger.exception("could not write CloudWatch Logs or metrics for %s", function.function_name)


def _account_and_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def _reserved_concurrency(function: LambdaFunction) -> int | None:
    reserved = getattr(function, "reserved_concurrency", None)
    return None if reserved in (None, "") else int(reserved)


class _TooManyRequests(JsonRESTError):
    """Lambda's answer to an invocation beyond the function's reserved concurrency."""

    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps({"__type": self.error_type, "message": self.message,
                                       "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"})


# -- fidelity: what moto does differently from AWS where it matters to no study being lost ---------
# Each function fills one gap, says what AWS does, and has a test in tests/functional/emulator.

def install_async_invocations(runtime: LambdaRuntime, retry_delays_s: tuple[float, ...],
                              metrics: MetricPublisher | None = None) -> AsyncInvoker:
    """S3 notifications invoke Lambda asynchronously, with Lambda's retries and on-failure destination.

    moto calls the function synchronously inside the S3 request that stored the object and swallows any
    error (``s3.notifications._invoke_awslambda``): a crashed upload trigger lost the study without a
    trace. Here the event is queued (``lambda_async``) and the S3 request returns at once. Also adds what
    AWS puts in every S3 event record and moto leaves out: the object's ``versionId`` (versioned buckets)
    and ``sequencer``; and keeps the key's slashes unencoded, as S3 does."""
    import moto.s3.notifications as notifications
    from moto.awslambda.models import lambda_backends
    from moto.s3.models import s3_backends

    def function_of(function_arn: str) -> LambdaFunction:
        parts = function_arn.split(":")
        return lambda_backends[parts[4]][parts[3]].get_function(function_arn)

    def invoke(function_arn: str, payload: str) -> Outcome:
        function = function_of(function_arn)
        invocation = run_counted(runtime, function, payload, metrics, throttle=False)  # Lambda queues events
        return Outcome(invocation.payload, invocation.function_error, str(function.version))

    def config_of(function_arn: str) -> AsyncConfig:
        configs = function_of(function_arn).event_invoke_config
        config = configs[0].config if configs else {}
        return AsyncConfig(int(config.get("MaximumRetryAttempts", 2)),
                           float(config.get("MaximumEventAgeInSeconds", 21600)),
                           ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"))

    def deliver(destination: str, record: dict) -> None:
        parts = destination.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        if service == "sqs":
            from moto.sqs.models import sqs_backends

            sqs_backends[account][region].send_message(parts[5], json.dumps(record))
        elif service == "sns":
            from moto.sns.models import sns_backends

            sns_backends[account][region].publish(json.dumps(record), arn=destination)
        elif service == "lambda":
            invoker.submit(destination, json.dumps(record))
        else:
            raise ValueError(f"on-failure destination {destination} is not SQS, SNS or Lambda")

    invoker = AsyncInvoker(invoke, config_of, deliver, retry_delays_s=retry_delays_s)

    def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        invoker.submit(fn_arn, json.dumps(event_body))

    moto_event = notifications._get_s3_event

    def _get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict:
        event = moto_event(event_name, bucket, key, notification_id)
        obj = event["Records"][0]["s3"]["object"]
        obj["key"] = quote_plus(key.name, safe="/")  # S3 form-encodes the key but keeps its slashes
        if getattr(bucket, "is_versioned", False) and key.version_id:
            obj["versionId"] = key.version_id
        obj["sequencer"] = f"{time.time_ns():016X}"
        return event

    notifications._invoke_awslambda = _invoke_awslambda
    notifications._get_s3_event = _get_s3_event
    del s3_backends  # imported so the S3 backend (and its notifications module) is loaded first
    return invoker


def install_atomic_conditional_puts(stripes: int = 64) -> None:
    """``If-None-Match: *`` / ``If-Match`` puts are atomic, as on S3.

    moto checks the condition and stores the object in two steps with nothing in between held, so two
    concurrent conditional puts of one key could both succeed (two clients both "claiming" a study id).
    Puts of the same key are serialised (by a lock per key hash; puts of different keys still run in
    parallel)."""
    from moto.s3.responses import S3Response

    locks = [threading.Lock() for _ in range(stripes)]
    moto_put = S3Response.put_object

    def put_object(self: S3Response) -> Any:
        lock = locks[hash((self.bucket_name, self.parse_key_name())) % stripes]
        with lock:
            return moto_put(self)

    S3Response.put_object = put_object  # type: ignore[method-assign]


STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024


def install_start_execution_input_limit() -> None:
    """StartExecution refuses an input over Step Functions' 256 KiB payload quota, as AWS does (a
    ``ValidationException`` on the input's length constraint); moto accepted it and the execution failed
    later with an uncatchable ``States.DataLimitExceeded``. (Task outputs over the quota already fail
    with ``States.DataLimitExceeded`` in moto's interpreter, as on AWS.)"""
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.responses import StepFunctionResponse

    moto_start = StepFunctionResponse.start_execution

    def start_execution(self: StepFunctionResponse) -> Any:
        size = len(self._get_param("input", if_none="{}").encode("utf-8"))
        if size > STEP_FUNCTIONS_PAYLOAD_LIMIT:
            raise ValidationException(f"1 validation error detected: Value at 'input' failed to satisfy constraint: "
                                      f"Member must have length less than or equal to {STEP_FUNCTIONS_PAYLOAD_LIMIT} "
                                      f"(it is {size} bytes)")
        return moto_start(self)

    StepFunctionResponse.start_execution = start_execution  # type: ignore[method-assign]


def install_generated_execution_names() -> None:
    """StartExecution without a name gets a generated one (a UUID), as on AWS. moto's interpreter
    backend formats the missing name as ``None``, so every unnamed execution of a state machine shared
    one ARN and the second was answered as an idempotent repeat of the first."""
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    moto_start = StepFunctionsParserBackend.start_execution

    def start_execution(self: StepFunctionsParserBackend, state_machine_arn: str, name: str | None = None,
                        *args: Any, **kwargs: Any) -> Any:
        return moto_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]

def install_lambda_service_error_names() -> None:
    """A Lambda task whose Invoke the Lambda service refuses fails with ``Lambda.<error code>`` (e.g.
    ``Lambda.TooManyRequestsException`` when the function's reserved concurrency is in flight), as on
    AWS, so the definition's Retry on those names applies. moto's interpreter names every such refusal
    ``Exception`` for a task whose Resource is a function ARN, which no Retry lists: a throttled study
    failed for good at once."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    moto_from_error = StateTaskLambda._from_error

    def _from_error(self: StateTaskLambda, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return moto_from_error(self, env, ex)
        error = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(env=env, error_name=CustomErrorName(error), event_type=HistoryEventType.LambdaFunctionFailed,
                            event_details=EventDetails(lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                                error=error, cause=ex.response["Error"]["Message"])))

    StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]


# -- persistence: bucket contents across a restart ---------------------------------------------
# moto keeps everything in memory and has no persistence switch for its server. The emulator saves the
# current version of every object when it stops (gracefully: `radstream down`) and `radstream up`
# restores the pipeline's buckets after deploying. Only object bodies and their metadata survive:
# executions, versions (restored objects get new version ids), queues and logs do not.

def snapshot_s3(directory: Path) -> int:
    """Write every bucket's current objects to ``directory`` (replacing an earlier snapshot); returns
    how many objects were saved."""
    import shutil
    import tempfile

    from moto.s3.models import FakeDeleteMarker, s3_backends

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=directory.parent))
    manifest = []
    for account_id, partitions in list(s3_backends.items()):
        for backend in list(partitions.values()):
            for bucket in list(backend.buckets.values()):
                for name in list(bucket.keys.keys()):
                    key = bucket.keys.get(name)
                    if key is None or isinstance(key, FakeDeleteMarker):
                        continue
                    body = staging / f"{len(manifest):08d}"
                    body.write_bytes(key.value)
                    manifest.append({"account": account_id, "bucket": bucket.name, "key": name, "body": body.name,
                                     "metadata": dict(key.metadata)})
    (staging / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return len(manifest)


def restore_s3(directory: Path, buckets: list[str]) -> dict[str, int]:
    """Put the snapshot's objects of ``buckets`` back (buckets that exist now; nothing is notified: these
    uploads were processed, or listed by reconcile, before the restart). Returns objects per bucket."""
    from moto.s3.models import s3_backends

    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return {}
    restored: dict[str, int] = {}
    for entry in json.loads(manifest_path.read_text()):
        if entry["bucket"] not in buckets:
            continue
        backend = s3_backends[entry["account"]]["aws"]
        if entry["bucket"] not in backend.buckets:
            continue
        key = backend.put_object(entry["bucket"], entry["key"], (directory / entry["body"]).read_bytes(),
                                 disable_notification=True)
        key.set_metadata(entry["metadata"], replace=True)
        restored[entry["bucket"]] = restored.get(entry["bucket"], 0) + 1
    return restored


# -- speed: the work moto repeats per request or per execution ---------------------------------
# Each function below removes one measured cost (profile: py-spy under `radstream bench`); each
# says why it is safe and has a test in tests/functional/emulator/test_moto_patches.py.

def install_dispatch_cache() -> None:
    """moto resolves every request's backend by walking ~200 URL regexes and listing its own
    package directory (``list_of_moto_modules`` stats each entry), under a global lock. The answer
    depends only on the host string, and the set of backends never changes in a running process."""
    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "radstream_cached", False):
        return
    cache: dict[str, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host is None:
            return None
        try:
            return cache[host]
        except KeyError:
            backend = cache[host] = original(self, host)
            return backend

    get_backend_for_host.radstream_cached = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def install_state_machine_program_cache(max_definitions: int = 64) -> None:
    """moto's Step Functions re-parses the definition with its pure-Python ANTLR grammar for every
    execution. The parsed program depends only on the definition text (one state machine revision),
    and evaluation keeps all per-execution state in the execution's ``Environment`` (stack, heap,
    history); the program's one lazily set attribute, ``EvalComponent.heap_key`` (the key of a
    component's slot in that heap, e.g. a Retrier's attempt counter), is fixed here once before
    sharing, so concurrent executions never race to set it."""
    import functools

    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if getattr(ExecutionWorker._get_evaluation_entrypoint, "radstream_cached", False):
        return

    @functools.lru_cache(maxsize=max_definitions)
    def program_for(definition: str) -> EvalComponent:
        program = AmazonStateLanguageParser.parse(definition)[0]
        _fix_heap_keys(program, EvalComponent)
        return program

    def _get_evaluation_entrypoint(self: ExecutionWorker) -> EvalComponent:
        return program_for(self._evaluation_details.state_machine_details.definition)

    _get_evaluation_entrypoint.radstream_cached = True  # type: ignore[attr-defined]
    _get_evaluation_entrypoint.cache = program_for  # type: ignore[attr-defined]
    ExecutionWorker._get_evaluation_entrypoint = _get_evaluation_entrypoint  # type: ignore[method-assign]


def _fix_heap_keys(root: Any, component_type: type) -> None:
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, component_type):
            node.heap_key  # noqa: B018 - sets the key now, before threads share the component
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, (list, tuple, set, frozenset)):
            pending.extend(node)
        elif hasattr(node, "__dict__") and type(node).__module__.startswith("moto.stepfunctions"):
            pending.extend(vars(node).values())


def install_jsonpath_cache(max_paths: int = 1024) -> None:
    """Step Functions' JSONPath evaluation calls ``jsonpath_ng.parse`` for every path it applies,
    and each call builds a new PLY parser (reading its LALR tables). A parsed path is an immutable
    expression of its text, so it is cached by text."""
    import functools

    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        if getattr(module.parse, "radstream_cached", False):
            continue
        cached = functools.lru_cache(maxsize=max_paths)(module.parse)
        cached.radstream_cached = True  # type: ignore[attr-defined]
        module.parse = cached


def install_step_functions_clients(on_internal_call=None) -> None:
    """moto's Step Functions builds a new boto3 client for every Task (``boto_client_for``: ~10 ms
    of CPU each) and calls the emulator over loopback HTTP. Clients are thread-safe and their
    configuration here is fixed (moto's dummy credentials, no retries), so one per (region, service)
    is shared. Lambda invocations skip HTTP altogether: they go straight to moto's Lambda backend,
    exactly where the HTTP ``Invoke`` handler would send them, and moto's errors become the
    ``ClientError`` the HTTP round trip produced, so Retry/Catch see the same error names.
    ``on_internal_call(service, operation)`` counts the calls served that way."""
    import importlib
    import pkgutil

    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, "radstream_shared", False):
        return
    lock = threading.Lock()
    clients: dict[tuple[str, str], Any] = {}

    def shared_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service)
        with lock:  # creating clients from boto3's default session is not thread-safe
            client = clients.get(key)
            if client is None:
                client = clients[key] = original(region=region, service=service)
        if service == "lambda":
            return _InProcessLambda(client, region, on_internal_call)
        return client

    shared_boto_client_for.radstream_shared = True  # type: ignore[attr-defined]
    # Every module that did `from ...boto_client import boto_client_for` holds its own reference.
    import moto.stepfunctions.parser.asl.component as components

    for info in pkgutil.walk_packages(components.__path__, components.__name__ + "."):
        module = importlib.import_module(info.name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = shared_boto_client_for
    boto_client.boto_client_for = shared_boto_client_for


class _InProcessLambda:
    """The subset of a boto3 Lambda client Step Functions uses, served by moto's backend in-process
    (``Invoke``); any other method goes to the real client."""

    def __init__(self, client: Any, region: str, on_internal_call) -> None:
        self._client, self._region, self._on_call = client, region, on_internal_call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def invoke(self, FunctionName: str, Payload: Any = b"", InvocationType: str = "RequestResponse",  # noqa: N803
               Qualifier: str | None = None, **unsupported: Any) -> dict:
        import io
        import sys

        from botocore.exceptions import ClientError
        from moto.awslambda.models import lambda_backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.exceptions import JsonRESTError, ServiceException

        if unsupported:  # e.g. LogType, ClientContext: let the HTTP path handle what we do not
            return self._client.invoke(FunctionName=FunctionName, Payload=Payload, InvocationType=InvocationType,
                                       **({"Qualifier": Qualifier} if Qualifier else {}), **unsupported)
        if self._on_call is not None:
            self._on_call("lambda", "Invoke")
        parts = FunctionName.split(":")
        account, region = (parts[4], parts[3]) if FunctionName.startswith("arn:") and len(parts) > 5 \
            else (DEFAULT_ACCOUNT_ID, self._region)
        body = Payload.encode("utf-8") if isinstance(Payload, str) else (Payload or b"")
        response_headers: dict[str, str] = {}
        try:
            payload = lambda_backends[account][region].invoke(
                FunctionName, Qualifier, body, {"X-Amz-Invocation-Type": InvocationType}, response_headers)
        except JsonRESTError as exc:  # Lambda's errors (e.g. ResourceNotFoundException)
            raise ClientError({"Error": {"Code": exc.error_type, "Message": exc.message},
                               "ResponseMetadata": {"HTTPStatusCode": exc.code}}, "Invoke") from None
        except ServiceException as exc:
            raise ClientError({"Error": {"Code": exc.code, "Message": exc.message},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "Invoke") from None
        if payload is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "Function not found"},
                               "ResponseMetadata": {"HTTPStatusCode": 404}}, "Invoke")
        payload = payload.encode("utf-8") if isinstance(payload, str) else payload
        function_error = response_headers.get("x-amz-function-error")
        if InvocationType not in ("Event", "DryRun") and sys.getsizeof(payload) > 6000000:
            # as moto's HTTP handler (LambdaResponse.invoke) answers an oversized payload
            function_error = "Unhandled"
            payload = json.dumps({"errorMessage": "Response payload size exceeded maximum allowed payload size "
                                                  "(6291556 bytes).", "errorType": "Function.ResponseSizeTooLarge"}
                                 ).encode("utf-8")
        status = {"Event": 202, "DryRun": 204}.get(InvocationType, 200)
        response: dict[str, Any] = {"StatusCode": status, "Payload": io.BytesIO(payload),
                                    "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": response_headers}}
        if function_error:
            response["FunctionError"] = function_error
        if response_headers.get("x-amz-executed-version"):
            response["ExecutedVersion"] = response_headers["x-amz-executed-version"]
        return response


_kinesis_lock = threading.RLock()


def install_kinesis_shard_fixes() -> None:
    """moto's Kinesis shard is neither O(1) nor thread-safe: ``put_record`` copies every key to find
    the last sequence number, ``get_records`` walks the stream from its first record on every call
    (cost grows with every record ever put), and a GetRecords iterating while a PutRecords inserts
    fails with "OrderedDict mutated during iteration". Sequence numbers are consecutive per shard
    (``put_record`` assigns last + 1), so a read follows them by key lookup; where resharding left a
    gap, moto's own scan runs. One lock serialises every shard read and write."""
    from moto.kinesis.models import Shard

    if getattr(Shard.put_record, "radstream_fixed", False):
        return
    scan_records = Shard.get_records
    moto_sequence_number_at = Shard.get_sequence_number_at

    def put_record(self: Shard, partition_key: str, data: str, explicit_hash_key: str) -> str:
        from moto.kinesis.models import Record

        with _kinesis_lock:
            sequence_number = (next(reversed(self.records)) if self.records else 0) + 1
            self.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
            return str(sequence_number)

    def get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[list, int, int]:
        with _kinesis_lock:
            records = self.records
            last = int(last_sequence_id)
            if not records:
                return [], last, 0
            newest = next(reversed(records))
            results = []
            # a position retention has trimmed away reads on from the oldest record kept (the trim horizon)
            sequence_number = max(last + 1, next(iter(records)))
            while sequence_number <= newest and (limit is None or len(results) < limit):
                record = records.get(sequence_number)
                if record is None:  # not consecutive here: moto's scan knows the order
                    return scan_records(self, last_sequence_id, limit)
                results.append(record)
                sequence_number += 1
            if not results:
                return [], last, 0
            behind_ms = int((records[newest].created_at - results[-1].created_at) * 1000)
            return results, results[-1].sequence_number, behind_ms

    def get_min_sequence_number(self: Shard) -> int:
        with _kinesis_lock:
            return next(iter(self.records)) if self.records else 0

    def get_max_sequence_number(self: Shard) -> int:
        with _kinesis_lock:
            return next(reversed(self.records)) if self.records else 0

    def get_sequence_number_at(self: Shard, at_timestamp: float) -> int:
        with _kinesis_lock:
            return moto_sequence_number_at(self, at_timestamp)

    for function in (put_record, get_records, get_min_sequence_number, get_max_sequence_number,
                     get_sequence_number_at):
        function.radstream_fixed = True  # type: ignore[attr-defined]
        setattr(Shard, function.__name__, function)


def install_kinesis_put_listener(on_put) -> None:
    """Calls ``on_put(stream_arn, records, data_bytes)`` after every successful PutRecord(s), so that
    the Firehose delivery reads a stream when there is something to read instead of polling it."""
    from moto.kinesis.models import KinesisBackend

    if getattr(KinesisBackend.put_records, "radstream_listened", False):
        return
    moto_put_records, moto_put_record = KinesisBackend.put_records, KinesisBackend.put_record

    def put_records(self: KinesisBackend, stream_arn: str, stream_name: str, records: list) -> dict:
        response = moto_put_records(self, stream_arn, stream_name, records)
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        _notify(on_put, stream.arn, len(records), sum(len(r.get("Data", "")) * 3 // 4 for r in records))
        return response

    def put_record(self: KinesisBackend, stream_arn: str, stream_name: str, partition_key: str,
                   explicit_hash_key: str, data: str) -> tuple[str, str]:
        result = moto_put_record(self, stream_arn, stream_name, partition_key, explicit_hash_key, data)
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        _notify(on_put, stream.arn, 1, len(data) * 3 // 4)
        return result

    put_records.radstream_listened = True  # type: ignore[attr-defined]
    KinesisBackend.put_records, KinesisBackend.put_record = put_records, put_record  # type: ignore[method-assign]


def _notify(listener, *args: Any) -> None:
    try:
        listener(*args)
    except Exception:  # a listener's failure must not fail the producer's request
        logger.exception("Kinesis put listener failed")


class _IndexedExecutions(list):
    """A state machine's executions (a list, as moto expects) with lookups by ARN and by name, and
    the expiry of closed executions (``close``; see ``install_execution_retention``)."""

    def __init__(self, items=()) -> None:
        super().__init__(items)
        self.by_arn = {e.execution_arn: e for e in self}
        self.by_name = {e.name: e for e in self}
        self.closed: collections.deque = collections.deque()  # closed executions, in the order they closed
        self._lock = threading.Lock()

    def append(self, execution: Any) -> None:
        with self._lock:
            super().append(execution)
            self.by_arn[execution.execution_arn] = execution
            self.by_name.setdefault(execution.name, execution)
        execution.radstream_executions = self  # where its expiry removes it from

    def close(self, execution: Any, keep: int, max_age_s: float) -> int:
        """``execution`` has closed; expire the closed executions beyond the newest ``keep`` and those
        closed more than ``max_age_s`` ago, as if they had never run (ARN and name forgotten).
        Returns how many expired."""
        cutoff = time.time() - max_age_s
        expired = 0
        with self._lock:
            self.closed.append(execution)
            while self.closed and (len(self.closed) > keep or _closed_at(self.closed[0]) < cutoff):
                old = self.closed.popleft()
                self.by_arn.pop(old.execution_arn, None)
                if self.by_name.get(old.name) is old:
                    del self.by_name[old.name]
                list.remove(self, old)  # the oldest closed are near the front: a short scan
                expired += 1
        return expired

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("executions are appended and expire; nothing else changes the list (moto 5.2.5)")

    extend = insert = remove = pop = clear = __setitem__ = __delitem__ = __iadd__ = _refuse


def install_execution_index() -> None:
    """moto finds an execution (DescribeExecution, GetExecutionHistory, StopExecution) and checks a
    new execution's name (StartExecution) by scanning every execution the state machine ever ran,
    so each call costs more the longer the emulator runs. Executions are only ever appended, so a
    dictionary by ARN and by name, kept beside the list, answers the same in O(1)."""
    from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
    from moto.stepfunctions.models import StateMachine, StateMachineInstance, StepFunctionBackend

    if getattr(StateMachineInstance.__init__, "radstream_indexed", False):
        return
    moto_init = StateMachineInstance.__init__

    def __init__(self: StateMachineInstance, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        self.executions = _IndexedExecutions(self.executions)

    def _find(state_machine: Any, execution_arn: str) -> Any:
        executions = state_machine.executions
        found = executions.by_arn.get(execution_arn) if isinstance(executions, _IndexedExecutions) else \
            next((x for x in executions if x.execution_arn == execution_arn), None)
        if found is None:
            raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
        return found

    def stop_execution(self: StateMachine, execution_arn: str) -> Any:
        from moto.core.utils import utcnow

        execution = _find(self, execution_arn)
        execution.stop(stop_date=utcnow(), error="", cause="")
        return execution

    def _handle_name_input_idempotency(self: StateMachine, name: str, execution_input: str) -> Any:
        execution = self.executions.by_name.get(name) if isinstance(self.executions, _IndexedExecutions) else \
            next((x for x in self.executions if x.name == name), None)
        if execution is None:
            return None
        # Executions with the same name and input are considered idempotent while running.
        if execution_input == execution.execution_input and execution.status == "RUNNING":
            return execution
        raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")

    def describe_execution(self: StepFunctionBackend, execution_arn: str) -> Any:
        self._validate_execution_arn(execution_arn)
        return _find(self._get_state_machine_for_execution(execution_arn), execution_arn)

    def get_execution_history(self: StepFunctionBackend, execution_arn: str) -> dict[str, Any]:
        self._validate_execution_arn(execution_arn)
        state_machine = self._get_state_machine_for_execution(execution_arn)
        execution = _find(state_machine, execution_arn)
        return {"events": execution.get_execution_history(state_machine.roleArn)}

    __init__.radstream_indexed = True  # type: ignore[attr-defined]
    StateMachineInstance.__init__ = __init__  # type: ignore[method-assign]
    StateMachine.stop_execution = stop_execution  # type: ignore[method-assign]
    StateMachine._handle_name_input_idempotency = _handle_name_input_idempotency  # type: ignore[method-assign]
    StepFunctionBackend.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionBackend.get_execution_history = get_execution_history  # type: ignore[method-assign]


def install_task_thread_pruning() -> None:
    """moto's Step Functions interpreter appends every thread it starts (one per execution and one per
    Task state) to the module list ``TMP_THREADS`` and never removes them: each finished thread,
    with its locks and events, stayed in memory for good (~7 per study). Nothing reads the list;
    whenever an execution ends, the finished threads are dropped from it."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.utils import TMP_THREADS

    if getattr(BaseExecutionWorkerCommunication.terminated, "radstream_prunes", False):
        return
    moto_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        moto_terminated(self)
        TMP_THREADS[:] = [thread for thread in list(TMP_THREADS) if thread.is_alive()]

    terminated.radstream_prunes = True  # type: ignore[attr-defined]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def install_execution_end_listener(on_end) -> None:
    """Calls ``on_end(execution_arn)`` when an execution reaches a terminal status, so a client can
    be told instead of polling DescribeExecution (the emulator's ``executions/wait`` admin route)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    if getattr(BaseExecutionWorkerCommunication.terminated, "radstream_listened", False):
        return
    moto_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        moto_terminated(self)
        try:
            on_end(self.execution.exec_arn)
        except Exception:  # a listener's failure must not change the execution's outcome
            logger.exception("execution end listener failed")

    terminated.radstream_listened = True  # type: ignore[attr-defined]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def execution_status(execution_arn: str) -> str | None:
    """The status of an execution (RUNNING, SUCCEEDED, ...), or None if there is no such execution."""
    from moto.stepfunctions.responses import get_backend

    parts = execution_arn.split(":")
    if len(parts) < 8:
        return None
    try:
        return get_backend(parts[4], parts[3]).describe_execution(execution_arn).status
    except Exception:  # ExecutionDoesNotExist, a malformed ARN
        return None


# -- bounded memory: what AWS expires, expired; what must stay, kept small ----------------------
# Each function below bounds one kind of per-study state moto keeps for good (measured per study
# before: execution ~75 KB, S3 key ~8 KB, Kinesis record ~1 KB, log event ~0.4 KB); each says what
# it drops, how the API answers for what is gone (as AWS answers for expired items), and has a test
# in tests/functional/emulator/test_bounded_memory.py.

def install_untracked_models() -> None:
    """moto's ``BaseModel.__new__`` appends every model object ever created to its class's
    ``instances_tracked`` list, for the moto dashboard (``/moto-api/data.json``) and for disposing
    of S3 keys on a moto reset. Nothing is ever removed, so every S3 key (and its ACL objects),
    Kinesis record, log event, metric datum and per-execution state machine copy stays in memory for
    good, even once the service has dropped it: none of the retention below could free anything.
    Model objects are no longer tracked; the dashboard lists none, and a reset still disposes of
    every key its buckets hold (moto's own first pass), and keys dropped earlier close their
    buffers when they are collected (``FakeKey.__del__``)."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data

    if getattr(BaseModel.__new__, "radstream_untracked", False):
        return

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    __new__.radstream_untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(__new__)  # type: ignore[assignment]
    reset_model_data()  # drop what was tracked before


DEFAULT_EXECUTION_RETENTION_S = 90 * 86400.0  # Standard workflows: history kept 90 days after close


def _closed_at(execution: Any) -> float:
    stop = getattr(execution, "stop_date", None)
    return stop.timestamp() if stop is not None else time.time()


def install_execution_retention(keep_closed: int = 5000, max_age_s: float = DEFAULT_EXECUTION_RETENTION_S) -> None:
    """A finished moto execution keeps its whole interpreter: the environment (program state, heap,
    context object, every state's input and output), the history as Python objects, a deep copy of
    the state machine, the parsed input and output — ~75 KB per study, for good. AWS keeps a closed
    Standard execution for 90 days: DescribeExecution, GetExecutionHistory and ListExecutions answer
    until then, and afterwards the execution is gone (ExecutionDoesNotExist; its name can be used
    again).

    When an execution closes it is compacted to what those APIs read: the describe fields, the
    output and the history (pickled and zlib-compressed, unpacked per request), the callback and
    map-run registries moto's SendTask*/MapRun calls look through, and one shared copy of the state
    machine per revision. Answers are unchanged. Closed executions expire, oldest first, 90 days
    after they closed or once a state machine holds more than ``keep_closed`` closed executions
    (the memory bound on a laptop: a long soak would otherwise keep every study it ran); expired
    ones answer as on AWS after 90 days. Express (sync) executions are left as moto keeps them."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    if keep_closed < 1:
        raise ValueError("keep_closed must be at least 1 (a client reads an execution after it closes)")
    settings = _execution_retention
    settings.update(keep_closed=keep_closed, max_age_s=max_age_s)
    if getattr(BaseExecutionWorkerCommunication.terminated, "radstream_compacts", False):
        return
    closed_class = _closed_execution_class(Execution)
    moto_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        moto_terminated(self)
        execution = self.execution
        if type(execution) is not Execution or execution.exec_status is None or execution.status == "RUNNING":
            return
        try:
            _compact(execution, closed_class)
        except Exception:  # an execution left as moto keeps it still answers; only memory is not saved
            logger.exception("could not compact execution %s", execution.exec_arn)
            return
        executions = execution.__dict__.get("radstream_executions")
        if isinstance(executions, _IndexedExecutions):
            executions.close(execution, settings["keep_closed"], settings["max_age_s"])

    terminated.radstream_compacts = True  # type: ignore[attr-defined]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


_execution_retention: dict[str, Any] = {"keep_closed": 5000, "max_age_s": DEFAULT_EXECUTION_RETENTION_S}
_state_machine_snapshots: collections.OrderedDict = collections.OrderedDict()
_snapshots_lock = threading.Lock()


def _closed_execution_class(execution_class: type) -> type:
    """moto's ``Execution`` with its bulky parts read from a compact form (see ``_compact``)."""
    import pickle
    import zlib

    from moto.stepfunctions.parser.api import GetExecutionHistoryOutput

    class ClosedExecution(execution_class):  # type: ignore[valid-type,misc]
        @property
        def input_data(self) -> Any:
            return json.loads(self.execution_input)

        @property
        def output(self) -> Any:
            packed = self.radstream_output
            return None if packed is None else json.loads(zlib.decompress(packed))

        def to_history_output(self) -> Any:
            return GetExecutionHistoryOutput(events=pickle.loads(zlib.decompress(self.radstream_history)))

    ClosedExecution.__name__ = ClosedExecution.__qualname__ = "ClosedExecution"
    return ClosedExecution


class _ClosedWorker:
    """Stands in for a finished ``ExecutionWorker``: StopExecution on a closed execution changes
    nothing (moto's ``Environment.set_stop`` ignores a program that is not running), and the
    registries moto's SendTaskFailure/DescribeMapRun look through stay as they were."""

    __slots__ = ("env",)

    def __init__(self, env: Any) -> None:
        self.env = env

    def stop(self, stop_date: Any, error: Any, cause: Any) -> None:
        pass


class _ClosedEnvironment:
    __slots__ = ("callback_pool_manager", "map_run_record_pool_manager")

    def __init__(self, env: Any) -> None:
        self.callback_pool_manager = env.callback_pool_manager
        self.map_run_record_pool_manager = env.map_run_record_pool_manager


def _compact(execution: Any, closed_class: type) -> None:
    """Replace what a closed execution holds by what the APIs read (see ``install_execution_retention``).
    Every step leaves the execution answering the same, so a concurrent DescribeExecution never
    sees a half-compacted one: the compact fields are set before the class that reads them."""
    import pickle
    import zlib

    env = execution.exec_worker.env
    events = env.event_manager.get_event_history() if env is not None else []
    execution.radstream_history = zlib.compress(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
    output = execution.__dict__.get("output")
    execution.radstream_output = None if output is None else zlib.compress(json.dumps(output).encode())
    execution.state_machine = _shared_snapshot(execution.state_machine)
    if env is not None:
        execution.exec_worker = _ClosedWorker(_ClosedEnvironment(env))
    execution.__class__ = closed_class
    for name in ("output", "input_data"):  # now read through the class
        execution.__dict__.pop(name, None)


def _shared_snapshot(state_machine: Any) -> Any:
    """One copy of a state machine revision for all the closed executions that ran it (moto deep-copies
    the state machine for every execution)."""
    key = (type(state_machine), state_machine.arn, state_machine.definition) + tuple(
        repr(getattr(state_machine, name, None)) for name in (
            "roleArn", "sm_type", "description", "loggingConfiguration", "tracingConfiguration",
            "encryptionConfiguration", "creation_date", "update_date"))
    with _snapshots_lock:
        shared = _state_machine_snapshots.get(key)
        if shared is None:
            shared = _state_machine_snapshots[key] = state_machine
            if len(_state_machine_snapshots) > 256:  # old revisions: their executions keep their copy
                _state_machine_snapshots.popitem(last=False)
        else:
            _state_machine_snapshots.move_to_end(key)
        return shared


def install_kinesis_retention(max_bytes_per_shard: int) -> None:
    """moto keeps every Kinesis record for good (its stream's ``RetentionPeriodHours`` is stored, not
    applied). Kinesis drops records older than the retention period (24 h by default); here, after
    every put, a shard also drops its oldest records while it holds more than ``max_bytes_per_shard``
    of record data (base64, as moto holds it), so a long local run stays bounded. Readers behind
    the trim horizon read on from the oldest record kept, as a Kinesis consumer that fell behind
    the retention period does; the newest record always stays (sequence numbers follow it)."""
    from moto.kinesis.models import Stream

    settings = _kinesis_retention
    settings["max_bytes_per_shard"] = max_bytes_per_shard
    if getattr(Stream.put_record, "radstream_retains", False):
        return
    moto_put_record = Stream.put_record

    def put_record(self: Stream, partition_key: str, explicit_hash_key: str, data: str) -> tuple[str, str]:
        sequence_number, shard_id = moto_put_record(self, partition_key, explicit_hash_key, data)
        _trim_shard(self.shards[shard_id], len(data), float(self.retention_period_hours) * 3600.0,
                    settings["max_bytes_per_shard"])
        return sequence_number, shard_id

    put_record.radstream_retains = True  # type: ignore[attr-defined]
    Stream.put_record = put_record  # type: ignore[method-assign]


_kinesis_retention: dict[str, int] = {"max_bytes_per_shard": 4 * 1024 * 1024}


def _trim_shard(shard: Any, added: int, retention_s: float, max_bytes: int) -> int:
    """Drop a shard's oldest records beyond its retention period or ``max_bytes``; returns how many."""
    cutoff = time.time() - retention_s
    dropped = 0
    with _kinesis_lock:
        records = shard.records
        held = shard.__dict__.get("radstream_bytes")
        held = sum(len(r.data) for r in records.values()) if held is None else held + added
        while len(records) > 1:
            oldest = records[next(iter(records))]
            if held <= max_bytes and oldest.created_at >= cutoff:
                break
            records.popitem(last=False)
            held -= len(oldest.data)
            dropped += 1
        shard.radstream_bytes = held
    return dropped


def install_log_retention(max_events_per_group: int) -> None:
    """moto keeps every CloudWatch Logs event for good (a log group's ``RetentionInDays`` is stored, not
    applied; the Lambda runtime writes ~4 events per invocation). CloudWatch Logs deletes events older
    than the group's retention; here, after every put, events older than ``RetentionInDays`` (by
    their timestamp) are dropped from the head of each stream, and while the group holds more than
    ``max_events_per_group`` events the oldest go first (a tenth of the cap at a time), so a long local
    run stays bounded. Streams stay (empty ones too, as on AWS); ``storedBytes`` follows."""
    from moto.logs.models import LogGroup

    settings = _log_retention
    settings["max_events_per_group"] = max_events_per_group
    if getattr(LogGroup.put_log_events, "radstream_retains", False):
        return
    moto_put_log_events = LogGroup.put_log_events

    def put_log_events(self: LogGroup, log_stream_name: str, log_events: list) -> str:
        token = moto_put_log_events(self, log_stream_name, log_events)
        _trim_log_group(self, len(log_events), settings["max_events_per_group"])
        return token

    put_log_events.radstream_retains = True  # type: ignore[attr-defined]
    LogGroup.put_log_events = put_log_events  # type: ignore[method-assign]


_log_retention: dict[str, int] = {"max_events_per_group": 5000}


def _trim_log_group(group: Any, added: int, max_events: int) -> int:
    """Drop a log group's events past its retention and beyond ``max_events``; returns how many."""
    from moto.core.utils import unix_time_millis

    dropped = 0
    with _logs_lock:
        held = group.__dict__.get("radstream_events")
        streams = list(group.streams.values())
        held = sum(len(s.events) for s in streams) if held is None else held + added
        if group.retention_in_days:
            cutoff = unix_time_millis() - int(group.retention_in_days) * 86400 * 1000
            for stream in streams:
                count = 0
                while count < len(stream.events) and stream.events[count].timestamp < cutoff:
                    count += 1
                dropped += _drop_log_events(stream, count)
        held -= dropped
        if held > max_events:
            target = max_events - max(1, max_events // 10)
            while held > target:
                stream = min((s for s in streams if s.events), key=lambda s: s.events[0].timestamp)
                count = min(held - target, _events_before_next_stream(stream, streams))
                held -= _drop_log_events(stream, count)
                dropped += count
        group.radstream_events = held
    return dropped


def _events_before_next_stream(stream: Any, streams: list) -> int:
    """How many of ``stream``'s oldest events are older than every other stream's oldest (at least one)."""
    import bisect

    others = [s.events[0].timestamp for s in streams if s is not stream and s.events]
    if not others:
        return len(stream.events)
    return max(1, bisect.bisect_left([e.timestamp for e in stream.events], min(others)))


def _drop_log_events(stream: Any, count: int) -> int:
    if count <= 0:
        return 0
    stream.stored_bytes -= sum(len(e.message) for e in stream.events[:count])
    del stream.events[:count]
    return count


class _SpillingBuffer:
    """What ``FakeKey`` uses of its ``SpooledTemporaryFile`` (seek(0), read, truncate, write, close),
    keeping a value in memory up to ``max_in_memory`` bytes and in a file of its own beyond that,
    opened only while it is read or written (no descriptor held per object)."""

    __slots__ = ("_directory", "_max", "_memory", "_path", "_position")

    def __init__(self, directory: str, max_in_memory: int) -> None:
        self._directory, self._max = directory, max_in_memory
        self._memory = b""  # bytes, not a bytearray: no room kept for growth in every small object
        self._path: str | None = None
        self._position = 0

    def seek(self, position: int) -> None:
        self._position = position

    def truncate(self) -> None:
        self._memory = b""
        self._remove()

    def write(self, data: bytes) -> None:
        if self._path is None and len(self._memory) + len(data) <= self._max:
            self._memory += bytes(data)
            return
        if self._path is None:
            import tempfile

            handle, self._path = tempfile.mkstemp(dir=self._directory, prefix="object-")
            os.close(handle)
            pending, self._memory = self._memory + data, b""
        else:
            pending = data
        with open(self._path, "ab") as file:
            file.write(pending)

    def read(self, size: int = -1) -> bytes:
        if self._path is None:
            end = len(self._memory) if size < 0 else self._position + size
            chunk = self._memory[self._position:end]
        else:
            with open(self._path, "rb") as file:
                file.seek(self._position)
                chunk = file.read(size)
        self._position += len(chunk)
        return chunk

    def close(self) -> None:
        self.truncate()

    def _remove(self) -> None:
        if self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass
            self._path = None


def install_s3_bodies_on_disk(directory: str, max_in_memory: int = 64 * 1024) -> None:
    """moto keeps every S3 object's body in memory (up to ~5 MB each, in a SpooledTemporaryFile),
    so an emulator that has run thousands of studies holds every image and tensor they uploaded
    (measured: hundreds of MB after ~2,000 studies). Bodies above ``max_in_memory`` go to a file
    per object under ``directory`` instead, which moto's disposal of the key (overwrite, delete)
    removes; small objects (sidecars, records, telemetry) stay in memory."""
    from moto.s3.models import FakeKey

    if getattr(FakeKey.__init__, "radstream_on_disk", False):
        return
    os.makedirs(directory, exist_ok=True)
    moto_init, moto_setstate = FakeKey.__init__, FakeKey.__setstate__

    def spill(key: FakeKey) -> None:
        spooled, buffer = key._value_buffer, _SpillingBuffer(directory, max_in_memory)
        spooled.seek(0)
        buffer.write(spooled.read())
        spooled.close()
        key._value_buffer = buffer

    def __init__(self: FakeKey, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        spill(self)

    def __setstate__(self: FakeKey, state: dict) -> None:  # copies (CopyObject deep-copies the key)
        moto_setstate(self, state)
        spill(self)

    __init__.radstream_on_disk = True  # type: ignore[attr-defined]
    FakeKey.__init__, FakeKey.__setstate__ = __init__, __setstate__  # type: ignore[method-assign]


#: FakeKey attributes that are None unless a request sets them (encryption, object lock, checksums...)
_KEY_ATTRIBUTES_MOSTLY_NONE = ("website_redirect_location", "checksum_algorithm", "_expiry", "multipart",
                               "encryption", "kms_key_id", "bucket_key_enabled", "lock_mode", "lock_legal_status",
                               "lock_until", "checksum_value", "checksum_type", "checksum_parts")


def install_compact_s3_keys() -> None:
    """S3 keeps objects until they are deleted, so an emulator holds one ``FakeKey`` per object
    ever stored (a study stores four). moto builds each with its own copy of what is the same for
    almost every key: the default private ACL (an ACL, a grant and a grantee object), the restore
    state machine's transition list, and 13 attributes that are None unless a request sets them,
    which push the key's attribute dictionary past the size Python shares between instances.
    Here the default ACL and the transition list are one shared object (moto replaces a key's ACL
    on PutObjectAcl, never changes one in place), and None attributes come from class defaults;
    reads answer the same. Measured (tracemalloc, 5,000 small objects in a versioned bucket, with
    ``install_untracked_models``): 3.4 KB -> 2.1 KB per key."""
    from moto.s3.models import FakeKey, get_canned_acl

    if getattr(FakeKey.__init__, "radstream_compact", False):
        return
    moto_init, moto_setstate = FakeKey.__init__, FakeKey.__setstate__
    private = get_canned_acl("private")
    private_grants = _acl_grants(private)
    for name in _KEY_ATTRIBUTES_MOSTLY_NONE:
        setattr(FakeKey, name, None)

    def compact(key: FakeKey, acl_is_default: bool) -> None:
        attributes = key.__dict__
        acl = attributes.get("acl")
        if acl is not None and (acl_is_default or _acl_grants(acl) == private_grants):
            attributes["acl"] = private
        transitions = attributes.get("_transitions")
        if transitions == _KEY_TRANSITIONS:
            attributes["_transitions"] = _KEY_TRANSITIONS
        for name in _KEY_ATTRIBUTES_MOSTLY_NONE:
            if name in attributes and attributes[name] is None:
                del attributes[name]
        key.__dict__ = dict(attributes)  # a table sized for what is left

    def __init__(self: FakeKey, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        compact(self, acl_is_default=True)  # moto's __init__ always sets the canned private ACL

    def __setstate__(self: FakeKey, state: dict) -> None:  # copies carry the ACL of their source
        moto_setstate(self, state)
        compact(self, acl_is_default=False)

    __init__.radstream_compact = True  # type: ignore[attr-defined]
    FakeKey.__init__, FakeKey.__setstate__ = __init__, __setstate__  # type: ignore[method-assign]


_KEY_TRANSITIONS = [(None, "IN_PROGRESS"), ("IN_PROGRESS", "RESTORED")]  # moto's FakeKey restore states


def _acl_grants(acl: Any) -> list:
    """An ACL's grants as plain values (moto's ``to_config_dict`` fails on group grantees such as AllUsers)."""
    return [(tuple(g.permissions), tuple((e.id, e.uri, e.display_name) for e in g.grantees)) for g in acl.grants]


# =============================================================================================
# CloudWatch: metrics answered as CloudWatch answers them, alarms evaluated, services' own metrics.
# moto 5.2.5 keeps metric data in one list scanned by every query, computes no percentile, matches
# dimensions as a subset, and never evaluates an alarm; the metric store (``metric_store``) and the
# alarm evaluator (``alarm_evaluation``) do those jobs; the functions here connect them to moto.
# =============================================================================================
def metric_store(account: str, region: str) -> MetricStore:
    """The metric store of one account and region (kept on moto's CloudWatch backend)."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account][region]
    store = getattr(backend, "radstream_metrics", None)
    if store is None:
        with _metrics_lock:
            store = getattr(backend, "radstream_metrics", None)
            if store is None:
                store = backend.radstream_metrics = MetricStore(**_metric_store_options)
    return store


_metrics_lock = threading.Lock()


def put_metric_data(account: str, region: str, namespace: str, members: list[dict]) -> None:
    """PutMetricData in-process: how the emulator's own metrics arrive (no HTTP request)."""
    metric_store(account, region).put(namespace, members)


def install_cloudwatch_metrics() -> None:
    """PutMetricData, GetMetricStatistics (with ``ExtendedStatistics``), GetMetricData (percentiles,
    metric math) and ListMetrics answered from the metric store. What moto computed on the fly for
    ``AWS/S3`` (its daily storage metrics) is not served."""
    from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    if getattr(CloudWatchResponse.get_metric_data, "radstream_store", False):
        return

    def store_of(response: CloudWatchResponse) -> MetricStore:
        return metric_store(response.current_account, response.region)

    def put_metric_data_(self: CloudWatchBackend, namespace: str, metric_data: list[dict]) -> None:
        for number, member in enumerate(metric_data, 1):
            self._validate_parameters_put_metric_data(member, number)
        metric_store(self.account_id, self.region_name).put(namespace, metric_data)

    def get_metric_statistics(self: CloudWatchResponse) -> ActionResult:
        statistics = self._get_param("Statistics", [])
        extended = self._get_param("ExtendedStatistics", [])
        if not statistics and not extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        try:
            points = store_of(self).statistics(
                self._get_param("Namespace"), self._get_param("MetricName"), self._get_param("Dimensions", []),
                epoch(self._get_param("StartTime")), epoch(self._get_param("EndTime")),
                self._get_int_param("Period"), statistics, extended, self._get_param("Unit"))
        except MetricQueryError as exc:
            raise InvalidParameterValue(str(exc)) from None
        return ActionResult({"Label": self._get_param("MetricName"), "Datapoints": points})

    def get_metric_data(self: CloudWatchResponse) -> ActionResult:
        params = self._get_params()
        queries = params.get("MetricDataQueries", [])
        for number, query in enumerate(queries, 1):
            if "MetricStat" not in query and "Expression" not in query:
                raise InvalidParameterValue(f"The parameter MetricDataQueries.member.{number}.MetricStat is required.")
        try:
            results = metric_data(store_of(self), queries, epoch(params["StartTime"]), epoch(params["EndTime"]),
                                  params.get("ScanBy") or "TimestampDescending")
        except MetricQueryError as exc:
            raise InvalidParameterValue(str(exc)) from None
        return ActionResult({"MetricDataResults": results, "Messages": []})

    def list_metrics(self: CloudWatchResponse) -> ActionResult:
        found = store_of(self).list_metrics(self._get_param("Namespace"), self._get_param("MetricName"),
                                            self._get_params().get("Dimensions", []))
        start = int(self._get_param("NextToken") or 0)
        page = found[start:start + 500]
        return ActionResult({"Metrics": page, "NextToken": str(start + 500) if len(found) > start + 500 else None})

    get_metric_data.radstream_store = True  # type: ignore[attr-defined]
    CloudWatchBackend.put_metric_data = put_metric_data_  # type: ignore[method-assign]
    CloudWatchResponse.get_metric_statistics = get_metric_statistics  # type: ignore[method-assign]
    CloudWatchResponse.get_metric_data = get_metric_data  # type: ignore[method-assign]
    CloudWatchResponse.list_metrics = list_metrics  # type: ignore[method-assign]


def install_alarm_state_keeping() -> None:
    """moto starts a new alarm in ``OK`` and resets its state when PutMetricAlarm updates it; CloudWatch
    starts one in ``INSUFFICIENT_DATA`` and keeps the state of an updated one. The update time is kept
    too (``configuration_updated_timestamp``): the evaluator evaluates a changed alarm at once."""
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.put_metric_alarm
    if getattr(original, "radstream_stateful", False):
        return

    def put_metric_alarm(self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        before = self.alarms.get(name)
        alarm = original(self, name, *args, **kwargs)
        if kwargs.get("rule") is None:
            if before is None:
                alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation"
            else:
                alarm.state_value, alarm.state_reason = before.state_value, before.state_reason
                alarm.state_reason_data, alarm.history = before.state_reason_data, before.history
                alarm.state_updated_timestamp = before.state_updated_timestamp
        return alarm

    put_metric_alarm.radstream_stateful = True  # type: ignore[attr-defined]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]


def alarm_specs() -> list[AlarmSpec]:
    """Every metric alarm of every account and region, as the evaluator reads them."""
    from moto.cloudwatch.models import cloudwatch_backends

    specs = []
    for account, regions in list(dict.items(cloudwatch_backends)):
        for region, backend in list(dict.items(regions)):
            for alarm in list(backend.alarms.values()):
                if alarm.rule is None:  # composite alarms are not evaluated
                    specs.append(_spec_of(alarm, account, region))
    return specs


def _spec_of(alarm: Any, account: str, region: str) -> AlarmSpec:
    return AlarmSpec(
        account=account, region=region, name=alarm.name, arn=alarm.alarm_arn,
        period=int(alarm.period or 0), evaluation_periods=int(alarm.evaluation_periods),
        threshold=float(alarm.threshold if alarm.threshold is not None else 0.0),
        comparison_operator=alarm.comparison_operator, state=alarm.state_value,
        namespace=alarm.namespace, metric_name=alarm.metric_name,
        dimensions=[{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
        statistic=alarm.statistic, extended_statistic=alarm.extended_statistic, unit=alarm.unit,
        metrics=[_query_of(q) for q in alarm.metric_data_queries],
        datapoints_to_alarm=int(alarm.datapoints_to_alarm) if alarm.datapoints_to_alarm else None,
        treat_missing_data=alarm.treat_missing_data or "missing", description=alarm.description or "",
        actions_enabled=_true(alarm.actions_enabled), alarm_actions=list(alarm.alarm_actions or []),
        ok_actions=list(alarm.ok_actions or []), insufficient_data_actions=list(alarm.insufficient_data_actions or []),
        updated_at=epoch(alarm.configuration_updated_timestamp))


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _query_of(query: Any) -> dict:
    """moto's ``MetricDataQuery`` of an alarm -> a GetMetricData query."""
    out: dict[str, Any] = {"Id": query.id, "ReturnData": _true(query.return_data) if query.return_data is not None
                           else False}
    if query.label:
        out["Label"] = query.label
    if query.expression:
        out["Expression"] = query.expression
    if query.metric_stat is not None:
        stat = query.metric_stat
        out["MetricStat"] = {"Metric": {"Namespace": stat.metric.namespace, "MetricName": stat.metric.metric_name,
                                        "Dimensions": [{"Name": d.name, "Value": d.value} for d in stat.metric.dimensions]},
                             "Period": int(stat.period), "Stat": stat.stat,
                             **({"Unit": stat.unit} if stat.unit else {})}
    return out


def set_alarm_state(spec: AlarmSpec, evaluation: Evaluation) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    alarm = cloudwatch_backends[spec.account][spec.region].alarms.get(spec.name)
    if alarm is not None:
        alarm.update_state(evaluation.reason, json.dumps(evaluation.reason_data), evaluation.state)


def publish_notification(account: str, region: str, topic_arn: str, subject: str, message: str) -> None:
    """An SNS Publish in-process (delivered to the topic's subscriptions by moto)."""
    from moto.sns.models import sns_backends

    topic_region, topic_account = topic_arn.split(":")[3], topic_arn.split(":")[4]
    sns_backends[topic_account or account][topic_region or region].publish(message, arn=topic_arn, subject=subject)


def queue_depths() -> list[tuple[str, str, str, str, tuple, str, float]]:
    """``AWS/SQS`` queue-depth samples of every queue (``MetricPublisher.add_sampler``)."""
    from moto.sqs.models import sqs_backends

    samples = []
    for account, regions in list(dict.items(sqs_backends)):
        for region, backend in list(dict.items(regions)):
            for name, queue in list(backend.queues.items()):
                dims = (("QueueName", name),)
                for metric, value in (("ApproximateNumberOfMessagesVisible", queue.approximate_number_of_messages),
                                      ("ApproximateNumberOfMessagesNotVisible",
                                       queue.approximate_number_of_messages_not_visible),
                                      ("ApproximateNumberOfMessagesDelayed", queue.approximate_number_of_messages_delayed)):
                    samples.append((account, region, "AWS/SQS", metric, dims, "Count", float(value)))
    return samples


def install_execution_metrics(metrics: MetricPublisher) -> None:
    """``AWS/States`` metrics of every execution: started when it starts, its outcome and time when it ends."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    if getattr(Execution.start, "radstream_metered", False):
        return
    moto_start, moto_terminated = Execution.start, BaseExecutionWorkerCommunication.terminated

    def start(self: Execution) -> None:
        moto_start(self)
        try:
            metrics.execution_started(self.account_id, self.region_name, self.state_machine_arn)
        except Exception:
            logger.exception("execution start metrics failed")

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        moto_terminated(self)
        execution = self.execution
        try:
            elapsed_ms = (execution.stop_date - execution.start_date).total_seconds() * 1000
            metrics.execution_ended(execution.account_id, execution.region_name, execution.state_machine_arn,
                                    execution.exec_status.value, elapsed_ms)
        except Exception:  # metrics must not change the execution's outcome
            logger.exception("execution end metrics failed")

    start.radstream_metered = True  # type: ignore[attr-defined]
    Execution.start = start  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def install_kinesis_stream_metrics(metrics: MetricPublisher) -> None:
    """moto's Kinesis puts ``IncomingBytes`` and ``IncomingRecords`` into CloudWatch on every
    PutRecord(s) call, a datum each, each straight into the metric store: two datums per call kept
    for the store's retention (memory growing with every study) and a store write on the request
    path. They go through the metric publisher instead, folded with the same second's values, as the
    emulator's other service metrics (AWS/Kinesis, per ``StreamName``; Sum and SampleCount answer
    as before: the bytes and records of every call, one sample per call)."""
    from moto.kinesis.models import KinesisBackend

    def _send_stream_metrics(self: KinesisBackend, stream_name: str, incoming_bytes: int,
                             incoming_records: int) -> None:
        dims = (("StreamName", stream_name),)
        metrics.add(self.account_id, self.region_name, "AWS/Kinesis", "IncomingBytes", dims, "Bytes", incoming_bytes)
        metrics.add(self.account_id, self.region_name, "AWS/Kinesis", "IncomingRecords", dims, "Count",
                    incoming_records)

    KinesisBackend._send_stream_metrics = _send_stream_metrics  # type: ignore[method-assign]


def configure_metric_store(max_datums_per_series: int) -> None:
    """How many datums each metric of the stores made from now on keeps (``MetricStore``)."""
    _metric_store_options["max_datums_per_series"] = max_datums_per_series


_metric_store_options: dict[str, Any] = {}


# =============================================================================================
# CloudFormation: the resource types template.yaml uses that moto 5.2.5's CloudFormation lacks or
# handles only in part. moto maps a template's resource type to a ``CloudFormationModel`` subclass
# (``moto.cloudformation.parsing.get_model_map``, cached): new types are subclasses registered here;
# partial ones get their classmethods replaced. Each patch says what moto does without it.
# =============================================================================================
_s3_index_lock = threading.Lock()


def install_s3_prefix_index() -> None:
    """moto answers a prefix listing (ListObjects/ListObjectsV2 with ``Prefix``) by copying and
    scanning every key of the bucket, so each listing costs more the more studies the bucket holds
    (the upload trigger lists a study's folder for every arriving object; measured: emulator CPU per
    study 1.40x after 3,000 studies). A sorted index of key names per bucket, kept as keys are added,
    finds the keys under a prefix by bisection; moto's own code then builds the answer from those keys
    alone (delimiters, delete markers, sorting and pagination unchanged). Names of deleted keys are
    dropped from the index when a listing meets them."""
    import bisect

    from moto.s3.models import FakeTableStorageBucket, S3Backend
    from moto.s3.utils import _VersionedKeyStore

    if getattr(S3Backend.list_objects, "radstream_indexed", False):
        return
    moto_setitem, moto_setlist, moto_list_objects = (_VersionedKeyStore.__setitem__, _VersionedKeyStore.setlist,
                                                     S3Backend.list_objects)

    def index_of(store: _VersionedKeyStore) -> list[str]:  # caller holds the lock
        index = store.__dict__.get("radstream_names")
        if index is None:
            index = store.__dict__["radstream_names"] = sorted(dict.keys(store))
        return index

    def remember(store: _VersionedKeyStore, name: str) -> None:
        with _s3_index_lock:
            index = index_of(store)
            position = bisect.bisect_left(index, name)
            if position == len(index) or index[position] != name:
                index.insert(position, name)

    def __setitem__(self: _VersionedKeyStore, key: str, value: Any) -> Any:
        moto_setitem(self, key, value)
        remember(self, key)

    def setlist(self: _VersionedKeyStore, key: Any, list_: Any) -> Any:
        moto_setlist(self, key, list_)
        remember(self, key)

    def names_under(store: _VersionedKeyStore, prefix: str) -> list[str]:
        with _s3_index_lock:
            index = index_of(store)
            start = bisect.bisect_left(index, prefix)
            end = start
            while end < len(index) and index[end].startswith(prefix):
                end += 1
            names = index[start:end]
            gone = [name for name in names if not dict.__contains__(store, name)]
            for name in gone:
                index.remove(name)
        return [name for name in names if name not in gone]

    class _Narrowed:
        """The bucket as ``list_objects`` reads it (``bucket.keys.items()``), holding only ``names``."""

        def __init__(self, store: _VersionedKeyStore, names: list[str]) -> None:
            self.keys = self
            self._store, self._names = store, names

        def items(self) -> list[tuple[str, Any]]:
            found = []
            for name in self._names:
                try:
                    found.append((name, self._store[name]))
                except (KeyError, IndexError):  # deleted meanwhile
                    pass
            return found

    def list_objects(self: S3Backend, bucket: Any, prefix: str | None, delimiter: str | None, marker: str | None,
                     max_keys: int | None) -> Any:
        if prefix and isinstance(bucket.keys, _VersionedKeyStore) and not isinstance(bucket, FakeTableStorageBucket):
            bucket = _Narrowed(bucket.keys, names_under(bucket.keys, prefix))
        return moto_list_objects(self, bucket, prefix, delimiter, marker, max_keys)

    list_objects.radstream_indexed = True  # type: ignore[attr-defined]
    _VersionedKeyStore.__setitem__, _VersionedKeyStore.setlist = __setitem__, setlist  # type: ignore[method-assign]
    S3Backend.list_objects = list_objects  # type: ignore[method-assign]


def install_cloudformation_resources() -> None:
    """Teach moto's CloudFormation every type template.yaml and bootstrap.yaml use."""
    from moto.cloudformation import parsing

    _patch_state_machine()
    _patch_bucket()
    _patch_function_update()
    _patch_bucket_policy_enforcement()
    _patch_change_set_diff()
    _patch_change_set_execution()
    _patch_managed_policy_delete()
    _patch_replaced_resource_dependents()
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()  # computed from CloudFormationModel.__subclasses__(), which now has ours



class _CfnResource:
    """A resource moto's CloudFormation creates through the service's own backend. Each type lists
    ``CloudFormationModel`` as a direct base: moto finds types with ``CloudFormationModel.__subclasses__()``.

    Subclasses implement ``_create(name, properties, account_id, region) -> (physical_id, attributes)``
    and ``_delete(account_id, region)``; an update deletes and re-creates unless ``_update`` exists.
    """

    TYPE = ""
    NAME_PROPERTY = ""

    def __init__(self, physical_id: str, attributes: dict, properties: dict, account_id: str, region: str) -> None:
        self.physical_id, self.attributes, self.properties = physical_id, attributes, properties
        self.account_id, self.region = account_id, region

    @property
    def physical_resource_id(self) -> str:
        return self.physical_id

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name not in self.attributes:
            raise UnformattedGetAttTemplateException()
        return self.attributes[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                        **kwargs):  # type: ignore[override]
        properties = cloudformation_json.get("Properties", {})
        physical_id, attributes = cls._create(resource_name, properties, account_id, region_name)
        return cls(physical_id, attributes, properties, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):  # type: ignore[override]
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name):  # type: ignore[override]
        pass  # moto calls instance.delete() first; nothing is known from the name alone

    def delete(self, account_id: str, region: str) -> None:
        # moto deletes a stack's resources in no dependency order: the function, database or bucket this
        # one belongs to may be gone already, and with it this resource
        try:
            self._delete(account_id, region)
        except Exception as exc:
            if not any(word in f"{type(exc).__name__} {exc}" for word in ("NotFound", "not found", "NoSuch",
                                                                            "does not exist", "DoesNotExist")):
                raise

    def is_created(self) -> bool:
        return True

    @classmethod
    def _create(cls, name: str, properties: dict, account_id: str, region: str) -> tuple[str, dict]:
        raise NotImplementedError

    def _delete(self, account_id: str, region: str) -> None:
        raise NotImplementedError


def _partition(region: str) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region)


class FirehoseDeliveryStream(_CfnResource, CloudFormationModel):
    """moto skips this type; the emulator's forwarder delivers what it finds through the Firehose API."""

    TYPE, NAME_PROPERTY = "AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.firehose.models import firehose_backends

        firehose_backends[account_id][region].create_delivery_stream(
            region, name, p.get("DeliveryStreamType", "DirectPut"), p.get("KinesisStreamSourceConfiguration"),
            p.get("DeliveryStreamEncryptionConfigurationInput"), p.get("S3DestinationConfiguration"),
            p.get("ExtendedS3DestinationConfiguration"), None, None, None, None, None, None, tags=[])
        arn = f"arn:{_partition(region)}:firehose:{region}:{account_id}:deliverystream/{name}"
        return name, {"Arn": arn}

    def _delete(self, account_id, region):
        from moto.firehose.models import firehose_backends

        firehose_backends[account_id][region].delete_delivery_stream(self.physical_id)


class GlueDatabase(_CfnResource, CloudFormationModel):
    """moto skips this type."""

    TYPE = "AWS::Glue::Database"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.glue.models import glue_backends

        database_input = p["DatabaseInput"]
        glue_backends[account_id][region].create_database(database_input["Name"], database_input)
        return database_input["Name"], {}

    def _delete(self, account_id, region):
        from moto.glue.models import glue_backends

        glue_backends[account_id][region].delete_database(self.physical_id)


class GlueTable(_CfnResource, CloudFormationModel):
    """moto skips this type. Updated in place, like Glue's UpdateTable (its partitions survive)."""

    TYPE = "AWS::Glue::Table"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.glue.models import glue_backends

        table_input = p["TableInput"]
        glue_backends[account_id][region].create_table(p["DatabaseName"], table_input["Name"], table_input)
        return f"{p['DatabaseName']}|{table_input['Name']}", {}

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):  # type: ignore[override]
        from moto.glue.models import glue_backends

        p = cloudformation_json["Properties"]
        if original_resource.physical_id != f"{p['DatabaseName']}|{p['TableInput']['Name']}":
            return super().update_from_cloudformation_json(original_resource, new_resource_name,
                                                            cloudformation_json, account_id, region_name)
        glue_backends[account_id][region_name].update_table(p["DatabaseName"], p["TableInput"]["Name"], p["TableInput"])
        return cls(original_resource.physical_id, {}, p, account_id, region_name)

    def _delete(self, account_id, region):
        from moto.glue.models import glue_backends

        database, table = self.physical_id.split("|", 1)
        glue_backends[account_id][region].delete_table(database, table)


class AthenaWorkGroup(_CfnResource, CloudFormationModel):
    """moto skips this type."""

    TYPE, NAME_PROPERTY = "AWS::Athena::WorkGroup", "Name"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.athena.models import athena_backends

        athena_backends[account_id][region].create_work_group(
            name, p.get("WorkGroupConfiguration", {}), p.get("Description", ""), p.get("Tags", []))
        return name, {}

    def _delete(self, account_id, region):
        from moto.athena.models import athena_backends

        athena_backends[account_id][region].delete_work_group(self.physical_id)


class SnsSubscription(_CfnResource, CloudFormationModel):
    """moto skips this type."""

    TYPE = "AWS::SNS::Subscription"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.sns.models import sns_backends

        subscription = sns_backends[account_id][region].subscribe(p["TopicArn"], p["Endpoint"], p["Protocol"])
        return subscription.arn, {}

    def _delete(self, account_id, region):
        from moto.sns.models import sns_backends

        sns_backends[account_id][region].unsubscribe(self.physical_id)


class S3BucketPolicy(_CfnResource, CloudFormationModel):
    """moto skips this type. (What moto enforces of it: ``_patch_bucket_policy_enforcement``.)"""

    TYPE = "AWS::S3::BucketPolicy"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.s3.models import s3_backends

        s3_backends[account_id][_partition(region)].put_bucket_policy(p["Bucket"], json.dumps(p["PolicyDocument"]).encode())
        return p["Bucket"], {}

    def _delete(self, account_id, region):
        from moto.s3.models import s3_backends

        s3_backends[account_id][_partition(region)].delete_bucket_policy(self.physical_id)


class LambdaEventInvokeConfig(_CfnResource, CloudFormationModel):
    """moto skips this type (the on-failure destination is stored; moto's async invokes do not use it)."""

    TYPE = "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.awslambda.models import lambda_backends

        config = {k: p[k] for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig") if k in p}
        lambda_backends[account_id][region].put_function_event_invoke_config(p["FunctionName"], config)
        return f"{p['FunctionName']}|{p.get('Qualifier', '$LATEST')}", {}

    def _delete(self, account_id, region):
        from moto.awslambda.models import lambda_backends

        lambda_backends[account_id][region].delete_function_event_invoke_config(self.physical_id.split("|", 1)[0])


class SecretsManagerSecret(_CfnResource, CloudFormationModel):
    """moto skips this type. ``GenerateSecretString`` makes a random value, as on AWS; Ref is the ARN."""

    TYPE, NAME_PROPERTY = "AWS::SecretsManager::Secret", "Name"

    @classmethod
    def _create(cls, name, p, account_id, region):
        import secrets
        import string

        from moto.secretsmanager.models import secretsmanager_backends

        value = p.get("SecretString")
        if value is None:
            spec = p.get("GenerateSecretString", {})
            alphabet = string.ascii_letters + string.digits
            if not spec.get("ExcludePunctuation"):
                alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
            value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
        backend = secretsmanager_backends[account_id][region]
        created = backend.create_secret(name, value, None, p.get("Description"), p.get("Tags"), p.get("KmsKeyId"),
                                        None, [], False)
        arn = json.loads(created)["ARN"]
        return arn, {"Id": arn}

    def _delete(self, account_id, region):
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region].delete_secret(self.physical_id, None, True)


class LogStream(_CfnResource, CloudFormationModel):
    """moto skips this type."""

    TYPE, NAME_PROPERTY = "AWS::Logs::LogStream", "LogStreamName"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.logs.models import logs_backends

        logs_backends[account_id][region].create_log_stream(p["LogGroupName"], name)
        return f"{p['LogGroupName']}|{name}", {}

    def _delete(self, account_id, region):
        from moto.logs.models import logs_backends

        group, stream = self.physical_id.split("|", 1)
        backend = logs_backends[account_id][region]
        if group in backend.groups:  # deleting its group deleted it already
            backend.delete_log_stream(group, stream)


def _patch_state_machine() -> None:
    """moto creates state machines from templates in its non-executing backend (they never run) and reads
    only ``DefinitionString``. Ours: the backend the API uses (executing, once the emulator switched it on),
    the definition from ``DefinitionS3Location``/``Definition``/``DefinitionString`` with
    ``DefinitionSubstitutions`` applied, logging and tracing kept."""
    from moto.s3.models import s3_backends
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend

    def definition_of(p: dict, account_id: str, region: str) -> str:
        if "DefinitionS3Location" in p:
            location = p["DefinitionS3Location"]
            body = s3_backends[account_id][_partition(region)].get_object(location["Bucket"], location["Key"]).value
            text = body.decode("utf-8")
        elif "Definition" in p:
            text = json.dumps(p["Definition"])
        else:
            text = p.get("DefinitionString", "")
        for key, value in (p.get("DefinitionSubstitutions") or {}).items():
            text = text.replace("${" + key + "}", str(value))
        return text

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json["Properties"]
        return get_backend(account_id, region_name).create_state_machine(
            p.get("StateMachineName", resource_name), definition_of(p, account_id, region_name), p.get("RoleArn", ""),
            tags=[{"key": t["Key"], "value": t["Value"]} for t in p.get("Tags", [])],
            loggingConfiguration=_lower_keys(p.get("LoggingConfiguration")),
            tracingConfiguration=_lower_keys(p.get("TracingConfiguration")),
            sm_type=p.get("StateMachineType", "STANDARD"))

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        p = cloudformation_json["Properties"]
        backend = get_backend(account_id, region_name)
        if p.get("StateMachineName", original_resource.name) != original_resource.name:
            backend.delete_state_machine(original_resource.arn)
            return create(cls, new_resource_name, cloudformation_json, account_id, region_name)
        return backend.update_state_machine(original_resource.arn, definition=definition_of(p, account_id, region_name),
                                            role_arn=p.get("RoleArn"),
                                            logging_configuration=_lower_keys(p.get("LoggingConfiguration")),
                                            tracing_configuration=_lower_keys(p.get("TracingConfiguration")))

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        get_backend(account_id, region_name).delete_state_machine(resource_name)

    StateMachine.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    StateMachine.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]
    StateMachine.delete_from_cloudformation_json = classmethod(delete)  # type: ignore[method-assign,assignment]
    StateMachine.delete = lambda self, account_id, region: get_backend(account_id, region).delete_state_machine(self.arn)


def _patch_managed_policy_delete() -> None:
    """moto cannot delete an ``AWS::IAM::ManagedPolicy`` it created (the type has no delete), so the policy
    stays attached and deleting the stack fails on its roles ("must detach all policies first"). Detach it
    from every role, user and group, then delete it, as CloudFormation does."""
    from moto.iam.models import ManagedPolicy, iam_backends

    def delete(self: ManagedPolicy, account_id: str, region: str) -> None:
        backend = iam_backends[account_id][_partition(region)]
        for kind, detach in ((backend.roles, backend.detach_role_policy), (backend.users, backend.detach_user_policy),
                             (backend.groups, backend.detach_group_policy)):
            for holder in list(kind.values()):  # (roles are keyed by id: detach by name)
                if self.arn in holder.managed_policies:
                    detach(self.arn, holder.name)
        if self.arn in backend.managed_policies:
            backend.delete_policy(self.arn)

    ManagedPolicy.delete = delete  # type: ignore[attr-defined]


def _lower_keys(value: Any) -> Any:
    """CloudFormation's ``Level``/``Destinations`` -> the API's ``level``/``destinations``."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def _patch_bucket() -> None:
    """moto applies only ``BucketEncryption`` and ``Tags`` of an ``AWS::S3::Bucket``; the notification
    (the upload trigger), versioning, lifecycle and public access block of template.yaml would be lost.
    (``LoggingConfiguration`` stays unapplied: server access logs are not emulated.)"""
    from moto.s3.models import FakeBucket, s3_backends

    original_create = FakeBucket.create_from_cloudformation_json.__func__
    original_update = FakeBucket.update_from_cloudformation_json.__func__

    def apply(bucket: Any, p: dict, account_id: str, region: str) -> None:
        backend = s3_backends[account_id][_partition(region)]
        name = bucket.name
        if "VersioningConfiguration" in p:
            backend.put_bucket_versioning(name, p["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in p:
            backend.put_public_access_block(name, p["PublicAccessBlockConfiguration"])
        if "LifecycleConfiguration" in p:
            backend.put_bucket_lifecycle(name, [_lifecycle_rule(r) for r in p["LifecycleConfiguration"]["Rules"]])
        lambdas = p.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
        backend.put_bucket_notification_configuration(name, {"CloudFunctionConfiguration": [
            {"CloudFunction": c["Function"], "Event": [c["Event"]],
             **({"Filter": {"S3Key": {"FilterRule": c["Filter"]["S3Key"]["Rules"]}}} if "Filter" in c else {})}
            for c in lambdas]} if lambdas else None)

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        bucket = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        apply(bucket, cloudformation_json.get("Properties", {}), account_id, region_name)
        return bucket

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        bucket = original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        apply(bucket, cloudformation_json.get("Properties", {}), account_id, region_name)
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    FakeBucket.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]


def _patch_function_update() -> None:
    """moto's update of an ``AWS::Lambda::Function`` ignores ``ReservedConcurrentExecutions`` (a new
    InferenceConcurrency would never reach the function)."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.update_from_cloudformation_json.__func__

    def update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):
        function = original(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
        function.reserved_concurrency = cloudformation_json["Properties"].get("ReservedConcurrentExecutions")
        return function

    LambdaFunction.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]


def _lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the shape moto's PutBucketLifecycleConfiguration parser gives."""
    out: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule["Status"],
                           "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": str(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": str(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return out


def _patch_bucket_policy_enforcement() -> None:
    """moto enforces bucket policies on object requests but ignores their conditions, so template.yaml's
    TLS-only statement (Deny s3:* when aws:SecureTransport is false) would deny every request. The
    emulator serves plain HTTP on loopback, where no condition about the transport or the caller can be
    evaluated: statements with a Condition are not enforced; the others are, as before."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        statements = [s for s in (statements if isinstance(statements, list) else [statements]) if "Condition" not in s]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(dict(document, Statement=statements))).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def _patch_change_set_diff() -> None:
    """moto's change sets list only resources whose template text changed, and list resources whose
    Condition is false: one whose parameters changed (a new package key: a code change) is updated on
    execution but missing from DescribeChangeSet, and resources that will never exist are listed."""
    from moto.cloudformation.models import Change, ChangeSet
    from moto.cloudformation.parsing import ResourceMap

    def diff(self: Any) -> list:
        resource_map = self.stack.resource_map
        by_action = resource_map.build_resource_diff(self.template_dict, self.parameters)
        new, old = self.template_dict["Resources"], resource_map._resource_json_map
        # the conditions of the new template under the change set's parameters
        preview = ResourceMap(self.stack.stack_id, self.stack.name, self.parameters, {}, region_name=self.stack.region_name,
                              account_id=self.stack.account_id, template=self.template_dict,
                              cross_stack_resources=self.stack.cross_stack_resources)
        preview.load()
        conditions = preview.lazy_condition_map

        def exists(resource: dict) -> bool:
            return "Condition" not in resource or bool(conditions.get(resource["Condition"], True))

        return [Change(action, name, (new.get(name) or old.get(name))["Type"])
                for action, names in by_action.items() for name in names
                if exists(new.get(name) or old.get(name))]

    ChangeSet.diff = diff  # type: ignore[method-assign]


def _patch_change_set_execution() -> None:
    """After executing a change set moto keeps the stack's outputs and parameters from before it (a stack
    created by a change set has no outputs at all, and the next change set compares against stale
    parameters). Refresh both, as CloudFormation does."""
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


class CloudWatchAlarm(_CfnResource, CloudFormationModel):
    """moto skips this type (its Dashboard it has). Ref is the alarm's name, ``Fn::GetAtt Arn`` its ARN; an
    update changes the alarm in place, keeping its state (``install_alarm_state_keeping``), as on AWS."""

    TYPE, NAME_PROPERTY = "AWS::CloudWatch::Alarm", "AlarmName"

    @classmethod
    def _create(cls, name, p, account_id, region):
        from moto.cloudwatch.models import cloudwatch_backends

        alarm = cloudwatch_backends[account_id][region].put_metric_alarm(**_alarm_arguments(name, p))
        return alarm.name, {"Arn": alarm.alarm_arn}

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json,
                                        account_id, region_name):  # type: ignore[override]
        p = cloudformation_json.get("Properties", {})
        if p.get("AlarmName", original_resource.physical_id) != original_resource.physical_id:
            return super().update_from_cloudformation_json(original_resource, new_resource_name, cloudformation_json,
                                                            account_id, region_name)
        name, attributes = cls._create(original_resource.physical_id, p, account_id, region_name)
        return cls(name, attributes, p, account_id, region_name)

    def _delete(self, account_id, region):
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region].delete_alarms([self.physical_id])


def _alarm_arguments(name: str, p: dict) -> dict:
    """AWS::CloudWatch::Alarm properties -> moto's ``put_metric_alarm`` arguments."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    def number(key: str, kind: type) -> Any:
        return kind(p[key]) if p.get(key) not in (None, "") else None

    queries = []
    for q in p.get("Metrics") or []:
        stat = q.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            metric_stat = MetricStat(Metric(metric["MetricName"], metric.get("Namespace"),
                                            [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]),
                                     str(stat["Period"]), stat["Stat"], stat.get("Unit"))
        queries.append(MetricDataQuery(q["Id"], q.get("Label"), q.get("Period"),
                                       str(q.get("ReturnData", True)).lower(), q.get("Expression"), metric_stat))
    return dict(
        name=name, namespace=p.get("Namespace"), metric_name=p.get("MetricName"),
        comparison_operator=p["ComparisonOperator"], evaluation_periods=int(p["EvaluationPeriods"]),
        period=number("Period", int), threshold=number("Threshold", float), statistic=p.get("Statistic"),
        description=p.get("AlarmDescription", ""), dimensions=p.get("Dimensions", []),
        alarm_actions=p.get("AlarmActions", []), metric_data_queries=queries or None,
        datapoints_to_alarm=number("DatapointsToAlarm", int), extended_statistic=p.get("ExtendedStatistic"),
        ok_actions=p.get("OKActions", []), insufficient_data_actions=p.get("InsufficientDataActions", []),
        unit=p.get("Unit"), actions_enabled=_true(p.get("ActionsEnabled", True)),
        treat_missing_data=p.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=p.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=p.get("ThresholdMetricId"), tags=p.get("Tags"))


_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def _resources_referenced(value: Any) -> set[str]:
    """Logical ids ``value`` refers to: ``Ref``, ``Fn::GetAtt`` and ``${X}``/``${X.Attr}`` in ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _resources_referenced(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                found.add(item.split(".", 1)[0] if isinstance(item, str) else item[0])
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                found |= set(_SUB_REFERENCE.findall(text))
                found |= _resources_referenced(item[1:] if isinstance(item, list) else [])
            else:
                found |= _resources_referenced(item)
    return found


def _patch_replaced_resource_dependents() -> None:
    """moto updates a stack's modified resources in template order, each resolving its references
    when it is updated. A resource that is replaced (a new physical id: e.g. the state machine of
    another WorkflowType, which has another name) can be updated after the resources that refer to
    it, and those keep the old reference (the upload trigger would start executions of a deleted
    state machine). Afterwards, update again every resource that refers to a replaced one, as
    CloudFormation does (transitively, when that changes its own physical id)."""
    from moto.cloudformation import parsing

    original = parsing.ResourceMap.update

    def physical_ids(resource_map: Any) -> dict[str, Any]:
        return {name: getattr(resource, "physical_resource_id", None)
                for name, resource in resource_map._parsed_resources.items()}

    def update(self: Any, template: dict, parameters: dict | None = None) -> None:
        before = physical_ids(self)
        original(self, template, parameters)
        after = physical_ids(self)
        replaced = [name for name in after if name in before and after[name] != before[name]]
        while replaced:
            name = replaced.pop()
            for other, resource_json in self._resource_json_map.items():
                if other == name or other not in self._parsed_resources or \
                        name not in _resources_referenced(resource_json.get("Properties", {})):
                    continue
                updated = parsing.parse_and_update_resource(other, resource_json, self,
                                                            account_id=self._account_id, region_name=self._region_name)
                if updated is None:
                    continue
                self._parsed_resources[other] = updated
                if getattr(updated, "physical_resource_id", None) != after.get(other):
                    after[other] = getattr(updated, "physical_resource_id", None)
                    replaced.append(other)

    parsing.ResourceMap.update = update  # type: ignore[method-assign]
