"""A small Open Inference Protocol (KServe v2 REST) client for the pipeline.

Built for a warm Lambda: one ``urllib3.PoolManager`` per process (keep-alive connections
are reused across invocations), explicit connect/read timeouts, and retries with
exponential backoff on 503 / 502 / 504 and on connection errors and timeouts. After the
last retry it raises :class:`~radstream.deployed.inference.errors.ModelServerUnavailableError` (a
``TransientError``: the workflow may retry the step); a 4xx answer or a response that is
not the protocol raises :class:`~radstream.deployed.inference.errors.ModelServerError`.

Tensors go out with the binary tensor data extension (``Inference-Header-Content-Length``):
a 224x224 FP32 image is 200 KB raw instead of ~1 MB of JSON. Any OIP server (ours, Triton,
KServe, MLServer) understands it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import numpy as np
import urllib3

from .errors import ModelServerError, ModelServerUnavailableError

log = logging.getLogger(__name__)

HEADER_LENGTH = "Inference-Header-Content-Length"
RETRY_STATUSES = {502, 503, 504}
MIN_ATTEMPT_S = 0.5  # with a deadline: the least time worth another attempt

_DTYPES = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def pool() -> urllib3.PoolManager:
    """The process-wide connection pool (created on first use, reused while warm)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(num_pools=8, maxsize=32, retries=False)
        return _pool


def _datatype(arr: np.ndarray) -> str:
    for name, dt in _DTYPES.items():
        if arr.dtype.kind == dt.kind and arr.dtype.itemsize == dt.itemsize:
            return name
    raise ModelServerError(f"cannot send a numpy array of dtype {arr.dtype} to the model server")


@dataclass
class InferResponse:
    model_name: str
    model_version: str
    id: str | None
    parameters: dict
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


class OIPClient:
    def __init__(
        self,
        endpoint: str,
        *,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        http: urllib3.PoolManager | None = None,
    ):
        if not endpoint or "://" not in endpoint:
            raise ModelServerError(
                f"model server endpoint {endpoint!r} is not a URL; set RADSTREAM_MODEL_ENDPOINT, "
                "e.g. http://127.0.0.1:8080")
        self.endpoint = endpoint.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self.retries = max(0, int(retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.http = http or pool()

    # ---- transport ---------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None, deadline: float | None = None) -> urllib3.BaseHTTPResponse:
        """One request with retries on connection errors, timeouts and 502/503/504. Without a
        ``deadline`` (``time.monotonic()`` value) it makes ``retries`` more attempts; with one it keeps
        retrying until the deadline and never waits past it (each attempt's timeouts are cut to fit),
        so a caller inside a Lambda function gets ModelServerUnavailableError before its own timeout."""
        url = self.endpoint + path
        last = ""
        attempt = 0
        while True:
            if attempt:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic() - MIN_ATTEMPT_S))
                time.sleep(delay)
            attempt += 1
            timeout = self.timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                timeout = urllib3.Timeout(connect=min(self.timeout.connect_timeout, left),
                                          read=min(self.timeout.read_timeout, left))
            try:
                resp = self.http.request(method, url, body=body, headers=headers,
                                         timeout=timeout, retries=False, preload_content=True)
            except urllib3.exceptions.HTTPError as exc:  # connect refused/timeout, read timeout, reset
                last = f"{type(exc).__name__}: {exc}"
                log.warning("model server request failed", extra={"url": url, "attempt": attempt,
                                                                  "error": last})
            else:
                if resp.status not in RETRY_STATUSES:
                    return resp
                last = f"HTTP {resp.status}: {_error_text(resp)}"
                log.warning("model server busy", extra={"url": url, "attempt": attempt, "error": last})
            if (attempt > self.retries if deadline is None else deadline - time.monotonic() < MIN_ATTEMPT_S):
                break
        raise ModelServerUnavailableError(
            f"model server at {self.endpoint} unavailable after {attempt} attempts ({last}); "
            "check that it is running (radstream status) and that RADSTREAM_MODEL_ENDPOINT points to it")

    def _json(self, method: str, path: str, deadline: float | None = None) -> dict:
        resp = self._request(method, path, deadline=deadline)
        if resp.status != 200:
            raise ModelServerError(f"model server answered {method} {path} with HTTP {resp.status}: "
                                   f"{_error_text(resp)}")
        try:
            doc = json.loads(resp.data)
        except ValueError:
            raise ModelServerError(f"model server answered {path} with a body that is not JSON") from None
        if not isinstance(doc, dict):
            raise ModelServerError(f"model server answered {path} with JSON that is not an object")
        return doc

    # ---- protocol ----------------------------------------------------------------------
    @staticmethod
    def _model_path(model_name: str, model_version: str | None) -> str:
        p = "/v2/models/" + quote(model_name, safe="")
        if model_version:
            p += "/versions/" + quote(str(model_version), safe="")
        return p

    def server_live(self) -> bool:
        try:
            return self._request("GET", "/v2/health/live").status == 200
        except ModelServerUnavailableError:
            return False

    def server_ready(self) -> bool:
        try:
            return self._request("GET", "/v2/health/ready").status == 200
        except ModelServerUnavailableError:
            return False

    def model_metadata(self, model_name: str, model_version: str | None = None, deadline: float | None = None) -> dict:
        return self._json("GET", self._model_path(model_name, model_version), deadline=deadline)

    def infer(
        self,
        model_name: str,
        inputs: dict[str, np.ndarray],
        *,
        model_version: str | None = None,
        request_id: str | None = None,
        binary_input: bool = True,
        binary_output: bool = True,
        outputs: list[str] | None = None,
        deadline: float | None = None,
    ) -> InferResponse:
        header: dict = {}
        if request_id is not None:
            header["id"] = request_id
        specs, blobs = [], []
        for name, arr in inputs.items():
            arr = np.ascontiguousarray(arr)
            dt = _datatype(arr)
            spec: dict = {"name": name, "shape": list(arr.shape), "datatype": dt}
            if binary_input:
                raw = arr.astype(_DTYPES[dt], copy=False).tobytes()
                spec["parameters"] = {"binary_data_size": len(raw)}
                blobs.append(raw)
            else:
                spec["data"] = arr.ravel().tolist()
            specs.append(spec)
        header["inputs"] = specs
        if outputs:
            header["outputs"] = [{"name": n, "parameters": {"binary_data": binary_output}} for n in outputs]
        elif binary_output:
            header["parameters"] = {"binary_data_output": True}
        head = json.dumps(header, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/octet-stream" if blobs else "application/json"}
        if blobs:
            headers[HEADER_LENGTH] = str(len(head))
        path = self._model_path(model_name, model_version) + "/infer"
        resp = self._request("POST", path, body=head + b"".join(blobs), headers=headers, deadline=deadline)
        if resp.status != 200:
            raise ModelServerError(f"model server refused inference on model '{model_name}' "
                                   f"(HTTP {resp.status}): {_error_text(resp)}")
        return parse_infer_response(resp.data, resp.headers.get(HEADER_LENGTH))


def _error_text(resp) -> str:
    try:
        doc = json.loads(resp.data)
        if isinstance(doc, dict) and "error" in doc:
            return str(doc["error"])
    except ValueError:
        pass
    return (resp.data or b"")[:200].decode("utf-8", "replace") or "(empty body)"


def parse_infer_response(body: bytes, header_length: str | None) -> InferResponse:
    try:
        if header_length is not None:
            hl = int(header_length)
            doc, binary = json.loads(body[:hl]), memoryview(body)[hl:]
        else:
            doc, binary = json.loads(body), memoryview(b"")
        outs, off = {}, 0
        for o in doc["outputs"]:
            name, shape, dt = o["name"], [int(d) for d in o["shape"]], o["datatype"]
            if dt not in _DTYPES:
                raise ModelServerError(f"output '{name}' has datatype {dt}, which this client does not decode")
            size = (o.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                arr = np.frombuffer(bytes(binary[off:off + size]), dtype=_DTYPES[dt])
                off += size
            else:
                arr = np.asarray(o["data"], dtype=_DTYPES[dt])
            outs[name] = arr.reshape(shape)
        return InferResponse(
            model_name=str(doc["model_name"]),
            model_version=str(doc.get("model_version") or ""),
            id=doc.get("id"),
            parameters=doc.get("parameters") or {},
            outputs=outs,
        )
    except ModelServerError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelServerError(f"model server sent an inference response that is not the Open Inference "
                               f"Protocol: {type(exc).__name__}: {exc}") from None
