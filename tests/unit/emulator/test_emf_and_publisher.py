"""Embedded metric format extraction (as CloudWatch Logs does it) and the emulator's own AWS metrics,
buffered and folded before they reach the store."""

import json

from radstream.emulator import emf
from radstream.emulator.metric_publisher import MetricPublisher
from radstream.emulator.metric_store import MetricStore

TS_MS = 1_800_000_000_000


def emf_line(**overrides) -> str:
    document = {"_aws": {"Timestamp": TS_MS, "CloudWatchMetrics": [{
        "Namespace": "RadStream", "Dimensions": [["service", "Stage"], ["service"]],
        "Metrics": [{"Name": "StageLatency", "Unit": "Milliseconds"}, {"Name": "ImageBytes", "Unit": "Bytes"}]}]},
        "service": "radstream", "Stage": "prepare_tensors", "StageLatency": [12.5, 7.0], "ImageBytes": 2048,
        "study_id": "s-1"}
    document.update(overrides)
    return json.dumps(document)


def test_every_dimension_set_makes_one_metric_with_every_value():
    found = emf.extract(emf_line())
    assert [(ns, m["MetricName"], [d["Value"] for d in m["Dimensions"]], m["Values"], m.get("Unit"))
            for ns, m in found] == [
        ("RadStream", "StageLatency", ["radstream", "prepare_tensors"], [12.5, 7.0], "Milliseconds"),
        ("RadStream", "StageLatency", ["radstream"], [12.5, 7.0], "Milliseconds"),
        ("RadStream", "ImageBytes", ["radstream", "prepare_tensors"], [2048.0], "Bytes"),
        ("RadStream", "ImageBytes", ["radstream"], [2048.0], "Bytes"),
    ]
    assert found[0][1]["Timestamp"] == TS_MS / 1000


def test_lines_that_break_the_specification_yield_nothing():
    assert emf.extract("START RequestId: 1 Version: $LATEST") == []
    assert emf.extract('{"_aws": "not an object"}') == []
    assert emf.extract(emf_line(Stage=3)) == []                 # a dimension value must be a string
    assert emf.extract(emf_line(StageLatency="fast")) == []     # a metric value must be a number
    assert emf.extract(emf_line(ImageBytes=list(range(101)))) == []  # at most 100 values
    assert emf.extract(emf_line(_aws={"CloudWatchMetrics": []})) == []  # no timestamp
    assert emf.extract('[1, "_aws"]') == []


def test_publisher_folds_a_second_of_values_into_one_member_and_counts_invocations():
    store = MetricStore()
    publisher = MetricPublisher(lambda account, region, namespace, members: store.put(namespace, members))
    for duration in (10.0, 10.0, 30.0):
        assert publisher.begin_invocation("1", "r", "fn", reserved=2) is not None
        publisher.end_invocation("1", "r", "fn")
        publisher.invoked("1", "r", "fn", duration, error=duration > 20)
    assert publisher.begin_invocation("1", "r", "fn", reserved=0) is None  # throttled
    publisher.execution_started("1", "r", "arn:sm")
    publisher.execution_ended("1", "r", "arn:sm", "FAILED", 1234.5)
    publisher.log_lines("1", "r", ["plain text", emf_line()])
    assert publisher.flush() > 0
    fn = (("FunctionName", "fn"),)
    window = (0, 4e9)
    duration = store.data("AWS/Lambda", "Duration", fn, *window)
    assert len(duration) <= 2 and sorted(v for d in duration for v, c in d.samples for _ in range(int(c))) == \
        [10.0, 10.0, 30.0]
    assert sum(d.sum for d in store.data("AWS/Lambda", "Invocations", fn, *window)) == 3
    assert sum(d.sum for d in store.data("AWS/Lambda", "Errors", fn, *window)) == 1
    assert sum(d.sum for d in store.data("AWS/Lambda", "Throttles", fn, *window)) == 1
    assert sum(d.sum for d in store.data("AWS/Lambda", "Invocations", (), *window)) == 3  # the account's aggregate
    assert max(d.maximum for d in store.data("AWS/Lambda", "ConcurrentExecutions", fn, *window)) == 1
    sm = (("StateMachineArn", "arn:sm"),)
    assert sum(d.sum for d in store.data("AWS/States", "ExecutionsStarted", sm, *window)) == 1
    assert sum(d.sum for d in store.data("AWS/States", "ExecutionsFailed", sm, *window)) == 1
    assert store.data("AWS/States", "ExecutionTime", sm, *window)[0].maximum == 1234.5
    assert store.data("RadStream", "ImageBytes", (("service", "radstream"),), *window)[0].sum == 2048
    assert publisher.flush() == 0  # nothing twice


def test_reserved_concurrency_counts_invocations_in_flight():
    publisher = MetricPublisher(lambda *args: None)
    assert publisher.begin_invocation("1", "r", "fn", reserved=2) == 1
    assert publisher.begin_invocation("1", "r", "fn", reserved=2) == 2
    assert publisher.begin_invocation("1", "r", "fn", reserved=2) is None
    publisher.end_invocation("1", "r", "fn")
    assert publisher.begin_invocation("1", "r", "fn", reserved=2) == 2


def test_emf_lines_of_one_second_fold_into_one_datum_per_metric():
    """One datum per line and metric made the store grow with every invocation."""
    store = MetricStore()
    publisher = MetricPublisher(lambda account, region, namespace, members: store.put(namespace, members))
    publisher.log_lines("1", "r", [emf_line(), emf_line(StageLatency=3.0), emf_line(_aws={
        "Timestamp": TS_MS + 1500, "CloudWatchMetrics": json.loads(emf_line())["_aws"]["CloudWatchMetrics"]})])
    publisher.flush()
    latency = store.data("RadStream", "StageLatency", (("Stage", "prepare_tensors"), ("service", "radstream")),
                         0, 4e9)
    assert [d.ts for d in latency] == [TS_MS / 1000, TS_MS / 1000 + 1]
    assert sorted(latency[0].samples) == [(3.0, 1.0), (7.0, 1.0), (12.5, 1.0)] and latency[0].count == 3
    assert latency[0].unit == "Milliseconds" and latency[1].count == 2
