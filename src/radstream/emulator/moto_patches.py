"""Every place the emulator reaches into moto's internals, pinned to one moto version.

moto 5.2.5 runs Lambda code only inside Docker (there is no engine here, and no hook to plug
in another runner), so ``LambdaFunction.invoke`` — the one method that direct invokes, Step
Functions tasks and S3/SNS/Kinesis triggers all go through — is replaced with a call into our
``LambdaRuntime``. The runtime's log lines go to moto's CloudWatch Logs backend under
``/aws/lambda/<function>``, one stream per execution environment, as on AWS.

The second half removes costs moto repeats per request or per execution (see "speed" below).

If moto is upgraded, re-check ``LambdaFunction.invoke``'s signature, ``code_bytes``,
``code_sha_256``, ``environment_vars``, ``logs_backend``, the werkzeug app factory and what the
speed patches replace (``DomainDispatcherApplication.get_backend_for_host``,
``ExecutionWorker._get_evaluation_entrypoint``, ``EvalComponent.heap_key``, the ``parse`` used by
``asl.utils.json_path`` and ``ResultPath``, ``boto_client_for`` and the Lambda task's use of it,
``LambdaBackend.invoke``, ``kinesis.models.Shard``, ``KinesisBackend.put_record(s)``,
``StateMachine``/``StepFunctionBackend`` execution lookups, ``BaseExecutionWorkerCommunication.terminated``
and ``moto.core.request``'s header-name preservation), then bump ``PINNED_MOTO_VERSION``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

import moto
from moto.awslambda.models import LambdaFunction
from moto.core.request import (PRESERVED_HEADER_NAMES_ENVIRON_KEY, environ_key_for_header,
                               should_preserve_original_header_name)
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from radstream.emulator.lambda_types import FunctionSpec, Invocation
from radstream.emulator.lambda_runtime import LambdaRuntime

logger = logging.getLogger(__name__)

PINNED_MOTO_VERSION = "5.2.5"
_logs_lock = threading.Lock()

__all__ = ["install_lambda_runtime", "moto_wsgi_app", "preserve_header_names", "check_moto_version"]


def check_moto_version() -> None:
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise RuntimeError(
            f"the embedded emulator is pinned to moto {PINNED_MOTO_VERSION} but {moto.__version__} is installed; "
            f"run `pip install moto[server]=={PINNED_MOTO_VERSION}` or re-check radstream/emulator/moto_patches.py"
        )


def moto_wsgi_app() -> Any:
    """moto's server-mode WSGI application (all services, dispatched by request)."""
    return DomainDispatcherApplication(create_backend_app)


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
            sequence_number = last + 1
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
    """A state machine's executions (a list, as moto expects) with lookups by ARN and by name."""

    def __init__(self, items=()) -> None:
        super().__init__(items)
        self.by_arn = {e.execution_arn: e for e in self}
        self.by_name = {e.name: e for e in self}

    def append(self, execution: Any) -> None:
        super().append(execution)
        self.by_arn[execution.execution_arn] = execution
        self.by_name.setdefault(execution.name, execution)

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("executions are only ever appended (moto 5.2.5)")

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
