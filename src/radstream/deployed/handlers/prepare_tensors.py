"""PrepareTensors: decode the image, make the model's input tensor, park it in S3.

It reads exactly the image version the upload trigger saw (``image`` from ValidateMetadata: version
id, or ETag in a bucket without versioning), refuses it from its size before download, and checks
its SHA-256 against the one the sidecar declares; the hash travels on to the result record.
The tensor goes to S3 (the images bucket, or an S3 Express One Zone directory bucket: TensorStorage
in template.yaml) and only its reference travels in the workflow state (256 KiB limit).
"""

from radstream.deployed import config, s3_layout
from radstream.deployed.handlers.aws_io import npy_bytes, open_image, write_s3
from radstream.deployed.imaging import prepare_tensor
from radstream.deployed.intake.upload import check_image_size, verify_image
from radstream.deployed.handlers import observability
from radstream.deployed.handlers.observability import observed

TENSORS_BUCKET = config.require(config.TENSORS_BUCKET)


@observed("prepare_tensors", carry=True)  # its stage event rides in its result to SendTelemetry
def handler(event, context):
    metadata = event.get("metadata") or {}
    study_id = event.get("study_id") or metadata.get("study_id")
    image = event.get("image") or {}  # absent in hand-made events: read the current object
    size, body = open_image(event["s3_path"], version_id=image.get("version_id"), etag=image.get("etag"))
    check_image_size(size)
    data = body.read()
    observability.image_bytes(len(data))
    sha256 = verify_image(data, image.get("sha256") or metadata.get("image_sha256"))
    _, key = s3_layout.parse_s3_uri(event["s3_path"])
    prepared = prepare_tensor(data, filename=key.rsplit("/", 1)[-1], metadata=metadata)
    ref = write_s3(TENSORS_BUCKET, s3_layout.tensor_key(study_id), npy_bytes(prepared.tensor), "application/x-npy")
    return {
        "study_id": study_id,
        "tensor_shape": list(prepared.tensor.shape),
        "tensor_dtype": str(prepared.tensor.dtype),
        "preprocessed_data_ref": ref,
        "image": prepared.source,
        "source": {"version_id": image.get("version_id"), "sha256": sha256, "size": len(data)},
    }
