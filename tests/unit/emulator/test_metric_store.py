"""The emulator's CloudWatch metric store: statistics, percentiles, periods, dimensions and metric math
as CloudWatch answers them."""

import pytest

from radstream.emulator.metric_store import (MetricQueryError, MetricStore, evaluate_expression, metric_data,
                                             percentile, period_grid)

T0 = 1_800_000_000.0  # a whole minute (divisible by 60 and 300)


def latency_store() -> MetricStore:
    store = MetricStore()
    store.put("RadStream", [{"MetricName": "Latency", "Dimensions": [{"Name": "Stage", "Value": "prepare"}],
                             "Timestamp": T0 + 5, "Unit": "Milliseconds", "Values": [float(v) for v in range(1, 101)]}])
    store.put("RadStream", [{"MetricName": "Latency", "Dimensions": [{"Name": "Stage", "Value": "prepare"}],
                             "Timestamp": T0 + 65, "Unit": "Milliseconds", "Values": [10.0, 20.0], "Counts": [3, 1]}])
    return store


def test_statistics_and_percentiles_per_period_from_the_values_put():
    points = latency_store().statistics("RadStream", "Latency", [{"Name": "Stage", "Value": "prepare"}], T0, T0 + 120,
                                        60, ["SampleCount", "Sum", "Average", "Minimum", "Maximum"], ["p95", "p50", "p99.9"])
    assert [p["Timestamp"].timestamp() for p in points] == [T0, T0 + 60]
    first, second = points
    assert (first["SampleCount"], first["Sum"], first["Average"], first["Minimum"], first["Maximum"]) == \
        (100, 5050, 50.5, 1, 100)
    assert first["ExtendedStatistics"] == {"p95": 95.0, "p50": 50.0, "p99.9": 100.0}
    assert (second["SampleCount"], second["Sum"], second["Average"]) == (4, 50, 12.5)  # Counts weigh values
    assert second["ExtendedStatistics"]["p95"] == 20.0 and second["ExtendedStatistics"]["p50"] == 10.0
    assert first["Unit"] == "Milliseconds"


def test_a_metric_is_its_exact_dimensions():
    store = latency_store()
    assert store.statistics("RadStream", "Latency", [], T0, T0 + 120, 60, ["Sum"], []) == []
    assert store.statistics("RadStream", "Latency", [{"Name": "Stage", "Value": "infer"}], T0, T0 + 120, 60,
                            ["Sum"], []) == []
    store.put("RadStream", [{"MetricName": "Latency", "Timestamp": T0 + 1, "Value": 7.0,
                             "Dimensions": [{"Name": "Stage", "Value": "prepare"}, {"Name": "Service", "Value": "x"}]}])
    listed = store.list_metrics("RadStream", dimensions=[{"Name": "Stage"}])  # ListMetrics filters by subset
    assert len(listed) == 2
    assert store.list_metrics("RadStream", dimensions=[{"Name": "Service", "Value": "x"}])[0]["Dimensions"] == \
        [{"Name": "Service", "Value": "x"}, {"Name": "Stage", "Value": "prepare"}]


def test_statistic_sets_have_no_percentile():
    store = MetricStore()
    store.put("N", [{"MetricName": "M", "Timestamp": T0, "StatisticValues":
                     {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}}])
    (point,) = store.statistics("N", "M", [], T0, T0 + 60, 60, ["Average", "Maximum"], ["p90"])
    assert point["Average"] == 2.5 and point["Maximum"] == 4 and point["ExtendedStatistics"] == {}


def test_periods_start_at_the_rounded_start_time_and_empty_periods_are_left_out():
    assert period_grid(T0 + 59, T0 + 200, 60) == [T0, T0 + 60, T0 + 120, T0 + 180]
    assert period_grid(T0 + 13, T0 + 40, 10) == [T0 + 10, T0 + 20, T0 + 30]
    points = latency_store().statistics("RadStream", "Latency", [{"Name": "Stage", "Value": "prepare"}], T0 - 600,
                                        T0 + 600, 300, ["SampleCount"], [])
    assert [(p["Timestamp"].timestamp(), p["SampleCount"]) for p in points] == [(T0, 104)]
    with pytest.raises(MetricQueryError, match="StartTime"):
        period_grid(T0, T0, 60)


def test_unsupported_statistics_are_refused_by_name():
    with pytest.raises(MetricQueryError, match="tm90"):
        latency_store().statistics("RadStream", "Latency", [], T0, T0 + 60, 60, [], ["tm90"])


def test_nearest_rank_percentile():
    assert percentile(50, [(3.0, 1), (1.0, 1), (2.0, 1)]) == 2.0
    assert percentile(95, [(1.0, 19), (100.0, 1)]) == 1.0  # rank 19 of 20
    assert percentile(96, [(1.0, 19), (100.0, 1)]) == 100.0


def test_metric_data_with_metric_math():
    store = MetricStore()
    for second, started, failed in ((5, 4, 1), (65, 5, None), (125, 2, 2)):
        store.put("AWS/States", [{"MetricName": "ExecutionsStarted", "Timestamp": T0 + second, "Value": started}])
        if failed is not None:
            store.put("AWS/States", [{"MetricName": "ExecutionsFailed", "Timestamp": T0 + second, "Value": failed}])

    def stat(name: str) -> dict:
        return {"Metric": {"Namespace": "AWS/States", "MetricName": name}, "Period": 60, "Stat": "Sum"}

    results = metric_data(store, [
        {"Id": "started", "MetricStat": stat("ExecutionsStarted"), "ReturnData": False},
        {"Id": "failed", "MetricStat": stat("ExecutionsFailed"), "ReturnData": False},
        {"Id": "rate", "Expression": "100 * FILL(failed, 0) / started", "Label": "error rate"},
        {"Id": "bare", "Expression": "failed / started"},
        {"Id": "total", "Expression": "SUM([started, failed])"},
    ], T0, T0 + 180, "TimestampAscending")
    by_id = {r["Id"]: r for r in results}
    assert set(by_id) == {"rate", "bare", "total"}
    assert by_id["rate"]["Values"] == [25.0, 0.0, 100.0] and by_id["rate"]["Label"] == "error rate"
    assert by_id["bare"]["Values"] == [0.25, 1.0]  # no FILL: a period missing in one operand has no value
    assert by_id["total"]["Values"] == [5.0, 5.0, 4.0]
    descending = metric_data(store, [{"Id": "s", "MetricStat": stat("ExecutionsStarted")}], T0, T0 + 180)
    assert descending[0]["Values"] == [2.0, 5.0, 4.0]  # GetMetricData's default: newest first


def test_metric_math_refuses_what_it_does_not_implement():
    with pytest.raises(MetricQueryError, match="does not support"):
        evaluate_expression("ANOMALY_DETECTION_BAND(m1)", {"m1": {}}, [T0])
    with pytest.raises(MetricQueryError, match="Invalid"):
        evaluate_expression("m1 +", {"m1": {}}, [T0])
    assert evaluate_expression("SUM(m1)", {"m1": {T0: 1.0, T0 + 60: 2.0}}, [T0, T0 + 60]) == {T0: 3.0, T0 + 60: 3.0}


def test_old_data_is_dropped_after_the_retention():
    store = MetricStore(retention_s=3600)
    store.put("N", [{"MetricName": "M", "Timestamp": T0, "Value": 1.0}], now=T0)
    for i in range(1000):
        store.put("N", [{"MetricName": "M", "Timestamp": T0 + 7200 + i, "Value": 1.0}], now=T0 + 7200 + i)
    assert store.data("N", "M", (), T0 - 1, T0 + 1) == []


def test_a_metric_keeps_its_newest_datums_within_the_cap():
    store = MetricStore(max_datums_per_series=100)
    for i in range(250):
        store.put("N", [{"MetricName": "M", "Timestamp": T0 + i, "Value": float(i)}], now=T0 + i)
    kept = store.data("N", "M", (), T0, T0 + 1000)
    assert 100 <= len(kept) <= 110 and kept[-1].sum == 249.0
    assert [d.ts for d in kept] == [T0 + i for i in range(250 - len(kept), 250)]
    with pytest.raises(ValueError):
        MetricStore(max_datums_per_series=0)
