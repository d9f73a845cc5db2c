"""An ONNX model served through ONNX Runtime, plus what the protocol says about it.

Where the model comes from (``--model-path`` / ``RADSTREAM_MODEL_PATH``):

* a ``.onnx`` file, or
* a directory holding ``model.onnx`` (a Triton-style ``<name>/<version>/model.onnx`` layout
  is understood: the directory names give the model name and version), or
* nothing: the stub shipped in this package (``models/chestxray14-stub/1/model.onnx``).

An optional sidecar ``model.json`` next to the file may set ``name``, ``version``, ``stub``
(bool), ``labels`` (output column names) and ``description``. The ONNX metadata property
``radstream.stub`` = ``true`` also marks a stub. ``--model-name`` / ``--model-version`` win
over both.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import ModelLoadError

log = logging.getLogger("radstream_model_server.model")

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_PATH = PACKAGE_DIR / "models" / "chestxray14-stub" / "1" / "model.onnx"

ORT_TO_OIP = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


@dataclass
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]  # -1 = dynamic

    def to_json(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _dims(shape) -> list[int]:
    return [d if isinstance(d, int) and d >= 0 else -1 for d in shape]


def resolve_model_file(path: str | os.PathLike | None) -> Path:
    if path is None or str(path) == "":
        return DEFAULT_MODEL_PATH
    p = Path(path).expanduser()
    if p.is_dir():
        candidates = [p / "model.onnx"] + sorted(p.glob("*/model.onnx"), reverse=True) + sorted(p.glob("*.onnx"))
        for c in candidates:
            if c.is_file():
                return c
        raise ModelLoadError(f"no model.onnx (or *.onnx) under directory {p}; pass the .onnx file itself")
    if not p.is_file():
        raise ModelLoadError(f"model file {p} does not exist; check --model-path / RADSTREAM_MODEL_PATH")
    return p


class OnnxModel:
    """One loaded ONNX model. ``run`` is thread-safe (ONNX Runtime sessions are)."""

    platform = "onnxruntime_onnx"

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        version: str | None = None,
        intra_op_threads: int = 0,
    ):
        self.path = resolve_model_file(path)
        sidecar = {}
        sc = self.path.parent / "model.json"
        if sc.is_file():
            try:
                sidecar = json.loads(sc.read_text())
            except ValueError as exc:
                raise ModelLoadError(f"sidecar {sc} is not valid JSON: {exc}") from None
        opts = ort.SessionOptions()
        if intra_op_threads:
            opts.intra_op_num_threads = intra_op_threads
        opts.log_severity_level = 3
        if os.environ.get("RADSTREAM_ORT_SPINNING", "1") in ("0", "false", "no"):
            # Idle ONNX Runtime worker threads spin-wait by default; on a small shared CPU that
            # steals cycles from the HTTP event loop.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"ONNX Runtime cannot load {self.path}: {exc}") from None
        meta = self.session.get_modelmeta()
        props = dict(meta.custom_metadata_map or {})

        # Name/version: CLI > sidecar > <name>/<version>/model.onnx layout > file stem, "1".
        parent = self.path.parent
        layout_version = parent.name if parent.name.isdigit() else None
        layout_name = parent.parent.name if layout_version else None
        self.name = name or sidecar.get("name") or layout_name or (
            parent.name if self.path.stem == "model" else self.path.stem)
        self.version = str(version or sidecar.get("version") or layout_version or "1")
        stub = sidecar.get("stub")
        if stub is None:
            stub = props.get("radstream.stub", "false").lower() == "true"
        self.stub = bool(stub)
        labels = sidecar.get("labels")
        if labels is None and props.get("radstream.labels"):
            labels = props["radstream.labels"].split(",")
        self.labels: list[str] | None = list(labels) if labels else None
        self.description = sidecar.get("description") or meta.description or ""

        self.inputs = [self._spec(i) for i in self.session.get_inputs()]
        self.outputs = [self._spec(o) for o in self.session.get_outputs()]
        self.input_by_name = {t.name: t for t in self.inputs}
        self.output_names = [t.name for t in self.outputs]
        # Batchable when every input and output has a dynamic first dimension.
        self.batchable = all(t.shape and t.shape[0] == -1 for t in self.inputs + self.outputs)
        log.info(
            "model loaded",
            extra={"fields": {"model": self.name, "version": self.version, "path": str(self.path),
                              "stub": self.stub, "batchable": self.batchable,
                              "inputs": [t.to_json() for t in self.inputs],
                              "outputs": [t.to_json() for t in self.outputs]}},
        )

    @staticmethod
    def _spec(arg) -> TensorSpec:
        dt = ORT_TO_OIP.get(arg.type)
        if dt is None:
            raise ModelLoadError(f"tensor '{arg.name}' has type {arg.type}, which the server cannot serve")
        return TensorSpec(arg.name, dt, _dims(arg.shape))

    def metadata(self, max_batch_size: int) -> dict:
        params: dict = {"stub": self.stub, "max_batch_size": max_batch_size if self.batchable else 0}
        if self.labels:
            params["labels"] = ",".join(self.labels)
        if self.description:
            params["description"] = self.description
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "parameters": params,
        }

    def validate_inputs(self, inputs: dict[str, np.ndarray], datatypes: dict[str, str]) -> None:
        """Raise ValueError naming the problem when inputs do not match the model."""
        expected = [t.name for t in self.inputs]
        unknown = [n for n in inputs if n not in self.input_by_name]
        if unknown:
            raise ValueError(f"unexpected input(s) {unknown}; model '{self.name}' expects {expected}")
        missing = [n for n in expected if n not in inputs]
        if missing:
            raise ValueError(f"missing input(s) {missing}; model '{self.name}' expects {expected}")
        for name, arr in inputs.items():
            spec = self.input_by_name[name]
            if datatypes[name] != spec.datatype:
                raise ValueError(
                    f"input '{name}' has datatype {datatypes[name]} but model '{self.name}' expects {spec.datatype}"
                )
            shape = list(arr.shape)
            if len(shape) != len(spec.shape) or any(e != -1 and e != d for e, d in zip(spec.shape, shape)):
                raise ValueError(
                    f"input '{name}' has shape {shape} but model '{self.name}' expects {spec.shape} (-1 = any size)"
                )
            if self.batchable and shape[0] == 0:
                raise ValueError(f"input '{name}' has an empty batch (first dimension 0)")

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {}
        for name, arr in inputs.items():
            if arr.dtype == object:
                arr = arr.astype(str)
            feed[name] = arr
        results = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, results))

    def batch_size_of(self, inputs: dict[str, np.ndarray]) -> int:
        first = next(iter(inputs.values()))
        return int(first.shape[0]) if self.batchable and first.ndim else 1

    def example_input(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zeros matching the inputs (dynamic dims: ``batch`` first, 1 elsewhere), for warm-up."""
        from .protocol import DATATYPES

        out = {}
        for t in self.inputs:
            shape = [(batch if i == 0 else 1) if d == -1 else d for i, d in enumerate(t.shape)]
            if t.datatype == "BYTES":
                arr = np.empty(shape, dtype=object)
                arr.fill(b"")
            else:
                arr = np.zeros(shape, dtype=DATATYPES[t.datatype])
            out[t.name] = arr
        return out
