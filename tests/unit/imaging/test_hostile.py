"""Every hostile case is rejected with its own error class; every valid edge case is accepted."""

from __future__ import annotations

import numpy as np
import pytest

from radstream.deployed.errors import RadStreamError
from radstream.deployed.imaging import errors as image_errors
from radstream.deployed.imaging import prepare_tensor

from support.hostile_corpus import hostile_corpus, valid_corpus

CORPUS = hostile_corpus()
VALID = valid_corpus()

# Words a message may never contain (the corpus' synthetic/real headers carry these).
PHI_MARKERS = ("SYNTHETIC^PHANTOM", "PHANTOM", "CompressedSamples", "Lestrade", "SYN0000")


def test_corpus_covers_every_error_class():
    expected = {c.expected_error for c in CORPUS}
    classes = {name for name in image_errors.__all__ if name not in ("ImageError", "BurnedInAnnotationError")}
    assert classes <= expected, f"no hostile case for {sorted(classes - expected)}"


def test_corpus_case_names_and_study_ids_unique():
    assert len({c.case_name for c in CORPUS}) == len(CORPUS)
    assert len({c.metadata["study_id"] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[c.case_name for c in CORPUS])
def test_hostile_case_rejected_with_specific_error(case):
    with pytest.raises(image_errors.ImageError) as info:
        prepare_tensor(case.data, filename=case.filename, metadata=case.metadata)
    err = info.value
    assert type(err).__name__ == case.expected_error, f"{case.case_name}: {type(err).__name__}: {err}"
    assert isinstance(err, RadStreamError)
    msg = str(err)
    assert len(msg) > 30
    for marker in PHI_MARKERS:
        assert marker.lower() not in msg.lower()
    assert err.__cause__ is None  # third-party messages (which may quote header values) are never chained


@pytest.mark.parametrize("case", VALID, ids=[c.case_name for c in VALID])
def test_valid_edge_case_accepted(case):
    out = prepare_tensor(case.data, filename=case.filename, metadata=case.metadata)
    assert out.tensor.shape == (1, 1, 224, 224)
    assert out.tensor.dtype == np.float32
    assert 0.0 <= float(out.tensor.min()) and float(out.tensor.max()) <= 1.0
    assert float(out.tensor.std()) > 0.05  # an actual picture, not a constant
