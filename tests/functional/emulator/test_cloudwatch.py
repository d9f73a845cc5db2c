"""CloudWatch in the embedded emulator, driven over HTTP as any client drives it: the metrics Lambda,
Step Functions and SQS publish on AWS (AWS/Lambda, AWS/States, AWS/SQS), metrics embedded in Lambda
logs (EMF), percentiles and metric math, reserved concurrency throttling, and alarms created by
CloudFormation that the emulator evaluates and notifies through SNS.

Metrics reach the store within a second (batched); ``flush`` makes them visible at once.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from radstream.tooling.stack import emulator_admin
from support.emulator import create_probe_functions, running_emulator

ROLE = "arn:aws:iam::123456789012:role/test"
HANDLERS = '''
import json, time

def work(event, context):
    time.sleep(event.get("sleep", 0))
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "Probe", "Dimensions": [["Kind"]], "Metrics": [{"Name": "Work", "Unit": "Count"}]}]},
        "Kind": "probe", "Work": event.get("work", 1)}))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
'''


@pytest.fixture(scope="module")
def aws(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("cloudwatch")) as client:
        client.endpoint = client("sts").meta.endpoint_url
        yield client


def flush(aws) -> None:
    emulator_admin.flush_telemetry(aws.endpoint)


def window(minutes: int = 5) -> dict:
    now = datetime.now(timezone.utc)
    return {"StartTime": now - timedelta(minutes=minutes), "EndTime": now + timedelta(minutes=1)}


def total(aws, namespace: str, name: str, dimensions: list[dict], statistic: str = "Sum") -> float:
    points = aws("cloudwatch").get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dimensions,
                                                     Period=60, Statistics=[statistic], **window())["Datapoints"]
    values = [p[statistic] for p in points]
    return (max(values) if statistic == "Maximum" else sum(values)) if values else 0.0


@pytest.fixture(scope="module")
def function(aws) -> str:
    return create_probe_functions(aws, HANDLERS, ["work"], "cw-probe", Timeout=10)["work"].rsplit(":", 1)[1]


def invoke(aws, name: str, event: dict) -> dict:
    return aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())


def test_put_metric_data_answers_statistics_percentiles_and_math(aws):
    cw = aws("cloudwatch")
    dims = [{"Name": "Stage", "Value": "probe"}]
    cw.put_metric_data(Namespace="Test", MetricData=[{"MetricName": "Latency", "Dimensions": dims, "Unit": "Milliseconds",
                                                      "Values": [float(v) for v in range(1, 101)]}])
    (point,) = cw.get_metric_statistics(Namespace="Test", MetricName="Latency", Dimensions=dims, Period=300,
                                        Statistics=["SampleCount", "Average"], ExtendedStatistics=["p95", "p50"],
                                        **window())["Datapoints"]
    assert point["SampleCount"] == 100 and point["Average"] == 50.5 and point["Unit"] == "Milliseconds"
    assert point["ExtendedStatistics"] == {"p95": 95.0, "p50": 50.0}
    results = cw.get_metric_data(MetricDataQueries=[
        {"Id": "p", "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "Latency", "Dimensions": dims},
                                   "Period": 300, "Stat": "p95"}, "ReturnData": False},
        {"Id": "seconds", "Expression": "p / 1000", "Label": "p95 in seconds"}], **window())["MetricDataResults"]
    assert [(r["Id"], r["Label"], r["Values"]) for r in results] == [("seconds", "p95 in seconds", [0.095])]
    assert cw.list_metrics(Namespace="Test")["Metrics"] == [{"Namespace": "Test", "MetricName": "Latency",
                                                             "Dimensions": dims}]
    with pytest.raises(ClientError, match="not supported"):
        cw.get_metric_statistics(Namespace="Test", MetricName="Latency", Dimensions=dims, Period=60,
                                 ExtendedStatistics=["tm90"], **window())


def test_lambda_publishes_its_metrics_and_emf_lines_become_metrics(aws, function):
    for event in ({"work": 2}, {"work": 3}, {"fail": True}):
        invoke(aws, function, event)
    flush(aws)
    by_function = [{"Name": "FunctionName", "Value": function}]
    assert total(aws, "AWS/Lambda", "Invocations", by_function) == 3
    assert total(aws, "AWS/Lambda", "Errors", by_function) == 1
    assert total(aws, "AWS/Lambda", "Throttles", by_function) == 0
    assert total(aws, "AWS/Lambda", "Duration", by_function, "Maximum") > 0
    assert total(aws, "AWS/Lambda", "ConcurrentExecutions", by_function, "Maximum") >= 1
    assert total(aws, "AWS/Lambda", "Invocations", []) >= 3  # the account's aggregate
    assert total(aws, "Probe", "Work", [{"Name": "Kind", "Value": "probe"}]) == 2 + 3 + 1


def test_reserved_concurrency_throttles_synchronous_invocations(aws, function):
    aws("lambda").put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=1)
    try:
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(lambda _: _outcome(aws, function), range(3)))
    finally:
        aws("lambda").delete_function_concurrency(FunctionName=function)
    assert "ok" in outcomes and "TooManyRequestsException" in outcomes
    flush(aws)
    assert total(aws, "AWS/Lambda", "Throttles", [{"Name": "FunctionName", "Value": function}]) == \
        outcomes.count("TooManyRequestsException")


def _outcome(aws, function: str) -> str:
    client = boto3.client("lambda", endpoint_url=aws.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", config=Config(retries={"total_max_attempts": 1}))
    try:
        client.invoke(FunctionName=function, Payload=b'{"sleep": 1.5}')
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"]


def test_step_functions_publish_execution_metrics(aws, function):
    sfn = aws("stepfunctions")
    arn = aws("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    machine = sfn.create_state_machine(name=f"cw-{uuid.uuid4().hex[:6]}", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": arn, "End": True}}}))["stateMachineArn"]
    executions = [sfn.start_execution(stateMachineArn=machine, name=f"x{i}", input=json.dumps(e))["executionArn"]
                  for i, e in enumerate(({}, {}, {"fail": True}))]
    for execution in executions:
        deadline = time.time() + 60
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            assert time.time() < deadline
            time.sleep(0.1)
    flush(aws)
    dims = [{"Name": "StateMachineArn", "Value": machine}]
    assert total(aws, "AWS/States", "ExecutionsStarted", dims) == 3
    assert total(aws, "AWS/States", "ExecutionsSucceeded", dims) == 2
    assert total(aws, "AWS/States", "ExecutionsFailed", dims) == 1
    points = aws("cloudwatch").get_metric_statistics(Namespace="AWS/States", MetricName="ExecutionTime",
                                                     Dimensions=dims, Period=300, Statistics=["SampleCount"],
                                                     ExtendedStatistics=["p95"], **window())["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 3 and all(p["ExtendedStatistics"]["p95"] > 0 for p in points)


ALARM_TEMPLATE = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "cw-alarms"}},
        "Inbox": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "cw-alarm-inbox"}},
        "Subscription": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Inbox", "Arn"]}}},
        "Slow": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "cw-slow", "AlarmDescription": "p95 over 1 s", "Namespace": "Test", "MetricName": "Slow",
            "ExtendedStatistic": "p95", "Period": 10, "EvaluationPeriods": 1, "Threshold": 1000,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "Topic"}], "OKActions": [{"Ref": "Topic"}]}},
        "Failing": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "cw-error-rate", "EvaluationPeriods": 1, "Threshold": 1,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "Topic"}],
            "Metrics": [
                {"Id": "all", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "All"},
                                                                  "Period": 10, "Stat": "Sum"}},
                {"Id": "bad", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Test", "MetricName": "Bad"},
                                                                  "Period": 10, "Stat": "Sum"}},
                {"Id": "rate", "Expression": "100 * FILL(bad, 0) / all", "ReturnData": True}]}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
            "DashboardName": "cw-board", "DashboardBody": json.dumps({"widgets": [{"type": "metric", "properties": {
                "metrics": [["Test", "Slow"]], "region": "us-east-1", "title": "slow"}}]})}},
    },
    "Outputs": {"SlowArn": {"Value": {"Fn::GetAtt": ["Slow", "Arn"]}}},
}


def test_alarms_from_cloudformation_are_evaluated_and_notify_their_topic(aws):
    cfn, cw, sqs = aws("cloudformation"), aws("cloudwatch"), aws("sqs")
    cfn.create_stack(StackName="cw-alarms", TemplateBody=json.dumps(ALARM_TEMPLATE))
    slow, = cw.describe_alarms(AlarmNames=["cw-slow"])["MetricAlarms"]
    assert slow["AlarmArn"].endswith(":alarm:cw-slow") and slow["ExtendedStatistic"] == "p95"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="cw-alarms")["Stacks"][0]["Outputs"]}
    assert outputs["SlowArn"] == slow["AlarmArn"]
    assert json.loads(cw.get_dashboard(DashboardName="cw-board")["DashboardBody"])["widgets"][0]["properties"]["title"] == "slow"
    inbox = sqs.get_queue_url(QueueName="cw-alarm-inbox")["QueueUrl"]

    cw.put_metric_data(Namespace="Test", MetricData=[{"MetricName": "Slow", "Values": [200.0] * 18 + [4000.0] * 2}])
    cw.put_metric_data(Namespace="Test", MetricData=[{"MetricName": "All", "Value": 20},
                                                     {"MetricName": "Bad", "Value": 1}])
    states = wait_for_states(cw, {"cw-slow": "ALARM", "cw-error-rate": "ALARM"}, timeout_s=40)
    assert "greater than the threshold (1000.0)" in states["cw-slow"]["StateReason"]
    notices = received(sqs, inbox, want=2, timeout_s=20)
    alarm_notices = {n["AlarmName"]: n for n in notices if n["NewStateValue"] == "ALARM"}
    assert set(alarm_notices) == {"cw-slow", "cw-error-rate"}
    assert alarm_notices["cw-slow"]["Trigger"]["ExtendedStatistic"] == "p95"

    # once nothing is slow any more (missing data is not breaching), it goes back to OK and says so
    wait_for_states(cw, {"cw-slow": "OK"}, timeout_s=40)
    assert any(n["AlarmName"] == "cw-slow" and n["NewStateValue"] == "OK" for n in received(sqs, inbox, 1, 20))

    # an update changes the alarm in place; deleting the stack deletes alarms and dashboard
    template = json.loads(json.dumps(ALARM_TEMPLATE))
    template["Resources"]["Slow"]["Properties"]["Threshold"] = 2000
    cfn.update_stack(StackName="cw-alarms", TemplateBody=json.dumps(template))
    assert cw.describe_alarms(AlarmNames=["cw-slow"])["MetricAlarms"][0]["Threshold"] == 2000
    cfn.delete_stack(StackName="cw-alarms")
    assert cw.describe_alarms(AlarmNamePrefix="cw-")["MetricAlarms"] == []
    assert cw.list_dashboards()["DashboardEntries"] == []


def test_queue_depth_is_sampled_as_aws_sqs_metrics(aws):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName="cw-depth")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"event {i}")
    dims = [{"Name": "QueueName", "Value": "cw-depth"}]
    deadline = time.time() + 30  # sampled every 10 s
    while total(aws, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, "Maximum") < 3:
        assert time.time() < deadline, "queue depth never sampled"
        time.sleep(1)


def wait_for_states(cw, wanted: dict[str, str], timeout_s: float) -> dict[str, dict]:
    deadline = time.time() + timeout_s
    while True:
        alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=list(wanted))["MetricAlarms"]}
        if all(alarms[name]["StateValue"] == state for name, state in wanted.items()):
            return alarms
        assert time.time() < deadline, {name: a["StateValue"] for name, a in alarms.items()}
        time.sleep(1)


def received(sqs, url: str, want: int, timeout_s: float) -> list[dict]:
    """Alarm notifications (the SNS envelope's Message) read from a queue subscribed to the topic."""
    notices: list[dict] = []
    deadline = time.time() + timeout_s
    while len(notices) < want and time.time() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            envelope = json.loads(message["Body"])
            assert envelope["Subject"].startswith(("ALARM: ", "OK: ", "INSUFFICIENT_DATA: "))
            notices.append(json.loads(envelope["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return notices
