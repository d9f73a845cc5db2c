#!/usr/bin/env python3
"""Build the RadStream stub chest X-ray model (ONNX), reproducibly.

    .venv/bin/python model_server/build_stub_model.py [--out PATH]

The stub is a tiny convolutional network with FIXED, SEEDED RANDOM weights. It has the
shape of a real ChestX-ray14 classifier and does real compute, but its scores are
MEANINGLESS: it was never trained. It exists so that the whole pipeline (and the model
server's batching) runs with a real ONNX Runtime model and no download.

    input  "input"  FP32 [N, 1, 224, 224]   (N dynamic: the dynamic batcher relies on it)
    output "scores" FP32 [N, 14]            sigmoid scores, one per ChestX-ray14 label

Graph: Conv 7x7/4 (1->8) + ReLU -> Conv 3x3/2 (8->16) + ReLU -> GlobalAveragePool ->
Flatten -> Gemm (16->14) -> Sigmoid.

Next to the model a sidecar ``model.json`` says it is a stub, and lists the labels in output
order; the server exposes both in the model metadata ``parameters``. Building twice gives
byte-identical files (fixed seed, fixed producer fields, no timestamps).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from radstream.deployed.inference.findings import CHESTXRAY14_LABELS

SEED = 20261127
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.10

# ChestX-ray14 (NIH) finding labels, in the order of the model's output columns: the pipeline's own
# list, so the stub's metadata and the findings translation cannot drift apart.
LABELS = list(CHESTXRAY14_LABELS)

DEFAULT_OUT = (
    Path(__file__).resolve().parent
    / "radstream_model_server" / "models" / "chestxray14-stub" / "1" / "model.onnx"
)


def build_model() -> onnx.ModelProto:
    rng = np.random.default_rng(SEED)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    w1 = he((8, 1, 7, 7), 49)
    b1 = np.zeros(8, np.float32)
    w2 = he((16, 8, 3, 3), 72)
    b2 = np.zeros(16, np.float32)
    w3 = (rng.standard_normal((14, 16)) * 0.5).astype(np.float32)
    # Negative bias: a blank or average image scores mostly below 0.5, so the stub does not
    # flag every label on every study.
    b3 = np.full(14, -1.5, np.float32) + (rng.standard_normal(14) * 0.3).astype(np.float32)

    inits = [
        numpy_helper.from_array(w1, "conv1.weight"),
        numpy_helper.from_array(b1, "conv1.bias"),
        numpy_helper.from_array(w2, "conv2.weight"),
        numpy_helper.from_array(b2, "conv2.bias"),
        numpy_helper.from_array(w3, "fc.weight"),
        numpy_helper.from_array(b3, "fc.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"],
                         kernel_shape=[7, 7], strides=[4, 4], pads=[3, 3, 3, 3], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"],
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
        helper.make_node("Sigmoid", ["logits"], ["scores"], name="sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        "chestxray14_stub",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 224, 224])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 14])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="radstream-build-stub-model",
        producer_version="1",
        doc_string="RadStream STUB model: untrained, seeded random weights. Scores are meaningless.",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"radstream.stub": "true", "radstream.labels": ",".join(LABELS)})
    onnx.checker.check_model(model)
    return model


def sidecar() -> dict:
    return {
        "name": "chestxray14-stub",
        "version": "1",
        "stub": True,
        "description": "Untrained stub with seeded random weights; scores are meaningless. "
                       "Point the server at a trained model (--model-path) for real findings.",
        "labels": LABELS,
        "seed": SEED,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write model.onnx")
    args = ap.parse_args(argv)
    model = build_model()
    data = model.SerializeToString()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    (args.out.parent / "model.json").write_text(json.dumps(sidecar(), indent=2) + "\n")
    print(f"wrote {args.out} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
