"""CloudWatch alarm evaluation in the emulator: periods, M out of N, missing data, state changes and
the SNS notification, with a fixed clock."""

import json

import pytest

from radstream.emulator.alarm_evaluation import AlarmEvaluator, AlarmSpec, Evaluation, datapoints, evaluate, notification
from radstream.emulator.metric_store import MetricStore

T0 = 1_800_000_000.0  # a whole minute
SM = [{"Name": "StateMachineArn", "Value": "arn:aws:states:us-east-1:123456789012:stateMachine:p"}]


def latency_alarm(**overrides) -> AlarmSpec:
    values = dict(account="123456789012", region="us-east-1", name="p95-latency",
                  arn="arn:aws:cloudwatch:us-east-1:123456789012:alarm:p95-latency", period=10, evaluation_periods=3,
                  datapoints_to_alarm=2, threshold=5000.0, comparison_operator="GreaterThanThreshold",
                  state="INSUFFICIENT_DATA", namespace="AWS/States", metric_name="ExecutionTime", dimensions=SM,
                  extended_statistic="p95", treat_missing_data="missing",
                  alarm_actions=["arn:aws:sns:us-east-1:123456789012:topic"],
                  ok_actions=["arn:aws:sns:us-east-1:123456789012:topic"])
    values.update(overrides)
    return AlarmSpec(**values)


def put(store: MetricStore, second: float, *values: float) -> None:
    store.put("AWS/States", [{"MetricName": "ExecutionTime", "Dimensions": SM, "Timestamp": T0 + second,
                              "Values": list(values)}])


def state_at(spec: AlarmSpec, store: MetricStore, now: float):
    grid, values = datapoints(spec, store, now)
    return evaluate(spec, grid, values, now)


def test_m_out_of_n_complete_periods():
    store = MetricStore()
    spec = latency_alarm()
    put(store, 1, 6000.0)   # period [T0, T0+10): breaching
    put(store, 12, 100.0)   # [T0+10, T0+20): fine
    put(store, 33, 7000.0)  # [T0+30, T0+40): not complete before T0+39
    result = state_at(spec, store, T0 + 39)
    assert result.state == "OK"  # 1 of the 2 present breaches; 2 are needed
    assert "not greater than the threshold (5000.0)" in result.reason
    put(store, 25, 9000.0)
    result = state_at(spec, store, T0 + 30)
    assert result.state == "ALARM"
    assert result.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [9000.0 (")
    assert "(minimum 2 datapoints for OK -> ALARM transition)" in result.reason
    assert result.reason_data["statistic"] == "p95" and len(result.reason_data["evaluatedDatapoints"]) == 3


@pytest.mark.parametrize("treat, expected", [("missing", "INSUFFICIENT_DATA"), ("notBreaching", "OK"),
                                             ("breaching", "ALARM"), ("ignore", None)])
def test_missing_data(treat, expected):
    result = state_at(latency_alarm(treat_missing_data=treat), MetricStore(), T0 + 100)
    assert (result.state if result else None) == expected


def test_breaching_missing_data_counts_toward_the_alarm():
    store = MetricStore()
    put(store, 1, 6000.0)
    assert state_at(latency_alarm(treat_missing_data="breaching"), store, T0 + 30).state == "ALARM"
    assert state_at(latency_alarm(treat_missing_data="notBreaching"), store, T0 + 30).state == "OK"


def test_metric_math_alarm():
    store = MetricStore()
    stat = {"Metric": {"Namespace": "AWS/States", "MetricName": "ExecutionsStarted", "Dimensions": SM},
            "Period": 60, "Stat": "Sum"}
    failed = dict(stat, Metric=dict(stat["Metric"], MetricName="ExecutionsFailed"))
    spec = latency_alarm(name="error-rate", period=0, evaluation_periods=1, datapoints_to_alarm=None, threshold=1.0,
                         extended_statistic=None, namespace=None, metric_name=None, dimensions=[],
                         metrics=[{"Id": "started", "MetricStat": stat, "ReturnData": False},
                                  {"Id": "failed", "MetricStat": failed, "ReturnData": False},
                                  {"Id": "rate", "Expression": "100 * FILL(failed, 0) / started", "ReturnData": True}])
    store.put("AWS/States", [{"MetricName": "ExecutionsStarted", "Dimensions": SM, "Timestamp": T0 + 5, "Value": 50}])
    assert state_at(spec, store, T0 + 61).state == "OK"
    store.put("AWS/States", [{"MetricName": "ExecutionsFailed", "Dimensions": SM, "Timestamp": T0 + 6, "Value": 1}])
    result = state_at(spec, store, T0 + 61)
    assert result.state == "ALARM" and "[2.0 (" in result.reason


def test_evaluator_changes_state_once_per_period_and_notifies_the_new_states_actions():
    store = MetricStore()
    specs = [latency_alarm(evaluation_periods=1, datapoints_to_alarm=None)]
    changes, sent = [], []

    def set_state(spec, evaluation):
        changes.append(evaluation.state)
        specs[0].state = evaluation.state

    evaluator = AlarmEvaluator(lambda: specs, lambda account, region: store, set_state,
                               lambda account, region, topic, subject, message: sent.append((topic, subject, message)),
                               settle_s=2.0)
    put(store, 1, 8000.0)
    assert evaluator.run_once(T0 + 12) == [("p95-latency", "INSUFFICIENT_DATA", "ALARM")]
    assert evaluator.run_once(T0 + 13) == []  # the same period is not evaluated twice
    put(store, 11, 10.0)
    assert evaluator.run_once(T0 + 22) == [("p95-latency", "ALARM", "OK")]
    assert changes == ["ALARM", "OK"]
    topic, subject, message = sent[0]
    assert topic == specs[0].alarm_actions[0] and subject == 'ALARM: "p95-latency" in US East (N. Virginia)'
    body = json.loads(message)
    assert body["NewStateValue"] == "ALARM" and body["OldStateValue"] == "INSUFFICIENT_DATA"
    assert body["Trigger"]["ExtendedStatistic"] == "p95" and body["Trigger"]["Threshold"] == 5000.0
    assert body["Trigger"]["Dimensions"] == [{"value": SM[0]["Value"], "name": "StateMachineArn"}]
    assert json.loads(sent[1][2])["NewStateValue"] == "OK"


def test_notification_of_a_metric_math_alarm_lists_its_metrics():
    spec = latency_alarm(metrics=[{"Id": "e", "Expression": "1", "ReturnData": True}])
    subject, message = notification(spec, "OK", Evaluation("ALARM", "why", {}), T0)
    assert json.loads(message)["Trigger"]["Metrics"] == spec.metrics and subject.startswith("ALARM: ")
