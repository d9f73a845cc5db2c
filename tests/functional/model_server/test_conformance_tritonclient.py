"""Protocol conformance driven by the standard client, tritonclient[http]."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from radstream_model_server.model import DEFAULT_MODEL_PATH

from support.model_server import STUB_NAME


@pytest.fixture(scope="module")
def client(model_server):
    c = httpclient.InferenceServerClient(model_server.hostport)
    yield c
    c.close()


@pytest.fixture(scope="module")
def reference():
    return ort.InferenceSession(str(DEFAULT_MODEL_PATH), providers=["CPUExecutionProvider"])


def test_liveness_and_readiness(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(STUB_NAME)
    assert client.is_model_ready(STUB_NAME, "1")
    assert not client.is_model_ready("no-such-model")


def test_server_metadata(client):
    meta = client.get_server_metadata()
    assert meta["name"] == "radstream-model-server"
    assert "binary_tensor_data" in meta["extensions"]


def test_model_metadata(client):
    meta = client.get_model_metadata(STUB_NAME)
    assert meta["name"] == STUB_NAME
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 224, 224]}]
    assert meta["outputs"] == [{"name": "scores", "datatype": "FP32", "shape": [-1, 14]}]
    assert meta["parameters"]["stub"] is True
    assert meta["parameters"]["labels"].split(",")[1] == "Cardiomegaly"
    assert client.get_model_metadata(STUB_NAME, "1") == meta


@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_infer_matches_onnxruntime(client, reference, binary_in, binary_out):
    x = np.random.default_rng(3).random((2, 1, 224, 224), dtype=np.float32)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary_in)
    out = httpclient.InferRequestedOutput("scores", binary_data=binary_out)
    result = client.infer(STUB_NAME, [inp], outputs=[out], request_id="req-42")
    resp = result.get_response()
    assert resp["id"] == "req-42"
    assert resp["model_name"] == STUB_NAME and resp["model_version"] == "1"
    assert resp["parameters"]["stub"] is True
    assert ("binary_data_size" in (resp["outputs"][0].get("parameters") or {})) == binary_out
    scores = result.as_numpy("scores")
    assert scores.shape == (2, 14) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, reference.run(None, {"input": x})[0], rtol=1e-5, atol=1e-6)


def test_infer_without_requested_outputs_returns_binary_all(client):
    x = np.zeros((1, 1, 224, 224), np.float32)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(STUB_NAME, [inp], model_version="1")
    assert result.as_numpy("scores").shape == (1, 14)
    assert result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == 14 * 4


def test_errors_surface_as_inference_server_exception(client):
    x = np.zeros((1, 3, 224, 224), np.float32)
    inp = httpclient.InferInput("input", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as exc:
        client.infer(STUB_NAME, [inp])
    assert exc.value.status() == "400"
    assert "shape [1, 3, 224, 224]" in exc.value.message()
    with pytest.raises(InferenceServerException) as exc:
        client.infer("nope", [inp])
    assert exc.value.status() == "404"
