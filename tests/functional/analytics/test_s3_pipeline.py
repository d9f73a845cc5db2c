"""Producer -> Kinesis -> forwarder -> S3 (moto) -> DuckDB over httpfs gives the same answers as Python."""

import argparse
import io
import json

from radstream.analytics import synthetic
from radstream.definition import catalog as glue_schema
from radstream.tooling import query_command as cli
from radstream.analytics.duckdb_engine import DuckDBEngine
from radstream.analytics.translate import load_queries
from radstream.emulator.firehose_forwarder import FirehoseForwarder
from radstream.definition.firehose import create_delivery_stream_request
from radstream.deployed.telemetry.producer import TelemetryProducer

from support import analytics_reference as reference
from support.analytics_reference import assert_rows_match

BUCKET = "radstream-telemetry-123456789012"


def test_queries_over_the_emulated_data_lake(aws, moto_endpoint, monkeypatch, tmp_path):
    kin, s3, fh, glue = aws("kinesis"), aws("s3"), aws("firehose"), aws("glue")
    kin.create_stream(StreamName="radstream-telemetry", ShardCount=2)
    arn = kin.describe_stream(StreamName="radstream-telemetry")["StreamDescription"]["StreamARN"]
    s3.create_bucket(Bucket=BUCKET)
    fh.create_delivery_stream(**create_delivery_stream_request(
        arn, f"arn:aws:s3:::{BUCKET}", "arn:aws:iam::123456789012:role/firehose", buffer_interval_s=5))
    # the tables template.yaml declares (on a deployment its CloudFormation creates them)
    if glue_schema.DATABASE not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]:
        glue.create_database(DatabaseInput={"Name": glue_schema.DATABASE})
        for table in glue_schema.TABLE_RECORD_TYPES:
            glue.create_table(DatabaseName=glue_schema.DATABASE, TableInput=glue_schema.table_input(table, BUCKET))

    recs = synthetic.generate(150, seed=3)
    with TelemetryProducer(kin, "radstream-telemetry", flush_at_exit=False) as prod:
        prod.put_many(recs)
    assert prod.sent_total == len(recs) and prod.failed_total == 0
    stats = FirehoseForwarder(moto_endpoint).flush()
    assert stats["delivery_streams"]["radstream-telemetry-firehose"]["records"] == len(recs)

    engine = DuckDBEngine(f"s3://{BUCKET}/raw_telemetry", endpoint_url=moto_endpoint)
    assert engine.files["telemetry_events"] >= 1 and engine.files["performance_metrics"] >= 1
    for name, q in load_queries().items():
        res = engine.run(q.sql, name)
        assert_rows_match(name, res.columns, res.rows, reference.ALL[name](recs))

    # `radstream query` on the embedded target (here: this moto server) reads the same objects
    monkeypatch.setenv("RADSTREAM_EMULATOR_PORT", moto_endpoint.rsplit(":", 1)[-1])
    monkeypatch.setenv("RADSTREAM_TELEMETRY_BUCKET", BUCKET)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["total_events", "success_rate_per_day", "--format", "json", "--target", "embedded"])
    args.state_dir = str(tmp_path)  # no stack state: the port comes from RADSTREAM_EMULATOR_PORT
    out = io.StringIO()
    assert cli.run(args, out) == 0
    doc = json.loads(out.getvalue())
    assert [q["name"] for q in doc["queries"]] == ["total_events", "success_rate_per_day"]
    assert doc["queries"][0]["rows"] == [{"total_events": reference.total_events(recs)[0][0]}]


def test_localstack_layout_read_through_s3(aws, moto_endpoint):
    """The keys LocalStack's Firehose writes (the prefix's !{...} kept literally, its own YYYY/MM/DD/HH,
    uncompressed, both record types in one object) read through httpfs like the Hive layout."""
    s3, bucket = aws("s3"), "radstream-telemetry-localstack-layout"
    s3.create_bucket(Bucket=bucket)
    recs = synthetic.generate(120, seed=5)
    prefix = "raw_telemetry/record_type=!{partitionKeyFromQuery:record_type}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}"
    by_hour: dict[str, list[str]] = {}
    for r in recs:
        ts = r["timestamp"]
        by_hour.setdefault(f"{ts[:4]}/{ts[5:7]}/{ts[8:10]}/{ts[11:13]}", []).append(json.dumps(r))
    for n, (when, lines) in enumerate(sorted(by_hour.items())):
        key = f"{prefix}/{when}/radstream-telemetry-firehose-{when.replace('/', '-')}-00-00-{n:08d}"
        s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())

    engine = DuckDBEngine(f"s3://{bucket}/raw_telemetry", endpoint_url=moto_endpoint)
    assert engine.layouts == {"telemetry_events": "literal-prefix", "performance_metrics": "literal-prefix"}
    for name, q in load_queries().items():
        res = engine.run(q.sql, name)
        assert_rows_match(name, res.columns, res.rows, reference.ALL[name](recs))
