"""Kinesis -> Firehose -> S3 delivery for the embedded emulator.

moto stores Firehose delivery streams with a Kinesis-stream source but never reads the stream. This
module does that job, the way Firehose does on AWS, against the emulator's own endpoint:

* discovers delivery streams whose type is ``KinesisStreamAsSource`` (``list_delivery_streams`` +
  ``describe_delivery_stream``), re-checking every few seconds so streams deployed later are picked up;
* reads every shard of the source stream with ``get_records`` from ``TRIM_HORIZON`` (the emulator's
  state is in memory, so nothing older than the emulator exists; AWS starts at LATEST when the
  delivery stream is created -- deploy the Firehose before producing) and keeps its own iterators;
* buffers per delivery stream and delivers when the buffered bytes reach ``BufferingHints.SizeInMBs``
  or the oldest buffered record is ``IntervalInSeconds`` old (or on :meth:`FirehoseForwarder.flush`);
* compresses with ``CompressionFormat`` ``GZIP`` or ``UNCOMPRESSED`` (others are refused, logged);
* evaluates the S3 prefix namespaces ``!{timestamp:<Java DateTimeFormatter pattern>}`` (UTC, or
  ``CustomTimeZone``), ``!{partitionKeyFromQuery:key}`` (dynamic partitioning with a JQ
  ``MetadataExtractionQuery`` made of simple paths, e.g. ``{record_type:.record_type}``),
  ``!{firehose:random-string}`` and, in ``ErrorOutputPrefix``, ``!{firehose:error-output-type}``;
  the timestamp is each record's Kinesis approximate arrival time;
* writes objects named ``<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[.gz]`` whose body is
  the records concatenated as they are (Firehose adds no separator; RadStream's producer ends every
  record with ``\\n``; an ``AppendDelimiterToRecord`` processor is honoured);
* records that fail partition-key extraction go to ``ErrorOutputPrefix`` as Firehose's JSON error
  documents (``rawData`` base64, ``errorCode``, ``errorMessage``) with error-output-type
  ``partitioning-failed``.

Unsupported configuration (Lambda processors, record format conversion, other compressions,
``partitionKeyFromLambda``) is reported in :attr:`FirehoseForwarder.errors` and logged at ERROR level;
that delivery stream is skipped rather than delivered wrongly.

Usage inside the emulator process::

    fwd = FirehoseForwarder("http://127.0.0.1:4566", "us-east-1")
    fwd.start()          # daemon thread
    fwd.flush()          # deliver everything produced so far (admin endpoint / tests)
    fwd.stop()           # flushes and joins

From another process: POST ``/_radstream/flush`` (the emulator's admin route).
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

log = logging.getLogger("radstream.emulator.firehose")

MIB = 1024 * 1024


class FirehoseConfigurationUnsupported(Exception):
    """The delivery stream uses a Firehose feature the emulator does not implement."""


# -- Java DateTimeFormatter subset ------------------------------------------------------------
_JAVA_FIELDS = {
    "yyyy": "%Y", "uuuu": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S",
    "DDD": "%j", "MMM": "%b", "EEE": "%a",
}


def java_time_format(pattern: str, ts: datetime) -> str:
    """Format ``ts`` with a Java DateTimeFormatter pattern (the subset Firehose prefixes use).

    Letters must be one of yyyy uuuu yy MM MMM dd DDD HH mm ss SSS EEE; text in single quotes is literal
    (``''`` is a quote). Anything else raises :class:`FirehoseConfigurationUnsupported`.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            j = pattern.find("'", i + 1)
            if j == -1:
                raise FirehoseConfigurationUnsupported(f"unterminated quote in timestamp pattern {pattern!r}")
            out.append("'" if j == i + 1 else pattern[i + 1:j])
            i = j + 1
        elif c.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == c:
                j += 1
            token = pattern[i:j]
            if token == "SSS":
                out.append(f"{ts.microsecond // 1000:03d}")
            elif token in _JAVA_FIELDS:
                out.append(ts.strftime(_JAVA_FIELDS[token]))
            else:
                raise FirehoseConfigurationUnsupported(
                    f"timestamp pattern letter run {token!r} in {pattern!r} is not supported by the emulator "
                    f"(supported: {sorted(_JAVA_FIELDS) + ['SSS']})")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


_NS = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
_JQ_ITEM = re.compile(r"^\s*\"?([A-Za-z_][A-Za-z0-9_]*)\"?\s*:\s*((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*$")


def parse_metadata_query(query: str) -> dict[str, list[str]]:
    """``{record_type:.record_type, y:.a.b}`` -> ``{"record_type": ["record_type"], "y": ["a","b"]}``."""
    q = query.strip()
    if not (q.startswith("{") and q.endswith("}")):
        raise FirehoseConfigurationUnsupported(
            f"MetadataExtractionQuery {query!r}: the emulator supports only JQ objects of simple paths, "
            "e.g. {key:.field, other:.a.b}")
    keys: dict[str, list[str]] = {}
    for item in filter(None, (p.strip() for p in q[1:-1].split(","))):
        m = _JQ_ITEM.match(item)
        if not m:
            raise FirehoseConfigurationUnsupported(
                f"MetadataExtractionQuery item {item!r} is not a simple path (key:.field) the emulator supports")
        keys[m.group(1)] = m.group(2).split(".")[1:]
    return keys


def extract_keys(paths: dict[str, list[str]], data: bytes) -> dict[str, str]:
    """Evaluate the parsed query on one record; raises ValueError when the record has no such field."""
    doc = json.loads(data)
    out = {}
    for key, path in paths.items():
        v: Any = doc
        for part in path:
            if not isinstance(v, dict) or part not in v:
                raise ValueError(f"field .{'.'.join(path)} not found in record")
            v = v[part]
        if v is None or isinstance(v, (dict, list)):
            raise ValueError(f"field .{'.'.join(path)} is null or not a scalar")
        out[key] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def render_prefix(prefix: str, ts: datetime, keys: dict[str, str] | None = None,
                  error_output_type: str | None = None) -> str:
    def sub(m: re.Match) -> str:
        ns, arg = m.group(1), m.group(2)
        if ns == "timestamp":
            return java_time_format(arg, ts)
        if ns == "partitionKeyFromQuery":
            if keys is None or arg not in keys:
                raise ValueError(f"partition key {arg!r} not extracted")
            return keys[arg]
        if ns == "firehose" and arg == "random-string":
            return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(11))
        if ns == "firehose" and arg == "error-output-type":
            if error_output_type is None:
                raise FirehoseConfigurationUnsupported("!{firehose:error-output-type} is only valid in ErrorOutputPrefix")
            return error_output_type
        raise FirehoseConfigurationUnsupported(f"prefix namespace !{{{ns}:{arg}}} is not supported by the emulator")

    return _NS.sub(sub, prefix)


# -- per delivery stream state ----------------------------------------------------------------
@dataclass
class _Record:
    data: bytes
    arrival: datetime


@dataclass
class _Delivery:
    name: str
    version: str
    stream_name: str
    bucket: str
    prefix: str
    error_prefix: str
    size_bytes: int
    interval_s: float
    compression: str
    tz: tzinfo
    partition_paths: dict[str, list[str]] | None
    append_delimiter: str | None
    file_extension: str
    iterators: dict[str, str] = field(default_factory=dict)
    last_seq: dict[str, str] = field(default_factory=dict)
    buffer: list[_Record] = field(default_factory=list)
    buffered_bytes: int = 0
    first_buffered_at: float | None = None
    delivered_objects: int = 0
    delivered_records: int = 0
    error_records: int = 0


def _bucket_from_arn(arn: str) -> str:
    return arn.split(":::", 1)[1] if ":::" in arn else arn


def parse_delivery_stream(desc: dict[str, Any]) -> _Delivery:
    """Build the forwarder's view of a ``describe_delivery_stream`` description (or raise Unsupported)."""
    name = desc["DeliveryStreamName"]
    src = (desc.get("Source") or {}).get("KinesisStreamSourceDescription") or {}
    stream_arn = src.get("KinesisStreamARN")
    if not stream_arn:
        raise FirehoseConfigurationUnsupported(f"{name}: no Kinesis stream source")
    dests = desc.get("Destinations") or []
    if not dests:
        raise FirehoseConfigurationUnsupported(f"{name}: no destination")
    d = dests[0].get("ExtendedS3DestinationDescription") or dests[0].get("S3DestinationDescription")
    if not d:
        raise FirehoseConfigurationUnsupported(f"{name}: only S3 destinations are emulated")
    if (d.get("DataFormatConversionConfiguration") or {}).get("Enabled"):
        raise FirehoseConfigurationUnsupported(f"{name}: record format conversion (Parquet/ORC) is not emulated")
    compression = d.get("CompressionFormat") or "UNCOMPRESSED"
    if compression not in ("GZIP", "UNCOMPRESSED"):
        raise FirehoseConfigurationUnsupported(
            f"{name}: CompressionFormat {compression} is not emulated (use GZIP or UNCOMPRESSED)")
    hints = d.get("BufferingHints") or {}
    dyn = (d.get("DynamicPartitioningConfiguration") or {}).get("Enabled", False)
    paths = None
    delimiter = None
    proc = d.get("ProcessingConfiguration") or {}
    if proc.get("Enabled"):
        for p in proc.get("Processors") or []:
            params = {x["ParameterName"]: x["ParameterValue"] for x in p.get("Parameters") or []}
            if p.get("Type") == "MetadataExtraction":
                paths = parse_metadata_query(params.get("MetadataExtractionQuery", ""))
            elif p.get("Type") == "AppendDelimiterToRecord":
                delimiter = params.get("Delimiter", "\\n").encode().decode("unicode_escape")
            else:
                raise FirehoseConfigurationUnsupported(f"{name}: processor type {p.get('Type')} is not emulated")
    prefix = d.get("Prefix") or ""
    if "partitionKeyFromQuery" in prefix and not (dyn and paths):
        raise FirehoseConfigurationUnsupported(
            f"{name}: prefix uses partitionKeyFromQuery but dynamic partitioning/MetadataExtraction is not enabled")
    if "partitionKeyFromLambda" in prefix:
        raise FirehoseConfigurationUnsupported(f"{name}: partitionKeyFromLambda is not emulated")
    tz: tzinfo = timezone.utc
    if d.get("CustomTimeZone") and d["CustomTimeZone"].upper() != "UTC":
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(d["CustomTimeZone"])
    delivery = _Delivery(
        name=name, version=str(desc.get("VersionId") or "1"), stream_name=stream_arn.rsplit("/", 1)[-1],
        bucket=_bucket_from_arn(d["BucketARN"]), prefix=prefix, error_prefix=d.get("ErrorOutputPrefix") or "",
        size_bytes=int(float(hints.get("SizeInMBs", 5)) * MIB), interval_s=float(hints.get("IntervalInSeconds", 300)),
        compression=compression, tz=tz, partition_paths=paths if dyn else None, append_delimiter=delimiter,
        file_extension=d.get("FileExtension") or (".gz" if compression == "GZIP" else ""))
    # validate the prefixes now, so configuration errors surface at discovery, not at delivery
    now = datetime.now(tz)
    keys = {k: "x" for k in (paths or {})}
    render_prefix(prefix, now, keys)
    render_prefix(delivery.error_prefix or "errors/", now, keys, "processing-failed")
    return delivery


class FirehoseForwarder:
    """Reads Kinesis-sourced delivery streams' shards and delivers to S3 like Firehose."""

    def __init__(self, endpoint_url: str, region: str = "us-east-1", *, poll_interval_s: float = 0.25,
                 discover_interval_s: float = 2.0, session: Any = None):
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

    # -- clients --------------------------------------------------------------------------
    def _client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            session = self._session or boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region)
            self._clients[service] = session.client(
                service, endpoint_url=self.endpoint_url, region_name=self.region,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30))
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
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
        if flush:
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the emulator is shutting down; say so and go
                log.exception("firehose forwarder: final flush failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - keep forwarding; report
                self._error(f"poll failed: {type(exc).__name__}: {exc}")
            self._stop.wait(self.poll_interval_s)

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
                    self._deliveries[name] = parse_delivery_stream(desc)
                    log.info("firehose forwarder: delivering %s -> s3://%s/%s", name,
                             self._deliveries[name].bucket, self._deliveries[name].prefix)
                except FirehoseConfigurationUnsupported as exc:
                    self._unsupported.add(name)
                    self._error(f"delivery stream {name} skipped: {exc}")
            self._last_discovery = time.monotonic()

    def _list_shards(self, d: _Delivery) -> None:
        """Start an iterator (TRIM_HORIZON) for every shard not seen before (new or after resharding)."""
        kin = self._client("kinesis")
        kwargs: dict[str, Any] = {"StreamName": d.stream_name}
        while True:
            resp = kin.list_shards(**kwargs)
            for shard in resp.get("Shards") or []:
                sid = shard["ShardId"]
                if sid not in d.iterators:
                    d.iterators[sid] = kin.get_shard_iterator(
                        StreamName=d.stream_name, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            if not resp.get("NextToken"):
                break
            kwargs = {"NextToken": resp["NextToken"]}

    def _read_shards(self, d: _Delivery, list_shards: bool = False) -> None:
        kin = self._client("kinesis")
        if list_shards or not d.iterators:
            self._list_shards(d)
        for sid in list(d.iterators):
            while d.iterators.get(sid):
                try:
                    resp = kin.get_records(ShardIterator=d.iterators[sid], Limit=10000)
                except kin.exceptions.ExpiredIteratorException:
                    last = d.last_seq.get(sid)
                    d.iterators[sid] = kin.get_shard_iterator(
                        StreamName=d.stream_name, ShardId=sid,
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
                    if d.append_delimiter:
                        data += d.append_delimiter.encode()
                    if not d.buffer:
                        d.first_buffered_at = time.monotonic()
                    d.buffer.append(_Record(data, arrival))
                    d.buffered_bytes += len(data)
                    d.last_seq[sid] = r["SequenceNumber"]
                    if d.buffered_bytes >= d.size_bytes:
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
                    self._error(f"{d.name}: reading stream {d.stream_name} failed: {type(exc).__name__}: {exc}")
                    continue
                if d.buffer and d.first_buffered_at is not None and \
                        time.monotonic() - d.first_buffered_at >= d.interval_s:
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
                    n: {"bucket": d.bucket, "objects": d.delivered_objects, "records": d.delivered_records,
                        "error_records": d.error_records, "buffered_records": len(d.buffer)}
                    for n, d in self._deliveries.items()},
                "unsupported": sorted(self._unsupported),
                "errors": list(self.errors[-10:]),
            }

    def _object_name(self, d: _Delivery, prefix: str, now: datetime) -> str:
        stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
        return f"{prefix}{d.name}-{d.version}-{stamp}-{uuid.uuid4()}{d.file_extension}"

    def _deliver(self, d: _Delivery) -> None:
        records, d.buffer, d.buffered_bytes, d.first_buffered_at = d.buffer, [], 0, None
        groups: dict[str, list[_Record]] = {}
        errors: dict[str, list[_Record]] = {}
        for r in records:
            ts = r.arrival.astimezone(d.tz)
            keys = None
            try:
                if d.partition_paths is not None:
                    keys = extract_keys(d.partition_paths, r.data)
                prefix = render_prefix(d.prefix, ts, keys) if d.prefix else ts.strftime("%Y/%m/%d/%H/")
            except (ValueError, json.JSONDecodeError) as exc:
                eprefix = render_prefix(d.error_prefix or "", ts, {}, "partitioning-failed") \
                    if d.error_prefix else "partitioning-failed/" + ts.strftime("%Y/%m/%d/%H/")
                doc = {"attemptsMade": 1, "arrivalTimestamp": int(r.arrival.timestamp() * 1000),
                       "errorCode": "DynamicPartitioning.MetadataExtractionFailed",
                       "errorMessage": str(exc), "attemptEndingTimestamp": int(time.time() * 1000),
                       "rawData": base64.b64encode(r.data).decode(), "esDocumentId": None}
                errors.setdefault(eprefix, []).append(_Record((json.dumps(doc) + "\n").encode(), r.arrival))
                continue
            groups.setdefault(prefix, []).append(r)
        s3 = self._client("s3")
        now = datetime.now(d.tz)
        for is_error, bucket_groups in ((False, groups), (True, errors)):
            for prefix, chunks in bucket_groups.items():
                body = b"".join(c.data for c in chunks)
                if d.compression == "GZIP":
                    body = gzip.compress(body, compresslevel=6)
                key = self._object_name(d, prefix, now)
                try:
                    s3.put_object(Bucket=d.bucket, Key=key, Body=body)
                except Exception as exc:  # noqa: BLE001 - put the records back and report
                    self._error(f"{d.name}: writing s3://{d.bucket}/{key} failed: {type(exc).__name__}: {exc}; "
                                "records kept for the next attempt")
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
