"""The emulator's Kinesis -> Firehose -> S3 forwarder against a real moto server."""

import gzip
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from radstream.emulator.firehose_config import (FirehoseConfigurationUnsupported, java_time_format,
                                               parse_metadata_query, render_prefix)
from radstream.emulator.firehose_forwarder import FirehoseForwarder
from radstream.deployed.telemetry import events
from radstream.definition.firehose import create_delivery_stream_request
from radstream.deployed.telemetry.producer import TelemetryProducer

ROLE = "arn:aws:iam::123456789012:role/firehose"


def setup_pipeline(aws, **delivery_kwargs):
    tag = uuid.uuid4().hex[:8]
    stream, bucket, fh_name = f"tel-{tag}", f"tel-bucket-{tag}", f"fh-{tag}"
    kin, s3 = aws("kinesis"), aws("s3")
    kin.create_stream(StreamName=stream, ShardCount=2)
    arn = kin.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    s3.create_bucket(Bucket=bucket)
    req = create_delivery_stream_request(arn, f"arn:aws:s3:::{bucket}", ROLE, name=fh_name, **delivery_kwargs)
    return stream, bucket, fh_name, req


def objects(s3, bucket, prefix=""):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def lines(body, key):
    if key.endswith(".gz"):
        body = gzip.decompress(body)
    return [json.loads(x) for x in body.decode().splitlines() if x]


def test_kinesis_records_land_partitioned_gzip_ndjson(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws)
    aws("firehose").create_delivery_stream(**req)
    sent = [events.stage_event(f"st-{i}", "run_inference", success=True, processing_time_ms=i) for i in range(40)]
    sent += [events.performance_record(f"st-{i}", status="SUCCESS", processing_time_ms=1000 + i) for i in range(5)]
    prod = TelemetryProducer(aws("kinesis"), stream, flush_at_exit=False)
    assert prod.send(sent).ok

    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url)
    fwd.poll_once()  # default hints (64 MiB / 60 s): nothing is due yet
    assert objects(aws("s3"), bucket) == {}
    stats = fwd.flush()
    assert stats["delivery_streams"][fh_name]["records"] == 45

    objs = objects(aws("s3"), bucket)
    now = datetime.now(timezone.utc)
    got = {"event": [], "performance": []}
    for key, body in objs.items():
        assert key.endswith(".gz") and f"/{fh_name}-1-" in key
        parts = key.split("/")
        assert parts[0] == "raw_telemetry" and parts[1].startswith("record_type=")
        # partitioned by arrival time (a minute ago at most; the date may have just turned)
        assert "/".join(parts[2:4]) in {f"dt={t:%Y-%m-%d}/hour={t:%H}" for t in (now, now - timedelta(minutes=1))}
        rt = parts[1].split("=")[1]
        for rec in lines(body, key):
            assert rec["record_type"] == rt
            got[rt].append(rec)
    assert sorted(r["event_id"] for r in got["event"]) == sorted(r["event_id"] for r in sent[:40])
    assert sorted(r["event_id"] for r in got["performance"]) == sorted(r["event_id"] for r in sent[40:])

    # nothing is delivered twice
    fwd.flush()
    assert len(objects(aws("s3"), bucket)) == len(objs)


def test_size_hint_triggers_delivery_without_flush(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws, buffer_size_mb=1, buffer_interval_s=900,
                                                  compression="UNCOMPRESSED")
    aws("firehose").create_delivery_stream(**req)
    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url)
    fwd.poll_once()
    big = [dict(events.stage_event("st-big", "prepare_tensors", success=True, processing_time_ms=1),
                pipeline_version="v" * 200_000) for _ in range(7)]  # 1.4 MB > 1 MiB
    TelemetryProducer(aws("kinesis"), stream, flush_at_exit=False).send(big)
    fwd.poll_once()
    objs = objects(aws("s3"), bucket)
    assert len(objs) == 1
    (key, body), = objs.items()
    assert not key.endswith(".gz") and len(lines(body, key)) in (5, 6)  # delivered once >= 1 MiB buffered
    fwd.flush()
    assert sum(len(lines(b, k)) for k, b in objects(aws("s3"), bucket).items()) == 7


def test_interval_hint_triggers_delivery(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws, buffer_interval_s=1)
    aws("firehose").create_delivery_stream(**req)
    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url)
    TelemetryProducer(aws("kinesis"), stream, flush_at_exit=False).send(
        [events.stage_event("st-1", "store_results", success=True, processing_time_ms=3)])
    fwd.poll_once()
    assert objects(aws("s3"), bucket) == {}
    time.sleep(1.1)
    fwd.poll_once()
    assert len(objects(aws("s3"), bucket)) == 1


def test_unparseable_records_go_to_error_prefix(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws)
    aws("firehose").create_delivery_stream(**req)
    aws("kinesis").put_record(StreamName=stream, Data=b"not json\n", PartitionKey="x")
    aws("kinesis").put_record(StreamName=stream, Data=b'{"no_record_type": 1}\n', PartitionKey="x")
    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url)
    stats = fwd.flush()
    assert stats["delivery_streams"][fh_name]["error_records"] == 2
    objs = objects(aws("s3"), bucket)
    assert all(k.startswith("raw_telemetry_errors/partitioning-failed/dt=") for k in objs)
    docs = [d for k, b in objs.items() for d in lines(b, k)]
    assert {d["errorCode"] for d in docs} == {"DynamicPartitioning.MetadataExtractionFailed"}


def test_default_prefix_uncompressed_and_delimiter(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws)
    dest = req["ExtendedS3DestinationConfiguration"]
    for k in ("Prefix", "ErrorOutputPrefix", "DynamicPartitioningConfiguration"):
        dest.pop(k)
    dest["CompressionFormat"] = "UNCOMPRESSED"
    dest["ProcessingConfiguration"] = {"Enabled": True, "Processors": [
        {"Type": "AppendDelimiterToRecord", "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]}]}
    aws("firehose").create_delivery_stream(**req)
    for i in range(3):
        aws("kinesis").put_record(StreamName=stream, Data=json.dumps({"i": i}).encode(), PartitionKey="p")
    FirehoseForwarder(aws("s3").meta.endpoint_url).flush()
    (key, body), = objects(aws("s3"), bucket).items()
    assert key[:14] == datetime.now(timezone.utc).strftime("%Y/%m/%d/%H/")
    assert sorted(json.loads(x)["i"] for x in body.decode().splitlines()) == [0, 1, 2]


def test_unsupported_configuration_is_reported(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws)
    req["ExtendedS3DestinationConfiguration"]["CompressionFormat"] = "Snappy"
    aws("firehose").create_delivery_stream(**req)
    aws("kinesis").put_record(StreamName=stream, Data=b"{}\n", PartitionKey="p")
    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url)
    stats = fwd.flush()
    assert fh_name in stats["unsupported"]
    assert any("Snappy" in e for e in fwd.errors)
    assert objects(aws("s3"), bucket) == {}


def test_background_thread_and_stop_flushes(aws):
    stream, bucket, fh_name, req = setup_pipeline(aws)
    aws("firehose").create_delivery_stream(**req)
    fwd = FirehoseForwarder(aws("s3").meta.endpoint_url, poll_interval_s=0.05).start()
    try:
        TelemetryProducer(aws("kinesis"), stream, flush_at_exit=False).send(
            [events.stage_event(f"st-{i}", "validate_metadata", success=True, processing_time_ms=i) for i in range(10)])
    finally:
        fwd.stop()
    assert sum(len(lines(b, k)) for k, b in objects(aws("s3"), bucket).items()) == 10


def test_java_time_format_and_prefix_rendering():
    ts = datetime(2026, 3, 4, 5, 6, 7, 89000, tzinfo=timezone.utc)
    assert java_time_format("yyyy-MM-dd'T'HH:mm:ss.SSS", ts) == "2026-03-04T05:06:07.089"
    assert java_time_format("yy/DDD '' 'at'", ts) == "26/063 ' at"
    with pytest.raises(FirehoseConfigurationUnsupported):
        java_time_format("yyyy-ww", ts)
    assert parse_metadata_query("{a:.x, b : .y.z}") == {"a": ["x"], "b": ["y", "z"]}
    with pytest.raises(FirehoseConfigurationUnsupported):
        parse_metadata_query("{a: .x | ascii_downcase}")
    assert render_prefix("r=!{partitionKeyFromQuery:a}/dt=!{timestamp:yyyy-MM-dd}/", ts, {"a": "event"}) == \
        "r=event/dt=2026-03-04/"
    with pytest.raises(FirehoseConfigurationUnsupported):
        render_prefix("!{partitionKeyFromLambda:a}/", ts, {})


def test_told_of_puts_it_reads_only_when_a_delivery_is_due(monkeypatch):
    """In the emulator the forwarder is told of every put (notify_put) instead of polling: nothing is
    read while nothing is produced, and records are delivered when the interval has passed."""
    import boto3

    from support.moto_server import client_factory, running_moto_server

    with running_moto_server() as endpoint:  # an account of its own: no other test's streams to read
        aws = client_factory(endpoint, monkeypatch)
        _delivered_when_due(aws, endpoint, boto3.session.Session(aws_access_key_id="testing",
                                                                 aws_secret_access_key="testing",
                                                                 region_name="us-east-1"))


def _delivered_when_due(aws, endpoint, session):
    stream, bucket, fh_name, req = setup_pipeline(aws, buffer_interval_s=1)
    aws("firehose").create_delivery_stream(**req)
    reads = []
    session.events.register("before-call.kinesis.GetRecords", lambda **_: reads.append(time.monotonic()))
    fwd = FirehoseForwarder(endpoint, session=session, poll_interval_s=0.05, event_driven=True).start()
    try:
        # The first pass discovers the delivery stream and reads its (empty) shards, however long a loaded
        # machine makes it take; then a quiet 0.6 s must follow (polling every 0.05 s never leaves one).
        deadline, started_reads = time.monotonic() + 10, -1
        while len(reads) != started_reads:
            assert time.monotonic() < deadline, "nothing produced, nothing read (but reads kept coming: polling)"
            started_reads = len(reads)
            time.sleep(0.6)
        sent = [events.stage_event(f"st-{i}", "validate_metadata", success=True, processing_time_ms=i) for i in range(10)]
        TelemetryProducer(aws("kinesis"), stream, flush_at_exit=False).send(sent)
        put_at = time.monotonic()
        arn = aws("kinesis").describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
        fwd.notify_put(arn, len(sent), 2000)
        deadline = time.monotonic() + 10
        while not objects(aws("s3"), bucket) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(len(lines(b, k)) for k, b in objects(aws("s3"), bucket).items()) == 10
        after_put = [t for t in reads if t >= put_at]
        assert after_put and min(after_put) >= put_at + 0.9, "read when the 1 s interval since the put had passed"
        assert len(after_put) <= 4, "one read per delivery (a GetRecords page per shard), not one per poll"
    finally:
        fwd.stop()
