"""Firehose delivery configuration: Kinesis "radstream-telemetry" -> S3 raw_telemetry/ (Hive layout).

Layout (documented; the Glue tables and the emulator forwarder rely on it)::

    s3://radstream-telemetry-{account}/raw_telemetry/record_type=<event|performance>/dt=YYYY-MM-DD/hour=HH/
        radstream-telemetry-firehose-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz      (GZIP NDJSON, one record a line)
    s3://radstream-telemetry-{account}/raw_telemetry_errors/<error-output-type>/dt=YYYY-MM-DD/...

``record_type`` comes from the record itself through Firehose dynamic partitioning (a JQ
MetadataExtraction query ``{record_type: .record_type}``), so each Glue table owns one directory;
``dt``/``hour`` are Firehose's arrival time in UTC (``!{timestamp:...}``), which Athena prunes with
partition projection. Records already end with ``\\n`` (the producer writes NDJSON lines), so no
delimiter processor is configured.
"""

from __future__ import annotations

from typing import Any

from radstream.deployed.s3_layout import TELEMETRY_ERRORS_PREFIX, TELEMETRY_PREFIX

DELIVERY_STREAM_NAME = "radstream-telemetry-firehose"

PREFIX = (f"{TELEMETRY_PREFIX}/record_type=!{{partitionKeyFromQuery:record_type}}/"
          "dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/")
ERROR_OUTPUT_PREFIX = f"{TELEMETRY_ERRORS_PREFIX}/!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/"


def firehose_destination_config(bucket_arn: str, role_arn: str, *, buffer_size_mb: int = 64,
                                buffer_interval_s: int = 60, compression: str = "GZIP",
                                log_group: str | None = None) -> dict[str, Any]:
    """``ExtendedS3DestinationConfiguration`` for ``create_delivery_stream``.

    ``bucket_arn`` e.g. ``arn:aws:s3:::radstream-telemetry-123456789012``. AWS requires
    ``SizeInMBs >= 64`` with dynamic partitioning; the emulator honours whatever is given (the
    embedded target may pass a short ``buffer_interval_s`` such as 5 so data shows up quickly).
    """
    if compression not in ("GZIP", "UNCOMPRESSED"):
        raise ValueError(f"compression must be GZIP or UNCOMPRESSED, got {compression!r}")
    if not bucket_arn.startswith("arn:"):
        bucket_arn = f"arn:aws:s3:::{bucket_arn}"
    cfg: dict[str, Any] = {
        "RoleARN": role_arn,
        "BucketARN": bucket_arn,
        "Prefix": PREFIX,
        "ErrorOutputPrefix": ERROR_OUTPUT_PREFIX,
        "BufferingHints": {"SizeInMBs": int(buffer_size_mb), "IntervalInSeconds": int(buffer_interval_s)},
        "CompressionFormat": compression,
        "DynamicPartitioningConfiguration": {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}},
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [{
                "Type": "MetadataExtraction",
                "Parameters": [
                    {"ParameterName": "MetadataExtractionQuery", "ParameterValue": "{record_type:.record_type}"},
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                ],
            }],
        },
    }
    if log_group:
        cfg["CloudWatchLoggingOptions"] = {"Enabled": True, "LogGroupName": log_group,
                                           "LogStreamName": "S3Delivery"}
    return cfg


def create_delivery_stream_request(kinesis_stream_arn: str, bucket_arn: str, role_arn: str, *,
                                   name: str = DELIVERY_STREAM_NAME, **kwargs: Any) -> dict[str, Any]:
    """Full keyword arguments for ``firehose.create_delivery_stream(**...)`` (Kinesis stream source)."""
    return {
        "DeliveryStreamName": name,
        "DeliveryStreamType": "KinesisStreamAsSource",
        "KinesisStreamSourceConfiguration": {"KinesisStreamARN": kinesis_stream_arn, "RoleARN": role_arn},
        "ExtendedS3DestinationConfiguration": firehose_destination_config(bucket_arn, role_arn, **kwargs),
    }

