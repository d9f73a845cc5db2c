"""Independent Python computations of the 14 named queries over a list of telemetry records.

Written from the query descriptions, not from the SQL: plain loops, UTC datetimes, floor division,
nearest-rank percentiles (the exact definition the local engine uses for approx_percentile).
"""

import math
from collections import defaultdict
from datetime import datetime, timezone

import pytest


def ts(r):
    return datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def mean(xs):
    return math.fsum(xs) / len(xs) if xs else None


def nearest_rank(values, q):
    v = sorted(values)
    return v[max(0, math.ceil(len(v) * q) - 1)]


def split(records):
    ev = [r for r in records if r["record_type"] == "event"]
    pm = [r for r in records if r["record_type"] == "performance"]
    return ev, pm


def is_stage(r):
    return r["event_type"] in ("stage_completed", "stage_failed")


def group(rows, key):
    g = defaultdict(list)
    for r in rows:
        g[key(r)].append(r)
    return g


def total_events(records):
    ev, _ = split(records)
    return [[len(ev)]]


def average_processing_time(records):
    _, pm = split(records)
    ms = [r["processing_time_ms"] for r in pm]
    return [[len(pm), mean(ms), min(ms) if ms else None, max(ms) if ms else None]]


def events_by_component(records):
    ev, _ = split(records)
    g = group(ev, lambda r: r["component"])
    rows = [[c, len(v), len(v) * 100 // len(ev)] for c, v in g.items()]
    return sorted(rows, key=lambda x: (-x[1], x[0]))


def daily_avg_inference_latency(records):
    ev, _ = split(records)
    inf = [r for r in ev if r["component"] == "run_inference" and r["status"] == "SUCCESS"]
    g = group(inf, lambda r: ts(r).date().isoformat())
    return [[d, len(v), mean([r["processing_time_ms"] for r in v])] for d, v in sorted(g.items())]


def top_5_slowest_studies(records):
    _, pm = split(records)
    top = sorted(pm, key=lambda r: (-r["processing_time_ms"], r["study_id"]))[:5]
    return [[r["study_id"], r["status"], r["processing_time_ms"], r["timestamp"]] for r in top]


def error_events_over_time(records):
    ev, _ = split(records)
    g = group([r for r in ev if r["status"] == "FAILURE"], lambda r: ts(r).strftime("%Y-%m-%d %H:00"))
    return [[h, len(v), len({r["study_id"] for r in v})] for h, v in sorted(g.items())]


def event_type_distribution(records):
    ev, _ = split(records)
    g = group(ev, lambda r: r["event_type"])
    rows = [[t, len(v), round(len(v) * 100 / len(ev), 2)] for t, v in g.items()]
    return sorted(rows, key=lambda x: (-x[1], x[0]))


def latency_percentiles_by_stage(records):
    ev, _ = split(records)
    g = group([r for r in ev if is_stage(r)], lambda r: r["component"])
    out = []
    for c in sorted(g):
        ms = [r["processing_time_ms"] for r in g[c]]
        out.append([c, len(ms), nearest_rank(ms, 0.5), nearest_rank(ms, 0.95), nearest_rank(ms, 0.99), max(ms)])
    return out


def throughput_per_minute(records):
    _, pm = split(records)
    g = group(pm, lambda r: ts(r).strftime("%Y-%m-%d %H:%M"))
    return [[m, len(v), sum(r["status"] == "SUCCESS" for r in v), mean([r["processing_time_ms"] for r in v])]
            for m, v in sorted(g.items())]


def error_rate_by_error_code(records):
    _, pm = split(records)
    total = len(pm)
    g = group([r for r in pm if r["status"] == "FAILURE"], lambda r: r["error_code"] or "UnknownError")
    rows = [[c, len(v), total, len(v) * 1000 // total, round(len(v) * 100 / total, 2)] for c, v in g.items()]
    return sorted(rows, key=lambda x: (-x[1], x[0]))


def cold_start_share_and_cost(records):
    ev, _ = split(records)
    g = group([r for r in ev if is_stage(r)], lambda r: r["component"])
    out = []
    for c in sorted(g):
        v = g[c]
        cold = [r["processing_time_ms"] for r in v if r["cold_start"]]
        warm = [r["processing_time_ms"] for r in v if not r["cold_start"]]
        mc, mw = mean(cold), mean(warm)
        out.append([c, len(v), len(cold), round(len(cold) * 100 / len(v), 2), mc, mw,
                    None if mc is None or mw is None else mc - mw])
    return out


def success_rate_per_day(records):
    _, pm = split(records)
    g = group(pm, lambda r: ts(r).date().isoformat())
    out = []
    for d in sorted(g):
        v = g[d]
        s = sum(r["status"] == "SUCCESS" for r in v)
        f = sum(r["status"] == "FAILURE" for r in v)
        out.append([d, len(v), s, f, s * 100 // len(v), round(s * 100 / len(v), 2)])
    return out


def studies_over_latency_target(records):
    _, pm = split(records)
    slow = sorted([r for r in pm if r["processing_time_ms"] > 5000],
                  key=lambda r: (-r["processing_time_ms"], r["study_id"]))
    return [[r["study_id"], r["status"], r["processing_time_ms"], r["processing_time_ms"] - 5000, r["timestamp"]]
            for r in slow]


def estimated_cost_per_image(records):
    ev, _ = split(records)
    g = group([r for r in ev if is_stage(r)], lambda r: r["study_id"])
    costs, invs, gbs = [], [], []
    for v in g.values():
        gb = math.fsum(r["processing_time_ms"] / 1000 * (r["memory_limit_mb"] or 1024) / 1024 for r in v)
        invs.append(len(v))
        gbs.append(gb)
        costs.append(gb * 1.66667e-5 + len(v) * 2e-7 + len(v) * 2.5e-5)
    return [[len(g), sum(invs), math.fsum(gbs), math.fsum(costs), mean(costs)]]


ALL = {f.__name__: f for f in [
    total_events, average_processing_time, events_by_component, daily_avg_inference_latency,
    top_5_slowest_studies, error_events_over_time, event_type_distribution, latency_percentiles_by_stage,
    throughput_per_minute, error_rate_by_error_code, cold_start_share_and_cost, success_rate_per_day,
    studies_over_latency_target, estimated_cost_per_image]}

# columns rounded to 2 decimals by the SQL: engines may round a binary half differently
ROUNDED = {"pct_of_events", "error_rate_pct", "cold_start_pct", "success_rate_pct"}


def assert_rows_match(name, columns, got, want):
    assert len(got) == len(want), f"{name}: {len(got)} rows, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert len(g) == len(w) == len(columns)
        for col, a, b in zip(columns, g, w):
            where = f"{name} row {i} column {col}: got {a!r}, expected {b!r}"
            if b is None or a is None:
                assert a is None and b is None, where
            elif isinstance(b, bool) or isinstance(b, str):
                assert a == b, where
            elif isinstance(b, int) and not isinstance(b, bool):
                assert a == b and isinstance(a, int), where  # integer results stay integers
            elif col in ROUNDED:
                assert a == pytest.approx(b, abs=0.0100001), where
            else:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), where
