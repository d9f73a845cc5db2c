"""Kinesis -> Firehose -> S3 delivery for the embedded emulator.

moto stores Firehose delivery streams with a Kinesis-stream source but never reads the stream. This
module does that job, the way Firehose does on AWS, against the emulator's own endpoint:

* discovers delivery streams whose type is ``KinesisStreamAsSource`` (``list_delivery_streams`` +
  ``describe_delivery_stream``), re-checking every few seconds so streams deployed later are picked up;
* in the emulator it is told of every put (``event_driven=True`` + :meth:`FirehoseForwarder.notify_put`,
  called by the emulator's Kinesis listener) and reads a stream only when a delivery is due (the
  buffered bytes would reach the size hint, or the oldest unread put is as old as the interval):
  no requests at all while nothing is produced, one read per delivery under load. Without
  notifications (``event_driven=False``) it polls every ``poll_interval_s``;
* reads every shard of the source stream with ``get_records`` from ``TRIM_HORIZON`` (the emulator's
  state is in memory, so nothing older than the emulator exists; AWS starts at LATEST when the
  delivery stream is created -- deploy the Firehose before producing) and keeps its own iterators;
* buffers per delivery stream and delivers when the buffered bytes reach ``BufferingHints.SizeInMBs``
  or the oldest buffered record is ``IntervalInSeconds`` old (or on :meth:`FirehoseForwarder.flush`);
* compresses with ``CompressionFormat`` ``GZIP`` or ``UNCOMPRESSED`` (others are refused, logged);
* renders each record's S3 prefix from the delivery stream's configuration (``firehose_config``:
  timestamp and partition-key namespaces), at the record's Kinesis approximate arrival time in UTC
  or ``CustomTimeZone``;
* writes objects named ``<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]`` whose body is
  the records concatenated as they are (Firehose adds no separator; RadStream's producer ends every
  record with ``\\n``; an ``AppendDelimiterToRecord`` processor is honoured);
* records that fail partition-key extraction go to ``ErrorOutputPrefix`` as Firehose's JSON error
  documents (``rawData`` base64, ``errorCode``, ``errorMessage``) with error-output-type
  ``partitioning-failed``.

Unsupported configuration (Lambda processors, record format conversion, other compressions,
``partitionKeyFromLambda``; detected by ``firehose_config``) is reported in
:attr:`FirehoseForwarder.errors` and logged at ERROR level; that delivery stream is skipped rather
than delivered wrongly.

Usage inside the emulator process::

    fwd = FirehoseForwarder("http://127.0.0.1:4566", "us-east-1")
    fwd.start()          # daemon thread (polls; event_driven=True waits for notify_put instead)
    fwd.flush()          # deliver everything produced so far (admin endpoint / tests)
    fwd.stop()           # flushes and joins

From another process: POST ``/_radstream/flush`` (the emulator's admin route).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from radstream.emulator.stats import EMULATOR_USER_AGENT
from radstream.emulator.firehose_config import (DeliveryStreamConfig, FirehoseConfigurationUnsupported, extract_keys,
                                                parse_delivery_stream)

log = logging.getLogger("radstream.emulator.firehose")


# -- per delivery stream state ----------------------------------------------------------------
@dataclass
class _Record:
    data: bytes
    arrival: datetime


@dataclass
class _Delivery:
    """One delivery stream: its configuration and how far the forwarder has got with it."""

    config: DeliveryStreamConfig
    iterators: dict[str, str] = field(default_factory=dict)
    last_seq: dict[str, str] = field(default_factory=dict)
    buffer: list[_Record] = field(default_factory=list)
    buffered_bytes: int = 0
    first_buffered_at: float | None = None
    delivered_objects: int = 0
    delivered_records: int = 0
    error_records: int = 0


class FirehoseForwarder:
    """Reads Kinesis-sourced delivery streams' shards and delivers to S3 like Firehose."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1", *, poll_interval_s: float = 0.25,
                 discover_interval_s: float = 2.0, session: Any = None, event_driven: bool = False):
        self.endpoint_url = endpoint_url
        self.region = region
        self.poll_interval_s = poll_interval_s
        self.discover_interval_s = discover_interval_s
        self._session = session
        self._clients: dict[str, Any] = {}
        self._deliveries: dict[str, _Delivery] = {}
        self._unsupported: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_discovery = 0.0
        self._last_logged: dict[str, float] = {}
        self.event_driven = event_driven
        self._wakeup = threading.Event()
        self._pending_lock = threading.Lock()
        self._pending: dict[str, list] = {}  # source stream name -> [monotonic time of oldest unread put, bytes]

    # -- clients --------------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = self._session or boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region)
            self._clients[service] = session.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                              user_agent_extra=EMULATOR_USER_AGENT))
        return self._clients[service]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FirehoseForwarder":
        if self._thread and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="radstream-firehose-forwarder", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush: bool = True, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
        if flush:
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the emulator is shutting down; say so and go
                log.exception("firehose forwarder: final flush failed")

    def notify_put(self, stream_arn: str, records: int, data_bytes: int) -> None:
        """``records`` (``data_bytes`` in all) were put on ``stream_arn``: wake up if a delivery is due."""
        name = stream_arn.rsplit("/", 1)[-1]
        with self._pending_lock:
            entry = self._pending.setdefault(name, [time.monotonic(), 0])
            entry[1] += data_bytes
        self._wakeup.set()

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if self.event_driven and not first:  # the first pass discovers the delivery streams
                self._wakeup.wait(self._seconds_until_due())
                self._wakeup.clear()
                if self._stop.is_set() or self._seconds_until_due() != 0.0:
                    continue
            first = False
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep forwarding; report
                self._error(f"poll failed: {type(exc).__name__}: {exc}")
            self._stop.wait(self.poll_interval_s)  # at most one read per interval, even when S3 refuses

    def _seconds_until_due(self) -> float | None:
        """0 when a read is due now, else how long until one is (None: nothing to wait for)."""
        now = time.monotonic()
        with self._pending_lock:
            pending = {name: tuple(entry) for name, entry in self._pending.items()}
        with self._lock:
            deliveries = list(self._deliveries.values())
        waits = []
        for d in deliveries:
            first, unread = pending.pop(d.config.stream_name, (None, 0))
            if d.buffered_bytes + unread >= d.config.size_bytes:
                return 0.0
            oldest = min(t for t in (first, d.first_buffered_at) if t is not None) \
                if first is not None or d.first_buffered_at is not None else None
            if oldest is not None:
                waits.append(oldest + d.config.interval_s - now)
        if pending:  # puts on a stream no known delivery reads: a delivery stream may be new
            waits.append(self._last_discovery + self.discover_interval_s - now)
        return max(0.0, min(waits)) if waits else None

    def _error(self, msg: str) -> None:
        now = time.monotonic()
        if self._last_logged.get(msg, -1e9) + 60.0 <= now:  # the same error at most once a minute
            log.error("firehose forwarder: %s", msg)
            self._last_logged[msg] = now
        if not self.errors or self.errors[-1] != msg:
            self.errors.append(msg)
            del self.errors[:-100]

    # -- work -----------------------------------------------------------------------------
    def discover(self) -> None:
        fh = self._client("firehose")
        names: list[str] = []
        kwargs: dict[str, Any] = {"Limit": 100, "DeliveryStreamType": "KinesisStreamAsSource"}
        while True:
            resp = fh.list_delivery_streams(**kwargs)
            names.extend(resp.get("DeliveryStreamNames") or [])
            if not resp.get("HasMoreDeliveryStreams") or not names:
                break
            kwargs["ExclusiveStartDeliveryStreamName"] = names[-1]
        with self._lock:
            for gone in set(self._deliveries) - set(names):
                self._deliveries.pop(gone, None)
            for name in names:
                if name in self._deliveries or name in self._unsupported:
                    continue
                desc = fh.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]
                if desc.get("DeliveryStreamType") != "KinesisStreamAsSource":
                    continue
                try:
                    config = parse_delivery_stream(desc)
                    self._deliveries[name] = _Delivery(config)
                    log.info("firehose forwarder: delivering %s -> s3://%s/%s", name, config.bucket, config.prefix)
                except FirehoseConfigurationUnsupported as exc:
                    self._unsupported.add(name)
                    self._error(f"delivery stream {name} skipped: {exc}")
            self._last_discovery = time.monotonic()
            known = {d.config.stream_name for d in self._deliveries.values()}
            with self._pending_lock:  # puts no delivery stream reads stay unread, as on AWS
                for stream in set(self._pending) - known:
                    del self._pending[stream]

    def _list_shards(self, d: _Delivery) -> None:
        """Start an iterator (TRIM_HORIZON) for every shard not seen before (new or after resharding)."""
        kin = self._client("kinesis")
        kwargs: dict[str, Any] = {"StreamName": d.config.stream_name}
        while True:
            resp = kin.list_shards(**kwargs)
            for shard in resp.get("Shards") or []:
                sid = shard["ShardId"]
                if sid not in d.iterators:
                    d.iterators[sid] = kin.get_shard_iterator(
                        StreamName=d.config.stream_name, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            if not resp.get("NextToken"):
                break
            kwargs = {"NextToken": resp["NextToken"]}

    def _read_shards(self, d: _Delivery, list_shards: bool = False) -> None:
        kin = self._client("kinesis")
        with self._pending_lock:  # taken before reading: a put during the read is noticed next time
            first_put = (self._pending.pop(d.config.stream_name, None) or [None])[0]
        if list_shards or not d.iterators:
            self._list_shards(d)
        for sid in list(d.iterators):
            while d.iterators.get(sid):
                try:
                    resp = kin.get_records(ShardIterator=d.iterators[sid], Limit=10000)
                except kin.exceptions.ExpiredIteratorException:
                    last = d.last_seq.get(sid)
                    d.iterators[sid] = kin.get_shard_iterator(
                        StreamName=d.config.stream_name, ShardId=sid,
                        **({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last}
                           if last else {"ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]
                    continue
                recs = resp.get("Records") or []
                d.iterators[sid] = resp.get("NextShardIterator")  # None once a closed shard is drained
                for r in recs:
                    arrival = r.get("ApproximateArrivalTimestamp") or datetime.now(timezone.utc)
                    if isinstance(arrival, (int, float)):
                        arrival = datetime.fromtimestamp(arrival, timezone.utc)
                    if arrival.tzinfo is None:
                        arrival = arrival.replace(tzinfo=timezone.utc)
                    data = r["Data"]
                    if d.config.append_delimiter:
                        data += d.config.append_delimiter.encode()
                    if not d.buffer:
                        d.first_buffered_at = min(first_put or time.monotonic(), time.monotonic())
                    d.buffer.append(_Record(data, arrival))
                    d.buffered_bytes += len(data)
                    d.last_seq[sid] = r["SequenceNumber"]
                    if d.buffered_bytes >= d.config.size_bytes:
                        self._deliver(d)
                if not recs:
                    break

    def poll_once(self) -> None:
        """One cycle: (re)discover when due, read new records, deliver buffers that are due."""
        with self._lock:
            rediscover = time.monotonic() - self._last_discovery >= self.discover_interval_s or not self._deliveries
            if rediscover:
                self.discover()
            for d in list(self._deliveries.values()):
                try:
                    self._read_shards(d, list_shards=rediscover)
                except Exception as exc:  # noqa: BLE001
                    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                    if code in ("ResourceNotFoundException", "InvalidArgumentException"):
                        d.iterators.clear()  # stream (re)created: start over on its shards at the next cycle
                    self._error(f"{d.config.name}: reading stream {d.config.stream_name} failed: "
                                f"{type(exc).__name__}: {exc}")
                    continue
                if d.buffer and d.first_buffered_at is not None and \
                        time.monotonic() - d.first_buffered_at >= d.config.interval_s:
                    self._deliver(d)

    def flush(self) -> dict[str, Any]:
        """Read everything in the streams now and deliver all buffers regardless of the hints."""
        with self._lock:
            self.discover()
            for d in self._deliveries.values():
                self._read_shards(d, list_shards=True)
                if d.buffer:
                    self._deliver(d)
            return self.stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "delivery_streams": {
                    n: {"bucket": d.config.bucket, "objects": d.delivered_objects, "records": d.delivered_records,
                        "error_records": d.error_records, "buffered_records": len(d.buffer)}
                    for n, d in self._deliveries.items()},
                "unsupported": sorted(self._unsupported),
                "errors": list(self.errors[-10:]),
            }

    def _deliver(self, d: _Delivery) -> None:
        records, d.buffer, d.buffered_bytes, d.first_buffered_at = d.buffer, [], 0, None
        groups: dict[str, list[_Record]] = {}
        errors: dict[str, list[_Record]] = {}
        for r in records:
            ts = r.arrival.astimezone(d.config.tz)
            keys = None
            try:
                if d.config.partition_paths is not None:
                    keys = extract_keys(d.config.partition_paths, r.data)
                prefix = d.config.record_prefix(ts, keys)
            except (ValueError, json.JSONDecodeError) as exc:
                eprefix = d.config.error_output_prefix(ts, "partitioning-failed")
                doc = {"attemptsMade": 1, "arrivalTimestamp": int(r.arrival.timestamp() * 1000),
                       "errorCode": "DynamicPartitioning.MetadataExtractionFailed",
                       "errorMessage": str(exc), "attemptEndingTimestamp": int(time.time() * 1000),
                       "rawData": base64.b64encode(r.data).decode(), "esDocumentId": None}
                errors.setdefault(eprefix, []).append(_Record((json.dumps(doc) + "\n").encode(), r.arrival))
                continue
            groups.setdefault(prefix, []).append(r)
        s3 = self._client("s3")
        now = datetime.now(d.config.tz)
        for is_error, bucket_groups in ((False, groups), (True, errors)):
            for prefix, chunks in bucket_groups.items():
                body = b"".join(c.data for c in chunks)
                if d.config.compression == "GZIP":
                    body = gzip.compress(body, compresslevel=6)
                key = d.config.object_key(prefix, now)
                try:
                    s3.put_object(Bucket=d.config.bucket, Key=key, Body=body)
                except Exception as exc:  # noqa: BLE001 - put the records back and report
                    self._error(f"{d.config.name}: writing s3://{d.config.bucket}/{key} failed: "
                                f"{type(exc).__name__}: {exc}; records kept for the next attempt")
                    if not is_error:
                        d.buffer.extend(chunks)
                        d.buffered_bytes += sum(len(c.data) for c in chunks)
                        d.first_buffered_at = d.first_buffered_at or time.monotonic()
                    continue
                d.delivered_objects += 1
                if is_error:
                    d.error_records += len(chunks)
                else:
                    d.delivered_records += len(chunks)
