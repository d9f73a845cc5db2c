"""Imaging: image bytes (DICOM, JPEG, PNG) -> model tensor, DICOM metadata and de-identification.

Public API (no AWS imports anywhere in this package):

* ``prepare_tensor(data, *, filename, metadata=None) -> PreparedImage`` (``.tensor`` float32
  (1, 1, 224, 224) min-max normalised to [0, 1]; ``.source`` non-PHI image facts)
* ``metadata_from_dicom(data, *, salt="") -> dict`` (sidecar derived from a DICOM header)
* ``deidentify_dicom(data, *, salt) -> bytes`` (PS3.15 basic profile copy; see ``deid``)
* errors: ``radstream.deployed.imaging.errors`` (one class per cause, all subclasses of ``ImageError``)
"""

from __future__ import annotations

from . import errors
from .deid import deidentify_dicom
from .sidecar_from_dicom import metadata_from_dicom
from .prepare import MAX_ASPECT, MAX_PIXELS, MIN_SIDE, TARGET, Limits, PreparedImage, prepare_tensor

__all__ = [
    "PreparedImage", "prepare_tensor", "metadata_from_dicom", "deidentify_dicom", "errors",
    "Limits", "TARGET", "MAX_PIXELS", "MIN_SIDE", "MAX_ASPECT",
]
