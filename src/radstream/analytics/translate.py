"""The named Athena queries, and their translation from Athena (Trino) SQL to DuckDB with sqlglot.

Translation = parse as ``athena`` -> ``qualify`` with the Glue schema -> ``annotate_types`` (so an
integer ``/`` becomes DuckDB's truncating integer division, as in Trino) -> ``approx_percentile`` to the
exact nearest-rank ``quantile_disc`` -> generate ``duckdb``. The DuckDB connection must run with
``TimeZone='UTC'`` (see :mod:`radstream.analytics.duckdb_engine`).
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
    tree = tree.transform(_exact_percentiles)
    return tree.sql(dialect="duckdb")
