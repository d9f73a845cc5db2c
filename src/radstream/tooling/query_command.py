"""``radstream query``: run the named Athena queries (or ad-hoc SQL) on DuckDB locally or Athena on aws.

    radstream query --list
    radstream query total_events top_5_slowest_studies
    radstream query --all --format json
    radstream query --sql "SELECT component, count(*) AS n FROM telemetry_events GROUP BY 1"
    radstream query --all --source ./some/raw_telemetry        # a local copy of the layout
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
from typing import Any, TextIO

from radstream.analytics.athena_engine import AthenaEngine
from radstream.analytics.duckdb_engine import DuckDBEngine
from radstream.analytics.errors import QueryNotFoundError, QueryTranslationError
from radstream.analytics.translate import NamedQuery, load_queries
from radstream.deployed import s3_layout
from radstream.tooling.bench.pricing import load_pricing
from radstream.tooling.stack.emulator_admin import flush_telemetry
from radstream.tooling.targeting import add_target_argument, target_from_args

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="query names from athena_queries.sql")
    parser.add_argument("--all", action="store_true", help="run all 14 named queries")
    parser.add_argument("--sql", help="run an ad-hoc query written in Athena's dialect")
    parser.add_argument("--list", action="store_true", help="list the named queries and exit")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_target_argument(parser)
    parser.add_argument("--source", help="telemetry root to read instead of the target's "
                                         f"s3://<telemetry bucket>/{s3_layout.TELEMETRY_PREFIX} "
                                         "(a local directory or an s3:// URI; DuckDB)")
    parser.add_argument("--no-flush", action="store_true",
                        help="embedded: do not ask the emulator to flush buffered Firehose data first")
    parser.add_argument("--show-sql", action="store_true", help="also print the SQL each engine ran")
    parser.add_argument("--pricing", help="pricing file for the Athena cost on aws (default: the packaged us-east-1 prices)")


def _select(args: argparse.Namespace, queries: dict[str, NamedQuery]) -> list[NamedQuery]:
    if args.sql:
        return [NamedQuery("adhoc", "ad-hoc query", args.sql.strip().rstrip(";"))]
    if args.all:
        return list(queries.values())
    out = []
    for n in args.names:
        if n not in queries:
            raise QueryNotFoundError(f"no query named {n!r}; run `radstream query --list`")
        out.append(queries[n])
    return out


def make_engine(args: argparse.Namespace, *, materialize: bool = False):  # noqa: ANN201
    """The engine: DuckDB over a local ``--source``, DuckDB over the target's S3 (embedded,
    localstack), or Athena (aws)."""
    if args.source and not args.source.startswith("s3://"):
        return DuckDBEngine(args.source, materialize=materialize)
    target = target_from_args(args)
    names = target.names
    if target.name == "aws" and not args.source:
        return AthenaEngine(target.client("athena"), workgroup=names.athena_workgroup, database=names.glue_database,
                            output_location=os.environ.get("RADSTREAM_ATHENA_OUTPUT") or None)
    source = args.source or f"s3://{names.telemetry_bucket}/{s3_layout.TELEMETRY_PREFIX}"
    if target.name == "embedded" and not args.no_flush and flush_telemetry(target.endpoint_url) is None:
        log.info("the emulator did not flush; recent telemetry may still be buffered")
    creds = target.session().get_credentials()
    return DuckDBEngine(source, endpoint_url=target.endpoint_url, region=target.region,
                        access_key=creds.access_key if creds else None,
                        secret_key=creds.secret_key if creds else None, materialize=materialize)


def athena_query_cost(bytes_scanned: int, usd_per_tb: float) -> float:
    """Athena bills the bytes scanned rounded up to the MB, at least 10 MB per query."""
    mb = max(10, -(-bytes_scanned // (1024 * 1024)))
    return mb / (1024 * 1024) * usd_per_tb


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if v != 0 and abs(v) < 1:
            return f"{v:.4g}"
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def render(results: list[Any], fmt: str, out: TextIO, *, show_sql: bool = False,
           descriptions: dict[str, str] | None = None) -> None:
    descriptions = descriptions or {}
    if fmt == "json":
        json.dump({"queries": [r.as_dict() | ({"sql": r.sql} if show_sql else {}) for r in results]}, out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        for i, r in enumerate(results):
            if len(results) > 1:
                if i:
                    out.write("\n")
                out.write(f"# {r.name}\n")
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(r.columns)
            w.writerows([["" if v is None else v for v in row] for row in r.rows])
            out.write(buf.getvalue())
        return
    from rich.console import Console
    from rich.table import Table

    tty = hasattr(out, "isatty") and out.isatty()
    console = Console(file=out, width=Console().width if tty else 200)
    for r in results:
        caption = f"{r.engine} · {r.elapsed_ms:.0f} ms · {len(r.rows)} row(s)"
        if r.bytes_scanned is not None:
            caption += f" · {r.bytes_scanned:,} bytes scanned"
            if "bytes_scanned_basis" in r.extra:
                caption += " (as Athena would bill: whole objects)"
        if "cost_usd" in r.extra:
            caption += f" · ${r.extra['cost_usd']:.6f} (Athena: scanned bytes rounded up to the MB, 10 MB minimum)"
        console.print(f"[bold]{r.name}[/bold] — {descriptions.get(r.name, '')}".rstrip(" —"), highlight=False)
        table = Table()
        for i, c in enumerate(r.columns):
            numeric = any(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in r.rows)
            table.add_column(c, justify="right" if numeric else "left")
        for row in r.rows:
            table.add_row(*[_fmt(v) for v in row])
        console.print(table)
        console.print(caption, style="dim", highlight=False)
        if show_sql:
            console.print(r.sql, style="dim", markup=False, highlight=False)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        queries = load_queries()
        if args.list:
            for q in queries.values():
                out.write(f"{q.name:32s} {q.description}\n")
            return 0
        selected = _select(args, queries)
        if not selected:
            sys.stderr.write("radstream query: name one or more queries, --all, --sql or --list\n")
            return 2
        engine = make_engine(args, materialize=len(selected) > 2)  # several queries: read objects once
        results = [engine.run(q.sql, q.name) for q in selected]
        if isinstance(engine, AthenaEngine):
            price = load_pricing(getattr(args, "pricing", None)).usd("athena_tb_scanned")
            for r in results:
                r.extra["cost_usd"] = athena_query_cost(r.bytes_scanned or 0, price)
    except (QueryNotFoundError, QueryTranslationError, ValueError) as exc:
        sys.stderr.write(f"radstream query: {exc.args[0] if isinstance(exc, KeyError) else exc}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - engine errors: say what failed
        sys.stderr.write(f"radstream query: {type(exc).__name__}: {exc}\n")
        return 1
    render(results, args.format, out, show_sql=args.show_sql,
           descriptions={q.name: q.description for q in queries.values()})
    return 0
