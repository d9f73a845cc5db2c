"""What a Firehose delivery stream's configuration means: where each record goes, and how.

Reads a ``describe_delivery_stream`` description into :class:`DeliveryStreamConfig` (Kinesis
source, S3 bucket, ``BufferingHints``, ``CompressionFormat`` GZIP or UNCOMPRESSED, ``CustomTimeZone``,
``FileExtension``, the ``MetadataExtraction`` and ``AppendDelimiterToRecord`` processors) and renders
S3 prefixes the way Firehose does: ``!{timestamp:<Java DateTimeFormatter pattern>}``,
``!{partitionKeyFromQuery:key}`` (dynamic partitioning with a JQ ``MetadataExtractionQuery`` made of
simple paths, e.g. ``{record_type:.record_type}``), ``!{firehose:random-string}`` and, in
``ErrorOutputPrefix``, ``!{firehose:error-output-type}``.

Configuration the emulator does not implement (Lambda processors, record format conversion, other
compressions, ``partitionKeyFromLambda``, other pattern letters or JQ expressions) raises
:class:`FirehoseConfigurationUnsupported` here, at discovery, so that the forwarder
(``firehose_forwarder``) skips the stream rather than delivering it wrongly. No AWS calls, no state.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Any

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


# -- delivery stream configuration ------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryStreamConfig:
    """The parts of one delivery stream's description that decide what the forwarder does."""

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

    def record_prefix(self, ts: datetime, keys: dict[str, str] | None) -> str:
        """The S3 prefix of a record that arrived at ``ts``; without a ``Prefix``, Firehose's default
        ``YYYY/MM/DD/HH/``. Raises ValueError when a partition key is missing from ``keys``."""
        return render_prefix(self.prefix, ts, keys) if self.prefix else ts.strftime("%Y/%m/%d/%H/")

    def error_output_prefix(self, ts: datetime, error_output_type: str) -> str:
        """The S3 prefix of a failed record; without an ``ErrorOutputPrefix``, Firehose's default
        ``<error-output-type>/YYYY/MM/DD/HH/``."""
        if self.error_prefix:
            return render_prefix(self.error_prefix, ts, {}, error_output_type)
        return f"{error_output_type}/" + ts.strftime("%Y/%m/%d/%H/")

    def object_key(self, prefix: str, now: datetime) -> str:
        """Firehose's object name: ``<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>[extension]``."""
        stamp = now.strftime("%Y-%m-%d-%H-%M-%S")
        return f"{prefix}{self.name}-{self.version}-{stamp}-{uuid.uuid4()}{self.file_extension}"


def _bucket_from_arn(arn: str) -> str:
    return arn.split(":::", 1)[1] if ":::" in arn else arn


def parse_delivery_stream(desc: dict[str, Any]) -> DeliveryStreamConfig:
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
    config = DeliveryStreamConfig(
        name=name, version=str(desc.get("VersionId") or "1"), stream_name=stream_arn.rsplit("/", 1)[-1],
        bucket=_bucket_from_arn(d["BucketARN"]), prefix=prefix, error_prefix=d.get("ErrorOutputPrefix") or "",
        size_bytes=int(float(hints.get("SizeInMBs", 5)) * MIB), interval_s=float(hints.get("IntervalInSeconds", 300)),
        compression=compression, tz=tz, partition_paths=paths if dyn else None, append_delimiter=delimiter,
        file_extension=d.get("FileExtension") or (".gz" if compression == "GZIP" else ""))
    # validate the prefixes now, so configuration errors surface at discovery, not at delivery
    now = datetime.now(tz)
    keys = {k: "x" for k in (paths or {})}
    render_prefix(prefix, now, keys)
    render_prefix(config.error_prefix or "errors/", now, keys, "processing-failed")
    return config
