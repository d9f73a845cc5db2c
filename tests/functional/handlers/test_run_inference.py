"""run-inference, called as Lambda calls it, against a real model-server process."""

import io

import numpy as np
import pytest

from radstream.deployed import s3_layout
from radstream.deployed.inference.errors import ModelServerUnavailableError
from radstream.tooling.stack.embedded import free_port
from support.model_server import STUB_NAME


def put_tensor(account, study_id: str) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(3).random((1, 1, 224, 224), dtype=np.float32), allow_pickle=False)
    return account.put(account.names.images_bucket, s3_layout.tensor_key(study_id), buffer.getvalue())


def test_tensor_reference_gets_findings_from_the_model_server(account, lambda_function, model_server):
    ref = put_tensor(account, "test-001")
    infer = lambda_function("run-inference", model_endpoint=model_server.url)

    # what the state machine passes (Parameters of RunInference)
    body = infer({"study_id": "test-001", "preprocessed_data_ref": ref, "tensor_shape": [1, 1, 224, 224]})

    results = body["inference_results"]
    assert body["study_id"] == "test-001"
    assert results["model_name"] == STUB_NAME and results["model_version"] == "1" and results["stub"] is True
    assert isinstance(results["findings"], str) and 0.0 <= results["confidence"] <= 1.0
    assert len(results["scores"]) == 14


def test_unreachable_model_server_is_the_retryable_error(account, lambda_function):
    ref = put_tensor(account, "test-003")
    infer = lambda_function("run-inference", model_endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ModelServerUnavailableError):  # the state machine retries exactly this error
        infer({"study_id": "test-003", "preprocessed_data_ref": ref})
