"""The Glue catalog for RadStream telemetry (the seed's glue_schema).

Database ``radstream_analytics`` with two external JSON tables over the Firehose layout
(:mod:`radstream.definition.firehose`)::

    telemetry_events      s3://radstream-telemetry-{account}/raw_telemetry/record_type=event/
    performance_metrics   s3://radstream-telemetry-{account}/raw_telemetry/record_type=performance/

Columns are the telemetry schema (:data:`radstream.deployed.telemetry.events.FIELDS`); partition keys are
``dt`` (``yyyy-MM-dd``, string) and ``hour`` (``HH``, string), both UTC Firehose arrival time. Partition
projection is declared in the table parameters, so Athena sees new partitions without
``MSCK REPAIR`` or crawler (there is none).

template.yaml declares these tables; this module is their Python view (DuckDB's schema for the
queries) and a unit test checks the two agree.
"""

from __future__ import annotations

from typing import Any

from radstream.deployed import s3_layout
from radstream.deployed.telemetry.events import FIELDS


DATABASE = "radstream_analytics"
EVENTS_TABLE = "telemetry_events"
PERFORMANCE_TABLE = "performance_metrics"
WORKGROUP = "radstream-analytics"
TABLE_RECORD_TYPES = {EVENTS_TABLE: "event", PERFORMANCE_TABLE: "performance"}
PARTITION_KEYS: dict[str, str] = {"dt": "string", "hour": "string"}
PROJECTION_START = "2024-01-01"

COLUMN_COMMENTS = {
    "event_id": "UUID4 of the record",
    "record_type": "event | performance",
    "study_id": "study identifier (no patient information)",
    "component": "pipeline stage, or 'pipeline' for study-level records",
    "event_type": "stage_completed | stage_failed | study_completed | study_failed",
    "status": "SUCCESS | FAILURE",
    "processing_time_ms": "stage wall time; end-to-end latency for performance records",
    "memory_used_mb": "peak RSS of the process (MiB)",
    "memory_limit_mb": "configured function memory (MiB), if known",
    "cold_start": "first invocation of the component in its process",
    "error_code": "exception class name on failure",
    "timestamp": "ISO-8601 UTC, e.g. 2026-11-27T17:10:27.123Z",
    "pipeline_version": "RADSTREAM_PIPELINE_VERSION",
    "stage_timings": "JSON object {stage: ms} (performance records)",
}


def sql_schema() -> dict[str, dict[str, str]]:
    """``{table: {column: type}}`` including partition keys -- what sqlglot's optimizer wants."""
    cols = {**FIELDS, **PARTITION_KEYS}
    return {t: dict(cols) for t in TABLE_RECORD_TYPES}


def table_input(table: str, bucket: str) -> dict[str, Any]:
    """The Glue ``TableInput`` for one of the two tables."""
    record_type = TABLE_RECORD_TYPES[table]
    location = f"s3://{bucket}/{s3_layout.telemetry_table_prefix(record_type)}"
    return {
        "Name": table,
        "Description": f"RadStream telemetry records with record_type='{record_type}' (Firehose NDJSON, gzip)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "json",
            "compressionType": "gzip",
            "typeOfData": "file",
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": f"{PROJECTION_START},NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": location + "dt=${dt}/hour=${hour}/",
        },
        "PartitionKeys": [{"Name": k, "Type": v, "Comment": "UTC Firehose arrival " + k} for k, v in PARTITION_KEYS.items()],
        "StorageDescriptor": {
            "Columns": [{"Name": c, "Type": t, "Comment": COLUMN_COMMENTS.get(c, "")} for c, t in FIELDS.items()],
            "Location": location,
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "Compressed": True,
            "SerdeInfo": {
                "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
                "Parameters": {"serialization.format": "1", "ignore.malformed.json": "true",
                               "case.insensitive": "true"},
            },
            "StoredAsSubDirectories": False,
        },
    }
