"""The named Athena queries, and their translation from Athena (Trino) SQL to DuckDB with sqlglot.

Translation = parse as ``athena`` -> ``qualify`` with the Glue schema -> ``annotate_types`` (so an
integer ``/`` becomes DuckDB's truncating integer division, as in Trino) -> ``approx_percentile`` to the
exact nearest-rank ``quantile_disc`` -> ``from_iso8601_timestamp`` read in the string's own offset where
a date, ``date_trunc`` or ``date_format`` reads it -> generate ``duckdb``. The DuckDB connection must run
with ``TimeZone='UTC'`` (Athena's session zone; see :mod:`radstream.analytics.duckdb_engine`).
``tests/unit/analytics/test_trino_semantics.py`` checks each function the queries use against Trino's
documented behaviour.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from radstream.definition.catalog import sql_schema

from .errors import QueryNotFoundError, QueryTranslationError

log = logging.getLogger("radstream.analytics")

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str  # Athena dialect, without the trailing semicolon


def queries_path() -> Path:
    return Path(str(resources.files("radstream.analytics.queries").joinpath("athena_queries.sql")))


def parse_query_file(text: str) -> dict[str, NamedQuery]:
    """Split the SQL file on ``-- name:`` markers. Order is preserved."""
    out: dict[str, NamedQuery] = {}
    name: str | None = None
    desc: list[str] = []
    body: list[str] = []

    def close() -> None:
        if name is None:
            return
        sql = "\n".join(body).strip().rstrip(";").strip()
        if not sql:
            raise QueryTranslationError(f"query {name!r} in athena_queries.sql has no SQL")
        if name in out:
            raise QueryTranslationError(f"query name {name!r} appears twice in athena_queries.sql")
        out[name] = NamedQuery(name, " ".join(desc).strip(), sql)

    for line in text.splitlines():
        m = _NAME.match(line.strip())
        if m:
            close()
            name, desc, body = m.group(1), [], []
        elif name is not None:
            if not body and line.strip().startswith("--"):
                desc.append(line.strip()[2:].strip())
            elif line.strip() or body:
                body.append(line)
    close()
    return out


def load_queries(path: str | Path | None = None) -> dict[str, NamedQuery]:
    p = Path(path) if path else queries_path()
    return parse_query_file(p.read_text(encoding="utf-8"))


def get_query(name: str, queries: dict[str, NamedQuery] | None = None) -> NamedQuery:
    queries = queries or load_queries()
    try:
        return queries[name]
    except KeyError:
        raise QueryNotFoundError(f"no query named {name!r}; known: {', '.join(queries)}") from None


def _exact_percentiles(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.ApproxQuantile):
        return exp.Anonymous(this="quantile_disc", expressions=[node.this, node.args["quantile"]])
    return node


# Functions that read a timestamp's calendar fields in the value's own time zone (Trino).
_WALL_CLOCK_READERS = (exp.Date, exp.TimestampTrunc, exp.TimeToStr)
# An offset after the time of day ('T23:30:00.5-05:00', 'T10:00Z'); a bare date has none.
_TIME_AND_ZONE = "(T[0-9:.,]+)(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _wall_clock(node: exp.Expression) -> exp.Expression:
    """Trino's from_iso8601_timestamp keeps the offset written in the string ('...T23:30:00-05:00' stays
    23:30 at -05:00) and date(), date_trunc() and date_format() read the day and hour in that offset;
    DuckDB would convert to the session zone first (04:30 the next day in UTC). Where one of those reads
    it, parse the wall-clock time as written; a string without an offset is in the session zone (UTC)."""
    if isinstance(node, exp.FromISO8601Timestamp) and isinstance(node.parent, _WALL_CLOCK_READERS):
        wall = exp.RegexpReplace(this=node.this.copy(), expression=exp.Literal.string(_TIME_AND_ZONE),
                                 replacement=exp.Literal.string("\\1"))
        return exp.cast(wall, exp.DataType.build("TIMESTAMP"))
    return node


def translate(sql: str, schema: dict[str, dict[str, str]] | None = None) -> str:
    """Athena SQL -> DuckDB SQL. Falls back to a plain transpile (logged) when qualification fails."""
    schema = schema or sql_schema()
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise QueryTranslationError(f"cannot parse the query as Athena SQL: {exc}") from None
    if len(statements) != 1:
        raise QueryTranslationError(f"expected exactly one SQL statement, got {len(statements)}")
    tree = statements[0]
    try:
        tree = qualify(tree, schema=schema, dialect="athena", validate_qualify_columns=True)
        tree = annotate_types(tree, schema=schema)
    except (OptimizeError, ValueError) as exc:
        log.warning("query not qualified against the Glue schema (%s); integer division types may differ "
                    "from Athena", exc)
        tree = statements[0]
    tree = tree.transform(_exact_percentiles).transform(_wall_clock)
    return tree.sql(dialect="duckdb")
