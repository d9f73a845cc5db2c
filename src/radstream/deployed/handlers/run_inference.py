"""RunInference: send the study's tensor to the model server (Open Inference Protocol).

An unreachable or busy model server is retried inside the invocation for ``WAIT_PER_INVOCATION_S``
(never past the function's own timeout, minus a margin), so every attempt the workflow makes waits that long: the
workflow's Retry on ModelServerUnavailableError then covers a model-server outage of several minutes
(the arithmetic is checked by tests/unit/definition/test_retry_budget.py).
"""

from radstream.deployed import config
from radstream.deployed.handlers.aws_io import load_npy, read_s3
from radstream.deployed.handlers.observability import observed
from radstream.deployed.inference import WAIT_PER_INVOCATION_S, infer

MODEL_ENDPOINT = config.require(config.MODEL_ENDPOINT)
MODEL_NAME = config.require(config.MODEL_NAME)
TIMEOUT_MARGIN_S = 5.0


@observed("run_inference", carry=True)  # its stage event rides in its result to SendTelemetry
def handler(event, context):
    tensor = load_npy(read_s3(event["preprocessed_data_ref"]))
    remaining_s = context.get_remaining_time_in_millis() / 1000
    wait_s = max(1.0, min(WAIT_PER_INVOCATION_S, remaining_s - TIMEOUT_MARGIN_S))
    results = infer(tensor, endpoint=MODEL_ENDPOINT, model_name=MODEL_NAME, wait_s=wait_s)
    return {"study_id": event.get("study_id"), "inference_results": results}
