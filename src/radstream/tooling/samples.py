"""The sample studies `radstream run` processes: a real radiograph, synthetic ones, and bad ones.

- the real PA chest radiograph ``RG1_UNCR.dcm`` (CR, 1955x1841, MONOCHROME1) from the PyPI
  package ``pydicom-data``, with its sidecar derived from the DICOM header;
- synthetic chest-like JPEGs and PNGs (8 and 16 bit) of ~2000x2000, as scanners export them;
- studies that must fail, each with the reason we expect: incomplete metadata, a truncated
  JPEG, and a lower-leg radiograph (``RG3_UNCR.dcm``) that a chest model must not see.

Ids get a per-run suffix so a second run in the same stack is new work, not a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from radstream.tooling import synthetic_images as synthetic


@dataclass(frozen=True)
class Sample:
    name: str
    filename: str
    description: str
    expected_status: str  # SUCCEEDED | FAILED
    expected_error: str | None = None


def _metadata(study_id: str, view: str = "PA", timestamp: str = "2024-01-15T10:00:00Z", **extra) -> dict:
    return {"study_id": study_id, "view": view, "timestamp": timestamp, **extra}


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


def _dicom_sample(name: str) -> bytes:
    return Path(sample_dicom_path(name)).read_bytes()


def build_samples(run_id: str) -> list[tuple[Sample, bytes, dict | None, str]]:
    """(sample, image bytes, sidecar or None for DICOM-derived, study id) for one run."""
    from radstream.tooling.client import dicom_sidecar

    studies = []

    def add(sample: Sample, data: bytes, metadata: dict | None) -> None:
        study_id = f"{sample.name}-{run_id}"
        if metadata is None:
            metadata = dicom_sidecar(data)
        metadata = dict(metadata, study_id=study_id)
        studies.append((sample, data, metadata, study_id))

    add(Sample("rg1-chest-pa", "RG1_UNCR.dcm", "real PA chest CR (pydicom-data), sidecar from the header",
               "SUCCEEDED"), _dicom_sample("RG1_UNCR.dcm"), None)
    for seed in range(4):
        add(Sample(f"synthetic-jpeg-{seed}", f"chest-{seed}.jpg", "synthetic 2048x2048 JPEG", "SUCCEEDED"),
            synthetic.chest_jpeg(seed, (2048, 2048)), _metadata("x", view="PA" if seed % 2 == 0 else "AP"))
    for seed in range(2):
        add(Sample(f"synthetic-png8-{seed}", f"chest-png8-{seed}.png", "synthetic 2000x2000 8-bit PNG", "SUCCEEDED"),
            synthetic.chest_png(10 + seed, (2000, 2000), bits=8), _metadata("x"))
    add(Sample("synthetic-png16", "chest-16bit.png", "synthetic 2000x2000 16-bit PNG", "SUCCEEDED"),
        synthetic.chest_png(20, (2000, 2000), bits=16), _metadata("x"))
    incomplete = {"study_id": "x", "view": "SIDEWAYS", "timestamp": "yesterday"}
    add(Sample("invalid-metadata", "chest-invalid.jpg", "sidecar with a bad view and timestamp", "FAILED",
               "MetadataValidationError"), synthetic.chest_jpeg(30, (1024, 1024)), incomplete)
    jpeg = synthetic.chest_jpeg(31, (1024, 1024))
    add(Sample("truncated-jpeg", "chest-truncated.jpg", "JPEG cut off mid-stream", "FAILED",
               "TruncatedImageError"), jpeg[: len(jpeg) // 3], _metadata("x"))
    add(Sample("rg3-lower-leg", "RG3_UNCR.dcm", "real CR of a lower leg: not a chest image", "FAILED",
               "NotChestImageError"), _dicom_sample("RG3_UNCR.dcm"), None)
    return studies


def write_samples(directory: Path, run_id: str) -> list[Path]:
    """Write the samples as files (image + .json sidecar) so users can `radstream submit` them."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for sample, data, metadata, _ in build_samples(run_id):
        image = directory / sample.filename
        image.write_bytes(data)
        image.with_suffix(".json").write_text(json.dumps(metadata, indent=2))
        written.append(image)
    return written
