"""Imaging: image bytes (DICOM, JPEG, PNG) -> model tensor, DICOM metadata and de-identification.

Public API (no AWS imports anywhere in this package):

* ``prepare_tensor(data, *, filename, metadata=None) -> PreparedImage`` (``.tensor`` float32
  (1, 1, 224, 224) min-max normalised to [0, 1]; ``.source`` non-PHI image facts)
* ``metadata_from_dicom(data, *, salt="") -> dict`` (sidecar derived from a DICOM header)
* ``deidentify_dicom(data, *, salt) -> bytes`` (PS3.15 basic profile copy; see ``deid``)
* ``synthetic`` (deterministic chest-like JPEG/PNG/DICOM), ``sample_dicom_path(name)``
* errors: ``radstream.imaging.errors`` (one class per cause, all subclasses of ``ImageError``)
"""

from __future__ import annotations

from . import errors, synthetic
from .deid import deidentify_dicom
from .dicom import metadata_from_dicom
from .errors import *  # noqa: F401,F403 - the error classes are part of the API
from .prepare import MAX_ASPECT, MAX_PIXELS, MIN_SIDE, TARGET, Limits, PreparedImage, prepare_tensor

SAMPLE_CHEST = "RG1_UNCR.dcm"   # CR, CHEST, PA, 1955x1841, MONOCHROME1 (pydicom-data)
SAMPLE_LEG = "RG3_UNCR.dcm"     # CR, lower leg (EXTREMITY), AP: must be rejected as not a chest image


def sample_dicom_path(name: str = SAMPLE_CHEST) -> str:
    """Local path of a DICOM test file shipped by ``pydicom-data`` (offline; no download).

    Raises FileNotFoundError with a clear message when the package is missing.
    """
    import os

    from pydicom.data import get_testdata_file

    try:
        path = get_testdata_file(name, download=False)
    except TypeError:  # older pydicom without the download argument
        path = get_testdata_file(name)
    except Exception:
        path = None
    if not path or not os.path.exists(path):
        raise FileNotFoundError(
            f"DICOM sample {name!r} not found locally: install the PyPI package 'pydicom-data' (it is in pyproject.toml)."
        )
    return str(path)


__all__ = [
    "PreparedImage", "prepare_tensor", "metadata_from_dicom", "deidentify_dicom", "synthetic", "errors",
    "sample_dicom_path", "Limits", "TARGET", "MAX_PIXELS", "MIN_SIDE", "MAX_ASPECT", "SAMPLE_CHEST", "SAMPLE_LEG",
    *errors.__all__,
]
