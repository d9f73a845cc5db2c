"""Every function the 14 queries use, checked against Trino's documented behaviour (Athena engine v3 is
Trino), not against DuckDB's: each case is Athena SQL translated by ``translate`` and run on DuckDB the way
`radstream query` runs it (session zone UTC, Athena's). Sources: trino.io/docs/current/functions/
math.html, datetime.html, aggregate.html, conditional.html, window.html.
"""

import duckdb
import pytest

from radstream.analytics.translate import load_queries, translate
from radstream.definition.catalog import sql_schema


@pytest.fixture(scope="module")
def run():
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")

    def run(sql: str):
        return con.execute(translate(sql, sql_schema())).fetchall()
    return run


# math.html: "/ Division (integer division performs truncation)"; round(x, d) -> same as input.
def test_integer_division_truncates_toward_zero(run):
    assert run("SELECT CAST(7 AS bigint) / CAST(2 AS bigint) AS a, CAST(-7 AS bigint) / CAST(2 AS bigint) AS b") == [(3, -3)]


def test_division_by_a_double_is_not_truncated(run):
    assert run("SELECT CAST(7 AS bigint) / 2e0 AS a, CAST(7 AS double) / 2 AS b") == [(3.5, 3.5)]


def test_round_to_decimal_places(run):
    assert run("SELECT round(CAST(2 AS double) * 100 / 3, 2) AS a, round(CAST(1 AS double) / 8, 2) AS b") == [(66.67, 0.13)]


# aggregate.html: count(*) and count_if(x) return bigint, sum(x) the input's type, so
# count(*) * 100 / sum(count(*)) OVER () is integer division (window.html: aggregates as window functions).
def test_count_times_100_over_windowed_sum_is_integer_division(run):
    rows = run("SELECT x, count(*) * 100 / sum(count(*)) OVER () AS pct FROM (VALUES (1), (1), (2)) AS t(x) "
               "GROUP BY x ORDER BY x")
    assert rows == [(1, 66), (2, 33)]


def test_count_if_counts_true_values_only(run):
    assert run("SELECT count_if(x > 1) AS n FROM (VALUES (1), (2), (3), (NULL)) AS t(x)") == [(2,)]


def test_avg_of_integers_is_a_double_and_min_max_sum_keep_the_type(run):
    assert run("SELECT avg(x) AS a, min(x) AS lo, max(x) AS hi, sum(x) AS s FROM (VALUES (1), (2)) AS t(x)") == [(1.5, 1, 2, 3)]


def test_count_distinct_and_coalesce(run):
    assert run("SELECT count(DISTINCT x) AS n, coalesce(NULL, 'UnknownError') AS c FROM (VALUES (1), (1), (2)) AS t(x)") \
        == [(2, "UnknownError")]


# approx_percentile(x, p): "the approximate percentile"; locally the exact nearest-rank value, which is
# one of the input values, as Athena's estimate is, and within its error bound.
def test_percentiles_are_exact_nearest_rank_locally(run):
    rows = run("SELECT approx_percentile(x, 0.5) AS p50, approx_percentile(x, 0.95) AS p95 "
               "FROM (SELECT CAST(x AS double) AS x FROM UNNEST(sequence(1, 100)) AS t(x))")
    assert rows == [(50.0, 95.0)]


# datetime.html, from_iso8601_timestamp: "SELECT from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00');
# -- 2020-05-11 11:15:05.055 +01:00": the value keeps the offset written; without one, the session zone.
# date(x) is CAST(x AS date), the day in the value's own zone (Trino's TimestampWithTimeZoneToDateCast).
@pytest.mark.parametrize("iso, day", [
    ("2020-05-11T23:15:05-05:00", "2020-05-11"),   # 04:15 UTC on the 12th, but the 11th where it was written
    ("2020-05-11T00:30:00+02:00", "2020-05-11"),
    ("2020-05-11T23:59:59.999Z", "2020-05-11"),
    ("2020-05-11T23:15:05", "2020-05-11"),         # no offset: the session zone, UTC on Athena
    ("2020-05-11", "2020-05-11"),
])
def test_date_of_an_iso_timestamp_is_the_day_in_its_own_offset(run, iso, day):
    assert str(run(f"SELECT date(from_iso8601_timestamp('{iso}')) AS d")[0][0]) == day


# date_trunc(unit, x) -> same as input (datetime.html: hour of 2001-08-22 03:04:05.321 -> 03:00:00.000),
# date_format with MySQL specifiers (%H hour 00-23, %i minutes 00-59; example: date_format(TIMESTAMP
# '2022-10-20 05:10:00', '%m-%d-%Y %H') -> '10-20-2022 05').
def test_date_format_uses_mysql_specifiers(run):
    assert run("SELECT date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H') AS a, "
               "date_format(TIMESTAMP '2022-10-20 05:10:00', '%Y-%m-%d %H:%i') AS b") == [("10-20-2022 05", "2022-10-20 05:10")]


@pytest.mark.parametrize("iso, hour, minute", [
    ("2001-08-22T03:04:05.321Z", "2001-08-22 03:00", "2001-08-22 03:04"),
    ("2001-08-22T03:04:05.321+05:30", "2001-08-22 03:00", "2001-08-22 03:04"),  # in its own offset
])
def test_date_trunc_then_format_as_the_hourly_and_minutely_queries_do(run, iso, hour, minute):
    assert run(f"SELECT date_format(date_trunc('hour', from_iso8601_timestamp('{iso}')), '%Y-%m-%d %H:00') AS h, "
               f"date_format(date_trunc('minute', from_iso8601_timestamp('{iso}')), '%Y-%m-%d %H:%i') AS m") \
        == [(hour, minute)]


def test_every_function_the_queries_use_is_covered_here():
    import re

    used = set()
    for query in load_queries().values():
        used |= {f.lower() for f in re.findall(r"\b([a-z_0-9]+)\s*\(", query.sql, flags=re.I)} - {"as", "in", "over"}
    covered = {"count", "avg", "min", "max", "sum", "count_if", "coalesce", "round", "cast", "approx_percentile",
               "date", "from_iso8601_timestamp", "date_trunc", "date_format"}
    assert used <= covered, f"functions without a semantics test: {sorted(used - covered)}"
