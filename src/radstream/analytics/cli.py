"""``radstream query``: run the named Athena queries (or ad-hoc SQL) on DuckDB locally or Athena on aws.

    radstream query --list
    radstream query total_events top_5_slowest_studies
    radstream query --all --format json
    radstream query --sql "SELECT component, count(*) AS n FROM telemetry_events GROUP BY 1"
    radstream query --all --source ./some/raw_telemetry        # a local copy of the layout

Wiring (src/radstream/cli.py)::

    from radstream.analytics import cli as query_cli
    p = sub.add_parser("query", help="analytics queries"); query_cli.add_arguments(p)
    ... return query_cli.run(args)
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

from .translate import NamedQuery, QueryNotFoundError, QueryTranslationError, load_queries

log = logging.getLogger("radstream.analytics")

TARGETS = ("embedded", "localstack", "aws")
DEFAULT_ENDPOINTS = {"embedded": "http://127.0.0.1:4566", "localstack": "http://127.0.0.1:4566"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="query names from athena_queries.sql")
    parser.add_argument("--all", action="store_true", help="run all 14 named queries")
    parser.add_argument("--sql", help="run an ad-hoc query written in Athena's dialect")
    parser.add_argument("--list", action="store_true", help="list the named queries and exit")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--target", choices=TARGETS, default=None,
                        help="embedded/localstack: DuckDB over the S3 endpoint; aws: Athena "
                             "(default: $RADSTREAM_TARGET or embedded)")
    parser.add_argument("--source", help="telemetry root to read instead of s3://<telemetry bucket>/raw_telemetry "
                                         "(local directory or s3:// URI; DuckDB only)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL or http://127.0.0.1:4566)")
    parser.add_argument("--bucket", help="telemetry bucket (default: $RADSTREAM_TELEMETRY_BUCKET or "
                                         "radstream-telemetry-<account>)")
    parser.add_argument("--no-flush", action="store_true",
                        help="embedded: do not ask the emulator to flush buffered Firehose data first")
    parser.add_argument("--show-sql", action="store_true", help="also print the SQL each engine ran")


def _target(args: argparse.Namespace) -> str:
    t = args.target or os.environ.get("RADSTREAM_TARGET") or "embedded"
    if t not in TARGETS:
        raise ValueError(f"unknown target {t!r}; use one of {TARGETS}")
    return t


def _endpoint(args: argparse.Namespace, target: str) -> str | None:
    """--endpoint-url > $AWS_ENDPOINT_URL(_S3) > the running embedded stack's port (state dir) > default."""
    if args.endpoint_url:
        return args.endpoint_url
    env = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if env:
        return env
    try:  # the project's own resolution (the port `radstream up` chose, LOCALSTACK_ENDPOINT, ...)
        from pathlib import Path

        from radstream.infra.targets import resolve

        if target == "embedded":
            from radstream.embedded import EmbeddedStack

            kwargs = {"state_dir": Path(args.state_dir)} if getattr(args, "state_dir", None) else {}
            return resolve("embedded", port=EmbeddedStack(**kwargs).port).endpoint_url
        return resolve(target).endpoint_url
    except Exception as exc:  # noqa: BLE001 - fall back to the documented default
        log.debug("could not resolve the %s endpoint from the project settings: %s", target, exc)
    return DEFAULT_ENDPOINTS.get(target)


def _session(endpoint: str | None):  # noqa: ANN202
    import boto3

    if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return boto3.session.Session(region_name=os.environ.get("AWS_DEFAULT_REGION") or
                                 os.environ.get("AWS_REGION") or "us-east-1")


def _bucket(args: argparse.Namespace, session: Any, endpoint: str | None) -> str:
    if args.bucket:
        return args.bucket
    if os.environ.get("RADSTREAM_TELEMETRY_BUCKET"):
        return os.environ["RADSTREAM_TELEMETRY_BUCKET"]
    account = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    return f"radstream-telemetry-{account}"


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
    """The engine for the target: DuckDBEngine (embedded/localstack/--source) or AthenaEngine (aws)."""
    target = _target(args)
    endpoint = _endpoint(args, target) if target != "aws" else (args.endpoint_url or None)
    if target == "aws" and not args.source:
        from .athena_engine import AthenaEngine

        session = _session(None)
        return AthenaEngine(session.client("athena"),
                            output_location=os.environ.get("RADSTREAM_ATHENA_OUTPUT") or None)
    from .duckdb_engine import DuckDBEngine

    source = args.source
    if not source or source.startswith("s3://"):
        session = _session(endpoint)
        if not source:
            source = f"s3://{_bucket(args, session, endpoint)}/raw_telemetry"
        if target == "embedded" and endpoint and not args.no_flush:
            from radstream.emulator.firehose_delivery import request_flush

            if request_flush(endpoint) is None:
                log.info("emulator has no Firehose flush route; recent telemetry may still be buffered")
        creds = session.get_credentials()
        return DuckDBEngine(source, endpoint_url=endpoint if target != "aws" else None,
                            region=session.region_name or "us-east-1",
                            access_key=creds.access_key if creds else None,
                            secret_key=creds.secret_key if creds else None, materialize=materialize)
    return DuckDBEngine(source, materialize=materialize)


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
    except (QueryNotFoundError, QueryTranslationError, ValueError) as exc:
        sys.stderr.write(f"radstream query: {exc.args[0] if isinstance(exc, KeyError) else exc}\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - engine errors: say what failed
        sys.stderr.write(f"radstream query: {type(exc).__name__}: {exc}\n")
        return 1
    render(results, args.format, out, show_sql=args.show_sql,
           descriptions={q.name: q.description for q in queries.values()})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="radstream query", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
