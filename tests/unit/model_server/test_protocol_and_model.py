"""Codec and model-loading units (no server)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from starlette.datastructures import Headers

from radstream_model_server.errors import ModelLoadError, ProtocolError
from radstream_model_server.model import DEFAULT_MODEL_PATH, OnnxModel
from radstream_model_server.protocol import (
    encode_bytes_tensor,
    encode_infer_response,
    parse_infer_request,
)


def _binary(inputs, extra=None):
    specs, blobs = [], []
    for name, dt, arr, raw in inputs:
        specs.append({"name": name, "shape": list(arr.shape), "datatype": dt,
                      "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    head = json.dumps({"inputs": specs, **(extra or {})}).encode()
    return head + b"".join(blobs), Headers({"Inference-Header-Content-Length": str(len(head))})


def test_binary_multi_input_including_bytes():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    s = np.array([b"ab", b"", b"xyz"], dtype=object)
    body, headers = _binary([("a", "INT64", a, a.tobytes()), ("s", "BYTES", s, encode_bytes_tensor(s))])
    req = parse_infer_request(body, headers)
    np.testing.assert_array_equal(req.inputs["a"], a)
    assert list(req.inputs["s"]) == [b"ab", b"", b"xyz"]
    assert req.input_datatypes == {"a": "INT64", "s": "BYTES"}


def test_leftover_binary_rejected():
    a = np.zeros(2, np.float32)
    body, headers = _binary([("a", "FP32", a, a.tobytes())])
    with pytest.raises(ProtocolError, match="not claimed"):
        parse_infer_request(body + b"xx", headers)


def test_negative_shape_rejected():
    with pytest.raises(ProtocolError, match="negative"):
        parse_infer_request(json.dumps({"inputs": [{"name": "a", "shape": [-1], "datatype": "FP32",
                                                    "data": []}]}).encode(), Headers({}))


def test_response_mixes_binary_and_json_outputs():
    body, headers = encode_infer_response(
        model_name="m", model_version="1", request_id="i",
        outputs=[("x", np.array([[1.5, 2.5]], np.float32), True), ("y", np.array([True, False]), False)])
    hl = int(headers["Inference-Header-Content-Length"])
    doc = json.loads(body[:hl])
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == 8
    assert doc["outputs"][1] == {"name": "y", "datatype": "BOOL", "shape": [2], "data": [True, False]}
    np.testing.assert_array_equal(np.frombuffer(body[hl:], "<f4"), [1.5, 2.5])


def test_stub_model_metadata():
    m = OnnxModel()
    assert (m.name, m.version, m.stub, m.batchable) == ("chestxray14-stub", "1", True, True)
    assert m.labels[0] == "Atelectasis" and len(m.labels) == 14
    meta = m.metadata(8)
    assert meta["parameters"]["stub"] is True and meta["parameters"]["max_batch_size"] == 8


def test_name_and_version_overrides():
    m = OnnxModel(DEFAULT_MODEL_PATH.parent, name="cxr", version="5")
    assert (m.name, m.version) == ("cxr", "5")


def test_missing_model_path(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        OnnxModel(tmp_path / "nope.onnx")
    with pytest.raises(ModelLoadError, match="no model.onnx"):
        OnnxModel(tmp_path)
