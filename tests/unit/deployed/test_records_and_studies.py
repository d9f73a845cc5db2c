import json

import pytest

from radstream.deployed.intake.study_id import is_safe_study_id
from radstream.deployed.intake.upload import Folder, StoredObject
from radstream.deployed.intake.workflow_input import (execution_name_for, parse_execution_name, same_upload,
                                                      workflow_input)
from radstream.deployed.records import (build_failure, build_notification, build_result, clean_message,
                                        flatten_failure_event, notification_attributes, parse_step_error,
                                        record_key_for, rejected_upload_record_key)
from radstream.deployed.s3_layout import failure_key, parse_s3_uri


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


def test_failure_record_of_an_unsafe_study_id_never_lands_on_a_study():
    unsafe = record_key_for("../../etc", "etc-abc123")
    assert unsafe.startswith("_study-") and not is_safe_study_id(unsafe)  # no study id can take it
    assert unsafe == record_key_for("../../etc", "etc-abc123") != record_key_for("../../etd", "etc-abc123")
    assert failure_key(unsafe) == f"failures/{unsafe}/failure.json"
    assert record_key_for("good-id", "whatever") == "good-id"
    rejected = rejected_upload_record_key("incoming/../../radstream-results/x/metadata.json")
    assert rejected.startswith("_upload-") and not is_safe_study_id(rejected)
    failure = build_failure(None, None, {"Error": "X", "Cause": "y"}, execution_name="n")
    assert failure["error"] == {"code": "X", "message": "y"} and failure["status"] == "FAILED"


@pytest.mark.parametrize("bad", ["../x", "x/../y", "", "a" * 65, "_", "_../x", None])
def test_no_key_is_built_for_what_is_not_a_study(bad):
    with pytest.raises(ValueError):
        failure_key(bad)


def test_messages_lose_stack_traces_and_file_paths_but_keep_uris():
    message = ("cannot open /var/task/radstream/deployed/imaging/prepare.py line 3 for s3://bucket/incoming/x/image.jpg"
               "\nTraceback (most recent call last):\n  File \"/var/task/x.py\", line 1")
    cleaned = clean_message(message)
    assert "/var/task" not in cleaned and "Traceback" not in cleaned
    assert "s3://bucket/incoming/x/image.jpg" in cleaned and "<path>" in cleaned
    assert len(clean_message("x" * 5000)) == 2000
    cause = json.dumps({"errorMessage": "boom at /opt/python/lib/x.py", "errorType": "ValueError",
                        "stackTrace": ["  File \"/var/task/handler.py\", line 3"]})
    assert parse_step_error({"Error": "ValueError", "Cause": cause}) == {"code": "ValueError", "message": "boom at <path>"}


def test_notification_is_structured_and_filterable():
    failure = build_failure("s1", "s3://b/incoming/s1/image.jpg", {"Error": "TruncatedImageError", "Cause": "cut"},
                            execution_name="s1")
    note = build_notification(failure, "s1", "s3://r/failures/s1/failure.json",
                              "arn:aws:states:us-east-1:1:execution:p:s1")
    assert note == {"type": "radstream.study.failed", "study_id": "s1", "error_code": "TruncatedImageError",
                    "message": "cut", "failure_record": "s3://r/failures/s1/failure.json",
                    "execution_arn": "arn:aws:states:us-east-1:1:execution:p:s1", "time": failure["stored_at"]}
    assert notification_attributes(note) == {
        "study_id": {"DataType": "String", "StringValue": "s1"},
        "error_code": {"DataType": "String", "StringValue": "TruncatedImageError"},
        "type": {"DataType": "String", "StringValue": "radstream.study.failed"}}
    unknown = build_failure("../x", None, {"Error": "E"})
    assert build_notification(unknown, "_study-abc", "s3://r/k", None)["study_id"] == "_study-abc"


def test_result_records_the_exact_image_bytes():
    record = build_result("s1", "s3://b/k.jpg", {"study_id": "s1"}, {}, source={"version_id": "v7", "sha256": "ab"},
                          execution_name="s1")
    assert (record["image_version_id"], record["image_sha256"], record["execution_name"]) == ("v7", "ab", "s1")


def test_flatten_failure_event_lifts_fields_from_state():
    event = {"input": {"study_id": "s1", "s3_path": "s3://b/k", "metadata": {}}, "status": "FAILED",
             "error": {"Error": "TruncatedImageError", "Cause": "{}"}}
    flat = flatten_failure_event(event)
    assert flat["study_id"] == "s1" and flat["s3_path"] == "s3://b/k" and flat["error_code"] == "TruncatedImageError"
    assert "input" not in flat


def test_flatten_keeps_seed_telemetry_event_unchanged():
    seed = {"study_id": "test-001", "s3_path": "s3://b/test.jpg", "status": "SUCCESS", "processing_time_ms": 150.5}
    assert flatten_failure_event(seed) == seed


def test_execution_names_are_the_study_and_its_attempts():
    assert execution_name_for("study-1") == "study-1"
    assert execution_name_for("study-1", attempt=3) == "study-1.attempt-3"
    assert parse_execution_name("study-1.attempt-3") == ("study-1", 3)
    assert parse_execution_name("study-1") == ("study-1", 1)
    # "." is never in a study id: an attempt's name can never be another study's
    assert not is_safe_study_id("study-1.attempt-3") and parse_execution_name("a.b.c") is None
    for bad in ("weird id/../x", "", "x" * 65):
        with pytest.raises(ValueError):
            execution_name_for(bad)


def _folder(*objects: StoredObject) -> Folder:
    return Folder.of("s1", list(objects))


SIDECAR = StoredObject("incoming/s1/metadata.json", 40, "e-side", "v-side")
IMAGE = StoredObject("incoming/s1/image.jpg", 900, "e-img", "v-img")


def test_workflow_input_names_the_exact_objects_and_reports_upload_problems():
    ok = workflow_input("s1", "b", _folder(SIDECAR, IMAGE), {"study_id": "s1"}, None)
    assert ok["s3_path"] == "s3://b/incoming/s1/image.jpg" and ok["metadata"] == {"study_id": "s1"}
    assert ok["image"] == {"key": IMAGE.key, "version_id": "v-img", "etag": "e-img", "size": 900}
    assert ok["sidecar"]["version_id"] == "v-side" and "upload_problem" not in ok
    two = workflow_input("s1", "b", _folder(SIDECAR, IMAGE, StoredObject("incoming/s1/b.png", 1, "e")), {}, None)
    assert "found 2: b.png, image.jpg" in two["upload_problem"] and two["s3_path"] is None
    broken = workflow_input("s1", "b", _folder(SIDECAR, IMAGE), None, "sidecar metadata.json is not valid JSON (x)")
    assert broken["metadata"] is None and "not valid JSON" in broken["upload_problem"]


def test_a_folder_is_complete_with_both_parts_in_either_order():
    assert not _folder(IMAGE).complete and not _folder(SIDECAR).complete and _folder(IMAGE, SIDECAR).complete
    deeper = StoredObject("incoming/s1/x/metadata.json", 1, "e")  # not this study's sidecar
    assert _folder(IMAGE, deeper).sidecar is None


def test_same_upload_compares_object_versions():
    first = workflow_input("s1", "b", _folder(SIDECAR, IMAGE), {}, None)
    assert same_upload(first, json.loads(json.dumps(first)))
    replaced = StoredObject(IMAGE.key, 901, "e-other", "v-other")
    assert not same_upload(first, workflow_input("s1", "b", _folder(SIDECAR, replaced), {}, None))
