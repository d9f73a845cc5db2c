"""One Lambda execution environment: a long-lived process that runs one function's handler.

Started by ``lambda_launchers`` as a *script* (not ``-m radstream...``) so that nothing from the
emulator's own copy of ``radstream`` is imported before the deployed code: the function's
extracted zip is first on ``sys.path``, exactly as ``/var/task`` is on Lambda. Installed
third-party packages stay importable, playing the part of a Lambda layer.

Protocol (one JSON document per line): the parent writes an invocation to our protocol input
(originally stdin), we answer on our protocol output (originally stdout). Our fd 1 and 2 are
redirected to a log file, so everything the handler prints or logs — including output of C
extensions — is captured per invocation and shipped to CloudWatch Logs by the parent.

Usage: python lambda_worker.py CODE_DIR HANDLER LOG_FILE
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback


class LambdaContext:
    """The subset of the Lambda context object handlers commonly use."""

    def __init__(self, request: dict) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request.get("function_arn", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _error(exc: BaseException, error_type: str | None = None) -> dict:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def main() -> None:
    code_dir, handler_spec, log_file = sys.argv[1:4]
    proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8")
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8")

    # /var/task first; drop the emulator's own directory and any editable-install finder that
    # would resolve `radstream` to the developer's source tree instead of the deployed zip.
    sys.path[:] = [code_dir] + [p for p in sys.path[1:] if p != os.path.dirname(os.path.abspath(__file__))]
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]

    # The Python runtime's log format, with the request id on every line.
    request_filter = _RequestIdFilter()
    log_handler = logging.StreamHandler(sys.stdout)
    log_handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.Formatter.converter = time.gmtime
    log_handler.addFilter(request_filter)
    logging.getLogger().addHandler(log_handler)
    logging.getLogger().setLevel(logging.WARNING)

    init_started = time.perf_counter()
    module_name, _, function_name = handler_spec.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # reported the way Lambda reports a broken deployment package
        error_type = "Runtime.HandlerNotFound" if isinstance(exc, AttributeError) else "Runtime.ImportModuleError"
        payload = _error(exc, error_type)
        payload["errorMessage"] = f"Unable to import module '{module_name}': {exc}"
        print(f"[ERROR] {error_type}: {payload['errorMessage']}", flush=True)
        proto_out.write(json.dumps({"ready": False, "error": payload}) + "\n")
        proto_out.flush()
        return
    init_ms = (time.perf_counter() - init_started) * 1000
    proto_out.write(json.dumps({"ready": True, "init_ms": init_ms}) + "\n")
    proto_out.flush()

    for line in proto_in:
        request = json.loads(line)
        request_filter.request_id = request["request_id"]
        context = LambdaContext(request)
        started = time.perf_counter()
        try:
            event = json.loads(request["event"]) if request["event"] else {}
            result = handler(event, context)
            reply = {"ok": True, "payload": json.dumps(result)}
        except Exception as exc:
            error = _error(exc)
            error["requestId"] = request["request_id"]
            # Lambda logs the unhandled error as a JSON line under [ERROR].
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", flush=True)
            reply = {"ok": False, "payload": json.dumps(error)}
        reply["duration_ms"] = (time.perf_counter() - started) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        proto_out.write(json.dumps(reply) + "\n")
        proto_out.flush()


if __name__ == "__main__":
    main()
