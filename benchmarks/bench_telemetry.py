"""Telemetry producer throughput: batched PutRecords vs one PutRecord per event, in one run.

Runs against a moto server started here on a free port (its own process), so both numbers share
the same machine state. Also times the emulator's Firehose forwarder delivering the batch to S3.
Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_telemetry.py [--single N] [--batched N] [--shards S]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request

import boto3

from radstream.tooling.stack.embedded import free_port
from radstream.emulator.firehose_forwarder import FirehoseForwarder
from radstream.deployed.telemetry import events
from radstream.definition.firehose import create_delivery_stream_request
from radstream.deployed.telemetry.events import encode
from radstream.deployed.telemetry.producer import TelemetryProducer


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", MOTO_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def make_events(n: int, tag: str) -> list[dict]:
    comps = ["validate_metadata", "prepare_tensors", "run_inference", "store_results", "send_telemetry"]
    return [events.stage_event(f"{tag}-{i // 5:06d}", comps[i % 5], success=True, processing_time_ms=i % 400,
                               memory_used_mb=180.0, memory_limit_mb=1024, cold_start=False) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--single", type=int, default=1000, help="events sent one PutRecord each")
    ap.add_argument("--batched", type=int, default=20000, help="events sent through TelemetryProducer")
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args()

    proc, url = start_moto()
    try:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        kin, s3, fh = (session.client(s, endpoint_url=url) for s in ("kinesis", "s3", "firehose"))
        kin.create_stream(StreamName="bench", ShardCount=args.shards)
        arn = kin.describe_stream(StreamName="bench")["StreamDescription"]["StreamARN"]
        s3.create_bucket(Bucket="bench-telemetry")
        fh.create_delivery_stream(**create_delivery_stream_request(
            arn, "arn:aws:s3:::bench-telemetry", "arn:aws:iam::123456789012:role/x", name="bench-firehose"))
        kin.put_record(StreamName="bench", Data=b"{}\n", PartitionKey="warmup")  # backends loaded

        single = make_events(args.single, "single")
        t0 = time.perf_counter()
        for e in single:
            kin.put_record(StreamName="bench", Data=encode(e), PartitionKey=e["study_id"])
        t_single = time.perf_counter() - t0

        batched = make_events(args.batched, "batched")
        prod = TelemetryProducer(kin, "bench", max_buffer_records=500, flush_at_exit=False)
        t0 = time.perf_counter()
        for e in batched:
            prod.put(e)
        prod.close()
        t_batched = time.perf_counter() - t0
        assert prod.failed_total == 0

        fwd = FirehoseForwarder(url)
        t0 = time.perf_counter()
        stats = fwd.flush()
        t_fwd = time.perf_counter() - t0
        delivered = stats["delivery_streams"]["bench-firehose"]

        size = sum(len(encode(e)) for e in batched) / len(batched)
        print(f"moto server {url}, {args.shards} shard(s), mean record {size:.0f} bytes")
        print(f"one PutRecord per event : {args.single:>7,} events in {t_single:7.2f} s = {args.single / t_single:>9,.0f} events/s")
        print(f"batched PutRecords (500): {args.batched:>7,} events in {t_batched:7.2f} s = {args.batched / t_batched:>9,.0f} events/s"
              f"  ({prod.sent_total:,} sent, {prod.failed_total} failed)")
        print(f"speed-up batching vs single: {(args.batched / t_batched) / (args.single / t_single):.1f}x")
        print(f"forwarder flush: {delivered['records']:,} records -> {delivered['objects']} GZIP object(s) in "
              f"{t_fwd:.2f} s = {delivered['records'] / t_fwd:,.0f} records/s")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
