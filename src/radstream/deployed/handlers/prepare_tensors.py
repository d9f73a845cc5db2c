"""PrepareTensors: decode the image, make the model's input tensor, park it in S3.

The tensor goes to S3 and only its reference travels in the workflow state (256 KiB limit).
"""

from radstream.deployed import config, s3_layout
from radstream.deployed.handlers.aws_io import npy_bytes, read_s3, write_s3
from radstream.deployed.imaging import prepare_tensor
from radstream.deployed.telemetry import instrument

IMAGES_BUCKET = config.require(config.IMAGES_BUCKET)


@instrument("prepare_tensors")
def handler(event, context):
    metadata = event.get("metadata") or {}
    study_id = event.get("study_id") or metadata.get("study_id")
    data = read_s3(event["s3_path"])
    _, key = s3_layout.parse_s3_uri(event["s3_path"])
    prepared = prepare_tensor(data, filename=key.rsplit("/", 1)[-1], metadata=metadata)
    ref = write_s3(IMAGES_BUCKET, s3_layout.tensor_key(study_id), npy_bytes(prepared.tensor), "application/x-npy")
    return {
        "study_id": study_id,
        "tensor_shape": list(prepared.tensor.shape),
        "tensor_dtype": str(prepared.tensor.dtype),
        "preprocessed_data_ref": ref,
        "image": prepared.source,
    }
