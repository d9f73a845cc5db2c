"""The embedded target: moto in server mode plus what it lacks, in one process.

- moto's server (all services) on 127.0.0.1:PORT, with Step Functions execution switched on;
- our Lambda runtime behind moto's Lambda API (deployed code, per-function environments);
- the CloudFormation resource types moto lacks, so template.yaml deploys as it does on AWS;
- the Kinesis -> Firehose -> S3 delivery moto does not do (``firehose_forwarder``);
- CloudWatch as on AWS: the metrics Lambda, Step Functions and SQS publish and those embedded in Lambda
  logs (``metric_publisher``, batched once a second), statistics with percentiles and metric math
  (``metric_store``), alarms evaluated every period with SNS notifications (``alarm_evaluation``);
- a small admin API under ``/_radstream/``: health, flush (telemetry delivery and buffered metrics), stats (AWS requests
  served by origin, service and operation; CPU seconds of the emulator and every Lambda process),
  executions/wait (answers when an execution ends: clients need not poll), faults (fault injection,
  off by default: see ``faults``).

Fidelity the pipeline's guarantees depend on (``moto_patches``, fidelity section): S3 invokes the
upload trigger asynchronously with Lambda's retries and on-failure destination (``lambda_async``);
conditional puts are atomic; StartExecution and Lambda refuse payloads over their quotas.

Run with ``python -m radstream.emulator --port 4566``; ``radstream up`` does it in the background.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs

from radstream.emulator.alarm_evaluation import AlarmEvaluator
from radstream.emulator.execution_waits import ExecutionWaits
from radstream.emulator.faults import FaultSwitch
from radstream.emulator.http_server import EmulatorHTTPServer
from radstream.emulator.lambda_async import AWS_RETRY_DELAYS_S
from radstream.emulator.metric_publisher import MetricPublisher
from radstream.emulator.stats import RequestStats, cpu_seconds

logger = logging.getLogger("radstream.emulator")

# routes: health, stats, executions/wait (GET), flush (POST), faults (GET, POST, DELETE);
# client: radstream.tooling.stack.emulator_admin
ADMIN_PREFIX = "/_radstream/"
MAX_WAIT_S = 60.0


class AdminMiddleware:
    """Serves ``/_radstream/*`` itself and passes everything else to moto."""

    def __init__(self, app, emulator: "Emulator") -> None:
        self.app = app
        self.emulator = emulator

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(ADMIN_PREFIX):
            origin, service, operation = self.emulator.stats.count_request(environ)
            refusal = self.emulator.injected_refusal(origin, service, operation)
            if refusal is not None:
                return _refuse(environ, start_response, *refusal)
            return self.app(environ, start_response)
        route = path[len(ADMIN_PREFIX):].strip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            if route == "health":
                body = {"status": "running", "port": self.emulator.port, "pid": os.getpid(),
                        "started_at": self.emulator.started_at,
                        "lambda_environments": self.emulator.runtime.environment_count(),
                        "lambda_events_pending": self.emulator.invoker.pending() if self.emulator.invoker else 0,
                        "faults": self.emulator.faults.snapshot()}
            elif route == "faults" and method == "POST":
                request = json.loads(_body(environ) or b"{}")
                fault = self.emulator.faults.set(request.pop("fault", ""), **request)
                logger.warning("fault injected: %s", fault.as_dict())
                body = {"faults": self.emulator.faults.snapshot()}
            elif route == "faults" and method == "DELETE":
                name = (parse_qs(environ.get("QUERY_STRING", "")).get("fault") or [None])[0]
                cleared = self.emulator.faults.clear(name)
                logger.warning("faults cleared: %s", ", ".join(cleared) or "none were set")
                body = {"cleared": cleared, "faults": self.emulator.faults.snapshot()}
            elif route == "faults":
                body = {"faults": self.emulator.faults.snapshot()}
            elif route == "restore" and method == "POST":
                body = self.emulator.restore(json.loads(_body(environ) or b"{}").get("buckets", []))
            elif route == "flush" and environ.get("REQUEST_METHOD") == "POST":
                body = self.emulator.flush_delivery()
            elif route == "stats":
                body = self.emulator.served()
            elif route == "executions/wait":
                query = parse_qs(environ.get("QUERY_STRING", ""))
                arn = (query.get("arn") or [""])[0]
                timeout_s = min(float((query.get("timeout") or ["20"])[0]), MAX_WAIT_S)
                body = {"execution_arn": arn, "status": self.emulator.waits.wait(arn, timeout_s)}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [json.dumps({"error": f"no admin route {path}"}).encode()]
        except (ValueError, TypeError) as exc:  # a bad request (e.g. an unknown fault): say what is wrong
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"error": str(exc)}).encode()]
        except Exception as exc:  # admin errors are reported, never crash the server
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [json.dumps({"error": str(exc)}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


def _body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _refuse(environ: dict, start_response, status: str, content_type: str, body: bytes):
    _body(environ)  # the request must be read before answering on a kept-alive connection
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


_S3_SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                b'<Message>Please reduce your request rate.</Message><RequestId>radstream-fault</RequestId></Error>')
_KINESIS_THROUGHPUT = json.dumps({
    "__type": "ProvisionedThroughputExceededException",
    "message": "Rate exceeded for shard shardId-000000000000 (injected by the emulator's fault switch)"}).encode()


@dataclass(frozen=True)
class Retention:
    """How much of what AWS keeps for days the emulator keeps in memory (see moto_patches' "bounded
    memory" section): AWS's own time limits apply, and these caps bound a long local run."""

    closed_executions: int = 5000  # per state machine, newest kept (AWS: 90 days after close)
    kinesis_shard_mb: int = 4  # record data per shard, newest kept (AWS: the stream's retention period)
    log_events_per_group: int = 5000  # newest kept (AWS: the log group's RetentionInDays)
    metric_datums_per_series: int = 3600  # newest kept per metric (AWS: months; the store: 24 h)

    ENV = {"closed_executions": "RADSTREAM_EMULATOR_KEEP_EXECUTIONS",
           "kinesis_shard_mb": "RADSTREAM_EMULATOR_KINESIS_SHARD_MB",
           "log_events_per_group": "RADSTREAM_EMULATOR_LOG_EVENTS_PER_GROUP",
           "metric_datums_per_series": "RADSTREAM_EMULATOR_METRIC_DATUMS_PER_SERIES"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Retention":
        environ = os.environ if environ is None else environ
        values = {}
        for field_name, variable in cls.ENV.items():
            text = environ.get(variable)
            if text in (None, ""):
                continue
            try:
                values[field_name] = int(text)
            except ValueError:
                raise ValueError(f"{variable}={text!r}: expected a whole number") from None
            if values[field_name] < 1:
                raise ValueError(f"{variable}={text!r}: must be at least 1")
        return cls(**values)


class Emulator:
    def __init__(self, host: str, port: int, work_dir: Path,
                 async_retry_delays_s: tuple[float, ...] = AWS_RETRY_DELAYS_S, persist_dir: Path | None = None,
                 retention: Retention | None = None) -> None:
        self.host, self.port, self.work_dir = host, port, work_dir
        self.async_retry_delays_s = async_retry_delays_s
        self.persist_dir = persist_dir  # bucket contents are saved here on stop and restored on request
        self.retention = retention or Retention()
        self.started_at = time.time()
        self.faults = FaultSwitch()
        self.invoker = None
        self.runtime = None
        self.forwarder = None
        self._server = None
        self.stats = RequestStats()
        self.waits = None
        self.metrics: MetricPublisher | None = None
        self.alarms: AlarmEvaluator | None = None

    def start(self) -> None:
        # moto's Step Functions tasks call Lambda/SNS through boto3 at localhost:MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        from radstream.emulator import moto_patches
        from radstream.emulator.lambda_runtime import LambdaRuntime

        moto_patches.check_moto_version()
        moto_patches.install_untracked_models()
        endpoint = f"http://{self.host}:{self.port}"
        self.metrics = MetricPublisher(moto_patches.put_metric_data)
        moto_patches.configure_metric_store(self.retention.metric_datums_per_series)
        moto_patches.install_cloudwatch_metrics()
        moto_patches.install_kinesis_stream_metrics(self.metrics)
        moto_patches.install_alarm_state_keeping()
        self.runtime = LambdaRuntime(self.work_dir / "lambda", base_env=_function_base_env(endpoint))
        self.runtime.faults = self.faults
        self.invoker = moto_patches.install_async_invocations(self.runtime, self.async_retry_delays_s, self.metrics)
        moto_patches.install_lambda_runtime(self.runtime, self.invoker, self.metrics)
        moto_patches.install_atomic_conditional_puts()
        moto_patches.install_start_execution_input_limit()
        moto_patches.install_lambda_service_error_names()
        moto_patches.install_generated_execution_names()
        moto_patches.install_execution_metrics(self.metrics)
        self.metrics.add_sampler(moto_patches.queue_depths)
        moto_patches.install_dispatch_cache()
        moto_patches.install_state_machine_program_cache()
        moto_patches.install_jsonpath_cache()
        moto_patches.install_step_functions_clients(
            lambda service, operation: self.stats.count_internal("stepfunctions", service, operation))
        moto_patches.install_kinesis_shard_fixes()
        moto_patches.install_execution_index()
        moto_patches.install_task_thread_pruning()
        moto_patches.install_kinesis_put_listener(
            lambda arn, records, data_bytes: self.forwarder and self.forwarder.notify_put(arn, records, data_bytes))
        objects_dir = self.work_dir / "s3-objects"
        shutil.rmtree(objects_dir, ignore_errors=True)  # bodies of a previous run's (in-memory) objects
        moto_patches.install_s3_bodies_on_disk(str(objects_dir))
        moto_patches.install_s3_prefix_index()
        self.waits = ExecutionWaits(moto_patches.execution_status)
        moto_patches.install_execution_end_listener(self.waits.ended)
        moto_patches.install_execution_retention(self.retention.closed_executions)
        moto_patches.install_kinesis_retention(self.retention.kinesis_shard_mb * 1024 * 1024)
        moto_patches.install_log_retention(self.retention.log_events_per_group)
        moto_patches.install_compact_s3_keys()
        moto_patches.install_cloudformation_resources()
        app = AdminMiddleware(moto_patches.moto_wsgi_app(), self)
        self._server = EmulatorHTTPServer(self.host, self.port, app, moto_patches.preserve_header_names)
        self._server.start()
        _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        self.forwarder = _start_forwarder(endpoint)
        self.metrics.start()
        self.alarms = AlarmEvaluator(moto_patches.alarm_specs, moto_patches.metric_store,
                                     moto_patches.set_alarm_state, moto_patches.publish_notification)
        self.alarms.start()

    def injected_refusal(self, origin: str, service: str, operation: str) -> tuple[str, str, bytes] | None:
        """(status, content type, body) when an injected fault refuses this request, else None."""
        if service == "s3" and self.faults.fires("s3-slowdown", origin=origin):
            return "503 Slow Down", "application/xml", _S3_SLOWDOWN
        if service == "kinesis" and operation in ("PutRecord", "PutRecords") and \
                self.faults.fires("kinesis-throughput", origin=origin):
            return "400 Bad Request", "application/x-amz-json-1.1", _KINESIS_THROUGHPUT
        return None

    def served(self) -> dict:
        """Requests served since start (by origin, then "service:Operation") and CPU seconds per
        process; consumers subtract two of these."""
        processes = [{"role": "emulator", "pid": os.getpid(), "cpu_s": cpu_seconds("self") or 0.0}]
        if self.runtime is not None:
            processes += self.runtime.process_cpu()
        return {"started_at": self.started_at, "at": time.time(), "requests": self.stats.snapshot(),
                "processes": processes}

    def flush_delivery(self) -> dict:
        """Deliver everything buffered now (Firehose records, CloudWatch metrics); returns per-delivery-stream
        counters and the metric members written."""
        written = self.metrics.flush() if self.metrics is not None else 0
        delivered = self.forwarder.flush() if self.forwarder is not None else {"delivery_streams": {}}
        return {**delivered, "metrics": written}

    def restore(self, buckets: list[str]) -> dict:
        """Put back the objects the last stop saved, for ``buckets`` (the caller's deployed data buckets)."""
        from radstream.emulator import moto_patches

        if self.persist_dir is None:
            return {"restored": {}, "persisting": False}
        restored = moto_patches.restore_s3(self.persist_dir, buckets)
        logger.info("restored %d objects saved at the last stop: %s", sum(restored.values()), restored)
        return {"restored": restored, "persisting": True}

    def stop(self) -> None:
        if self.persist_dir is not None and self._server is not None:
            from radstream.emulator import moto_patches

            try:  # before anything stops: the Lambda runtime and Firehose delivery may still write
                started = time.monotonic()
                self.flush_delivery()  # buffered telemetry goes to its bucket first
                count = moto_patches.snapshot_s3(self.persist_dir)
                logger.info("saved %d objects to %s in %.1f s", count, self.persist_dir, time.monotonic() - started)
            except Exception:
                logger.exception("could not save the bucket contents; they are lost with this process")
        for part in (self.alarms, self.metrics):
            if part is not None:
                part.stop()
        if self.forwarder is not None:
            try:
                self.forwarder.stop()
            except Exception:
                logger.exception("stopping the Firehose delivery failed")
        if self._server is not None:
            self._server.stop()
        if self.invoker is not None:
            self.invoker.shutdown()
        if self.runtime is not None:
            self.runtime.shutdown()


def _function_base_env(endpoint: str) -> dict:
    """What every execution environment inherits: the process's env minus our own settings,
    pointed at the emulator (Lambda injects credentials and region the same way)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RADSTREAM_", "AWS_", "MOTO_"))}
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    })
    return env


def _start_forwarder(endpoint: str):
    from radstream.emulator.firehose_forwarder import FirehoseForwarder

    forwarder = FirehoseForwarder(endpoint_url=endpoint, region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                                  event_driven=True)
    forwarder.start()
    return forwarder


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    for attempt in range(50):
        try:
            urllib.request.urlopen(request, timeout=5).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"emulator did not accept {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m radstream.emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RADSTREAM_EMULATOR_PORT", 4566)),
                        help="port to listen on (default 4566)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where extracted function code and worker logs live (default: a temp dir)")
    parser.add_argument("--persist-dir", type=Path, default=None,
                        help="save every bucket's objects here when stopping, for POST /_radstream/restore after "
                             "the next start (default: nothing survives a restart)")
    parser.add_argument("--async-retry-delays", default=",".join(f"{d:g}" for d in AWS_RETRY_DELAYS_S),
                        help="seconds before each retry of a failed asynchronous invocation (default 60,120, "
                             "Lambda's; the tests use shorter ones)")
    args = parser.parse_args(argv)
    try:
        delays = tuple(float(d) for d in args.async_retry_delays.split(","))
    except ValueError:
        parser.error(f"--async-retry-delays takes seconds separated by commas, got {args.async_retry_delays!r}")
    try:
        retention = Retention.from_env()
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="radstream-emulator-"))
    emulator = Emulator(args.host, args.port, work_dir, delays, args.persist_dir, retention)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        emulator.start()
    except OSError as exc:
        print(f"radstream emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    logger.info("RadStream embedded AWS listening on http://%s:%d (work dir %s)", args.host, args.port, work_dir)
    stopped.wait()
    logger.info("shutting down")
    emulator.stop()
    return 0
