"""Each named query, run by the local engine, against an independent Python computation."""

import json

import pytest

from radstream.analytics import synthetic
from radstream.analytics.duckdb_engine import DuckDBEngine
from radstream.analytics.translate import load_queries, translate
from radstream.deployed.telemetry import events

from support import analytics_reference as reference
from support.analytics_reference import assert_rows_match

QUERIES = load_queries()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    recs = synthetic.generate(700, seed=11)
    root = tmp_path_factory.mktemp("raw_telemetry")
    synthetic.write_partitioned(recs, root, max_records_per_file=500)
    return recs, DuckDBEngine(str(root))


def test_there_are_fourteen_named_queries():
    assert len(QUERIES) == 14
    assert list(QUERIES) == list(reference.ALL)
    for q in QUERIES.values():
        assert q.description and q.sql and not q.sql.endswith(";")


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_matches_python(dataset, name):
    recs, engine = dataset
    res = engine.run(QUERIES[name].sql, name)
    want = reference.ALL[name](recs)
    assert want, f"{name}: the generated data must give the query something to return"
    assert_rows_match(name, res.columns, res.rows, want)


def test_dataset_exercises_the_edge_cases(dataset):
    recs, _ = dataset
    days = {r["timestamp"][:10] for r in recs}
    assert len(days) == 2  # spans a UTC midnight
    # one study straddles midnight: its stage events land on two different UTC days
    assert len({r["timestamp"][:10] for r in recs if r["study_id"] == "study-0000000"}) == 2
    assert any(r["status"] == "FAILURE" for r in recs) and any(r["cold_start"] for r in recs)
    assert any(r["memory_limit_mb"] is None for r in recs)
    assert any(r["processing_time_ms"] > 5000 for r in recs if r["record_type"] == "performance")
    # integer percentages really truncate here (otherwise the floor columns would test nothing)
    ev = [r for r in recs if r["record_type"] == "event"]
    assert any((sum(1 for r in ev if r["component"] == c) * 100) % len(ev) for c in {r["component"] for r in ev})


def test_day_boundaries_are_utc(tmp_path):
    def perf(sid, ts, ok=True):
        return events.performance_record(sid, status="SUCCESS" if ok else "FAILED", processing_time_ms=100,
                                         timestamp=ts)
    recs = [perf("a", "2026-03-01T23:59:59.999Z"), perf("b", "2026-03-02T00:00:00.000Z", ok=False),
            perf("c", "2026-03-02T01:30:00+02:00"),  # 23:30 UTC on the 1st
            perf("d", "2026-03-02T00:00:00.001Z")]
    synthetic.write_partitioned(recs, tmp_path)
    res = DuckDBEngine(str(tmp_path)).run(QUERIES["success_rate_per_day"].sql)
    assert res.rows == [["2026-03-01", 2, 2, 0, 100, 100.0], ["2026-03-02", 2, 1, 1, 50, 50.0]]
    assert res.rows == reference.success_rate_per_day(recs)


def test_integer_division_follows_athena():
    e = DuckDBEngine("/nonexistent-root")
    assert e.run("SELECT 7 / 2 AS a, -7 / 2 AS b, 7 / 2e0 AS c, CAST(7 AS double) / 2 AS d").rows == \
        [[3, -3, 3.5, 3.5]]
    r = e.run("SELECT count(*) * 100 / 3 AS pct FROM (VALUES (1), (2)) AS t(x)")
    assert r.rows == [[66]]
    assert "TRUNC" in translate("SELECT count(*) / 3 AS x FROM telemetry_events").upper()


def test_session_time_zone_is_utc():
    e = DuckDBEngine("/nonexistent-root")
    assert e.con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
    # a string without an offset is in the session zone (UTC); one with an offset keeps it, as in Trino
    # (see test_trino_semantics.py)
    r = e.run("SELECT date(from_iso8601_timestamp('2026-03-01T23:30:00')) AS d")
    assert r.rows == [["2026-03-01"]]


def test_empty_tables_give_typed_empty_results():
    e = DuckDBEngine("/nonexistent-root")
    assert e.files == {"telemetry_events": 0, "performance_metrics": 0}
    for name, q in QUERIES.items():
        res = e.run(q.sql, name)
        assert res.columns  # every query still runs
    assert e.run(QUERIES["total_events"].sql).rows == [[0]]


def test_materialized_engine_gives_the_same_answers(dataset, tmp_path):
    recs, engine = dataset
    synthetic.write_partitioned(recs, tmp_path)
    mat = DuckDBEngine(str(tmp_path), materialize=True)
    for name, q in QUERIES.items():
        res = mat.run(q.sql, name)
        assert_rows_match(name, res.columns, res.rows, engine.run(q.sql, name).rows)  # float sums may reorder


def test_malformed_lines_are_skipped_like_the_json_serde(tmp_path):
    recs = [events.performance_record("a", status="SUCCESS", processing_time_ms=10)]
    synthetic.write_partitioned(recs, tmp_path, compress=False)
    (f,) = [p for p in tmp_path.rglob("*") if p.is_file()]
    f.write_text(f.read_text() + "{not json\n")
    assert DuckDBEngine(str(tmp_path)).run("SELECT count(study_id) AS n FROM performance_metrics").rows == [[1]]


def write_localstack_layout(records, root) -> None:
    """Objects as LocalStack's Firehose writes them (duckdb_engine's docstring): the prefix's expressions
    literal, its own YYYY/MM/DD/HH/ (arrival time; here the record's hour), both record types in one
    uncompressed object per delivery, no file extension."""
    by_hour: dict[str, list[str]] = {}
    for r in records:
        ts = r["timestamp"]
        by_hour.setdefault(f"{ts[:4]}/{ts[5:7]}/{ts[8:10]}/{ts[11:13]}", []).append(json.dumps(r))
    prefix = root / "record_type=!{partitionKeyFromQuery:record_type}" / "dt=!{timestamp:yyyy-MM-dd}" / "hour=!{timestamp:HH}"
    for n, (when, lines) in enumerate(sorted(by_hour.items())):
        folder = prefix / when
        folder.mkdir(parents=True, exist_ok=True)
        stamp = when.replace("/", "-")
        (folder / f"radstream-telemetry-firehose-{stamp}-00-00-{n:08d}").write_text("\n".join(lines) + "\n")


def test_localstack_layout_gives_the_same_answers(dataset, tmp_path):
    """LocalStack's Firehose does not partition (localstack#8169): the reader finds its layout and gives
    every query the answers it gives over the Hive layout."""
    recs, hive = dataset
    write_localstack_layout(recs, tmp_path)
    engine = DuckDBEngine(str(tmp_path))
    assert engine.layouts == {"telemetry_events": "literal-prefix", "performance_metrics": "literal-prefix"}
    for name, query in QUERIES.items():
        res = engine.run(query.sql, name)
        assert_rows_match(name, res.columns, res.rows, reference.ALL[name](recs))
    assert engine.run("SELECT min(dt), max(hour) FROM performance_metrics").rows == \
        hive.run("SELECT min(dt), max(hour) FROM performance_metrics").rows
