"""RunInference: send the study's tensor to the model server (Open Inference Protocol)."""

from radstream import config
from radstream.handlers._aws import load_npy, read_s3
from radstream.inference import infer
from radstream.telemetry import instrument


@instrument("run_inference")
def handler(event, context):
    tensor = load_npy(read_s3(event["preprocessed_data_ref"]))
    results = infer(tensor, endpoint=config.model_endpoint(), model_name=config.model_name())
    return {"study_id": event.get("study_id"), "inference_results": results}
