"""The emulator's reading of Firehose configuration and its S3 prefix rendering (pure, no server)."""

import re
from datetime import datetime, timezone

import pytest

from radstream.definition.firehose import firehose_destination_config
from radstream.emulator.firehose_config import (MIB, FirehoseConfigurationUnsupported, extract_keys, java_time_format,
                                                parse_delivery_stream, render_prefix)

TS = datetime(2026, 3, 4, 5, 6, 7, 89_000, tzinfo=timezone.utc)
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/radstream-telemetry"


def describe(destination: dict, name: str = "fh", version: str = "3") -> dict:
    """A ``describe_delivery_stream`` description around an S3 destination."""
    return {"DeliveryStreamName": name, "VersionId": version, "DeliveryStreamType": "KinesisStreamAsSource",
            "Source": {"KinesisStreamSourceDescription": {"KinesisStreamARN": STREAM_ARN}},
            "Destinations": [{"ExtendedS3DestinationDescription": destination}]}


def plain(**extra) -> dict:
    return {"BucketARN": "arn:aws:s3:::bucket", **extra}


def test_radstreams_own_delivery_stream():
    dest = firehose_destination_config("arn:aws:s3:::tel-bucket", "arn:aws:iam::123456789012:role/fh")
    config = parse_delivery_stream(describe(dest))
    assert (config.stream_name, config.bucket, config.version) == ("radstream-telemetry", "tel-bucket", "3")
    assert config.partition_paths == {"record_type": ["record_type"]}
    assert (config.size_bytes, config.interval_s) == (64 * MIB, 60.0)
    assert (config.compression, config.file_extension, config.tz) == ("GZIP", ".gz", timezone.utc)
    assert config.record_prefix(TS, {"record_type": "event"}) == \
        "raw_telemetry/record_type=event/dt=2026-03-04/hour=05/"
    assert config.error_output_prefix(TS, "partitioning-failed") == \
        "raw_telemetry_errors/partitioning-failed/dt=2026-03-04/"
    with pytest.raises(ValueError, match="record_type"):
        config.record_prefix(TS, {})


def test_defaults_when_prefixes_hints_and_compression_are_absent():
    config = parse_delivery_stream(describe(plain()))
    assert (config.size_bytes, config.interval_s) == (5 * MIB, 300.0)
    assert (config.compression, config.file_extension, config.partition_paths) == ("UNCOMPRESSED", "", None)
    assert config.record_prefix(TS, None) == "2026/03/04/05/"
    assert config.error_output_prefix(TS, "partitioning-failed") == "partitioning-failed/2026/03/04/05/"
    key = config.object_key("2026/03/04/05/", TS)
    assert re.fullmatch(r"2026/03/04/05/fh-3-2026-03-04-05-06-07-[0-9a-f-]{36}", key), key


def test_custom_time_zone_extension_and_delimiter():
    config = parse_delivery_stream(describe(plain(
        CustomTimeZone="Asia/Tokyo", FileExtension=".json.gz", CompressionFormat="GZIP",
        Prefix="d=!{timestamp:yyyy-MM-dd HH}/",
        ProcessingConfiguration={"Enabled": True, "Processors": [{
            "Type": "AppendDelimiterToRecord",
            "Parameters": [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]}]})))
    assert config.file_extension == ".json.gz" and config.append_delimiter == "\n"
    assert config.record_prefix(TS.astimezone(config.tz), None) == "d=2026-03-04 14/"


@pytest.mark.parametrize("destination, complaint", [
    (plain(CompressionFormat="Snappy"), "CompressionFormat Snappy"),
    (plain(DataFormatConversionConfiguration={"Enabled": True}), "format conversion"),
    (plain(ProcessingConfiguration={"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": []}]}),
     "processor type Lambda"),
    (plain(Prefix="r=!{partitionKeyFromQuery:a}/"), "dynamic partitioning"),
    (plain(Prefix="r=!{partitionKeyFromLambda:a}/"), "partitionKeyFromLambda"),
    (plain(Prefix="w=!{timestamp:ww}/"), "'ww'"),
    (plain(ErrorOutputPrefix="!{firehose:nope}/"), "firehose:nope"),
])
def test_unsupported_configuration_is_refused_at_parse_time(destination, complaint):
    with pytest.raises(FirehoseConfigurationUnsupported, match=re.escape(complaint)):
        parse_delivery_stream(describe(destination))


def test_only_kinesis_sourced_s3_destinations():
    no_source = dict(describe(plain()), Source={})
    with pytest.raises(FirehoseConfigurationUnsupported, match="no Kinesis stream source"):
        parse_delivery_stream(no_source)
    http = dict(describe(plain()), Destinations=[{"HttpEndpointDestinationDescription": {}}])
    with pytest.raises(FirehoseConfigurationUnsupported, match="only S3"):
        parse_delivery_stream(http)


def test_java_time_format_letters_and_quotes():
    assert java_time_format("EEE dd MMM yyyy", TS) == "Wed 04 Mar 2026"
    assert java_time_format("uuuu/DDD HH:mm:ss.SSS", TS) == "2026/063 05:06:07.089"
    with pytest.raises(FirehoseConfigurationUnsupported, match="unterminated quote"):
        java_time_format("yyyy 'x", TS)


def test_render_prefix_namespaces():
    random_part = render_prefix("a/!{firehose:random-string}/", TS)
    assert re.fullmatch(r"a/[A-Za-z0-9]{11}/", random_part)
    assert render_prefix("e/!{firehose:error-output-type}/", TS, {}, "processing-failed") == "e/processing-failed/"
    with pytest.raises(FirehoseConfigurationUnsupported, match="only valid in ErrorOutputPrefix"):
        render_prefix("!{firehose:error-output-type}/", TS)
    with pytest.raises(ValueError, match="'k' not extracted"):
        render_prefix("!{partitionKeyFromQuery:k}/", TS, {"other": "x"})


def test_extract_keys_from_records():
    paths = {"kind": ["record_type"], "flag": ["a", "b"]}
    assert extract_keys(paths, b'{"record_type": "event", "a": {"b": true}}') == {"kind": "event", "flag": "true"}
    assert extract_keys({"n": ["n"]}, b'{"n": 7}') == {"n": "7"}
    with pytest.raises(ValueError, match="not found"):
        extract_keys(paths, b'{"record_type": "event"}')
    with pytest.raises(ValueError, match="null or not a scalar"):
        extract_keys({"n": ["n"]}, b'{"n": {"x": 1}}')
    with pytest.raises(ValueError):  # not JSON at all
        extract_keys(paths, b"not json")
