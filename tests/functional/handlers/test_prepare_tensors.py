"""prepare-tensors, called as Lambda calls it: reads the image from S3, parks a real .npy tensor in S3."""

import io

import numpy as np
import pytest

from radstream.deployed import s3_layout
from radstream.deployed.errors import StudyNotFoundError
from radstream.deployed.imaging import prepare_tensor
from radstream.tooling import synthetic_images as synthetic

SEED_METADATA = {"study_id": "test-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def test_seed_event_stores_the_tensor_as_npy(account, lambda_function):
    image = synthetic.chest_jpeg(5, (1024, 1024))
    seed_path = account.put(account.names.images_bucket, "test.jpg", image)
    prepare = lambda_function("prepare-tensors")

    body = prepare({"s3_path": seed_path, "metadata": SEED_METADATA})

    assert body["tensor_shape"] == [1, 1, 224, 224] and body["tensor_dtype"] == "float32"
    assert body["preprocessed_data_ref"] == \
        f"s3://{account.names.images_bucket}/{s3_layout.tensor_key('test-001')}"
    stored = np.load(io.BytesIO(account.get(body["preprocessed_data_ref"])), allow_pickle=False)
    # exactly the domain's tensor: the handler only moves bytes
    np.testing.assert_array_equal(stored, prepare_tensor(image, filename="test.jpg", metadata=SEED_METADATA).tensor)
    assert body["image"]["format"] == "jpeg" and (body["image"]["width"], body["image"]["height"]) == (1024, 1024)


def test_missing_image_is_study_not_found(account, lambda_function):
    prepare = lambda_function("prepare-tensors")
    missing = f"s3://{account.names.images_bucket}/incoming/nobody/image.jpg"
    with pytest.raises(StudyNotFoundError, match="incoming/nobody/image.jpg"):
        prepare({"s3_path": missing, "metadata": dict(SEED_METADATA, study_id="nobody")})
