"""The workflow's retries are sized, not guessed: transient faults cost time, not studies.

- every Lambda task retries Lambda's service and runtime errors (a crashed or killed worker, an unknown
  Lambda failure, a timeout) with jitter;
- RunInference rides out a model-server outage of at least 2 minutes even when every jittered delay
  happens to be 0: each attempt waits WAIT_PER_INVOCATION_S inside the function (connection refused and
  503 are retried there until then), and never past the function's timeout;
- the longest a study can take to reach its failure record through those retries stays bounded.
"""

import json

import pytest

from radstream.definition import stack
from radstream.definition.workflow import FUNCTION_PLACEHOLDERS, raw_definition
from radstream.deployed.inference import WAIT_PER_INVOCATION_S
from radstream.deployed.inference.client import OIPClient

RUNTIME_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                  "Lambda.TooManyRequestsException", "Lambda.Unknown", "Runtime.ExitError", "Runtime.Unknown",
                  "Sandbox.Timedout"}
OUTAGE_TO_RIDE_OUT_S = 120.0


def states() -> dict:
    return json.loads(raw_definition())["States"]


def lambda_tasks() -> dict[str, dict]:
    placeholders = {"${" + key + "}" for key in FUNCTION_PLACEHOLDERS}
    return {name: s for name, s in states().items() if s.get("Resource") in placeholders}


def retriers_for(state: dict, error: str) -> list[dict]:
    """The retrier Step Functions picks for ``error`` (the first that names it, or States.ALL)."""
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            return [retrier]
    return []


@pytest.mark.parametrize("task", sorted(lambda_tasks()))
def test_every_lambda_task_retries_service_and_runtime_errors_with_jitter(task):
    state = lambda_tasks()[task]
    for error in sorted(RUNTIME_ERRORS):
        [retrier] = retriers_for(state, error) or [None]
        assert retrier is not None, f"{task} does not retry {error}"
        assert retrier["MaxAttempts"] >= 2 and retrier.get("JitterStrategy") == "FULL", (task, error, retrier)


def test_run_inference_rides_out_a_two_minute_outage_whatever_the_jitter():
    [retrier] = retriers_for(states()["RunInference"], "ModelServerUnavailableError")
    attempts = retrier["MaxAttempts"] + 1
    # the model server comes back at any moment of the outage: the attempt running then (or the next)
    # reaches it within one of the client's backoffs
    covered = attempts * WAIT_PER_INVOCATION_S - OIPClient("http://x").max_backoff_s
    assert covered >= OUTAGE_TO_RIDE_OUT_S, f"{attempts} attempts x {WAIT_PER_INVOCATION_S} s cover only {covered} s"


def test_the_wait_fits_inside_the_function_and_task_timeouts():
    function = stack.function("run-inference")
    state = states()["RunInference"]
    margin = 5.0  # run_inference.TIMEOUT_MARGIN_S: the answer must leave the function before it is stopped
    assert WAIT_PER_INVOCATION_S + margin <= function.timeout_s
    assert state["TimeoutSeconds"] > function.timeout_s


def test_a_study_reaches_its_record_in_bounded_time_when_the_outage_lasts():
    """Worst case (every jittered delay at its maximum): under 10 minutes from the first attempt."""
    [retrier] = retriers_for(states()["RunInference"], "ModelServerUnavailableError")
    delays = [min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** i, retrier.get("MaxDelaySeconds", 1e9))
              for i in range(retrier["MaxAttempts"])]
    worst = (retrier["MaxAttempts"] + 1) * (WAIT_PER_INVOCATION_S + 5.0) + sum(delays)
    assert worst < 600, worst


@pytest.mark.parametrize("task", sorted(lambda_tasks()))
def test_throttling_costs_time_not_studies(task):
    """A throttled Invoke (reserved concurrency in flight, e.g. run-inference's while the model server is
    down and every slot waits on it) is retried on its own budget: on average, with full jitter, longer
    than the outage RunInference rides out, and bounded."""
    [retrier] = retriers_for(lambda_tasks()[task], "Lambda.TooManyRequestsException")
    assert retrier["ErrorEquals"] == ["Lambda.TooManyRequestsException"], (task, retrier)
    delays = [min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** i, retrier.get("MaxDelaySeconds", 1e9))
              for i in range(retrier["MaxAttempts"])]
    assert retrier.get("JitterStrategy") == "FULL"
    assert sum(delays) / 2 >= OUTAGE_TO_RIDE_OUT_S, (task, sum(delays) / 2)  # full jitter: mean delay = half
    assert sum(delays) < 600, (task, sum(delays))
