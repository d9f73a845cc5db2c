"""The emulator's fault switch and its asynchronous invocations (Lambda's retry and on-failure rules),
driven with plain functions: no moto, no processes."""

import json
import threading
import time

import pytest

from radstream.emulator.faults import FaultSwitch
from radstream.emulator.lambda_async import AsyncConfig, AsyncInvoker, Outcome


def test_a_fault_fires_for_its_target_only_and_at_most_count_times():
    switch = FaultSwitch()
    switch.set("lambda-crash", function="radstream-upload-trigger", count=2)
    assert not switch.fires("lambda-crash", function="radstream-run-inference")
    assert [switch.fires("lambda-crash", function="radstream-upload-trigger") for _ in range(3)] == [True, True, False]
    switch.set("s3-slowdown", rate=1.0)
    assert switch.fires("s3-slowdown", origin="lambda") and not switch.fires("s3-slowdown", origin="client")
    assert switch.clear("s3-slowdown") == ["s3-slowdown"] and not switch.fires("s3-slowdown", origin="lambda")
    assert switch.clear() == ["lambda-crash"] and switch.snapshot() == []


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "s3-meltdown"}, "no fault named"), ({"name": "s3-slowdown", "rate": 0}, "rate"),
    ({"name": "lambda-oom"}, "needs a function"), ({"name": "s3-slowdown", "count": 0}, "count")])
def test_a_bad_fault_is_refused_naming_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FaultSwitch().set(kwargs.pop("name"), **kwargs)


def test_rate_is_a_probability():
    switch = FaultSwitch()
    switch.set("kinesis-throughput", rate=0.3)
    fired = sum(switch.fires("kinesis-throughput", origin="lambda") for _ in range(2000))
    assert 450 < fired < 750


class Recorder:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls, self.delivered = failures, [], []
        self.done = threading.Event()

    def invoke(self, arn: str, payload: str) -> Outcome:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            return Outcome(json.dumps({"errorType": "Runtime.ExitError", "errorMessage": "exited"}).encode(), "Unhandled")
        self.done.set()
        return Outcome(b'{"ok": true}', None)

    def deliver(self, destination: str, record: dict) -> None:
        self.delivered.append((destination, record))
        self.done.set()


def run(failures: int, config: AsyncConfig) -> Recorder:
    recorder = Recorder(failures)
    invoker = AsyncInvoker(recorder.invoke, lambda arn: config, recorder.deliver, retry_delays_s=(0.05, 0.1), workers=2)
    invoker.submit("arn:aws:lambda:us-east-1:1:function:f", '{"Records": [1]}')
    assert recorder.done.wait(5)
    time.sleep(0.2)  # nothing more happens afterwards
    invoker.shutdown()
    return recorder


def test_a_failing_event_is_retried_twice_with_delays_then_sent_to_the_destination():
    recorder = run(failures=99, config=AsyncConfig(on_failure="arn:aws:sqs:us-east-1:1:q"))
    assert len(recorder.calls) == 3
    assert recorder.calls[1] - recorder.calls[0] >= 0.05 and recorder.calls[2] - recorder.calls[1] >= 0.1
    [(destination, record)] = recorder.delivered
    assert destination == "arn:aws:sqs:us-east-1:1:q"
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"Records": [1]}
    assert record["responsePayload"]["errorType"] == "Runtime.ExitError"


def test_a_retry_that_succeeds_sends_nothing_and_a_zero_retry_config_is_honoured():
    assert run(failures=1, config=AsyncConfig(on_failure="arn:aws:sqs:us-east-1:1:q")).delivered == []
    once = run(failures=99, config=AsyncConfig(max_retries=0, on_failure="arn:aws:sqs:us-east-1:1:q"))
    assert len(once.calls) == 1 and len(once.delivered) == 1
