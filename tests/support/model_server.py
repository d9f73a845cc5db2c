"""Real model-server processes on free 127.0.0.1 ports (fixtures: tests/functional/conftest.py).

The same server as a container: support/containers.py; both are a :class:`RunningServer`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from radstream.tooling.stack.embedded import free_port

STUB_NAME = "chestxray14-stub"


@dataclass
class RunningServer:
    """A model server on 127.0.0.1:port, as a process or a container (``kind``)."""
    url: str
    port: int
    kind: str
    log: Callable[[], str]  # everything it wrote so far (JSON log lines)
    stop: Callable[[], None]
    container_id: str | None = None

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_server(tmp_dir: Path, *args: str, timeout_s: float = 30.0) -> RunningServer:
    port = free_port()
    log_path = tmp_dir / f"model-server-{port}.log"
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("RADSTREAM_MODEL_SERVER_") or k in ("RADSTREAM_MODEL_PATH", "RADSTREAM_MAX_BATCH_SIZE",
                                                          "RADSTREAM_MAX_QUEUE_DELAY_MS"):
            env.pop(k)
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "radstream_model_server", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=logf, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"model server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return RunningServer(url, port, "process", lambda: log_path.read_text(errors="replace"),
                                         lambda: _stop_process(proc))
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"model server not ready within {timeout_s}s:\n{log_path.read_text()}")


def _stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def build_user_model(root: Path) -> Path:
    """A 'user' ONNX model in a Triton-style layout, no sidecar: other names, other image size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = rng.standard_normal((14, 1)).astype(np.float32)
    b = rng.standard_normal(14).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes, "user_model",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 64, 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 14])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    d = root / "my-cxr-model" / "3"
    d.mkdir(parents=True)
    onnx.save(model, d / "model.onnx")
    return d


def http(method: str, url: str, body: bytes | dict | None = None, headers: dict | None = None):
    """(status, headers (case-insensitive), body bytes) without raising on 4xx/5xx."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
