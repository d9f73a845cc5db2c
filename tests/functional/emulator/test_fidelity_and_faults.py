"""What the emulator does as AWS does where no study may be lost (moto_patches' fidelity section), and its
fault switch: a bare emulator process (retry delays of 0.5 s and 1 s instead of Lambda's minutes), boto3
over HTTP.

- S3 invokes Lambda asynchronously: the upload returns at once; a failing function is retried twice, then
  its event goes to the on-failure destination as Lambda's invocation record; events carry versionId;
- conditional puts are atomic; StartExecution and Lambda refuse payloads over their quotas; a throttled
  Lambda task fails with Lambda.TooManyRequestsException; unnamed executions get distinct names;
- injected faults: S3 SlowDown, Kinesis throughput, a crashing or out-of-memory function.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from radstream.tooling.stack import emulator_admin
from support.emulator import create_probe_functions, emulator_process, one_attempt_clients

ROLE = "arn:aws:iam::123456789012:role/test"
HANDLERS = '''
import json, os, time
import boto3

def record(event, context):
    """Writes every event it gets to the bucket named by RECORD_BUCKET (one object per invocation)."""
    boto3.client("s3").put_object(Bucket=os.environ["RECORD_BUCKET"], Key="seen/" + context.aws_request_id,
                                  Body=json.dumps(event).encode())
    return {"ok": True}

def slow(event, context):
    time.sleep(2)
    return record(event, context)

def boom(event, context):
    boto3.client("s3").put_object(Bucket=os.environ["RECORD_BUCKET"], Key="boom/" + context.aws_request_id, Body=b"x")
    raise RuntimeError("always fails")

def echo(event, context):
    return {"echo": event}
'''


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    # Lambda's asynchronous retries after 0.5 s and 1 s instead of minutes
    with emulator_process(tmp_path_factory.mktemp("emulator"), "--async-retry-delays", "0.5,1") as url:
        yield url


@pytest.fixture(scope="module")
def aws(emulator):
    return one_attempt_clients(emulator, max_pool_connections=64)


@pytest.fixture(scope="module")
def bucket(aws):
    name = f"record-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def functions(aws, bucket):
    return create_probe_functions(aws, HANDLERS, ["record", "slow", "boom", "echo"], "fid", Timeout=10, MemorySize=256,
                                  Environment={"Variables": {"RECORD_BUCKET": bucket}})


def keys(aws, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def wait_until(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return value


def notify(aws, source: str, function_arn: str) -> None:
    aws("s3").put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": function_arn, "Events": ["s3:ObjectCreated:*"]}]})


def test_s3_invokes_lambda_asynchronously_with_the_object_version(aws, bucket, functions):
    source = f"src-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=source)
    aws("s3").put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    notify(aws, source, functions["slow"])  # the function takes 2 s

    started = time.monotonic()
    version = aws("s3").put_object(Bucket=source, Key="incoming/a/metadata.json", Body=b"{}")["VersionId"]
    assert time.monotonic() - started < 1.5, "the upload waited for the function (moto calls it synchronously)"

    [seen] = wait_until(lambda: keys(aws, bucket, "seen/"))
    event = json.loads(aws("s3").get_object(Bucket=bucket, Key=seen)["Body"].read())
    obj = event["Records"][0]["s3"]["object"]
    assert obj["key"] == "incoming/a/metadata.json" and obj["versionId"] == version and obj["sequencer"]


def test_a_failing_function_is_retried_twice_then_its_event_goes_to_the_on_failure_destination(aws, bucket, functions):
    source = f"src-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=source)
    queue_url = aws("sqs").create_queue(QueueName=f"failures-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = aws("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("lambda").put_function_event_invoke_config(FunctionName=functions["boom"], MaximumRetryAttempts=2,
                                                   DestinationConfig={"OnFailure": {"Destination": queue_arn}})
    notify(aws, source, functions["boom"])

    aws("s3").put_object(Bucket=source, Key="incoming/b/image.jpg", Body=b"x")

    messages = wait_until(lambda: aws("sqs").receive_message(QueueUrl=queue_url).get("Messages"))
    assert len(keys(aws, bucket, "boom/")) == 3, "one invocation and two retries"
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "incoming/b/image.jpg"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"


def test_conditional_puts_are_atomic(aws, bucket):
    s3, key, barrier = aws("s3"), f"claim/{uuid.uuid4().hex}", threading.Barrier(12)
    won = []

    def claim(i: int) -> None:
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode(), IfNoneMatch="*")
            won.append(i)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "PreconditionFailed"

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(won[0]).encode()


def test_start_execution_refuses_an_input_over_256_kib(aws):
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    with pytest.raises(ClientError) as excinfo:
        sfn.start_execution(stateMachineArn=machine, name="big", input=json.dumps({"x": "a" * 262_144}))
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
    assert "262144" in excinfo.value.response["Error"]["Message"]
    sfn.start_execution(stateMachineArn=machine, name="fits", input=json.dumps({"x": "a" * 200_000}))


def test_unnamed_executions_get_distinct_generated_names(aws):
    sfn = aws("stepfunctions")
    machine = sfn.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    arns = {sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"] for _ in range(3)}
    assert len(arns) == 3 and not any(arn.endswith(":None") for arn in arns)
    uuid.UUID(next(iter(arns)).rsplit(":", 1)[1])  # a UUID, as AWS generates


def test_a_throttled_lambda_task_fails_with_lambdas_error_name_which_retry_catches(aws, functions):
    """Beyond the function's reserved concurrency, Invoke is refused; Step Functions names that
    Lambda.TooManyRequestsException (moto said "Exception", which no Retry lists)."""
    aws("lambda").put_function_concurrency(FunctionName=functions["slow"], ReservedConcurrentExecutions=1)
    sfn = aws("stepfunctions")

    def run_two(retry: list) -> list[dict]:
        task = {"Type": "Task", "Resource": functions["slow"], "End": True, "Retry": retry}
        machine = sfn.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE, definition=json.dumps(
            {"StartAt": "T", "States": {"T": task}}))["stateMachineArn"]
        first = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        time.sleep(0.5)  # the first holds the only slot for 2 s
        second = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        for arn in (first, second):
            wait_until(lambda arn=arn: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 60)
        return [sfn.describe_execution(executionArn=arn) | {"events": sfn.get_execution_history(executionArn=arn)["events"]}
                for arn in (first, second)]

    try:
        first, second = run_two([])
        assert first["status"] == "SUCCEEDED" and second["status"] == "FAILED"
        assert second["error"] == "Lambda.TooManyRequestsException", second.get("error")
        first, second = run_two([{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1,
                                  "MaxAttempts": 6, "BackoffRate": 1.5}])
        assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED")
        failures = [e["lambdaFunctionFailedEventDetails"]["error"] for e in second["events"]
                    if e["type"] == "LambdaFunctionFailed"]
        assert failures and set(failures) == {"Lambda.TooManyRequestsException"}
    finally:
        aws("lambda").delete_function_concurrency(FunctionName=functions["slow"])


def test_lambda_refuses_payloads_over_its_quotas(aws, functions):
    lam = aws("lambda")
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=functions["echo"], Payload=json.dumps({"x": "a" * (6 * 1024 * 1024)}).encode())
    assert excinfo.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    with pytest.raises(ClientError) as excinfo:
        lam.invoke(FunctionName=functions["echo"], InvocationType="Event",
                   Payload=json.dumps({"x": "a" * (300 * 1024)}).encode())
    assert excinfo.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert lam.invoke(FunctionName=functions["echo"], Payload=b'{"x": 1}')["StatusCode"] == 200


def test_injected_s3_slowdown_and_kinesis_throughput(emulator, aws, bucket):
    with pytest.raises(emulator_admin.AdminError, match="no fault named"):
        emulator_admin.set_fault(emulator, "s3-meltdown")
    emulator_admin.set_fault(emulator, "s3-slowdown", origins=["client"], count=2)
    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            aws("s3").put_object(Bucket=bucket, Key="slow", Body=b"x")
        assert excinfo.value.response["Error"]["Code"] == "SlowDown"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    aws("s3").put_object(Bucket=bucket, Key="slow", Body=b"x")  # count spent: served again
    [fault] = emulator_admin.faults(emulator)
    assert fault["name"] == "s3-slowdown" and fault["fired"] == 2

    stream = f"s-{uuid.uuid4().hex[:6]}"
    aws("kinesis").create_stream(StreamName=stream, ShardCount=1)
    emulator_admin.set_fault(emulator, "kinesis-throughput", origins=["client"])
    with pytest.raises(ClientError) as excinfo:
        aws("kinesis").put_record(StreamName=stream, Data=b"x", PartitionKey="k")
    assert excinfo.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert sorted(emulator_admin.clear_faults(emulator)) == ["kinesis-throughput", "s3-slowdown"]
    aws("kinesis").put_record(StreamName=stream, Data=b"x", PartitionKey="k")


@pytest.mark.parametrize("fault, code", [("lambda-crash", "Runtime.ExitError"), ("lambda-oom", "Runtime.OutOfMemory")])
def test_injected_crash_and_out_of_memory(emulator, aws, functions, fault, code):
    name = functions["echo"].rsplit(":", 1)[1]
    emulator_admin.set_fault(emulator, fault, function=name, count=1)
    failed = aws("lambda").invoke(FunctionName=functions["echo"], Payload=b'{"n": 1}')
    assert failed.get("FunctionError") == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == code
    # the next invocation gets a fresh environment and succeeds (count=1)
    again = aws("lambda").invoke(FunctionName=functions["echo"], Payload=b'{"n": 2}')
    assert "FunctionError" not in again and json.loads(again["Payload"].read()) == {"echo": {"n": 2}}
    emulator_admin.clear_faults(emulator)
