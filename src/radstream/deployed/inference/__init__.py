"""Inference: ask an Open Inference Protocol model server for findings on one image tensor.

    from radstream.deployed.inference import infer
    result = infer(tensor, endpoint="http://127.0.0.1:8080", model_name="chestxray14-stub")

``result`` = {findings, confidence, model_name, model_version, stub, positive_labels, scores,
threshold}. Scores -> findings happens in :mod:`radstream.deployed.inference.findings`; the HTTP
client (connection reuse, timeouts, retries) is :mod:`radstream.deployed.inference.client`; the errors
they raise are in :mod:`radstream.deployed.inference.errors`.
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np

from .client import InferResponse, OIPClient
from .errors import InvalidTensorError, ModelServerError
from .findings import CHESTXRAY14_LABELS, NO_FINDING, summarize

__all__ = ["infer", "OIPClient", "InferResponse", "summarize", "CHESTXRAY14_LABELS", "NO_FINDING", "get_client"]

DEFAULT_TIMEOUT_S = 30.0
# How long one RunInference invocation keeps retrying an unreachable or busy model server: every
# attempt the workflow makes spends at least this long, so its Retry covers an outage of
# (attempts x WAIT_PER_INVOCATION_S); tests/unit/definition/test_retry_budget.py checks the sum.
WAIT_PER_INVOCATION_S = 15.0


_clients: dict[tuple, OIPClient] = {}
_metadata: dict[tuple, dict] = {}
_lock = threading.Lock()


def get_client(endpoint: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> OIPClient:
    """A cached client per (endpoint, timeout): connections stay warm across invocations."""
    key = (endpoint.rstrip("/"), float(timeout_s))
    with _lock:
        c = _clients.get(key)
        if c is None:
            c = _clients[key] = OIPClient(endpoint, read_timeout_s=timeout_s,
                                          connect_timeout_s=min(2.0, timeout_s))
        return c


def _model_metadata(client: OIPClient, model_name: str, model_version: str | None,
                    deadline: float | None = None) -> dict:
    key = (client.endpoint, model_name, model_version)
    meta = _metadata.get(key)
    if meta is None:
        meta = client.model_metadata(model_name, model_version, deadline=deadline)
        _metadata[key] = meta
    return meta


def infer(
    tensor: np.ndarray,
    *,
    endpoint: str,
    model_name: str,
    model_version: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    threshold: float | None = None,
    request_id: str | None = None,
    wait_s: float | None = None,
) -> dict:
    """Run one image tensor (shape (1, C, H, W) or (C, H, W), float32) through the model.

    ``wait_s``: keep retrying an unreachable or busy model server for that long in all, and never
    longer (without it: the client's fixed number of retries).

    Raises InvalidTensorError (bad tensor), ModelServerUnavailableError (unreachable / 503
    after retries) or ModelServerError (the server refused the request or answered nonsense).
    """
    arr = np.asarray(tensor)
    if arr.ndim == 3:
        arr = arr[np.newaxis]
    if arr.ndim != 4 or arr.shape[0] != 1:
        raise InvalidTensorError(f"expected one image tensor of shape (1, C, H, W); got shape {list(arr.shape)}")
    if arr.dtype.kind not in "fiu":
        raise InvalidTensorError(f"expected a numeric (float32) tensor; got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidTensorError("tensor contains NaN or infinite values; the preprocessing step produced bad data")

    client = get_client(endpoint, timeout_s)
    deadline = time.monotonic() + wait_s if wait_s is not None else None
    meta = _model_metadata(client, model_name, model_version, deadline)
    input_name = (meta.get("inputs") or [{}])[0].get("name", "input")
    output_names = [o.get("name") for o in meta.get("outputs") or []]
    output_name = "scores" if "scores" in output_names else (output_names[0] if output_names else "scores")
    params = meta.get("parameters") or {}
    labels = params.get("labels")
    labels = labels.split(",") if isinstance(labels, str) and labels else list(CHESTXRAY14_LABELS)

    resp = client.infer(model_name, {input_name: arr}, model_version=model_version,
                        request_id=request_id or uuid.uuid4().hex, outputs=[output_name], deadline=deadline)
    scores = resp.outputs.get(output_name)
    if scores is None:
        raise ModelServerError(f"model server response has no output '{output_name}'")
    try:
        summary = summarize(scores.reshape(-1)[: len(labels)] if scores.size == len(labels) else scores,
                            labels, threshold=threshold)
    except ValueError as exc:
        raise ModelServerError(f"model '{model_name}' output cannot be read as label scores: {exc}") from None
    stub = bool(resp.parameters.get("stub", params.get("stub", False)))
    return {
        "findings": summary["findings"],
        "confidence": summary["confidence"],
        "model_name": resp.model_name,
        "model_version": resp.model_version,
        "stub": stub,
        "positive_labels": summary["positive_labels"],
        "scores": summary["scores"],
        "threshold": summary["threshold"],
    }
