"""CloudWatch on the embedded stack, read as on AWS: the metrics Lambda and Step Functions publish, the
pipeline's own (EMF from the handlers), the alarms and the dashboard of template.yaml, `radstream metrics`,
the alarms in `radstream status`, the telemetry producer on its own, and a deliberately slow run that
puts the latency alarm into ALARM and a notification on the errors topic."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from radstream.definition import monitoring, stack
from radstream.infra.deploy import deploy
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.cli import main
from radstream.tooling.stack import emulator_admin


def cli(embedded_stack, *args: str) -> int:
    return main(["--state-dir", str(embedded_stack.embedded.state_dir), *args])


def meta(study_id: str) -> dict:
    return {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def window(since: datetime | None = None) -> dict:
    now = datetime.now(timezone.utc)
    return {"StartTime": since or now - timedelta(minutes=30), "EndTime": now + timedelta(minutes=1)}


def total(embedded_stack, namespace: str, metric: str, dims: list[dict], stat: str = "Sum",
          since: datetime | None = None, period: int = 60) -> float:
    points = embedded_stack.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=dims, Period=period, Statistics=[stat],
        **window(since))["Datapoints"]
    return sum(p[stat] for p in points) if stat in ("Sum", "SampleCount") else max((p[stat] for p in points), default=0)


# when `processed` started: earlier tests on the session's stack (`radstream ab lambda-memory`) ran
# prepare-tensors with other memory sizes, and what these studies published is read from here on
PROCESSED_SINCE: datetime | None = None


@pytest.fixture(scope="module")
def processed(embedded_stack) -> list[dict]:
    """Three studies that succeed and one that fails: every function of the pipeline runs."""
    global PROCESSED_SINCE
    PROCESSED_SINCE = datetime.now(timezone.utc)
    run = uuid.uuid4().hex[:6]
    uploads = [(synthetic.chest_jpeg(i, (1024, 1024)), meta(f"mon-{run}-{i}"), "chest.jpg") for i in range(3)]
    uploads.append((synthetic.chest_jpeg(9, (1024, 1024))[:3000], meta(f"mon-{run}-cut"), "cut.jpg"))
    with ThreadPoolExecutor(4) as pool:
        records = list(pool.map(lambda upload: embedded_stack.submit(*upload), uploads))
    assert [r["status"] for r in records] == ["SUCCEEDED"] * 3 + ["FAILED"], records
    emulator_admin.flush_telemetry(embedded_stack.endpoint_url)  # the last second's metrics too
    return records


def test_every_function_and_the_state_machine_publish_their_aws_metrics(embedded_stack, processed):
    for fn in stack.FUNCTIONS:
        dims = [{"Name": "FunctionName", "Value": embedded_stack.names.function(fn.short)}]
        assert total(embedded_stack, "AWS/Lambda", "Invocations", dims) >= 1, fn.short
        assert total(embedded_stack, "AWS/Lambda", "Duration", dims, "SampleCount") >= 1, fn.short
        assert total(embedded_stack, "AWS/Lambda", "Duration", dims, "Maximum") > 0, fn.short
    machine = [{"Name": "StateMachineArn", "Value": embedded_stack.names.state_machine_arn}]
    assert total(embedded_stack, "AWS/States", "ExecutionsSucceeded", machine) >= 3
    assert total(embedded_stack, "AWS/States", "ExecutionsFailed", machine) >= 1
    assert total(embedded_stack, "AWS/States", "ExecutionTime", machine, "SampleCount") >= 4


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed (pip install awscli)")
def test_the_aws_cli_gets_metric_statistics(embedded_stack, processed):
    now = datetime.now(timezone.utc)
    run = subprocess.run(
        [shutil.which("aws"), "--endpoint-url", embedded_stack.endpoint_url, "--region", embedded_stack.names.region, "cloudwatch",
         "get-metric-statistics", "--namespace", "AWS/Lambda", "--metric-name", "Duration",
         "--dimensions", f"Name=FunctionName,Value={embedded_stack.names.function('prepare-tensors')}",
         "--start-time", (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "--end-time", (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "--period", "3600",
         "--statistics", "SampleCount", "Average", "--extended-statistics", "p95", "--output", "json"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    assert run.returncode == 0, run.stderr
    points = json.loads(run.stdout)["Datapoints"]
    assert sum(p["SampleCount"] for p in points) >= 4 and all(p["ExtendedStatistics"]["p95"] > 0 for p in points)


def test_the_handlers_publish_pipeline_metrics_in_embedded_metric_format(embedded_stack, processed):
    service = {"Name": "service", "Value": "radstream"}
    failed = [service, {"Name": "Outcome", "Value": "FAILED"}, {"Name": "ErrorCode", "Value": "TruncatedImageError"}]
    assert total(embedded_stack, "RadStream", "Studies", failed) >= 1
    succeeded = [service, {"Name": "Outcome", "Value": "SUCCEEDED"}, {"Name": "ErrorCode", "Value": "none"}]
    assert total(embedded_stack, "RadStream", "Studies", succeeded) >= 3
    prepare = [service, {"Name": "Stage", "Value": "prepare_tensors"}]
    assert total(embedded_stack, "RadStream", "ImageBytes", prepare, "Maximum") > 1000
    # 10 s periods from the fixture's start: the emulator's grid rounds a start down to the period
    assert total(embedded_stack, "RadStream", "MemoryAllocated", prepare, "Maximum", since=PROCESSED_SINCE,
                 period=10) == 1024
    assert total(embedded_stack, "RadStream", "StageErrors",
                 prepare + [{"Name": "ErrorCode", "Value": "TruncatedImageError"}]) >= 1


def test_the_alarms_and_the_dashboard_of_the_template_are_deployed(embedded_stack):
    alarms = embedded_stack.client("cloudwatch").describe_alarms(AlarmNamePrefix="radstream-")["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(monitoring.alarm_names(embedded_stack.names))
    for alarm in alarms:
        assert alarm["AlarmActions"] == alarm["OKActions"] == [embedded_stack.names.errors_topic_arn], alarm["AlarmName"]
        assert alarm["StateValue"] in ("OK", "ALARM", "INSUFFICIENT_DATA")
    body = json.loads(embedded_stack.client("cloudwatch").get_dashboard(DashboardName="radstream")["DashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for wanted in ("Duration", "Memory used vs allocated", "Errors", "Throughput", "Cost per image", "Alarms"):
        assert any(title.startswith(wanted) for title in titles), wanted


def test_metrics_command_reads_cloudwatch(embedded_stack, processed, capsys):
    assert cli(embedded_stack, "metrics", "--minutes", "30", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    by_function = {row["function"]: row for row in doc["functions"]}
    prepare = by_function[embedded_stack.names.function("prepare-tensors")]
    assert prepare["invocations"] >= 4 and prepare["errors"] >= 1 and prepare["throttles"] == 0
    assert 0 < prepare["duration_p50_ms"] <= prepare["duration_p95_ms"]
    # the largest size allocated in the window (an A/B run earlier in the session may have deployed 2048 MB)
    assert prepare["memory_allocated_mb"] == total(
        embedded_stack, "RadStream", "MemoryAllocated",
        [{"Name": "service", "Value": "radstream"}, {"Name": "Stage", "Value": "prepare_tensors"}], "Maximum") >= 1024
    assert 0 < prepare["memory_used_mb"]
    assert doc["executions"]["succeeded"] >= 3 and doc["executions"]["failed"] >= 1
    assert doc["studies"]["FAILED"]["TruncatedImageError"] >= 1
    assert 0 < doc["compute_cost_per_image_usd"] < 0.01
    assert cli(embedded_stack, "metrics", "--minutes", "30") == 0
    table = capsys.readouterr().out
    assert "radstream-run-inference" in table and "executions" in table and "cost/image" in table


def test_status_shows_the_alarms(embedded_stack, capsys):
    assert cli(embedded_stack, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in status["alarms"]] == monitoring.alarm_names(embedded_stack.names)
    assert cli(embedded_stack, "status") == 0
    assert "alarms" in capsys.readouterr().err


def test_telemetry_send_test_then_check_finds_them_in_the_lake(embedded_stack, capsys):
    assert cli(embedded_stack, "telemetry", "send-test", "--count", "250", "--json") == 0
    sent = json.loads(capsys.readouterr().out)
    assert sent["sent"] == 250 and sent["failed"] == 0
    assert cli(embedded_stack, "telemetry", "check", "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert found["run_id"] == sent["run_id"] and found["complete"] and found["records"] == 250
    assert found["duplicates"] == 0 and sum(o["records"] for o in found["objects"]) == 250
    assert all(o["key"].startswith("raw_telemetry/record_type=event/dt=") for o in found["objects"])


def test_a_slow_run_fires_the_latency_alarm_and_notifies_the_topic(embedded_stack):
    """The model server turns slow (fault injection: every inference answers 6 s late), executions take
    longer than the 5 s target, the p95 latency alarm (evaluated every 10 s for this test) goes to ALARM and
    its notification reaches a queue subscribed to the errors topic; with the fault cleared it goes back
    to OK and says so."""
    sqs, sns, cw = embedded_stack.client("sqs"), embedded_stack.client("sns"), embedded_stack.client("cloudwatch")
    inbox = sqs.create_queue(QueueName=f"alarm-inbox-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=embedded_stack.names.errors_topic_arn, Protocol="sqs",
                                 Endpoint=inbox_arn)["SubscriptionArn"]
    deploy(embedded_stack.target, overrides={"AlarmPeriodSeconds": "10"})
    try:
        assert cli(embedded_stack, "fault", "set", "model-server-slow", "--seconds", "6") == 0
        try:
            run = uuid.uuid4().hex[:6]
            with ThreadPoolExecutor(2) as pool:
                records = list(pool.map(lambda i: embedded_stack.submit(synthetic.chest_jpeg(i, (512, 512)),
                                                                        meta(f"slow-{run}-{i}"), "chest.jpg"), range(2)))
        finally:
            assert cli(embedded_stack, "fault", "clear", "model-server-slow") == 0
        assert all(r["status"] == "SUCCEEDED" and r["latency_ms"] > 6000 for r in records), records
        alarm = wait_for_state(cw, "radstream-p95-latency", "ALARM", timeout_s=45)
        assert "greater than the threshold (5000.0)" in alarm["StateReason"]
        notice = wait_for_notification(sqs, inbox, "radstream-p95-latency", "ALARM", timeout_s=20)
        assert notice["Trigger"]["ExtendedStatistic"] == "p95" and notice["Trigger"]["Period"] == 10
        assert notice["OldStateValue"] in ("OK", "INSUFFICIENT_DATA")
        # nothing slow any more: missing data is not breaching, the alarm recovers and says so
        wait_for_state(cw, "radstream-p95-latency", "OK", timeout_s=45)
        assert wait_for_notification(sqs, inbox, "radstream-p95-latency", "OK", timeout_s=20)["NewStateValue"] == "OK"
    finally:
        deploy(embedded_stack.target, overrides={"AlarmPeriodSeconds": "300"})
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=inbox)


def wait_for_state(cw, name: str, state: str, timeout_s: float) -> dict:
    deadline = time.time() + timeout_s
    while True:
        (alarm,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        if alarm["StateValue"] == state:
            return alarm
        assert time.time() < deadline, f"{name} is still {alarm['StateValue']}: {alarm['StateReason']}"
        time.sleep(1)


def wait_for_notification(sqs, url: str, alarm: str, state: str, timeout_s: float) -> dict:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            envelope = json.loads(message["Body"])
            if envelope.get("Subject", "").startswith(f'{state}: "{alarm}"'):
                return json.loads(envelope["Message"])
    raise AssertionError(f"no {state} notification of {alarm} on the topic within {timeout_s} s")
