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


def test_unsafe_study_id_is_recorded_under_the_execution_name(account, lambda_function):
    record_failure = lambda_function("record-failure")
    event = catch_output("../../etc/passwd", "s3://elsewhere/x.jpg")
    event["execution_name"] = "etc_passwd-0123456789abcdef"

    body = record_failure(event)

    assert body["failure_s3_path"] == \
        f"s3://{account.names.results_bucket}/{s3_layout.failure_key('etc_passwd-0123456789abcdef')}"
    assert json.loads(account.get(body["failure_s3_path"]))["study_id"] == "../../etc/passwd"
