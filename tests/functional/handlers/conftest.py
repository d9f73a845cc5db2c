"""Lambda handlers called in-process, the way Lambda calls them, against the session's moto server.

``lambda_function("prepare-tensors")`` imports the function's handler module *fresh*, with exactly the
environment `radstream deploy` gives that function (``definition.stack.function_environment``) plus
``AWS_ENDPOINT_URL`` and fake credentials pointing boto3 at moto. Fresh, because the handlers read their
settings at import, ``aws_io.client`` caches one client per service and the telemetry producer is
process-wide: every test gets its own, and nothing leaks into other tests.

The account's resources (buckets, the telemetry stream, the state machine) carry a prefix of their
own, so they never collide with other tests on the shared moto server.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from radstream.definition import stack
from radstream.definition.names import Names
from radstream.definition.workflow import render_definition
from radstream.deployed import telemetry

HANDLERS_PACKAGE = "radstream.deployed.handlers"
UNREACHABLE_MODEL = "http://127.0.0.1:9"  # run-inference needs an endpoint to import; tests that call it pass a real one


@dataclass
class Account:
    names: Names
    endpoint_url: str
    session: Any

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def put(self, bucket: str, key: str, body: bytes) -> str:
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

    def get(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.fixture(scope="package")
def account(moto_endpoint) -> Account:
    import boto3

    names = Names(prefix=f"fn{uuid.uuid4().hex[:8]}")
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=names.region)
    acct = Account(names, moto_endpoint, session)
    s3 = acct.client("s3")
    for bucket in (names.images_bucket, names.results_bucket):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    acct.client("sns").create_topic(Name=names.errors_topic)
    acct.client("kinesis").create_stream(StreamName=names.telemetry_stream, ShardCount=1)
    # The bare moto server records executions without running them: what upload-trigger needs.
    acct.client("stepfunctions").create_state_machine(
        name=names.state_machine, definition=render_definition(names),
        roleArn=names.role_arn(names.states_role))
    return acct


class LambdaContext:
    """The parts of Lambda's context object the handlers, their instrumentation and Powertools read."""

    def __init__(self, fn: stack.FunctionDef, names: Names):
        self.function_name = names.function(fn.short)
        self.function_version = "$LATEST"
        self.invoked_function_arn = names.function_arn(fn.short)
        self.memory_limit_in_mb = str(fn.memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = names.log_group(fn.short)
        self.log_stream_name = f"2026/01/01/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + fn.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def forget_handlers() -> None:
    for name in [m for m in sys.modules if m == HANDLERS_PACKAGE or m.startswith(HANDLERS_PACKAGE + ".")]:
        del sys.modules[name]
    telemetry.use_producer_factory(None)  # drops the producer (and its Kinesis client) the handlers made


def function_def(short: str) -> stack.FunctionDef:
    return next(f for f in stack.FUNCTIONS if f.short == short)


def import_handler_module(fn: stack.FunctionDef):
    forget_handlers()
    return importlib.import_module(fn.handler.rsplit(".", 1)[0])


@pytest.fixture
def deployed_env(account, monkeypatch) -> Callable[..., dict]:
    """``deployed_env("upload-trigger")`` sets the function's deployed environment (``overrides`` replace
    variables, ``None`` removes one); returns it."""

    def apply(short: str, *, model_endpoint: str = UNREACHABLE_MODEL, **overrides: str | None) -> dict:
        env = stack.function_environment(function_def(short), account.names, model_endpoint)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(key, raising=False)
        env.update(AWS_ENDPOINT_URL=account.endpoint_url, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=account.names.region)
        env.update(overrides)
        for key, value in env.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        return {key: value for key, value in env.items() if value is not None}

    yield apply
    forget_handlers()


@pytest.fixture
def lambda_function(account, deployed_env) -> Callable[..., Callable[[dict], Any]]:
    """``lambda_function("store-results")(event)`` -> what the handler returns (or raises)."""

    def load(short: str, *, model_endpoint: str = UNREACHABLE_MODEL, **overrides: str) -> Callable[[dict], Any]:
        fn = function_def(short)
        deployed_env(short, model_endpoint=model_endpoint, **overrides)
        handler = getattr(import_handler_module(fn), fn.handler.rsplit(".", 1)[1])
        return lambda event: handler(event, LambdaContext(fn, account.names))

    return load


@pytest.fixture
def telemetry_records(account) -> Callable[[], list[dict]]:
    """Records put on the account's telemetry stream since the test started, decoded."""
    kinesis = account.client("kinesis")
    stream = account.names.telemetry_stream
    iterators = [kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                            ShardIteratorType="LATEST")["ShardIterator"]
                 for shard in kinesis.list_shards(StreamName=stream)["Shards"]]

    def read() -> list[dict]:
        return [json.loads(record["Data"]) for iterator in iterators
                for record in kinesis.get_records(ShardIterator=iterator)["Records"]]

    return read
