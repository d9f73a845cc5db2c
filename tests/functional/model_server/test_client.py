"""The pipeline's OIP client: retries, errors, and infer() against real servers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from radstream.deployed.errors import TransientError
from radstream.deployed.inference import infer
from radstream.deployed.inference.errors import InvalidTensorError, ModelServerError, ModelServerUnavailableError
from radstream.deployed.inference.client import OIPClient

from radstream.tooling.stack.embedded import free_port
from support.model_server import STUB_NAME


class FakeServer:
    """A tiny OIP look-alike: answers with a scripted list of (status, body) then a valid reply."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self.peers = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, status, body: bytes, headers=None):
                self.send_response(status)
                for k, v in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                outer.peers.append(self.client_address)
                if outer.script:
                    status, payload = outer.script.pop(0)
                    return self._reply(status, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
                doc = {"model_name": "fake", "model_version": "7", "id": "x",
                       "outputs": [{"name": "scores", "datatype": "FP32", "shape": [1, 14],
                                    "data": [0.9] + [0.1] * 13}]}
                self._reply(200, json.dumps(doc).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    servers = []

    def make(script=()):
        s = FakeServer(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _client(url, **kw):
    return OIPClient(url, backoff_s=0.01, retries=kw.pop("retries", 3), http=None, **kw)


def test_retries_503_then_succeeds(fake):
    srv = fake([(503, {"error": "busy"}), (503, {"error": "busy"})])
    resp = _client(srv.url).infer("fake", {"input": np.zeros((1, 1, 4, 4), np.float32)})
    assert len(srv.requests) == 3
    assert resp.model_version == "7"
    np.testing.assert_allclose(resp.outputs["scores"][0, 0], 0.9, rtol=1e-6)


def test_gives_up_after_retries_with_unavailable(fake):
    srv = fake([(503, {"error": "model loading"})] * 10)
    with pytest.raises(ModelServerUnavailableError, match="after 3 attempts.*model loading") as exc:
        _client(srv.url, retries=2).infer("fake", {"input": np.zeros((1,), np.float32)})
    assert isinstance(exc.value, TransientError)
    assert len(srv.requests) == 3


def test_connection_refused_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ModelServerUnavailableError, match="unavailable after 2 attempts"):
        _client(url, retries=1).infer("m", {"input": np.zeros((1,), np.float32)})


def test_4xx_is_model_server_error_without_retry(fake):
    srv = fake([(400, {"error": "input 'input' has shape [1] but ..."})])
    with pytest.raises(ModelServerError, match="HTTP 400.*has shape") as exc:
        _client(srv.url).infer("fake", {"input": np.zeros((1,), np.float32)})
    assert not isinstance(exc.value, ModelServerUnavailableError)
    assert len(srv.requests) == 1


def test_non_protocol_response_is_model_server_error(fake):
    srv = fake([(200, b"<html>hello</html>")])
    with pytest.raises(ModelServerError, match="not the Open Inference Protocol"):
        _client(srv.url).infer("fake", {"input": np.zeros((1,), np.float32)})


def test_client_sends_binary_extension(fake):
    srv = fake()
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    _client(srv.url).infer("fake", {"input": x}, request_id="r1", outputs=["scores"])
    method, path, headers, body = srv.requests[0]
    assert (method, path) == ("POST", "/v2/models/fake/infer")
    hl = int(headers["Inference-Header-Content-Length"])
    head = json.loads(body[:hl])
    assert head["id"] == "r1" and head["inputs"][0]["parameters"]["binary_data_size"] == 64
    np.testing.assert_array_equal(np.frombuffer(body[hl:], "<f4"), x.ravel())


def test_connections_are_reused_across_calls(fake):
    """A warm Lambda keeps its keep-alive connection: same client socket for every call."""
    from radstream.deployed.inference import get_client

    srv = fake()
    c1 = get_client(srv.url)
    for _ in range(3):
        c1.infer("fake", {"input": np.zeros((1,), np.float32)})
    assert get_client(srv.url) is c1
    get_client(srv.url).infer("fake", {"input": np.zeros((1,), np.float32)})
    assert len(set(srv.peers)) == 1 and len(srv.peers) == 4


def test_bad_endpoint_config():
    with pytest.raises(ModelServerError, match="RADSTREAM_MODEL_ENDPOINT"):
        OIPClient("127.0.0.1:8080")


# ---- radstream.deployed.inference.infer against the real server -------------------------------------

def test_infer_contract(model_server):
    x = np.random.default_rng(5).random((1, 1, 224, 224), dtype=np.float32)
    r = infer(x, endpoint=model_server.url, model_name=STUB_NAME)
    assert {"findings", "confidence", "model_name", "model_version", "stub", "positive_labels",
            "scores"} <= set(r)
    assert r["model_name"] == STUB_NAME and r["model_version"] == "1" and r["stub"] is True
    assert isinstance(r["findings"], str) and 0.0 <= r["confidence"] <= 1.0
    assert len(r["scores"]) == 14 and "Cardiomegaly" in r["scores"]
    json.dumps(r)  # step state must be JSON-serialisable
    # (C, H, W) is accepted as one image; same answer.
    assert infer(x[0], endpoint=model_server.url, model_name=STUB_NAME)["scores"] == r["scores"]
    assert infer(x, endpoint=model_server.url, model_name=STUB_NAME, model_version="1")["scores"] == r["scores"]


def test_infer_bad_tensor(model_server):
    with pytest.raises(InvalidTensorError, match="shape"):
        infer(np.zeros((2, 1, 224, 224), np.float32), endpoint=model_server.url, model_name=STUB_NAME)
    with pytest.raises(InvalidTensorError, match="NaN"):
        infer(np.full((1, 1, 224, 224), np.nan, np.float32), endpoint=model_server.url, model_name=STUB_NAME)
    with pytest.raises(ModelServerError, match="HTTP 400.*shape"):
        infer(np.zeros((1, 1, 100, 100), np.float32), endpoint=model_server.url, model_name=STUB_NAME)


def test_infer_unknown_model(model_server):
    with pytest.raises(ModelServerError, match="404.*unknown model"):
        infer(np.zeros((1, 1, 224, 224), np.float32), endpoint=model_server.url, model_name="other")


def test_user_model_needs_no_code_change(user_model_server):
    """A user's ONNX (other tensor names, other size, no sidecar) is served and read as-is."""
    meta = OIPClient(user_model_server.url).model_metadata("my-cxr-model")
    assert meta["versions"] == ["3"] and meta["parameters"]["stub"] is False
    assert meta["inputs"][0] == {"name": "image", "datatype": "FP32", "shape": [-1, 1, 64, 64]}
    r = infer(np.ones((1, 1, 64, 64), np.float32), endpoint=user_model_server.url, model_name="my-cxr-model")
    assert r["stub"] is False and r["model_name"] == "my-cxr-model" and r["model_version"] == "3"
    assert len(r["scores"]) == 14
