"""The emulator's memory bounds (moto_patches' "bounded memory" section), driven as a client drives
them: a bare emulator process with small caps (RADSTREAM_EMULATOR_* variables), boto3 over HTTP.

Each bound must leave the APIs answering as AWS answers: a compacted execution as it was while its
interpreter was kept, an expired one as AWS answers 90 days on, a Kinesis reader behind the trim
horizon reading on from the oldest record kept, a log group keeping its newest events. Checks that
need moto's objects (what is shared, what is tracked) run in this process on moto's backends.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import time
import uuid
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from radstream.tooling.stack import emulator_admin
from support.emulator import create_probe_functions, emulator_process, one_attempt_clients

ROLE = "arn:aws:iam::123456789012:role/test"
KEEP_EXECUTIONS = 3
LOG_EVENTS = 40
HANDLERS = '''
def echo(event, context):
    return {"echo": event, "pad": "x" * 2000}

def boom(event, context):
    raise ValueError("boom " + str(event.get("n")))
'''


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with emulator_process(tmp_path_factory.mktemp("bounded"), env={
            "RADSTREAM_EMULATOR_KEEP_EXECUTIONS": str(KEEP_EXECUTIONS), "RADSTREAM_EMULATOR_KINESIS_SHARD_MB": "1",
            "RADSTREAM_EMULATOR_LOG_EVENTS_PER_GROUP": str(LOG_EVENTS)}) as url:
        yield url


@pytest.fixture(scope="module")
def aws(emulator):
    return one_attempt_clients(emulator)


@pytest.fixture(scope="module")
def functions(aws):
    return create_probe_functions(aws, HANDLERS, ["echo", "boom"], "bounded", Timeout=10)


def machine(aws, functions) -> str:
    """Echo, then Boom caught when the input says so: a success and a caught failure."""
    definition = {"StartAt": "Echo", "States": {
        "Echo": {"Type": "Task", "Resource": functions["echo"], "ResultPath": "$.echoed", "Next": "Choose"},
        "Choose": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                   "Default": "Done"},
        "Boom": {"Type": "Task", "Resource": functions["boom"], "Parameters": {"n.$": "$.n"},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}], "End": True},
        "Failed": {"Type": "Fail", "Error": "Caught", "Cause": "boom was caught"},
        "Done": {"Type": "Pass", "End": True}}}
    return aws("stepfunctions").create_state_machine(name=f"bounded-{uuid.uuid4().hex[:8]}", roleArn=ROLE,
                                                     definition=json.dumps(definition))["stateMachineArn"]


def finish(aws, arn: str) -> dict:
    sfn = aws("stepfunctions")
    deadline = time.time() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.time() < deadline, f"{arn} still running"
        time.sleep(0.05)
    return described


def start(aws, state_machine: str, name: str, given: dict) -> str:
    return aws("stepfunctions").start_execution(stateMachineArn=state_machine, name=name,
                                                input=json.dumps(given))["executionArn"]


def test_closed_executions_answer_as_they_ran(aws, functions):
    """A closed execution is compacted; DescribeExecution and GetExecutionHistory answer as for one
    still holding its interpreter: the input, the output, every event in order with its details."""
    sfn = aws("stepfunctions")
    state_machine = machine(aws, functions)
    ok = finish(aws, start(aws, state_machine, "ok", {"n": 1, "fail": False}))
    failed = finish(aws, start(aws, state_machine, "failed", {"n": 2, "fail": True}))

    assert ok["status"] == "SUCCEEDED" and json.loads(ok["input"]) == {"n": 1, "fail": False}
    output = json.loads(ok["output"])
    assert output["echoed"]["echo"] == {"n": 1, "fail": False} and len(output["echoed"]["pad"]) == 2000
    assert failed["status"] == "FAILED" and failed["error"] == "Caught" and failed["cause"] == "boom was caught"
    assert "output" not in failed

    events = sfn.get_execution_history(executionArn=ok["executionArn"], maxResults=1000)["events"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"n": 1, "fail": False}
    assert [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"] == ["Echo"]
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == output
    history = sfn.get_execution_history(executionArn=failed["executionArn"], maxResults=1000)["events"]
    assert history[-1]["type"] == "ExecutionFailed"
    assert any(e["type"] == "LambdaFunctionFailed" and "boom 2" in e["lambdaFunctionFailedEventDetails"]["cause"]
               for e in history)


def test_closed_executions_beyond_the_cap_expire_as_on_aws(aws, functions):
    """With RADSTREAM_EMULATOR_KEEP_EXECUTIONS=3 the oldest closed executions go as AWS's go 90 days
    after they close: ExecutionDoesNotExist, not listed, and the name may be used again."""
    sfn = aws("stepfunctions")
    state_machine = machine(aws, functions)
    arns = []
    for i in range(KEEP_EXECUTIONS + 2):
        arns.append(start(aws, state_machine, f"run-{i}", {"n": i, "fail": False}))
        finish(aws, arns[-1])
    for arn in arns[:2]:
        for call in (lambda: sfn.describe_execution(executionArn=arn),
                     lambda: sfn.get_execution_history(executionArn=arn)):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["Error"]["Code"] == "ExecutionDoesNotExist"
    listed = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=state_machine)["executions"]}
    assert listed == set(arns[2:])
    again = start(aws, state_machine, "run-0", {"n": 0, "fail": False})  # an expired name is free again
    assert finish(aws, again)["status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as taken:  # a kept one's is not
        start(aws, state_machine, f"run-{KEEP_EXECUTIONS + 1}", {"n": 9, "fail": False})
    assert taken.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_kinesis_keeps_its_newest_records_within_the_shard_cap(aws):
    """RADSTREAM_EMULATOR_KINESIS_SHARD_MB=1: the oldest records go first; a reader whose position was
    trimmed away reads on from the oldest record kept, as one behind the retention period does."""
    kinesis = aws("kinesis")
    stream = f"bounded-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    payload = b"r" * 30_000  # 40 KB as moto holds it (base64): 1 MB is ~26 records
    first = kinesis.put_record(StreamName=stream, PartitionKey="p", Data=b"0:" + payload)["SequenceNumber"]
    early = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                       StartingSequenceNumber=first)["ShardIterator"]
    for i in range(1, 60):
        kinesis.put_record(StreamName=stream, PartitionKey="p", Data=f"{i}:".encode() + payload)
    kept = []
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while True:
        page = kinesis.get_records(ShardIterator=iterator, Limit=100)
        kept += [int(r["Data"].split(b":")[0]) for r in page["Records"]]
        if not page["Records"]:
            break
        iterator = page["NextShardIterator"]
    assert kept == list(range(kept[0], 60)), "the newest records, in order, without gaps"
    assert 10 < len(kept) <= 1024 * 1024 // len(base64.b64encode(payload)) + 1
    behind = kinesis.get_records(ShardIterator=early, Limit=100)["Records"]
    assert int(behind[0]["Data"].split(b":")[0]) == kept[0]


def test_kinesis_stream_metrics_are_folded_per_second(aws, emulator):
    """moto's per-call IncomingBytes/IncomingRecords arrive through the metric publisher: the same sums
    and sample counts, a datum per second instead of two per call."""
    from datetime import datetime, timedelta, timezone

    kinesis, cloudwatch = aws("kinesis"), aws("cloudwatch")
    stream = f"metered-{uuid.uuid4().hex[:6]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    started = datetime.now(timezone.utc)
    for _ in range(5):
        kinesis.put_record(StreamName=stream, PartitionKey="pk", Data=b"12345")
    kinesis.put_records(StreamName=stream, Records=[{"PartitionKey": "pk", "Data": b"x"}] * 3)
    emulator_admin.flush_telemetry(emulator)
    query = dict(Namespace="AWS/Kinesis", Dimensions=[{"Name": "StreamName", "Value": stream}], Period=3600,
                 StartTime=started - timedelta(hours=1), EndTime=started + timedelta(hours=1),
                 Statistics=["Sum", "SampleCount"])
    records = cloudwatch.get_metric_statistics(MetricName="IncomingRecords", **query)["Datapoints"]
    data = cloudwatch.get_metric_statistics(MetricName="IncomingBytes", **query)["Datapoints"]
    assert sum(p["Sum"] for p in records) == 8 and sum(p["SampleCount"] for p in records) == 6
    assert sum(p["Sum"] for p in data) == 5 * (5 + 2) + 3 * (1 + 2)


def test_kinesis_drops_records_older_than_the_retention_period():
    from radstream.emulator import moto_patches

    now = time.time()
    records = {n: SimpleNamespace(data="d" * 10, created_at=now - age) for n, age in ((1, 90_000), (2, 87_000),
                                                                                       (3, 60), (4, 1))}
    shard = SimpleNamespace(records=__import__("collections").OrderedDict(records))
    assert moto_patches._trim_shard(shard, 10, 24 * 3600.0, 10_000) == 2
    assert list(shard.records) == [3, 4] and shard.radstream_bytes == 20


def test_log_groups_keep_their_newest_events_and_their_retention(aws):
    """RADSTREAM_EMULATOR_LOG_EVENTS_PER_GROUP=40: the oldest events go first, across streams; events
    older than the group's RetentionInDays go whatever the count; storedBytes follows."""
    logs = aws("logs")
    group = f"/bounded/{uuid.uuid4().hex[:6]}"
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    for stream in ("a", "b"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="a",
                        logEvents=[{"timestamp": now_ms - 2 * 86_400_000, "message": "too old"}])
    for i in range(60):
        logs.put_log_events(logGroupName=group, logStreamName="ab"[i % 2],
                            logEvents=[{"timestamp": now_ms + i, "message": f"event {i:02d}"}])
    events = logs.filter_log_events(logGroupName=group)["events"]
    messages = [e["message"] for e in sorted(events, key=lambda e: e["timestamp"])]
    assert "too old" not in messages and len(messages) <= LOG_EVENTS
    assert messages == [f"event {i:02d}" for i in range(60 - len(messages), 60)]
    assert len(messages) >= LOG_EVENTS * 9 // 10 - 1
    stored = sum(s["storedBytes"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"])
    assert stored == sum(len(m) for m in messages)


@pytest.fixture
def moto_in_process(monkeypatch, tmp_path):
    """moto's backends in this process with the S3 patches installed, restored afterwards."""
    from moto.core.common_models import BaseModel
    from moto.s3.models import FakeKey

    from radstream.emulator import moto_patches

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for owner, name in ((BaseModel, "__new__"), (FakeKey, "__init__"), (FakeKey, "__setstate__")):
        monkeypatch.setattr(owner, name, owner.__dict__[name])
    added = [name for name in moto_patches._KEY_ATTRIBUTES_MOSTLY_NONE if name not in FakeKey.__dict__]
    moto_patches.install_untracked_models()
    moto_patches.install_s3_bodies_on_disk(str(tmp_path))
    moto_patches.install_compact_s3_keys()
    yield
    for name in added:  # the class defaults the patch set
        if name in FakeKey.__dict__:
            delattr(FakeKey, name)


def test_models_are_not_tracked_for_good(moto_in_process):
    from moto.s3.models import FakeKey, S3Backend

    backend = S3Backend("us-east-1", "123456789012")
    backend.create_bucket("tracked", "us-east-1")
    before = len(FakeKey.instances_tracked)
    for i in range(20):
        backend.put_object("tracked", f"k/{i}", b"x")
    backend.delete_object("tracked", "k/0")
    assert len(FakeKey.instances_tracked) == before
    gc.collect()
    assert sum(isinstance(o, FakeKey) for o in gc.get_objects()) >= 19  # the bucket still holds its keys
    backend.reset()  # moto's reset still disposes of what the buckets hold
    assert backend.buckets == {}
    gc.collect()


def test_s3_keys_share_what_is_the_same_and_answer_the_same(moto_in_process):
    from moto.s3.models import S3Backend, get_canned_acl

    from radstream.emulator.moto_patches import _acl_grants

    private, public = _acl_grants(get_canned_acl("private")), _acl_grants(get_canned_acl("public-read"))

    backend = S3Backend("us-east-1", "123456789012")
    backend.create_bucket("compact", "us-east-1")
    backend.put_bucket_versioning("compact", "Enabled")
    a = backend.put_object("compact", "a", b"alpha")
    b = backend.put_object("compact", "b", b"beta", encryption="aws:kms", kms_key_id="key-1")
    assert a.acl is b.acl and a._transitions is b._transitions, "one default ACL and restore list for all"
    assert "encryption" not in a.__dict__ and a.encryption is None and a.kms_key_id is None
    assert b.encryption == "aws:kms" and b.kms_key_id == "key-1"
    assert a.value == b"alpha" and _acl_grants(a.acl) == private

    backend.put_object_acl("compact", "b", get_canned_acl("public-read"))
    assert _acl_grants(backend.get_object("compact", "b").acl) == public
    assert _acl_grants(backend.get_object("compact", "a").acl) == private and a.acl is private_acl_of(backend)
    backend.copy_object(backend.get_object("compact", "b"), "compact", "c")  # CopyObject: the default ACL, as AWS
    assert backend.get_object("compact", "c").acl is a.acl
    public_copy = copy.deepcopy(backend.get_object("compact", "b"))  # moto's copies (__setstate__) keep theirs
    assert _acl_grants(public_copy.acl) == public and copy.deepcopy(a).acl is a.acl
    again = backend.put_object("compact", "a", b"alpha 2")  # a new version; the first still reads
    assert again.value == b"alpha 2" and backend.get_object("compact", "a", version_id=a.version_id).value == b"alpha"
    backend.reset()  # close the bodies now, not at interpreter exit


def private_acl_of(backend) -> object:
    backend.put_object("compact", "probe", b"")
    return backend.get_object("compact", "probe").acl


def test_retention_caps_come_from_the_environment_and_bad_values_are_named():
    from radstream.emulator.server import Retention

    assert Retention.from_env({}) == Retention()
    assert Retention.from_env({"RADSTREAM_EMULATOR_KEEP_EXECUTIONS": "7"}).closed_executions == 7
    for bad in ("many", "0"):
        with pytest.raises(ValueError, match="RADSTREAM_EMULATOR_METRIC_DATUMS_PER_SERIES"):
            Retention.from_env({"RADSTREAM_EMULATOR_METRIC_DATUMS_PER_SERIES": bad})
