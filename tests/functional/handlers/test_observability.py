"""What the handlers report about themselves (handlers/observability.py, Powertools): metrics in
CloudWatch's embedded metric format, read back exactly as CloudWatch Logs extracts them (the emulator's
``emf`` module), and JSON log lines carrying the Lambda context."""

import json
import logging
import sys

import pytest

from radstream.deployed.intake.errors import MetadataValidationError
from radstream.emulator import emf

METADATA = {"study_id": "obs-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def metrics_in(output: str) -> dict[tuple, list[float]]:
    """{(metric, sorted ((dimension, value), ...)): values} of every EMF line printed (a metric's dimensions
    are a set: their order in the line does not matter)."""
    found: dict[tuple, list[float]] = {}
    for line in output.splitlines():
        for namespace, member in emf.extract(line):
            assert namespace == "RadStream"
            key = (member["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in member["Dimensions"])))
            found.setdefault(key, []).extend(member["Values"])
    return found


def log_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' not in line]


def test_a_stage_reports_latency_errors_memory_and_its_cold_start(account, lambda_function, capsys):
    validate = lambda_function("validate-metadata")
    event = {"study_id": "obs-001", "s3_path": f"s3://{account.names.images_bucket}/x.jpg", "metadata": METADATA}
    validate(event)
    first = metrics_in(capsys.readouterr().out)
    stage = (("Stage", "validate_metadata"), ("service", "radstream"))
    assert first[("StageErrors", stage)] == [0.0] and first[("StageLatency", stage)][0] > 0
    assert first[("MemoryAllocated", stage)] == [256.0] and first[("MemoryUsed", stage)][0] > 0
    assert first[("ColdStart", (("function_name", account.names.function("validate-metadata")),
                                ("service", "radstream")))] == [1.0]  # (sorted: lower case after upper)
    validate(event)
    assert not any(name == "ColdStart" for name, _ in metrics_in(capsys.readouterr().out))  # warm


def test_a_failing_stage_counts_its_error_code(account, lambda_function, capsys):
    validate = lambda_function("validate-metadata")
    with pytest.raises(MetadataValidationError):
        validate({"study_id": "obs-002", "s3_path": f"s3://{account.names.images_bucket}/x.jpg",
                  "metadata": {"study_id": "obs-002"}})
    found = metrics_in(capsys.readouterr().out)
    assert found[("StageErrors", (("Stage", "validate_metadata"), ("service", "radstream")))] == [1.0]
    assert found[("StageErrors", (("ErrorCode", "MetadataValidationError"), ("Stage", "validate_metadata"),
                                  ("service", "radstream")))] == [1.0]


def test_study_outcome_by_error_code(account, lambda_function, capsys):
    send = lambda_function("send-telemetry")
    send({"study_id": "obs-003", "s3_path": "s3://b/incoming/obs-003/x.png", "status": "SUCCESS",
          "processing_time_ms": 812.5})
    send({"study_id": "obs-004", "s3_path": "s3://b/incoming/obs-004/x.png", "status": "FAILED",
          "processing_time_ms": 40.0, "error_code": "TruncatedImageError"})
    found = metrics_in(capsys.readouterr().out)
    service = ("service", "radstream")
    assert found[("Studies", (("ErrorCode", "none"), ("Outcome", "SUCCEEDED"), service))] == [1.0]
    assert found[("Studies", (("ErrorCode", "TruncatedImageError"), ("Outcome", "FAILED"), service))] == [1.0]
    assert found[("StudyLatency", (("Outcome", "SUCCEEDED"), service))] == [812.5]


def test_logs_are_json_with_the_request_id_cold_start_and_study(account, lambda_function, capsys):
    trigger = lambda_function("upload-trigger")
    # Powertools binds its handler to the stdout of the first Logger in the process (in Lambda: the one
    # stdout); here that was an earlier test's. Point it at this test's. (And an earlier test's
    # logging.config call may have disabled every logger that existed then.)
    powertools = logging.getLogger("radstream")
    powertools.disabled = False
    for handler in powertools.handlers:
        handler.stream = sys.stdout  # (not setStream: it flushes the old, closed one)
    key = "incoming/obs-005/x.png"
    account.put(account.names.images_bucket, key, b"\x89PNG not really")
    trigger({"Records": [{"s3": {"bucket": {"name": account.names.images_bucket}, "object": {"key": key}}}]})
    lines = log_lines(capsys.readouterr().out)
    waiting = [line for line in lines if line.get("stage") == "upload_trigger"]
    assert waiting, lines
    line = waiting[-1]
    assert line["service"] == "radstream" and line["study_id"] == "obs-005"
    assert line["function_name"] == account.names.function("upload-trigger") and line["function_request_id"]
    assert line["cold_start"] in (True, False) and line["level"] in ("INFO", "WARNING", "ERROR")
