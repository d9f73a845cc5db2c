"""Raw HTTP tests: every endpoint, every error case, the binary extension by hand."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from support.model_server import STUB_NAME, http

HDR = "Inference-Header-Content-Length"


def _infer_url(srv, name=STUB_NAME, version=None):
    v = f"/versions/{version}" if version else ""
    return f"{srv.url}/v2/models/{name}{v}/infer"


def _json_request(x: np.ndarray, **extra) -> dict:
    return {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.ravel().tolist()}], **extra}


def _binary_body(x: np.ndarray, header_extra=None, datatype="FP32"):
    raw = x.tobytes()
    head = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": datatype,
                        "parameters": {"binary_data_size": len(raw)}}], **(header_extra or {})}
    hb = json.dumps(head).encode()
    return hb + raw, {HDR: str(len(hb)), "Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def small():
    return np.random.default_rng(11).random((1, 1, 224, 224), dtype=np.float32)


def test_health(model_server):
    st, _, body = http("GET", model_server.url + "/v2/health/live")
    assert st == 200 and json.loads(body) == {"live": True}
    st, _, body = http("GET", model_server.url + "/v2/health/ready")
    assert st == 200 and json.loads(body) == {"ready": True}


def test_server_metadata(model_server):
    st, h, body = http("GET", model_server.url + "/v2")
    doc = json.loads(body)
    assert st == 200 and h["content-type"].startswith("application/json")
    assert set(doc) == {"name", "version", "extensions"}


@pytest.mark.parametrize("suffix", ["", "/versions/1"])
def test_model_metadata_and_ready(model_server, suffix):
    st, _, body = http("GET", f"{model_server.url}/v2/models/{STUB_NAME}{suffix}")
    doc = json.loads(body)
    assert st == 200 and doc["name"] == STUB_NAME and doc["platform"] == "onnxruntime_onnx"
    st, _, body = http("GET", f"{model_server.url}/v2/models/{STUB_NAME}{suffix}/ready")
    assert st == 200 and json.loads(body) == {"name": STUB_NAME, "ready": True}


@pytest.mark.parametrize("path", ["/v2/models/unknown", "/v2/models/unknown/ready",
                                  f"/v2/models/{STUB_NAME}/versions/9", f"/v2/models/{STUB_NAME}/versions/9/ready"])
def test_unknown_model_or_version_is_404(model_server, path):
    st, _, body = http("GET", model_server.url + path)
    assert st == 404
    assert "unknown" in json.loads(body)["error"]


def test_infer_unknown_model_404(model_server, small):
    st, _, body = http("POST", _infer_url(model_server, "unknown"), _json_request(small))
    assert st == 404 and "unknown model 'unknown'" in json.loads(body)["error"]
    st, _, body = http("POST", _infer_url(model_server, version="2"), _json_request(small))
    assert st == 404 and "version '2'" in json.loads(body)["error"]


def test_unknown_route_and_method(model_server):
    st, _, body = http("GET", model_server.url + "/v3/nothing")
    assert st == 404 and "error" in json.loads(body)
    st, _, body = http("GET", _infer_url(model_server))
    assert st == 405 and "error" in json.loads(body)


def test_json_infer_echoes_id_and_returns_json(model_server, small):
    st, h, body = http("POST", _infer_url(model_server, version="1"), _json_request(small, id="study-7"))
    assert st == 200, body
    assert HDR not in h and h["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["id"] == "study-7"
    assert doc["model_name"] == STUB_NAME and doc["model_version"] == "1"
    [out] = doc["outputs"]
    assert out["name"] == "scores" and out["datatype"] == "FP32" and out["shape"] == [1, 14]
    assert len(out["data"]) == 14 and all(0.0 <= v <= 1.0 for v in out["data"])


def test_nested_json_data_accepted(model_server, small):
    req = _json_request(small)
    req["inputs"][0]["data"] = small.tolist()
    st, _, body = http("POST", _infer_url(model_server), req)
    flat = json.loads(http("POST", _infer_url(model_server), _json_request(small))[2])
    assert st == 200 and json.loads(body)["outputs"] == flat["outputs"]


def test_binary_request_binary_response(model_server, small):
    body, headers = _binary_body(small, {"id": "b1", "parameters": {"binary_data_output": True}})
    st, h, resp = http("POST", _infer_url(model_server), body, headers)
    assert st == 200
    hl = int(h[HDR])
    doc = json.loads(resp[:hl])
    assert doc["id"] == "b1"
    [out] = doc["outputs"]
    assert out["parameters"]["binary_data_size"] == 56 and "data" not in out
    scores = np.frombuffer(resp[hl:], dtype="<f4")
    assert scores.shape == (14,)
    _, _, jbody = http("POST", _infer_url(model_server), _json_request(small))
    np.testing.assert_allclose(scores, json.loads(jbody)["outputs"][0]["data"], rtol=1e-6)


def test_per_output_binary_flag_overrides_request_flag(model_server, small):
    body, headers = _binary_body(small, {"parameters": {"binary_data_output": True},
                                         "outputs": [{"name": "scores", "parameters": {"binary_data": False}}]})
    st, h, resp = http("POST", _infer_url(model_server), body, headers)
    assert st == 200 and HDR not in h
    assert len(json.loads(resp)["outputs"][0]["data"]) == 14


def test_gzip_request_body(model_server, small):
    body = gzip.compress(json.dumps(_json_request(small, id="gz")).encode())
    st, _, resp = http("POST", _infer_url(model_server), body,
                       {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert st == 200 and json.loads(resp)["id"] == "gz"


def _error(model_server, body, headers=None):
    st, h, resp = http("POST", _infer_url(model_server), body, headers)
    doc = json.loads(resp)
    assert h["content-type"].startswith("application/json")
    return st, doc["error"], doc


def test_bad_shape_400(model_server):
    x = np.zeros((1, 1, 128, 128), np.float32)
    st, msg, _ = _error(model_server, _json_request(x))
    assert st == 400 and "shape [1, 1, 128, 128]" in msg and "[-1, 1, 224, 224]" in msg


def test_bad_rank_400(model_server):
    x = np.zeros((1, 224, 224), np.float32)
    st, msg, _ = _error(model_server, _json_request(x))
    assert st == 400 and "shape [1, 224, 224]" in msg


def test_bad_datatype_400(model_server):
    x = np.zeros((1, 1, 224, 224), np.float64)
    body, headers = _binary_body(x, datatype="FP64")
    st, msg, _ = _error(model_server, body, headers)
    assert st == 400 and "datatype FP64" in msg and "expects FP32" in msg


def test_unknown_datatype_400(model_server, small):
    req = _json_request(small)
    req["inputs"][0]["datatype"] = "FLOAT"
    st, msg, _ = _error(model_server, req)
    assert st == 400 and "unknown datatype 'FLOAT'" in msg


def test_data_count_mismatch_400(model_server):
    req = {"inputs": [{"name": "input", "shape": [1, 1, 224, 224], "datatype": "FP32", "data": [0.0] * 10}]}
    st, msg, _ = _error(model_server, req)
    assert st == 400 and "10 elements" in msg


def test_binary_size_mismatch_400(model_server, small):
    body, headers = _binary_body(small)
    st, msg, _ = _error(model_server, body[:-4], headers)
    assert st == 400 and "binary_data_size" in msg


def test_malformed_json_400(model_server):
    st, msg, _ = _error(model_server, b'{"inputs": [', {"Content-Type": "application/json"})
    assert st == 400 and "malformed JSON" in msg


def test_missing_inputs_400(model_server):
    st, msg, _ = _error(model_server, {"id": "x"})
    assert st == 400 and "'inputs'" in msg


def test_wrong_input_name_400(model_server, small):
    req = _json_request(small)
    req["inputs"][0]["name"] = "image"
    st, msg, _ = _error(model_server, req)
    assert st == 400 and "unexpected input(s) ['image']" in msg


def test_unknown_output_400(model_server, small):
    st, msg, _ = _error(model_server, _json_request(small, outputs=[{"name": "logits"}]))
    assert st == 400 and "unknown output(s) ['logits']" in msg


def test_error_echoes_id(model_server):
    x = np.zeros((1, 1, 10, 10), np.float32)
    st, _, doc = _error(model_server, _json_request(x, id="err-1"))
    assert st == 400 and doc["id"] == "err-1"


def test_bad_header_length_400(model_server, small):
    body, headers = _binary_body(small)
    headers[HDR] = str(len(body) + 10)
    st, msg, _ = _error(model_server, body, headers)
    assert st == 400 and HDR in msg


def test_metrics(model_server, small):
    http("POST", _infer_url(model_server), _json_request(small))
    st, h, body = http("GET", model_server.url + "/metrics")
    text = body.decode()
    assert st == 200 and h["content-type"].startswith("text/plain")
    assert f'radstream_model_requests_total{{model="{STUB_NAME}",status="200",version="1"}}' in text
    assert "radstream_model_request_duration_seconds_bucket" in text
    assert "radstream_model_batch_size_bucket" in text
    assert "radstream_model_queue_duration_seconds_bucket" in text


def test_structured_logs(model_server, small):
    http("POST", _infer_url(model_server), _json_request(small, id="log-me"))
    lines = [json.loads(line) for line in model_server.log().splitlines() if line.startswith("{")]
    assert any(d.get("msg") == "infer" and d.get("id") == "log-me" and d.get("status") == 200 for d in lines)
    assert any(d.get("msg") == "server ready" and d.get("stub") is True for d in lines)
