"""TelemetryProducer: batching limits, per-record retry, buffer flush, nothing dropped silently."""

import json
import logging

import pytest

from radstream.deployed.telemetry import events
from radstream.deployed.telemetry.errors import TelemetryDeliveryError, TelemetryRecordTooLargeError
from radstream.deployed.telemetry.producer import MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, TelemetryProducer


class FakeKinesis:
    """Records every PutRecords call; ``fail`` decides per record (call_no, data) whether it fails."""

    def __init__(self, fail=None, raise_calls=0):
        self.calls = []
        self.delivered = []
        self.fail = fail or (lambda call_no, data: False)
        self.raise_calls = raise_calls

    def put_records(self, StreamName, Records):
        self.calls.append(Records)
        call_no = len(self.calls)
        if call_no <= self.raise_calls:
            raise ConnectionError("endpoint unreachable")
        out, failed = [], 0
        for r in Records:
            assert isinstance(r["Data"], bytes) and r["PartitionKey"]
            if self.fail(call_no, r["Data"]):
                failed += 1
                out.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                self.delivered.append(r)
                out.append({"SequenceNumber": str(len(self.delivered)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": failed, "Records": out}


def rec(i, pad=0):
    r = events.stage_event(f"study-{i % 7}", "run_inference", success=True, processing_time_ms=i)
    if pad:
        r["pipeline_version"] = "x" * pad
    return r


def producer(client, **kw):
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("flush_at_exit", False)
    return TelemetryProducer(client, "radstream-telemetry", **kw)


def test_batches_respect_record_count_limit():
    client = FakeKinesis()
    p = producer(client, max_buffer_records=100000)
    for i in range(1203):
        p.put(rec(i))
    res = p.flush()
    assert res.sent == 1203 and res.ok
    assert [len(c) for c in client.calls] == [500, 500, 203]
    assert len(client.delivered) == 1203


def test_batches_respect_bytes_per_call_limit():
    client = FakeKinesis()
    p = producer(client, max_buffer_records=100000)
    records = [rec(i, pad=300_000) for i in range(40)]  # ~300 kB each -> at most 16 per 5 MiB call
    res = p.send(records)
    assert res.sent == 40
    for call in client.calls:
        size = sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call)
        assert size <= MAX_BYTES_PER_CALL
        assert len(call) <= MAX_RECORDS_PER_CALL
    assert len(client.calls) >= 3


def test_record_over_one_mib_is_rejected_loudly():
    p = producer(FakeKinesis())
    with pytest.raises(TelemetryRecordTooLargeError):
        p.put(rec(1, pad=1024 * 1024))


def test_partition_key_is_study_id_and_data_is_ndjson_line():
    client = FakeKinesis()
    p = producer(client)
    p.send([rec(3)])
    sent = client.calls[0][0]
    assert sent["PartitionKey"] == "study-3"
    assert sent["Data"].endswith(b"\n") and json.loads(sent["Data"])["study_id"] == "study-3"


def test_only_failed_records_are_retried_with_backoff():
    seen = {}

    def fail(call_no, data):  # every third record fails on its first two attempts
        key = json.loads(data)["processing_time_ms"]
        seen[key] = seen.get(key, 0) + 1
        return int(key) % 3 == 0 and seen[key] <= 2

    client = FakeKinesis(fail)
    sleeps = []
    p = producer(client, sleep=sleeps.append, rand=lambda: 1.0, base_delay_s=0.1, max_delay_s=10)
    res = p.send([rec(i) for i in range(30)])
    assert res.ok and res.sent == 30
    assert [len(c) for c in client.calls] == [30, 10, 10]  # retries carry only the failed records
    assert sleeps == [0.1, 0.2]  # exponential (jitter factor pinned to 1.0)
    assert sorted(json.loads(r["Data"])["processing_time_ms"] for r in client.delivered) == list(range(30))


def test_jitter_is_bounded_by_exponential_cap():
    p = producer(FakeKinesis(), base_delay_s=0.1, max_delay_s=0.5, rand=lambda: 0.5)
    assert [p._backoff(a) for a in range(5)] == [0.05, 0.1, 0.2, 0.25, 0.25]


def test_undeliverable_records_are_reported_not_dropped(caplog):
    client = FakeKinesis(lambda call_no, data: b'"study-2"' in data)
    p = producer(client, max_attempts=3)
    with caplog.at_level(logging.ERROR, logger="radstream.deployed.telemetry"):
        res = p.send([rec(i) for i in range(14)])
    assert len(res.failed) == 2 and res.sent == 12
    assert {f.partition_key for f in res.failed} == {"study-2"}
    assert res.failed[0].error_code == "ProvisionedThroughputExceededException"
    assert p.failed_total == 2 and p.sent_total == 12
    assert "not delivered" in caplog.text
    assert len(client.calls) == 3


def test_raise_on_failure():
    p = producer(FakeKinesis(lambda c, d: True), max_attempts=2, raise_on_failure=True)
    with pytest.raises(TelemetryDeliveryError) as ei:
        p.send([rec(1)])
    assert len(ei.value.result.failed) == 1


def test_whole_call_exception_is_retried_then_succeeds():
    client = FakeKinesis(raise_calls=2)
    p = producer(client, max_attempts=4)
    res = p.send([rec(i) for i in range(5)])
    assert res.ok and res.sent == 5 and res.calls == 3


def test_whole_call_exception_exhausted_is_reported():
    client = FakeKinesis(raise_calls=99)
    p = producer(client, max_attempts=2)
    res = p.send([rec(i) for i in range(5)])
    assert res.sent == 0 and len(res.failed) == 5 and res.failed[0].error_code == "ConnectionError"


def test_bounded_buffer_flushes_when_full_and_on_close():
    client = FakeKinesis()
    p = producer(client, max_buffer_records=10)
    for i in range(25):
        p.put(rec(i))
    assert len(client.delivered) == 20 and p.buffered == 5
    with p:
        pass
    assert len(client.delivered) == 25 and p.buffered == 0
    with pytest.raises(RuntimeError):
        p.put(rec(1))


def test_atexit_hook_flushes_buffer():
    client = FakeKinesis()
    p = producer(client, max_buffer_records=100)
    p.put(rec(1))
    p._close_at_exit()
    assert len(client.delivered) == 1


def test_non_retryable_errors_fail_fast():
    class Missing:
        calls = 0

        def put_records(self, **kw):
            Missing.calls += 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}, "PutRecords")

    sleeps = []
    p = producer(Missing(), max_attempts=6, sleep=sleeps.append)
    res = p.send([rec(1), rec(2)])
    assert Missing.calls == 1 and sleeps == []
    assert [f.error_code for f in res.failed] == ["ResourceNotFoundException"] * 2
