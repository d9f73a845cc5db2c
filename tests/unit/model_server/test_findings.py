from __future__ import annotations

import numpy as np
import pytest

from radstream.deployed.inference.findings import CHESTXRAY14_LABELS, NO_FINDING, summarize


def _scores(**named):
    s = np.full(14, 0.1)
    for label, v in named.items():
        s[CHESTXRAY14_LABELS.index(label)] = v
    return s


def test_no_finding():
    r = summarize(_scores(Mass=0.3))
    assert r["findings"] == NO_FINDING == "No finding"
    assert r["positive_labels"] == []
    assert r["confidence"] == pytest.approx(0.7)
    assert list(r["scores"]) == list(CHESTXRAY14_LABELS)


def test_positive_labels_sorted_by_score():
    r = summarize(_scores(Effusion=0.64, Cardiomegaly=0.81))
    assert r["findings"] == "Cardiomegaly (0.81), Effusion (0.64)"
    assert r["positive_labels"] == ["Cardiomegaly", "Effusion"]
    assert r["confidence"] == pytest.approx(0.81)
    assert r["scores"]["Effusion"] == pytest.approx(0.64)


def test_threshold_argument_and_env(monkeypatch):
    s = _scores(Hernia=0.35)
    assert summarize(s)["findings"] == "No finding"
    assert summarize(s, threshold=0.3)["positive_labels"] == ["Hernia"]
    monkeypatch.setenv("RADSTREAM_FINDINGS_THRESHOLD", "0.3")
    r = summarize(s)
    assert r["positive_labels"] == ["Hernia"] and r["threshold"] == 0.3
    monkeypatch.setenv("RADSTREAM_FINDINGS_THRESHOLD", "high")
    with pytest.raises(ValueError, match="RADSTREAM_FINDINGS_THRESHOLD"):
        summarize(s)


def test_score_exactly_at_threshold_is_positive():
    assert summarize(_scores(Edema=0.5))["positive_labels"] == ["Edema"]


@pytest.mark.parametrize("bad", [np.full(13, 0.2), np.full(14, 1.5), np.array([np.nan] * 14)])
def test_rejects_bad_scores(bad):
    with pytest.raises(ValueError):
        summarize(bad)


def test_custom_labels():
    r = summarize([0.9, 0.2], ["Nodule", "Mass"])
    assert r["findings"] == "Nodule (0.90)" and set(r["scores"]) == {"Nodule", "Mass"}


def test_invalid_threshold():
    with pytest.raises(ValueError, match="threshold"):
        summarize(_scores(), threshold=2)
