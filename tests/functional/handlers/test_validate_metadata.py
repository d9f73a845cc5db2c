"""validate-metadata, called as Lambda calls it, with the seed's test events verbatim."""

import pytest

from radstream.deployed.intake.errors import MetadataValidationError

SEED_METADATA = {"study_id": "test-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def test_seed_event_gets_the_documented_response(account, lambda_function, telemetry_records):
    validate = lambda_function("validate-metadata")
    body = validate({"study_id": "test-001", "s3_path": f"s3://{account.names.images_bucket}/test.jpg",
                     "metadata": SEED_METADATA})
    event = body.pop("stage_event")  # carried to SendTelemetry in the workflow state, not sent
    assert body == {"statusCode": 200, "body": "{\"message\": \"Metadata validated successfully\"}",
                    "status": "SUCCESS",
                    # which bytes the next steps read: the seed names no version, so the current object
                    "image": {"uri": f"s3://{account.names.images_bucket}/test.jpg", "version_id": None,
                              "etag": None, "sha256": None}}
    assert telemetry_records() == []
    assert (event["study_id"], event["component"], event["event_type"], event["status"]) == \
        ("test-001", "validate_metadata", "stage_completed", "SUCCESS")
    assert event["memory_limit_mb"] == 256  # the context's memory size, as Lambda passes it


def test_seed_failure_event_raises_naming_every_missing_field(account, lambda_function, telemetry_records):
    validate = lambda_function("validate-metadata")
    with pytest.raises(MetadataValidationError) as excinfo:
        validate({"study_id": "test-002", "s3_path": f"s3://{account.names.images_bucket}/test.jpg",
                  "metadata": {"study_id": "test-002"}})
    assert "'view'" in str(excinfo.value) and "'timestamp'" in str(excinfo.value)
    [event] = telemetry_records()
    assert (event["study_id"], event["status"], event["error_code"]) == \
        ("test-002", "FAILURE", "MetadataValidationError")
