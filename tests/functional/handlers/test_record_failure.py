"""record-failure, called as Lambda calls it, with the event the state machine's failure path passes."""

import json

from radstream.deployed import s3_layout


def catch_output(study_id: str, s3_path: str) -> dict:
    """RecordFailure's Parameters: the whole state as ``input``, the execution name, the caught error."""
    error = {"Error": "MetadataValidationError", "Cause": json.dumps({
        "errorMessage": "Invalid metadata: missing required field 'view'; missing required field 'timestamp'",
        "errorType": "MetadataValidationError", "stackTrace": []})}
    state = {"study_id": study_id, "s3_path": s3_path, "metadata": {"study_id": study_id}, "error": error}
    return {"input": state, "execution_name": study_id, "error": error}


def test_failure_record_names_the_error(account, lambda_function):
    s3_path = f"s3://{account.names.images_bucket}/test.jpg"
    record_failure = lambda_function("record-failure")

    body = record_failure(catch_output("test-002", s3_path))

    assert body["failure_s3_path"] == f"s3://{account.names.results_bucket}/{s3_layout.failure_key('test-002')}"
    assert body["error"]["code"] == "MetadataValidationError"
    stored = json.loads(account.get(body["failure_s3_path"]))
    assert stored["study_id"] == "test-002" and stored["status"] == "FAILED" and stored["image"] == s3_path
    assert stored["error"] == {"code": "MetadataValidationError", "message":
                               "Invalid metadata: missing required field 'view'; missing required field 'timestamp'"}


def test_failure_record_hands_over_a_structured_notification(account, lambda_function):
    record_failure = lambda_function("record-failure")
    event = catch_output("test-003", f"s3://{account.names.images_bucket}/incoming/test-003/image.jpg")
    event["execution_arn"] = "arn:aws:states:us-east-1:123456789012:execution:radstream-pipeline:test-003"

    note = record_failure(event)["notification"]

    assert note["study_id"] == "test-003" and note["error_code"] == "MetadataValidationError"
    assert note["failure_record"] == f"s3://{account.names.results_bucket}/{s3_layout.failure_key('test-003')}"
    assert note["execution_arn"] == event["execution_arn"] and note["time"] and note["type"] == "radstream.study.failed"
    assert "Traceback" not in json.dumps(note) and "/var/task" not in json.dumps(note)


def test_unsafe_study_id_is_recorded_under_a_name_no_study_can_have(account, lambda_function):
    record_failure = lambda_function("record-failure")
    event = catch_output("../../etc/passwd", "s3://elsewhere/x.jpg")
    event["execution_name"] = "etc_passwd-0123456789abcdef"

    body = record_failure(event)

    key = body["failure_s3_path"].split(f"{account.names.results_bucket}/", 1)[1]
    assert key.startswith("failures/_study-") and "etc" not in key and ".." not in key
    assert json.loads(account.get(body["failure_s3_path"]))["study_id"] is None
