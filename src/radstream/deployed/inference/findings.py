"""The one place that turns a model's label scores into RadStream findings.

A classifier for the 14 ChestX-ray14 labels returns one score in [0, 1] per label
(sigmoid outputs, multi-label: several findings can be present at once). This module
turns them into the ``inference_results`` fields the pipeline stores:

* ``positive_labels`` — labels whose score is >= the threshold, highest score first.
* ``findings`` — a human summary: ``"No finding"`` when no label reaches the threshold,
  otherwise ``"Cardiomegaly (0.81), Effusion (0.64)"`` (positive labels, highest first,
  score to 2 decimals).
* ``confidence`` — how sure the model is of that summary, in [0, 1]: the highest positive
  score when something was found; when nothing was found, ``1 - max(score)`` (the
  model's confidence that even its most likely label is absent).
* ``scores`` — every label's score, ``{label: float}`` rounded to 6 decimals.

The threshold is 0.5 unless the caller passes one or ``RADSTREAM_FINDINGS_THRESHOLD`` is set.
A model with a different label set can pass its own ``labels`` (the model server publishes
them in its metadata ``parameters.labels``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

# NIH ChestX-ray14 finding labels, in the conventional (and the stub model's) output order.
CHESTXRAY14_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

DEFAULT_THRESHOLD = 0.5
NO_FINDING = "No finding"


def default_threshold() -> float:
    raw = os.environ.get("RADSTREAM_FINDINGS_THRESHOLD")
    if raw is None or raw == "":
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"RADSTREAM_FINDINGS_THRESHOLD must be a number in [0, 1], got {raw!r}") from None
    _check_threshold(value)
    return value


def _check_threshold(value: float) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"findings threshold must be in [0, 1], got {value}")


def summarize(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[str] | None = None,
    *,
    threshold: float | None = None,
) -> dict:
    """Scores (one per label) -> {findings, confidence, positive_labels, scores, threshold}.

    Raises ValueError when the scores do not fit the labels or are not in [0, 1].
    """
    labels = list(labels) if labels is not None else list(CHESTXRAY14_LABELS)
    arr = np.asarray(scores, dtype=np.float64).ravel()
    if arr.size != len(labels):
        raise ValueError(f"got {arr.size} scores for {len(labels)} labels; the model's output does not "
                         "match the label list")
    if arr.size == 0:
        raise ValueError("no scores to summarize")
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError("scores must be probabilities in [0, 1] (sigmoid outputs); got values outside that "
                         f"range (min {arr.min():.4g}, max {arr.max():.4g})")
    thr = default_threshold() if threshold is None else float(threshold)
    _check_threshold(thr)

    order = np.argsort(-arr, kind="stable")
    positive = [int(i) for i in order if arr[i] >= thr]
    if positive:
        findings = ", ".join(f"{labels[i]} ({arr[i]:.2f})" for i in positive)
        confidence = float(arr[positive[0]])
    else:
        findings = NO_FINDING
        confidence = float(1.0 - arr.max())
    return {
        "findings": findings,
        "confidence": round(confidence, 6),
        "positive_labels": [labels[i] for i in positive],
        "scores": {label: round(float(s), 6) for label, s in zip(labels, arr)},
        "threshold": thr,
    }
