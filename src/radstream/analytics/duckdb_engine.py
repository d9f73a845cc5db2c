"""Local analytics engine: DuckDB over the same objects Athena reads.

Views ``telemetry_events`` and ``performance_metrics`` read the Firehose NDJSON (gzip or not) under
``<root>/record_type=<event|performance>/dt=*/hour=*/*`` with the Glue column types, Hive partitions
kept as strings (``hive_types_autocast=false``, as Athena does). ``root`` is either
``s3://radstream-telemetry-{account}/raw_telemetry`` read through the S3 endpoint with httpfs (the
``duckdb-extension-httpfs`` wheel, no download at run time), or a local directory with the same layout.
The session runs in UTC so day and hour boundaries match Athena's.

LocalStack's Firehose (free edition) has no dynamic partitioning (localstack#8169): it keeps the prefix's
``!{...}`` expressions literally, appends its own ``YYYY/MM/DD/HH/`` and does not compress, so both record
types share one directory::

    <root>/record_type=!{partitionKeyFromQuery:record_type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/
        YYYY/MM/DD/HH/radstream-telemetry-firehose-YYYY-MM-DD-HH-MM-SS-<uuid>

When a table has no objects in the Hive layout but the root has objects in this one, its view reads them
instead: rows filtered by their own ``record_type`` field, ``dt``/``hour`` taken from ``YYYY/MM/DD/HH``
(Firehose's arrival time, as ``!{timestamp:...}`` would have given).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import duckdb

from radstream.definition.catalog import PARTITION_KEYS, TABLE_RECORD_TYPES, sql_schema
from .translate import translate

_DUCK_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "int": "INTEGER", "bigint": "BIGINT",
               "boolean": "BOOLEAN", "float": "FLOAT", "timestamp": "TIMESTAMP", "date": "DATE"}


@dataclass
class QueryResult:
    name: str
    columns: list[str]
    rows: list[list[Any]]
    engine: str
    elapsed_ms: float
    sql: str = ""
    bytes_scanned: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def as_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "engine": self.engine, "elapsed_ms": round(self.elapsed_ms, 1),
             "columns": self.columns, "rows": self.records()}
        if self.bytes_scanned is not None:
            d["bytes_scanned"] = self.bytes_scanned
        d.update(self.extra)
        return d


def plain(value: Any) -> Any:
    """Engine values -> JSON-friendly Python values (dates as ISO strings, decimals as floats)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc)
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


class DuckDBEngine:
    """Runs Athena-dialect SQL (translated) against the telemetry objects."""

    name = "duckdb"

    def __init__(self, root: str, *, endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key: str | None = None, secret_key: str | None = None, threads: int | None = None,
                 materialize: bool = False):
        self.root = root.rstrip("/")
        self.materialize = materialize  # read the objects once into tables (several queries, one scan)
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone='UTC'")
        if threads:
            self.con.execute(f"SET threads={int(threads)}")
        if self.root.startswith("s3://"):
            self._setup_s3(endpoint_url, region, access_key, secret_key)
        self.schema = sql_schema()
        self.refresh()

    def _setup_s3(self, endpoint_url: str | None, region: str, access_key: str | None, secret_key: str | None) -> None:
        from duckdb_extensions import import_extension

        import_extension("httpfs", con=self.con)
        key = access_key or os.environ.get("AWS_ACCESS_KEY_ID") or "testing"
        secret = secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing"
        parts = ["TYPE s3", f"KEY_ID '{_q(key)}'", f"SECRET '{_q(secret)}'", f"REGION '{_q(region)}'"]
        token = os.environ.get("AWS_SESSION_TOKEN")
        if token and not endpoint_url:
            parts.append(f"SESSION_TOKEN '{_q(token)}'")
        if endpoint_url:
            u = urllib.parse.urlparse(endpoint_url)
            parts += [f"ENDPOINT '{_q(u.netloc)}'", "URL_STYLE 'path'",
                      f"USE_SSL {'true' if u.scheme == 'https' else 'false'}"]
        self.con.execute(f"CREATE OR REPLACE SECRET radstream_s3 ({', '.join(parts)})")

    def _pattern(self, record_type: str) -> str:
        return f"{self.root}/record_type={record_type}/dt=*/hour=*/*"

    def _literal_prefix_pattern(self) -> str:
        """LocalStack's layout (module docstring): the three literal prefix levels, then YYYY/MM/DD/HH/object."""
        return f"{self.root}/record_type=*/dt=*/hour=*/*/*/*/*/*"

    def _count(self, pattern: str) -> int:
        return self.con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchone()[0]

    def refresh(self) -> dict[str, int]:
        """(Re)create the views; a table with no objects yet becomes an empty, typed view."""
        files: dict[str, int] = {}
        self.table_bytes: dict[str, int] = {}
        self.layouts: dict[str, str] = {}
        for table, record_type in TABLE_RECORD_TYPES.items():
            cols = {c: _DUCK_TYPES[t] for c, t in self.schema[table].items() if c not in PARTITION_KEYS}
            spec = ", ".join(f"'{c}': '{t}'" for c, t in cols.items())
            kind = "TABLE" if self.materialize else "VIEW"
            pattern = self._pattern(record_type)
            n = self._count(pattern)
            literal = self._literal_prefix_pattern()
            n_literal = 0 if n else self._count(literal)
            files[table] = n or n_literal
            # What Athena would bill a full scan of this table: the (compressed) size of its objects (in
            # LocalStack's layout both tables share their objects, so a scan of either reads all of them).
            self.table_bytes[table] = int(self.con.execute(
                "SELECT coalesce(sum(size), 0) FROM read_blob(?)", [pattern if n else literal]).fetchone()[0]) \
                if files[table] else 0
            if n:
                self.layouts[table] = "hive"
                self.con.execute(f"DROP VIEW IF EXISTS {table}; DROP TABLE IF EXISTS {table}")
                self.con.execute(
                    f"CREATE {kind} {table} AS SELECT * FROM read_json('{_q(pattern)}', "
                    f"format='newline_delimited', columns={{{spec}}}, hive_partitioning=true, ignore_errors=true, "
                    f"hive_types_autocast=false)")
            elif n_literal:
                self.layouts[table] = "literal-prefix"
                when = r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$"
                self.con.execute(f"DROP VIEW IF EXISTS {table}; DROP TABLE IF EXISTS {table}")
                self.con.execute(
                    f"CREATE {kind} {table} AS SELECT * EXCLUDE (filename), "
                    f"concat_ws('-', regexp_extract(filename, '{when}', 1), regexp_extract(filename, '{when}', 2), "
                    f"regexp_extract(filename, '{when}', 3)) AS dt, regexp_extract(filename, '{when}', 4) AS hour "
                    f"FROM read_json('{_q(literal)}', format='newline_delimited', columns={{{spec}}}, "
                    f"hive_partitioning=false, filename=true, ignore_errors=true) "
                    f"WHERE record_type = '{_q(record_type)}'")
            else:
                sel = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in cols.items())
                parts = ", ".join(f"CAST(NULL AS VARCHAR) AS {k}" for k in PARTITION_KEYS)
                self.layouts[table] = "empty"
                self.con.execute(f"DROP VIEW IF EXISTS {table}; DROP TABLE IF EXISTS {table}")
                self.con.execute(f"CREATE VIEW {table} AS SELECT {sel}, {parts} WHERE false")
        self.files = files
        return files

    def run(self, sql: str, name: str = "adhoc", *, translated: bool = False) -> QueryResult:
        duck_sql = sql if translated else translate(sql, self.schema)
        t0 = time.perf_counter()
        cur = self.con.execute(duck_sql)
        columns = [d[0] for d in cur.description]
        rows = [[plain(v) for v in r] for r in cur.fetchall()]
        elapsed = (time.perf_counter() - t0) * 1000.0
        return QueryResult(name, columns, rows, self.name, elapsed, duck_sql, bytes_scanned=self.bytes_scanned(sql),
                           extra={"bytes_scanned_basis": "estimate: the objects of every table the query reads "
                                                         "(Athena scans whole JSON objects; no partition pruned)"})

    def bytes_scanned(self, sql: str) -> int:
        """Bytes Athena would scan for ``sql``: every object of each table it names. The named queries
        filter no partition, so this is exact for them; a query that prunes ``dt``/``hour`` scans less."""
        import sqlglot
        from sqlglot import exp

        try:
            tables = {t.name for t in sqlglot.parse_one(sql, read="athena").find_all(exp.Table)}
        except sqlglot.errors.ParseError:
            return 0
        return sum(self.table_bytes.get(t, 0) for t in tables)


def _q(text: str) -> str:
    return str(text).replace("'", "''")
