"""Fault injection on the session's embedded stack: one test per fault, each asserting that every study
still ends in exactly one terminal record, and which. Transient faults cost time, not studies; a fault
that does not go away ends in a failure record that `radstream failures` lists and `radstream redrive`
clears once the cause is fixed.

The faults are set the way a person sets them (`radstream fault set ...`, the CLI over the admin APIs) and
always cleared afterwards, so the other e2e tests never see them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from radstream.deployed import s3_layout
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.cli import main
from radstream.tooling.client import PipelineClient, Study


def cli(stack, *args: str) -> int:
    return main(["--state-dir", str(stack.embedded.state_dir), *args])


@pytest.fixture
def faults(embedded_stack):
    """``faults("s3-slowdown", "--rate", "0.3")`` injects; everything is cleared when the test ends."""
    def inject(name: str, *options: str) -> None:
        assert cli(embedded_stack, "fault", "set", name, *options) == 0

    yield inject
    assert cli(embedded_stack, "fault", "clear") == 0
    assert embedded_stack.embedded.model_server.healthy()


def study(prefix: str, seed: int = 1) -> Study:
    study_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return Study(synthetic.chest_jpeg(seed, (512, 512)), "chest.jpg",
                 {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}, study_id)


def terminal_record(stack, study_id: str) -> str:
    """"result" or "failure": asserts the study has exactly one of them."""
    s3, bucket = stack.client("s3"), stack.names.results_bucket
    present = []
    for kind, key in (("result", s3_layout.result_key(study_id)), ("failure", s3_layout.failure_key(study_id))):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            present.append(kind)
        except s3.exceptions.ClientError:
            pass
    assert len(present) == 1, f"{study_id}: terminal records {present}"
    return present[0]


def submit_all(stack, studies: list[Study], timeout_s: float = 400.0) -> list[dict]:
    client = PipelineClient(stack.target)
    records: dict[str, dict] = {}

    def one(s: Study) -> None:
        records[s.study_id] = client.submit(s, timeout_s=timeout_s)

    threads = [threading.Thread(target=one, args=(s,)) for s in studies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [records[s.study_id] for s in studies]


def upload_all(stack, studies: list[Study]) -> None:
    client = PipelineClient(stack.target)
    for s in studies:
        assert client.upload(s)


def wait_all(stack, studies: list[Study], timeout_s: float = 400.0) -> list[dict]:
    client = PipelineClient(stack.target)
    return [client.wait(s.study_id, timeout_s=timeout_s) for s in studies]


def test_model_server_down_for_a_while_costs_time_not_studies(embedded_stack, faults, capsys):
    faults("model-server-down")
    studies = [study("down", i) for i in range(2)]
    upload_all(embedded_stack, studies)
    time.sleep(5)
    # while they run, `radstream down` refuses (and says how many), instead of losing them
    assert cli(embedded_stack, "down") == 1
    assert "2 execution(s) are running" in capsys.readouterr().err.replace("\n", " ")
    time.sleep(15)  # a 20 s outage in all
    assert cli(embedded_stack, "fault", "clear", "model-server-down") == 0
    records = wait_all(embedded_stack, studies)
    assert [r["status"] for r in records] == ["SUCCEEDED"] * 2, records
    assert [terminal_record(embedded_stack, s.study_id) for s in studies] == ["result"] * 2


def test_model_server_slow_past_the_task_timeout(embedded_stack, faults):
    faults("model-server-slow", "--seconds", "90")
    [s] = [study("slow")]
    upload_all(embedded_stack, [s])
    time.sleep(20)  # RunInference's attempt gives up after 15 s (inside its 60 s timeout) and is retried
    assert cli(embedded_stack, "fault", "clear", "model-server-slow") == 0
    [record] = wait_all(embedded_stack, [s])
    assert record["status"] == "SUCCEEDED", record
    assert terminal_record(embedded_stack, s.study_id) == "result"


def test_model_server_503_is_retried(embedded_stack, faults):
    faults("model-server-503")
    [s] = [study("busy")]
    upload_all(embedded_stack, [s])
    time.sleep(10)
    assert cli(embedded_stack, "fault", "clear", "model-server-503") == 0
    [record] = wait_all(embedded_stack, [s])
    assert record["status"] == "SUCCEEDED" and terminal_record(embedded_stack, s.study_id) == "result", record


def carried_stage_events_sent(stack, execution_arn: str) -> int:
    """How many stage events the execution's Send(Failure)Telemetry sent for the stages before it (telemetry
    is batched per study: the stages that succeeded carry theirs in the workflow state)."""
    sfn = stack.client("stepfunctions")
    deadline = time.time() + 60
    while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        assert time.time() < deadline
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    outputs = [json.loads(details["output"]) for e in events for key, details in e.items()
               if key.endswith("SucceededEventDetails") and '"study_status"' in details.get("output", "")]
    assert len(outputs) == 1, outputs
    return outputs[0]["stage_events"]


def test_model_server_500_fails_the_study_which_redrive_runs_again_once_fixed(embedded_stack, faults, capsys):
    faults("model-server-500")
    [s] = [study("broken")]
    [record] = submit_all(embedded_stack, [s])
    assert record["status"] == "FAILED" and record["error"]["code"] == "ModelServerError", record
    assert terminal_record(embedded_stack, s.study_id) == "failure"
    assert carried_stage_events_sent(embedded_stack, record["execution_arn"]) == 2  # validate, prepare: they succeeded
    capsys.readouterr()
    assert cli(embedded_stack, "failures", "--since", "10m", "--json") == 0
    listed = {f["study_id"]: f for f in json.loads(capsys.readouterr().out)}
    assert listed[s.study_id]["code"] == "ModelServerError" and listed[s.study_id]["source"] == "record"

    assert cli(embedded_stack, "fault", "clear", "model-server-500") == 0
    assert cli(embedded_stack, "redrive", s.study_id, "--wait", "--json") == 0
    [plan] = json.loads(capsys.readouterr().out)
    assert plan["action"] == "execution" and plan["execution_name"] == f"{s.study_id}.attempt-2"
    assert plan["record"]["status"] == "SUCCEEDED"
    assert terminal_record(embedded_stack, s.study_id) == "result"
    # the first attempt's record is kept, and the result names the attempt that made it
    s3 = embedded_stack.client("s3")
    kept = json.loads(s3.get_object(Bucket=embedded_stack.names.results_bucket,
                                    Key=s3_layout.attempt_key(s.study_id, s.study_id))["Body"].read())
    assert kept["error"]["code"] == "ModelServerError"
    result = json.loads(s3.get_object(Bucket=embedded_stack.names.results_bucket,
                                      Key=s3_layout.result_key(s.study_id))["Body"].read())
    assert result["execution_name"] == f"{s.study_id}.attempt-2" and result["image_sha256"] == s.image_sha256
    # a study that succeeded is never redriven
    assert cli(embedded_stack, "redrive", s.study_id, "--json") == 0
    [again] = json.loads(capsys.readouterr().out)
    assert again["action"] == "skip" and "succeeded" in again["reason"]


def test_s3_slowdown(embedded_stack, faults):
    faults("s3-slowdown", "--rate", "0.3")
    studies = [study("slowdown", i) for i in range(3)]
    records = submit_all(embedded_stack, studies)
    assert [r["status"] for r in records] == ["SUCCEEDED"] * 3, records
    assert [terminal_record(embedded_stack, s.study_id) for s in studies] == ["result"] * 3


def test_kinesis_throughput_exceeded(embedded_stack, faults):
    faults("kinesis-throughput")  # every telemetry put refused: telemetry is best effort
    studies = [study("kinesis", i) for i in range(2)]
    records = submit_all(embedded_stack, studies)
    assert [r["status"] for r in records] == ["SUCCEEDED"] * 2, records
    assert [terminal_record(embedded_stack, s.study_id) for s in studies] == ["result"] * 2


@pytest.mark.parametrize("fault, function", [("lambda-crash", "radstream-prepare-tensors"),
                                             ("lambda-oom", "radstream-run-inference")])
def test_a_lambda_that_crashes_or_runs_out_of_memory_once(embedded_stack, faults, fault, function):
    faults(fault, "--function", function, "--count", "1")
    [s] = [study(fault)]
    [record] = submit_all(embedded_stack, [s])
    assert record["status"] == "SUCCEEDED", record  # Runtime.ExitError / Runtime.OutOfMemory are retried
    assert terminal_record(embedded_stack, s.study_id) == "result"
    history = embedded_stack.client("stepfunctions").get_execution_history(
        executionArn=record["execution_arn"], maxResults=1000)["events"]
    failed = [e["lambdaFunctionFailedEventDetails"]["error"] for e in history if e["type"] == "LambdaFunctionFailed"]
    assert failed == ["Runtime.ExitError" if fault == "lambda-crash" else "Runtime.OutOfMemory"]


def test_a_record_failure_function_that_keeps_crashing_still_leaves_one_record(embedded_stack, faults):
    faults("lambda-crash", "--function", "radstream-record-failure")
    study_id = f"norecord-{uuid.uuid4().hex[:8]}"
    s = Study(b"not an image at all", "x.jpg", {"study_id": study_id, "view": "PA",
                                                 "timestamp": "2024-01-15T10:00:00Z"}, study_id)
    [record] = submit_all(embedded_stack, [s])
    assert record["status"] == "FAILED" and record["error"]["code"] == "UnsupportedFormatError", record
    assert terminal_record(embedded_stack, s.study_id) == "failure"
    stored = json.loads(embedded_stack.client("s3").get_object(
        Bucket=embedded_stack.names.results_bucket, Key=s3_layout.failure_key(s.study_id))["Body"].read())
    assert stored["written_by"] == "workflow"


def test_a_crashed_trigger_loses_nothing(embedded_stack, faults, capsys):
    """The trigger crashes on every event: Lambda retries each twice, then the events go to the failure
    queue; `failures` and `reconcile` show the study, and `redrive` starts it once the trigger is fixed."""
    faults("trigger-crash")
    [s] = [study("trigger")]
    upload_all(embedded_stack, [s])
    capsys.readouterr()
    deadline = time.monotonic() + 60
    while True:  # two events (sidecar, image), three attempts each, 1 s and 2 s apart
        assert cli(embedded_stack, "failures", "--json") == 0
        listed = {f["study_id"]: f for f in json.loads(capsys.readouterr().out)}
        if s.study_id in listed:
            break
        assert time.monotonic() < deadline, "the failed events never reached the failure queue"
        time.sleep(1)
    assert listed[s.study_id]["source"] == "queue" and listed[s.study_id]["code"] == "Runtime.ExitError"
    assert cli(embedded_stack, "reconcile", "--since", "5m", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert [m["study_id"] for m in report["missing"]] == [s.study_id]

    assert cli(embedded_stack, "fault", "clear", "trigger-crash") == 0
    assert cli(embedded_stack, "redrive", s.study_id, "--wait", "--json") == 0
    [plan] = json.loads(capsys.readouterr().out)
    assert plan["action"] == "trigger" and plan["record"]["status"] == "SUCCEEDED", plan
    assert terminal_record(embedded_stack, s.study_id) == "result"
    assert cli(embedded_stack, "failures", "--json") == 0
    assert s.study_id not in {f["study_id"] for f in json.loads(capsys.readouterr().out)}  # queue drained
