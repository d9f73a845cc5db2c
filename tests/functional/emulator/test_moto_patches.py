"""The emulator's changes to moto (radstream.emulator.moto_patches) and its HTTP server, driven as any
client drives them: a bare emulator process (no pipeline deployed), boto3 over HTTP.

Each patch that removes a cost must leave behaviour as moto had it: Retry/Catch with a state machine
program shared by concurrent executions, Lambda errors as Step Functions names them when it invokes
in-process, Kinesis order under concurrent writers and readers, execution lookups and name checks.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from radstream.tooling.stack import emulator_admin
from support.emulator import emulator_process as bare_emulator
from support.emulator import create_probe_functions, one_attempt_clients

ROLE = "arn:aws:iam::123456789012:role/test"
HANDLERS = '''
class CustomError(Exception):
    pass

def echo(event, context):
    return {"echo": event}

def boom(event, context):
    raise CustomError("always fails: " + str(event.get("n")))
'''


@pytest.fixture(scope="module")
def emulator(emulator_process):
    return emulator_process[0]


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory):
    """(endpoint URL, work directory) of a bare emulator process."""
    work = tmp_path_factory.mktemp("emulator")
    with bare_emulator(work) as url:
        yield url, work


@pytest.fixture(scope="module")
def aws(emulator):
    return one_attempt_clients(emulator, max_pool_connections=64)


@pytest.fixture(scope="module")
def functions(aws):
    return create_probe_functions(aws, HANDLERS, ["echo", "boom"], "patch", Timeout=10)


def state_machine(aws, definition: dict) -> str:
    return aws("stepfunctions").create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE,
                                                     definition=json.dumps(definition))["stateMachineArn"]


def run(aws, machine: str, inputs: list[dict]) -> list[dict]:
    """Start one execution per input at once; return each one's description when it has ended."""
    sfn = aws("stepfunctions")
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"x-{uuid.uuid4().hex[:10]}",
                                input=json.dumps(i))["executionArn"] for i in inputs]
    results = []
    for arn in arns:
        deadline = time.time() + 60
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.time() < deadline, f"{arn} still running"
            time.sleep(0.1)
        described["history"] = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        results.append(described)
    return results


def test_retry_and_catch_stay_per_execution_with_a_shared_program(aws, functions):
    machine = state_machine(aws, {
        "StartAt": "Fail", "States": {
            "Fail": {"Type": "Task", "Resource": functions["boom"], "Parameters": {"n.$": "$.n"},
                     "Retry": [{"ErrorEquals": ["CustomError"], "IntervalSeconds": 1, "MaxAttempts": 2,
                                "BackoffRate": 1.0}],
                     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
                     "End": True},
            "Caught": {"Type": "Pass", "End": True}}})
    for round_ in range(2):  # the second round runs on the cached program
        inputs = [{"n": f"{round_}-{i}"} for i in range(4)]
        for given, done in zip(inputs, run(aws, machine, inputs)):
            assert done["status"] == "SUCCEEDED"
            scheduled = [e for e in done["history"] if e["type"] == "LambdaFunctionScheduled"]
            assert len(scheduled) == 3, "one attempt and two retries, counted per execution"
            output = json.loads(done["output"])
            assert output["n"] == given["n"] and output["error"]["Error"] == "CustomError"
            assert f"always fails: {given['n']}" in output["error"]["Cause"]


def test_lambda_invoked_in_process_answers_as_over_http(aws, emulator, functions):
    missing = functions["echo"].rsplit(":", 1)[0] + ":no-such-function"
    machine = state_machine(aws, {
        "StartAt": "Echo", "States": {
            "Echo": {"Type": "Task", "Resource": functions["echo"], "ResultPath": "$.result", "Next": "Missing"},
            "Missing": {"Type": "Task", "Resource": missing,
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}],
                        "End": True},
            "Done": {"Type": "Pass", "End": True}}})
    before = emulator_admin.stats(emulator)
    [done] = run(aws, machine, [{"value": 42}])
    after = emulator_admin.stats(emulator)
    output = json.loads(done["output"])
    assert output["result"] == {"echo": {"value": 42}}
    # Lambda's refusal, named as Step Functions names it (install_lambda_service_error_names)
    assert output["error"]["Error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in output["error"]["Cause"]
    delta = emulator_admin.stats_delta(before, after)["requests"]
    assert delta["stepfunctions"]["lambda:Invoke"] == 2
    assert "lambda:Invoke" not in delta.get("client", {})


def test_paths_are_evaluated_per_execution(aws, functions):
    machine = state_machine(aws, {
        "StartAt": "Echo", "States": {
            "Echo": {"Type": "Task", "Resource": functions["echo"],
                     "Parameters": {"id.$": "$.id", "nested.$": "$.deep.value"}, "ResultPath": "$.out",
                     "OutputPath": "$.out.echo", "End": True}}})
    inputs = [{"id": i, "deep": {"value": f"v{i}"}} for i in range(6)]
    for given, done in zip(inputs, run(aws, machine, inputs)):
        assert json.loads(done["output"]) == {"id": given["id"], "nested": given["deep"]["value"]}


def test_execution_lookups_and_names(aws):
    machine = state_machine(aws, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    sfn = aws("stepfunctions")
    arns = [sfn.start_execution(stateMachineArn=machine, name=f"n-{i}", input="{}")["executionArn"]
            for i in range(20)]
    assert [sfn.describe_execution(executionArn=a)["name"] for a in arns] == [f"n-{i}" for i in range(20)]
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        sfn.describe_execution(executionArn=arns[0].rsplit(":", 1)[0] + ":never-started")
    time.sleep(0.5)  # Pass ends at once: a name reused after its execution ended is refused
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="n-3", input="{}")
    assert sfn.get_execution_history(executionArn=arns[5])["events"][0]["type"] == "ExecutionStarted"


def test_kinesis_keeps_order_under_concurrent_writers_and_readers(aws):
    kin = aws("kinesis")
    stream = f"s-{uuid.uuid4().hex[:8]}"
    kin.create_stream(StreamName=stream, ShardCount=1)
    shard = kin.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    for batch in range(50):  # a long stream: moto read it from its first record on every call
        kin.put_records(StreamName=stream, Records=[{"Data": b"old", "PartitionKey": "k"}] * 500)

    def iterator(kind: str) -> str:
        return kin.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType=kind)["ShardIterator"]

    writers, per_writer = 6, 40
    read: list[dict] = []
    errors: list[Exception] = []
    done = threading.Event()

    def write(w: int) -> None:
        for i in range(per_writer):
            kin.put_records(StreamName=stream, Records=[{"Data": json.dumps([w, i]).encode(), "PartitionKey": "k"}])

    def follow(position: str, out: list | None) -> None:
        try:
            while True:
                finished = done.is_set()
                response = kin.get_records(ShardIterator=position, Limit=7)
                if out is not None:
                    out.extend(response["Records"])
                position = response["NextShardIterator"]
                if finished and not response["Records"]:
                    return
        except Exception as exc:  # moto's "OrderedDict mutated during iteration" surfaced as an error here
            errors.append(exc)

    readers = [threading.Thread(target=follow, args=(iterator("LATEST"), out)) for out in (read, None, None, None)]
    for reader in readers:
        reader.start()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(write, range(writers)))
    done.set()
    for reader in readers:
        reader.join(60)
    assert errors == []
    numbers = [int(r["SequenceNumber"]) for r in read]
    assert numbers == list(range(25001, 25001 + writers * per_writer)), "each new record once, in order"
    for w in range(writers):  # one writer's records keep their order
        assert [json.loads(r["Data"])[1] for r in read if json.loads(r["Data"])[0] == w] == list(range(per_writer))


def test_wait_route_answers_when_the_execution_ends(aws, emulator):
    machine = state_machine(aws, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    sfn = aws("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine, name="waited", input="{}")["executionArn"]
    assert emulator_admin.wait_for_execution(emulator, arn, 0.1)["status"] == "RUNNING"
    assert emulator_admin.wait_for_execution(emulator, arn, 30)["status"] == "SUCCEEDED"
    assert emulator_admin.wait_for_execution(emulator, arn + "-none", 0.1)["status"] is None


def test_blocked_requests_do_not_starve_the_server(emulator, aws):
    """More requests blocking at once than the pool has threads (the executions/wait route here;
    S3 uploads whose trigger runs synchronously, in the pipeline): the pool grows, others are served."""
    nowhere = "arn:aws:states:us-east-1:123456789012:execution:none:never"
    with ThreadPoolExecutor(48) as pool:
        waits = [pool.submit(emulator_admin.wait_for_execution, emulator, nowhere, 5.0) for _ in range(48)]
        time.sleep(0.5)
        with urllib.request.urlopen(emulator + "/_radstream/health", timeout=3) as response:
            assert json.loads(response.read())["status"] == "running"
        assert all(w.result()["status"] is None for w in waits)


def test_connections_are_kept_alive(emulator):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", int(emulator.rsplit(":", 1)[1]), timeout=5)
    for _ in range(3):
        connection.request("GET", "/_radstream/health")
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("Connection", "").lower() != "close"
    connection.close()


def test_s3_metadata_keeps_underscores(aws):
    s3 = aws("s3")
    bucket = f"meta-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"my_key": "a", "other-key": "b"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"my_key": "a", "other-key": "b"}


def test_requests_reach_every_service_through_the_cached_dispatch(aws):
    assert "Buckets" in aws("s3").list_buckets()
    assert "StreamNames" in aws("kinesis").list_streams()
    assert "Topics" in aws("sns").list_topics()
    assert "stateMachines" in aws("stepfunctions").list_state_machines()


def test_large_s3_bodies_live_on_disk_and_go_with_their_object(aws, emulator_process):
    s3 = aws("s3")
    objects_dir = emulator_process[1] / "s3-objects"
    bucket = f"disk-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    large, small = os.urandom(300_000), b'{"small": true}'
    before = set(os.listdir(objects_dir))
    s3.put_object(Bucket=bucket, Key="large.bin", Body=large)
    s3.put_object(Bucket=bucket, Key="small.json", Body=small)
    added = set(os.listdir(objects_dir)) - before
    assert len(added) == 1, "the large body is in a file of its own; the small one in memory"
    assert s3.get_object(Bucket=bucket, Key="large.bin")["Body"].read() == large
    assert s3.get_object(Bucket=bucket, Key="small.json")["Body"].read() == small
    assert s3.get_object(Bucket=bucket, Key="large.bin", Range="bytes=1000-1999")["Body"].read() == large[1000:2000]
    s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "large.bin"})
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == large
    assert s3.head_object(Bucket=bucket, Key="copy.bin")["ETag"] == s3.head_object(Bucket=bucket, Key="large.bin")["ETag"]
    s3.put_object(Bucket=bucket, Key="large.bin", Body=b"now small")  # overwritten: its file goes
    s3.delete_object(Bucket=bucket, Key="copy.bin")
    assert s3.get_object(Bucket=bucket, Key="large.bin")["Body"].read() == b"now small"
    deadline = time.time() + 5
    while set(os.listdir(objects_dir)) - before and time.time() < deadline:
        time.sleep(0.1)  # moto disposes replaced keys when they are garbage collected
    assert set(os.listdir(objects_dir)) - before == set()


def test_moto_flask_apps_run_without_debug_mode():
    from radstream.emulator import moto_patches

    assert moto_patches._production_backend_app("sns").debug is False


def test_finished_task_threads_are_dropped_when_an_execution_ends(monkeypatch):
    from types import SimpleNamespace

    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
    from moto.stepfunctions.parser.backend import execution as moto_execution
    from moto.stepfunctions.parser.utils import TMP_THREADS

    from radstream.emulator import moto_patches

    monkeypatch.setattr(moto_execution.BaseExecutionWorkerCommunication, "terminated",
                        moto_execution.BaseExecutionWorkerCommunication.terminated)  # restored after the test
    moto_patches.install_task_thread_pruning()
    finished = threading.Thread(target=lambda: None)
    finished.start()
    finished.join()
    running = threading.Event()
    alive = threading.Thread(target=running.wait)
    alive.start()
    TMP_THREADS.extend([finished, alive])
    env = SimpleNamespace(program_state=lambda: ProgramEnded(), states=SimpleNamespace(get_input=lambda: {}))
    execution = SimpleNamespace(exec_worker=SimpleNamespace(env=env))
    moto_execution.BaseExecutionWorkerCommunication(execution).terminated()
    try:
        assert finished not in TMP_THREADS and alive in TMP_THREADS
        assert execution.exec_status.value == "SUCCEEDED"  # moto's own bookkeeping still ran
    finally:
        running.set()
        alive.join()
        TMP_THREADS.remove(alive)


def test_prefix_listings_answer_as_moto_did(aws):
    s3 = aws("s3")
    bucket = f"list-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key in ("incoming/s1/image.jpg", "incoming/s1/metadata.json", "incoming/s10/image.png", "incoming/s2/x",
                "incoming/s1", "results/s1/result.json", "a", "incoming/s1/sub/deeper"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")

    def keys(**kwargs):
        response = s3.list_objects_v2(Bucket=bucket, **kwargs)
        return [o["Key"] for o in response.get("Contents", [])], [p["Prefix"] for p in response.get("CommonPrefixes", [])]

    assert keys(Prefix="incoming/s1/") == (["incoming/s1/image.jpg", "incoming/s1/metadata.json",
                                            "incoming/s1/sub/deeper"], [])
    assert keys(Prefix="incoming/s1") == (["incoming/s1", "incoming/s1/image.jpg", "incoming/s1/metadata.json",
                                           "incoming/s1/sub/deeper", "incoming/s10/image.png"], [])
    assert keys(Prefix="incoming/", Delimiter="/") == (["incoming/s1"], ["incoming/s1/", "incoming/s10/", "incoming/s2/"])
    assert keys(Prefix="incoming/s1/", MaxKeys=2)[0] == ["incoming/s1/image.jpg", "incoming/s1/metadata.json"]
    s3.delete_object(Bucket=bucket, Key="incoming/s1/image.jpg")
    s3.put_object(Bucket=bucket, Key="incoming/s1/image.jpg.bak", Body=b"y")
    assert keys(Prefix="incoming/s1/")[0] == ["incoming/s1/image.jpg.bak", "incoming/s1/metadata.json",
                                              "incoming/s1/sub/deeper"]
    assert keys(Prefix="nothing/") == ([], [])
    assert len(keys()[0]) == 8  # no prefix: moto's own listing
