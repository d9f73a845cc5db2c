"""The telemetry schema and the Lambda-facing functions (instrument, record_study_outcome)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from radstream.deployed import telemetry
from radstream.deployed.telemetry import events
from radstream.deployed.telemetry import instrumentation as lambda_support
from radstream.deployed.telemetry.errors import TelemetrySchemaError
from radstream.definition.firehose import create_delivery_stream_request, firehose_destination_config
from radstream.deployed.telemetry.producer import TelemetryProducer

from .test_producer import FakeKinesis


@pytest.fixture
def fake():
    client = FakeKinesis()
    telemetry.set_producer(TelemetryProducer(client, "s", flush_at_exit=False, sleep=lambda s: None))
    lambda_support._invoked_components.clear()
    yield client
    telemetry.set_producer(None)


def sent(client):
    return [json.loads(r["Data"]) for call in client.calls for r in call]


def test_records_have_exactly_the_documented_fields():
    r = events.stage_event("s1", "prepare_tensors", success=False, processing_time_ms=1.23456,
                           error_code="ValueError")
    assert list(r) == list(events.FIELDS)
    assert r["status"] == "FAILURE" and r["event_type"] == "stage_failed" and r["error_code"] == "ValueError"
    assert r["processing_time_ms"] == 1.235
    assert r["timestamp"].endswith("Z") and len(r["timestamp"]) == 24
    bad = dict(r, patient_name="Doe^John")
    with pytest.raises(TelemetrySchemaError):
        events.validate_record(bad)


def test_timestamps_are_utc():
    ts = datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5)))
    assert events.format_timestamp(ts) == "2025-12-31T20:30:00.000Z"
    assert events.parse_timestamp("2026-01-01T00:00:00+02:00") == datetime(2025, 12, 31, 22, tzinfo=timezone.utc)
    with pytest.raises(TelemetrySchemaError):
        events.format_timestamp(datetime(2026, 1, 1))


def test_instrument_emits_success_and_failure_and_reraises(fake):
    @telemetry.instrument("validate_metadata")
    def handler(event, context):
        if event.get("bad"):
            raise KeyError("x")
        return {"status": "SUCCESS"}

    class Ctx:
        memory_limit_in_mb = "1024"

    assert handler({"study_id": "st-1", "metadata": {}}, Ctx()) == {"status": "SUCCESS"}
    with pytest.raises(KeyError):
        handler({"metadata": {"study_id": "st-2"}, "bad": True}, None)
    a, b = sent(fake)
    assert (a["study_id"], a["status"], a["event_type"], a["cold_start"], a["memory_limit_mb"]) == \
        ("st-1", "SUCCESS", "stage_completed", True, 1024)
    assert (b["study_id"], b["status"], b["error_code"], b["cold_start"]) == ("st-2", "FAILURE", "KeyError", False)
    assert a["memory_used_mb"] > 1 and a["processing_time_ms"] >= 0


def test_a_carrying_stage_returns_its_event_on_success_and_sends_it_on_failure(fake):
    """Batched per study: the event of a stage that succeeded rides in its result to SendTelemetry; a
    failed stage has no result to carry it, so its event goes at once, as before."""
    @telemetry.instrument("prepare_tensors", carry=True)
    def handler(event, context):
        if event.get("bad"):
            raise ValueError("x")
        return {"status": "SUCCESS"} if not event.get("plain") else 7

    result = handler({"study_id": "st-1"}, None)
    assert fake.calls == [] and result["status"] == "SUCCESS"
    carried = result[telemetry.STAGE_EVENT_KEY]
    assert (carried["study_id"], carried["component"], carried["event_type"]) == \
        ("st-1", "prepare_tensors", "stage_completed")
    with pytest.raises(ValueError):
        handler({"study_id": "st-2", "bad": True}, None)
    assert handler({"study_id": "st-3", "plain": True}, None) == 7  # no dict to carry it in: sent
    assert [(r["study_id"], r["status"]) for r in sent(fake)] == [("st-2", "FAILURE"), ("st-3", "SUCCESS")]


def test_carried_events_go_with_the_study_records_in_one_send(fake):
    state = {"study_id": "st-6", "validation": {"status": "SUCCESS"}, "tensor": {}, "inference": {}}
    for key, component in (("validation", "validate_metadata"), ("tensor", "prepare_tensors"),
                           ("inference", "run_inference")):
        state[key] = telemetry.instrument(component, carry=True)(lambda e, c: dict(state[key]))(state, None)
    state["stored"] = {"status": "SUCCESS", telemetry.STAGE_EVENT_KEY: None}  # could not be built: skipped
    out = telemetry.record_study_outcome({"study_id": "st-6", "s3_path": "", "status": "SUCCESS",
                                          "processing_time_ms": 5}, telemetry.carried_stage_events(state))
    assert out["records_sent"] == 5 and out["stage_events"] == 3 and len(fake.calls) == 1
    assert [r.get("component") for r in sent(fake)][2:] == ["validate_metadata", "prepare_tensors",
                                                             "run_inference"]
    assert telemetry.carried_stage_events("not a state") == []


def test_instrument_never_fails_the_handler_when_telemetry_breaks(caplog):
    class Broken:
        def put_records(self, **kw):
            raise RuntimeError("kinesis down")

    telemetry.set_producer(TelemetryProducer(Broken(), "s", max_attempts=2, flush_at_exit=False,
                                             sleep=lambda s: None))
    try:
        @telemetry.instrument("store_results")
        def handler(event, context):
            return 42

        assert handler({"s3_path": "s3://b/incoming/st-9/img.png"}, None) == 42
        assert "not delivered" in caplog.text
    finally:
        telemetry.set_producer(None)


def test_study_id_from_s3_event():
    ev = {"Records": [{"s3": {"object": {"key": "incoming/study%2D7/meta.json"}}}]}
    assert telemetry.study_id_from_event(ev) == "study-7"
    assert telemetry.study_id_from_event({}) == "unknown"


def test_record_study_outcome_seed_contract(fake):
    out = telemetry.record_study_outcome({"study_id": "st-3", "s3_path": "s3://b/incoming/st-3/x.dcm",
                                          "status": "SUCCESS", "processing_time_ms": 1500})
    assert out["status"] == "SUCCESS" and out["records_sent"] == 2 and out["records_failed"] == 0
    perf, ev = sent(fake)
    assert perf["record_type"] == "performance" and ev["record_type"] == "event"
    assert perf["processing_time_ms"] == 1500 and perf["status"] == "SUCCESS"
    assert ev["event_type"] == "study_completed"
    assert "x.dcm" not in json.dumps([perf, ev])  # no S3 keys / file names in telemetry


def test_record_study_outcome_from_execution_start_and_failure(fake):
    start = (datetime.now(timezone.utc) - timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    out = telemetry.record_study_outcome({"study_id": "st-4", "s3_path": "s3://b/k", "status": "FAILED",
                                          "execution_start_time": start, "error_code": "MetadataValidationError",
                                          "stage_timings": {"validate_metadata": 12.5}})
    assert 2900 <= out["processing_time_ms"] <= 60000
    perf, ev = sent(fake)
    assert perf["status"] == "FAILURE" and perf["error_code"] == "MetadataValidationError"
    assert json.loads(perf["stage_timings"]) == {"validate_metadata": 12.5}
    assert ev["event_type"] == "study_failed"


def test_record_study_outcome_reports_delivery_failure():
    telemetry.set_producer(TelemetryProducer(FakeKinesis(lambda c, d: True), "s", max_attempts=2,
                                             flush_at_exit=False, sleep=lambda s: None))
    try:
        out = telemetry.record_study_outcome({"study_id": "st-5", "s3_path": "", "status": "SUCCESS",
                                              "processing_time_ms": 1})
        assert out["status"] == "TELEMETRY_NOT_DELIVERED" and out["records_failed"] == 2
    finally:
        telemetry.set_producer(None)


def test_firehose_config_shape():
    cfg = firehose_destination_config("radstream-telemetry-123456789012", "arn:aws:iam::123456789012:role/r")
    assert cfg["BucketARN"] == "arn:aws:s3:::radstream-telemetry-123456789012"
    assert cfg["Prefix"].startswith("raw_telemetry/record_type=!{partitionKeyFromQuery:record_type}/dt=")
    assert "!{firehose:error-output-type}" in cfg["ErrorOutputPrefix"]
    req = create_delivery_stream_request("arn:aws:kinesis:us-east-1:1:stream/s", "b", "r")
    assert req["DeliveryStreamType"] == "KinesisStreamAsSource"
    with pytest.raises(ValueError):
        firehose_destination_config("b", "r", compression="ZIP")


def test_study_id_from_failure_path_input():
    ev = {"input": {"study_id": "st-f", "metadata": {}}, "error": {"Error": "X"}}
    assert telemetry.study_id_from_event(ev) == "st-f"
    assert telemetry.study_id_from_event({"input": {"metadata": {"study_id": "st-g"}}}) == "st-g"
