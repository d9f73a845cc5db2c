"""RunInference: send the study's tensor to the model server (Open Inference Protocol)."""

from radstream.deployed import config
from radstream.deployed.handlers.aws_io import load_npy, read_s3
from radstream.deployed.inference import infer
from radstream.deployed.telemetry import instrument

MODEL_ENDPOINT = config.require(config.MODEL_ENDPOINT)
MODEL_NAME = config.require(config.MODEL_NAME)


@instrument("run_inference")
def handler(event, context):
    tensor = load_npy(read_s3(event["preprocessed_data_ref"]))
    results = infer(tensor, endpoint=MODEL_ENDPOINT, model_name=MODEL_NAME)
    return {"study_id": event.get("study_id"), "inference_results": results}
