"""The emulator's Lambda runtime, driven directly (no moto): it must behave like Lambda."""

import io
import json
import threading
import zipfile

import pytest

from radstream.emulator.lambda_types import FunctionSpec
from radstream.emulator.lambda_runtime import LambdaRuntime

HANDLERS = '''
import os, time, sys
import radstream

def echo(event, context):
    print("hello from handler")
    return {"greeting": os.environ.get("GREETING"), "event": event, "pid": os.getpid(),
            "remaining_ms": context.get_remaining_time_in_millis(), "request_id": context.aws_request_id,
            "radstream_from": radstream.__file__}

def sleepy(event, context):
    started = time.time()
    time.sleep(event["seconds"])
    return {"pid": os.getpid(), "start": started, "end": time.time()}

def boom(event, context):
    raise ValueError("bad thing happened")

def hog(event, context):
    block = b"x" * (event["mb"] * 1024 * 1024)
    time.sleep(2)
    return len(block)
'''


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("probe.py", HANDLERS)
        # A `radstream` package that exists only in the deployment package: the worker must
        # import it rather than the developer's source tree.
        archive.writestr("radstream/__init__.py", "DEPLOYED = True\n")
    return buffer.getvalue()


CODE = _zip()


def spec(handler: str, timeout_s: float = 5, memory_mb: int = 256, env: dict | None = None,
         name: str = "probe") -> FunctionSpec:
    return FunctionSpec(name=name, arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}", handler=handler,
                        timeout_s=timeout_s, memory_mb=memory_mb, environment=env or {}, code_sha256="sha-" + name,
                        code_zip=CODE)


@pytest.fixture(params=["forked", "spawned"])
def runtime(tmp_path, request):
    """Both ways an execution environment starts must behave the same."""
    rt = LambdaRuntime(tmp_path, base_env={"PATH": "/usr/bin:/bin"}, preload=request.param == "forked")
    assert type(rt.launcher).__name__ == ("ZygoteLauncher" if request.param == "forked" else "SpawnLauncher")
    yield rt
    rt.shutdown()


def test_runs_deployed_code_with_the_functions_environment_and_logs(runtime):
    fn = spec("probe.echo", env={"GREETING": "hi"})
    first = runtime.invoke(fn, json.dumps({"a": 1}))
    body = json.loads(first.payload)
    assert first.function_error is None
    assert body["greeting"] == "hi" and body["event"] == {"a": 1}
    assert "/code/" in body["radstream_from"], "worker imported radstream from outside the deployment package"
    assert 0 < body["remaining_ms"] <= 5000
    lines = first.log_lines
    assert lines[0] == f"START RequestId: {body['request_id']} Version: $LATEST"
    assert "hello from handler" in lines
    assert lines[-2] == f"END RequestId: {body['request_id']}"
    assert lines[-1].startswith(f"REPORT RequestId: {body['request_id']}\tDuration: ")
    assert "Billed Duration: " in lines[-1] and "Memory Size: 256 MB" in lines[-1] and "Init Duration" in lines[-1]
    assert first.init_ms is not None and first.max_memory_mb > 0

    second = runtime.invoke(fn, "{}")
    assert json.loads(second.payload)["pid"] == body["pid"], "warm environment was not reused"
    assert second.init_ms is None and "Init Duration" not in second.log_lines[-1]
    assert "hello from handler" in second.log_lines and second.log_stream == first.log_stream


def test_handler_exception_is_an_unhandled_function_error(runtime):
    result = runtime.invoke(spec("probe.boom"), "{}")
    assert result.function_error == "Unhandled"
    error = json.loads(result.payload)
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad thing happened"
    assert any("ValueError" in line for line in result.log_lines)


def test_timeout_kills_the_environment_and_reports_like_lambda(runtime):
    fn = spec("probe.sleepy", timeout_s=1)
    result = runtime.invoke(fn, json.dumps({"seconds": 30}))
    assert result.function_error == "Unhandled"
    error = json.loads(result.payload)
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert any("Task timed out after 1.00 seconds" in line for line in result.log_lines)
    # the next invocation gets a fresh environment and works
    ok = runtime.invoke(fn, json.dumps({"seconds": 0}))
    assert ok.function_error is None and ok.init_ms is not None


def test_memory_limit_is_enforced(runtime):
    result = runtime.invoke(spec("probe.hog", memory_mb=128, name="hog"), json.dumps({"mb": 400}))
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "Runtime.OutOfMemory"


def test_concurrent_invocations_run_in_parallel_environments(runtime):
    fn = spec("probe.sleepy", name="parallel")
    results = []

    def call():
        results.append(json.loads(runtime.invoke(fn, json.dumps({"seconds": 1.5})).payload))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = results
    assert first["pid"] != second["pid"]
    # the two handler runs overlapped in time: neither finished before the other started
    assert first["start"] < second["end"] and second["start"] < first["end"]


def test_broken_deployment_reports_import_error(runtime):
    result = runtime.invoke(spec("missing_module.handler", name="broken"), "{}")
    assert result.function_error == "Unhandled"
    error = json.loads(result.payload)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "missing_module" in error["errorMessage"]


def test_a_dead_zygote_falls_back_to_spawning(tmp_path):
    rt = LambdaRuntime(tmp_path, base_env={"PATH": "/usr/bin:/bin"}, preload=True)
    try:
        rt.launcher._process.kill()
        rt.launcher._process.wait()
        result = rt.invoke(spec("probe.echo", env={"GREETING": "still here"}), "{}")
        assert result.function_error is None and json.loads(result.payload)["greeting"] == "still here"
        assert type(rt.launcher).__name__ == "SpawnLauncher"
    finally:
        rt.shutdown()
