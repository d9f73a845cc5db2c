import json

import pytest

from radstream.deployed.records import build_failure, build_result, flatten_failure_event, parse_step_error, record_key_for
from radstream.deployed.s3_layout import parse_s3_uri
from radstream.deployed.intake.workflow_input import execution_name_for, workflow_input


def test_parse_s3_uri():
    assert parse_s3_uri("s3://bucket/a/b.jpg") == ("bucket", "a/b.jpg")
    for bad in ("http://x/y", "s3://bucket", "s3:///key", None):
        with pytest.raises(ValueError):
            parse_s3_uri(bad)


def test_lambda_error_cause_becomes_code_and_message():
    cause = json.dumps({"errorMessage": "Invalid metadata: missing required field 'view'",
                        "errorType": "MetadataValidationError", "stackTrace": []})
    assert parse_step_error({"Error": "MetadataValidationError", "Cause": cause}) == {
        "code": "MetadataValidationError", "message": "Invalid metadata: missing required field 'view'"}


def test_plain_cause_and_missing_error():
    assert parse_step_error({"Error": "States.Timeout", "Cause": "took too long"}) == {
        "code": "States.Timeout", "message": "took too long"}
    assert parse_step_error(None) == {"code": "UnknownError", "message": "UnknownError"}


def test_result_keeps_only_non_identifying_metadata():
    record = build_result("s1", "s3://b/k.jpg", {"study_id": "s1", "view": "PA", "patient_name": "DOE^JOHN"},
                          {"findings": "No finding", "confidence": 0.9})
    assert record["metadata"] == {"study_id": "s1", "view": "PA"}
    assert record["status"] == "SUCCEEDED"


def test_failure_record_for_unsafe_study_id_uses_execution_name():
    assert record_key_for("../../etc", "etc-abc123") == "etc-abc123"
    assert record_key_for("good-id", "whatever") == "good-id"
    failure = build_failure(None, None, {"Error": "X", "Cause": "y"}, execution_name="n")
    assert failure["error"] == {"code": "X", "message": "y"} and failure["status"] == "FAILED"


def test_flatten_failure_event_lifts_fields_from_state():
    event = {"input": {"study_id": "s1", "s3_path": "s3://b/k", "metadata": {}}, "status": "FAILED",
             "error": {"Error": "TruncatedImageError", "Cause": "{}"}}
    flat = flatten_failure_event(event)
    assert flat["study_id"] == "s1" and flat["s3_path"] == "s3://b/k" and flat["error_code"] == "TruncatedImageError"
    assert "input" not in flat


def test_flatten_keeps_seed_telemetry_event_unchanged():
    seed = {"study_id": "test-001", "s3_path": "s3://b/test.jpg", "status": "SUCCESS", "processing_time_ms": 150.5}
    assert flatten_failure_event(seed) == seed


def test_execution_names_are_deterministic_and_valid():
    assert execution_name_for("study-1") == "study-1"
    odd = execution_name_for("weird id/../x")
    assert odd == execution_name_for("weird id/../x")
    assert odd != execution_name_for("weird id/../y")
    assert all(c.isalnum() or c in "-_" for c in odd) and len(odd) <= 80


def test_workflow_input_reports_upload_problems():
    ok = workflow_input("s1", "b", ["incoming/s1/a.jpg", "incoming/s1/metadata.json"], b'{"study_id": "s1"}')
    assert ok["s3_path"] == "s3://b/incoming/s1/a.jpg" and ok["metadata"] == {"study_id": "s1"}
    assert "upload_problem" not in ok
    none = workflow_input("s1", "b", ["incoming/s1/metadata.json"], b"{}")
    assert "found 0" in none["upload_problem"]
    broken = workflow_input("s1", "b", ["incoming/s1/a.jpg"], b"{not json")
    assert broken["metadata"] is None and "not valid JSON" in broken["upload_problem"]
