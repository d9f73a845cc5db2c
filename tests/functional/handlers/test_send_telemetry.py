"""send-telemetry, called as Lambda calls it: the seed's event ends up as records in the Kinesis stream."""


def test_seed_event_puts_the_study_records_on_the_stream(account, lambda_function, telemetry_records):
    send = lambda_function("send-telemetry")

    body = send({"study_id": "test-001", "s3_path": f"s3://{account.names.images_bucket}/test.jpg",
                 "status": "SUCCESS", "processing_time_ms": 150.5})

    assert body["status"] == "SUCCESS" and body["records_sent"] == 2 and body["records_failed"] == 0
    records = telemetry_records()
    performance = [r for r in records if r["record_type"] == "performance"]
    study = [r for r in records if r["record_type"] == "event" and r["event_type"] == "study_completed"]
    stage = [r for r in records if r["record_type"] == "event" and r["component"] == "send_telemetry"]
    assert [(r["study_id"], r["status"], r["processing_time_ms"]) for r in performance] == [("test-001", "SUCCESS", 150.5)]
    assert [(r["study_id"], r["status"]) for r in study] == [("test-001", "SUCCESS")]
    assert [r["event_type"] for r in stage] == ["stage_completed"]  # the handler's own instrumentation
    assert "test.jpg" not in str(records)  # no S3 keys or file names in telemetry


def test_missing_stream_is_reported_not_raised(account, lambda_function):
    send = lambda_function("send-telemetry", RADSTREAM_TELEMETRY_STREAM=f"{account.names.prefix}-no-such-stream")
    body = send({"study_id": "test-001", "s3_path": "", "status": "SUCCESS", "processing_time_ms": 1})
    assert body["status"] == "TELEMETRY_NOT_DELIVERED" and body["records_failed"] == 2
    assert body["error_codes"] == ["ResourceNotFoundException"]


def test_stage_events_the_workflow_carried_go_out_with_the_study_records(account, lambda_function,
                                                                         telemetry_records):
    """The failure path hands SendTelemetry the whole state: the events of the stages that succeeded
    before the failure are in it, and go out in the same PutRecords as the study's records."""
    validate, send = lambda_function("validate-metadata"), lambda_function("send-telemetry")
    metadata = {"study_id": "test-003", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}
    state = {"study_id": "test-003", "s3_path": f"s3://{account.names.images_bucket}/test.jpg", "metadata": metadata}
    state["validation"] = validate(dict(state))
    state["error"] = {"Error": "ModelServerUnavailable", "Cause": "{}"}

    body = send({"input": state, "status": "FAILED", "error": state["error"],
                 "execution_start_time": "2024-01-15T10:00:00Z"})

    assert body["status"] == "SUCCESS" and body["stage_events"] == 1 and body["records_sent"] == 3
    records = telemetry_records()
    assert [(r["component"], r["event_type"], r["status"]) for r in records if r.get("component") == "validate_metadata"] \
        == [("validate_metadata", "stage_completed", "SUCCESS")]
    assert {r["event_type"] for r in records if r["record_type"] == "event"} >= {"study_failed", "stage_completed"}
