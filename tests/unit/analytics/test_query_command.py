import argparse
import csv
import io
import json

import pytest

from radstream.analytics import synthetic
from radstream.tooling import query_command as cli

from support import analytics_reference as reference


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    recs = synthetic.generate(60, seed=5)
    root = tmp_path_factory.mktemp("lake")
    synthetic.write_partitioned(recs, root)
    return recs, str(root)


def run(*argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = io.StringIO()
    rc = cli.run(parser.parse_args(list(argv)), out)
    return rc, out.getvalue()


def test_all_as_json(source):
    recs, root = source
    rc, out = run("--all", "--source", root, "--format", "json")
    assert rc == 0
    doc = json.loads(out)
    assert len(doc["queries"]) == 14
    by = {q["name"]: q for q in doc["queries"]}
    assert by["total_events"]["rows"][0]["total_events"] == reference.total_events(recs)[0][0]


def test_table_and_csv(source):
    recs, root = source
    rc, out = run("events_by_component", "--source", root)
    assert rc == 0 and "events_by_component" in out and "validate_metadata" in out
    rc, out = run("events_by_component", "--source", root, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["component", "events", "pct_of_events_floor"]
    assert [[r[0], int(r[1]), int(r[2])] for r in rows[1:]] == reference.events_by_component(recs)


def test_adhoc_sql_and_errors(source, capsys):
    _, root = source
    rc, out = run("--sql", "SELECT count(*) / 7 AS x FROM performance_metrics", "--source", root, "--format", "json")
    assert rc == 0 and json.loads(out)["queries"][0]["rows"] == [{"x": 60 // 7}]
    assert run("no_such_query", "--source", root)[0] == 2
    assert "no query named" in capsys.readouterr().err
    assert run("--source", root)[0] == 2
    assert run("--sql", "SELECT FROM WHERE", "--source", root)[0] in (1, 2)
    rc, out = run("--list")
    assert rc == 0 and len(out.strip().splitlines()) == 14


def test_each_query_reports_its_time_and_the_bytes_athena_would_scan(source):
    import pathlib

    _, root = source
    rc, out = run("total_events", "average_processing_time", "--format", "json", "--source", root)
    assert rc == 0
    by_name = {q["name"]: q for q in json.loads(out)["queries"]}
    events = sum(p.stat().st_size for p in pathlib.Path(root).glob("record_type=event/*/*/*"))
    performance = sum(p.stat().st_size for p in pathlib.Path(root).glob("record_type=performance/*/*/*"))
    assert by_name["total_events"]["bytes_scanned"] == events > 0
    assert by_name["average_processing_time"]["bytes_scanned"] == performance > 0
    assert all(q["elapsed_ms"] >= 0 for q in by_name.values())
    rc, out = run("total_events", "--source", root)
    assert "bytes scanned (as Athena would bill: whole objects)" in out


def test_athena_cost_rounds_up_to_the_megabyte_with_a_10_mb_minimum():
    mb = 1024 * 1024
    assert cli.athena_query_cost(0, 5.0) == pytest.approx(10 * mb / 1024 ** 4 * 5.0)
    assert cli.athena_query_cost(int(15.2 * mb), 5.0) == pytest.approx(16 * mb / 1024 ** 4 * 5.0)
