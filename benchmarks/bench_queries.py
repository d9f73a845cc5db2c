"""All 14 named queries over ~1,000,000 generated telemetry events with the local DuckDB engine.

Generates the events (synthetic studies), writes them in the Firehose layout as gzip NDJSON to a
temporary directory, then runs every query of athena_queries.sql (translated with sqlglot) and
prints per-query and total times. ``--s3`` additionally uploads the objects to a moto server started
here and runs the same queries through httpfs. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_queries.py [--events 1000000] [--s3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from radstream.analytics import synthetic  # noqa: E402
from radstream.analytics.duckdb_engine import DuckDBEngine  # noqa: E402
from radstream.analytics.translate import load_queries, translate  # noqa: E402

EVENTS_PER_STUDY = 5.93  # measured from synthetic.generate (stage + study events, excluding performance)


def run_all(engine: DuckDBEngine, label: str) -> float:
    queries = load_queries()
    translated = {n: translate(q.sql) for n, q in queries.items()}
    total = 0.0
    print(f"\n{label}")
    for name, sql in translated.items():
        t0 = time.perf_counter()
        res = engine.run(sql, name, translated=True)
        dt = time.perf_counter() - t0
        total += dt
        print(f"  {name:32s} {dt * 1000:8.0f} ms  {len(res.rows):>6} row(s)")
    print(f"  {'TOTAL (14 queries)':32s} {total * 1000:8.0f} ms")
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000, help="telemetry_events rows to generate")
    ap.add_argument("--s3", action="store_true", help="also run over a moto S3 endpoint via httpfs")
    args = ap.parse_args()

    studies = int(args.events / EVENTS_PER_STUDY)
    t0 = time.perf_counter()
    recs = synthetic.generate(studies, seed=1, span_s=3 * 86400, fast=True)
    t_gen = time.perf_counter() - t0
    n_events = sum(1 for r in recs if r["record_type"] == "event")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = synthetic.write_partitioned(recs, tmp, max_records_per_file=100_000)
        t_write = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        del recs
        print(f"generated {studies:,} studies: {n_events:,} telemetry_events + {studies:,} performance_metrics rows "
              f"in {t_gen:.1f} s; wrote {files} gzip NDJSON objects ({size / 1e6:.1f} MB) in {t_write:.1f} s")
        print(f"cpu cores: {os.cpu_count()}")
        t0 = time.perf_counter()
        engine = DuckDBEngine(tmp)
        print(f"views created in {(time.perf_counter() - t0) * 1000:.0f} ms")
        run_all(engine, f"local files, DuckDB ({n_events:,} events)")
        t0 = time.perf_counter()
        mat = DuckDBEngine(tmp, materialize=True)
        t_load = time.perf_counter() - t0
        print(f"\nmaterialized (what `radstream query --all` does): objects read once in {t_load:.2f} s")
        q = run_all(mat, "local files, DuckDB, materialized tables")
        print(f"  load + 14 queries = {(t_load + q) * 1000:.0f} ms")

        if args.s3:
            from bench_telemetry import start_moto  # noqa: E402
            import boto3

            proc, url = start_moto()
            try:
                s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing",
                                  aws_secret_access_key="testing", region_name="us-east-1")
                s3.create_bucket(Bucket="bench-lake")
                t0 = time.perf_counter()
                for p in Path(tmp).rglob("*"):
                    if p.is_file():
                        s3.upload_file(str(p), "bench-lake", "raw_telemetry/" + str(p.relative_to(tmp)))
                print(f"\nuploaded to moto in {time.perf_counter() - t0:.1f} s")
                run_all(DuckDBEngine("s3://bench-lake/raw_telemetry", endpoint_url=url),
                        f"moto S3 via httpfs, DuckDB ({n_events:,} events)")
                t0 = time.perf_counter()
                mat = DuckDBEngine("s3://bench-lake/raw_telemetry", endpoint_url=url, materialize=True)
                t_load = time.perf_counter() - t0
                print(f"\nmaterialized from moto S3: objects read once in {t_load:.2f} s")
                q = run_all(mat, "moto S3 via httpfs, DuckDB, materialized tables")
                print(f"  load + 14 queries = {(t_load + q) * 1000:.0f} ms")
            finally:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
