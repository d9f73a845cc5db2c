"""The model server as a process: the committed stub model is reproducible, a bad model path is a clear exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from radstream_model_server.model import DEFAULT_MODEL_PATH

REPO = Path(__file__).resolve().parents[3]


def test_stub_model_build_is_reproducible(tmp_path):
    """The committed stub is exactly what build_stub_model.py produces."""
    out = tmp_path / "m" / "model.onnx"
    subprocess.run([sys.executable, str(REPO / "model_server" / "build_stub_model.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == DEFAULT_MODEL_PATH.read_bytes()
    assert json.loads((out.parent / "model.json").read_text()) == json.loads(
        (DEFAULT_MODEL_PATH.parent / "model.json").read_text())


def test_server_exits_with_clear_message_on_missing_model(tmp_path):
    p = subprocess.run([sys.executable, "-m", "radstream_model_server", "--port", "1",
                        "--model-path", str(tmp_path / "missing.onnx")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "does not exist" in p.stderr
