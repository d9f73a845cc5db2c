"""Synthetic chest-radiograph-like images, deterministic by seed (no patient data, no downloads).

The picture is a smooth anatomy-like structure - soft-tissue envelope, two dark lung fields,
bright mediastinum and heart shadow, spine, clavicles, ribs, diaphragm domes - with film-grain
noise, rendered as a radiograph is displayed (bone and tissue bright, air dark). Sizes default
to ~2000 x 2000, the size of a real CR/DX chest image.

``chest_array`` gives the 16-bit image (12 bits used); ``chest_jpeg``, ``chest_png`` (8 or 16 bit)
and ``chest_dicom`` (a CR/DX Part 10 file with a synthetic, obviously fake header) encode it.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

DEFAULT_SIZE = (2000, 2000)  # (height, width)


def chest_array(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE, *, bits: int = 12) -> np.ndarray:
    """uint16 image (height, width) with values in [0, 2**bits - 1]."""
    rng = np.random.default_rng(seed)
    h, w = int(size[0]), int(size[1])
    # Work on a coarse grid (smooth anatomy), upsample, then add full-resolution noise.
    ch, cw = max(h // 4, 16), max(w // 4, 16)
    y = np.linspace(-1.0, 1.0, ch, dtype=np.float32)[:, None]
    x = np.linspace(-1.0, 1.0, cw, dtype=np.float32)[None, :]
    j = lambda s=0.05: float(rng.normal(0.0, s))  # noqa: E731 - per-seed anatomical jitter

    img = np.full((ch, cw), 0.08, np.float32)                                   # air around the patient
    body = np.exp(-(((x / (0.86 + j(0.03))) ** 2 + ((y - 0.05) / 1.25) ** 2) ** 3))
    img += 0.55 * body                                                            # soft tissue envelope
    lung_dark = np.zeros_like(img)
    for side in (-1.0, 1.0):
        cx = side * (0.36 + j(0.02))
        cy = -0.05 + j(0.03)
        rx = 0.27 + j(0.02) + (0.02 if side > 0 else 0.0)
        ry = 0.62 + j(0.03)
        lung = np.exp(-((((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) ** 2))
        lung_dark = np.maximum(lung_dark, lung)
    img -= 0.42 * lung_dark * body                                                # aerated lungs are dark
    heart = np.exp(-((((x - 0.10 - j(0.02)) / (0.24 + j(0.02))) ** 2 + ((y - 0.22) / 0.24) ** 2) ** 1.5))
    img += 0.32 * heart                                                           # cardiac silhouette
    mediastinum = np.exp(-((x / 0.10) ** 4)) / (1.0 + np.exp((y - 0.35) * 12.0))
    img += 0.22 * mediastinum
    vessels = np.exp(-((np.abs(np.abs(x) - 0.16) / 0.05) ** 2) - ((y - 0.05) / 0.22) ** 2) * lung_dark
    img += 0.10 * vessels                                                         # hilar vessels
    spine = np.exp(-((x / 0.045) ** 6)) * (0.75 + 0.25 * np.cos(y * 44.0 + j(1.0)))
    img += 0.05 * spine
    phase = j(0.5)
    for side in (-1.0, 1.0):                                                      # ribs: curved bright bands
        xs = np.abs(x) * (side * x > 0)
        curve = y + 0.35 * xs ** 2 * 1.2
        ribs = 0.5 + 0.5 * np.cos(curve * 34.0 + phase)
        ribs = (ribs ** 4) * (side * x > 0.06) * np.clip(lung_dark * 1.4, 0.0, 1.0)
        img += 0.09 * ribs
        clav = np.exp(-(((y + 0.62 - 0.25 * xs) / 0.03) ** 2)) * (xs < 0.55) * (side * x > 0.03)
        img += 0.15 * clav
    dome = 0.45 + 0.08 * np.cos((x) * 3.0) + j(0.02)                               # diaphragm + abdomen
    img += 0.35 * (1.0 / (1.0 + np.exp(-(y - dome) * 40.0))) * body
    img = np.clip(img, 0.0, None)

    from PIL import Image

    big = Image.fromarray(img.astype(np.float32)).resize((w, h), Image.Resampling.BICUBIC)
    out = np.asarray(big, dtype=np.float32).copy()
    out += rng.normal(0.0, 0.012, size=(h, w)).astype(np.float32)                 # quantum noise / grain
    out += np.float32(0.02) * (np.linspace(-1, 1, w, dtype=np.float32)[None, :] * j(1.0))  # heel effect
    lo, hi = np.percentile(out[:: max(h // 256, 1), :: max(w // 256, 1)], (0.5, 99.5))
    out = (out - lo) / max(hi - lo, 1e-6)
    np.clip(out, 0.0, 1.0, out=out)
    maxval = (1 << bits) - 1
    return np.round(out * maxval).astype(np.uint16)


def to_uint8(arr16: np.ndarray, bits: int = 12) -> np.ndarray:
    return (arr16.astype(np.uint32) * 255 // ((1 << bits) - 1)).astype(np.uint8)


def chest_jpeg(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE, *, quality: int = 90) -> bytes:
    """Grayscale baseline JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(chest_array(seed, size))).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def chest_png(seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE, *, bits: int = 8,
              compress_level: int | None = None) -> bytes:
    """Grayscale PNG bytes, 8-bit or 16-bit (16-bit holds the 12-bit data scaled to the full range).

    ``compress_level`` defaults to 6 for 8-bit and 1 for 16-bit (noisy 16-bit data barely
    compresses better at 6 and takes 6x longer).
    """
    from PIL import Image

    if compress_level is None:
        compress_level = 6 if bits == 8 else 1
    arr = chest_array(seed, size)
    buf = io.BytesIO()
    if bits == 8:
        Image.fromarray(to_uint8(arr)).save(buf, "PNG", compress_level=compress_level)
    elif bits == 16:
        full = (arr.astype(np.uint32) * 65535 // 4095).astype(np.uint16)
        Image.fromarray(full).save(buf, "PNG", compress_level=compress_level)
    else:
        raise ValueError("bits must be 8 or 16")
    return buf.getvalue()


def chest_dicom(
    seed: int = 0,
    size: tuple[int, int] = DEFAULT_SIZE,
    *,
    modality: str = "DX",
    body_part: str | None = "CHEST",
    view_position: str | None = "PA",
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] | None = None,
    pixel_array: np.ndarray | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """An uncompressed (Explicit VR Little Endian) single-frame grayscale DICOM Part 10 file.

    The header is synthetic (PatientName ``SYNTHETIC^PHANTOM``, generated UIDs). ``extra`` sets any
    further keyword -> value on the dataset (e.g. to plant identifiers in tests).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    arr = pixel_array if pixel_array is not None else chest_array(seed, size, bits=min(bits_stored, 16))
    if photometric == "MONOCHROME1" and pixel_array is None:
        arr = ((1 << bits_stored) - 1 - arr.astype(np.int32)).astype(np.uint16)
    bits_alloc = 8 if arr.dtype.itemsize == 1 else 16
    sop_class = UID("1.2.840.10008.5.1.4.1.1.1.1" if modality == "DX" else "1.2.840.10008.5.1.4.1.1.1")
    prefix = "1.2.826.0.1.3680043.8.498."  # pydicom's documented example root
    sop_uid = generate_uid(prefix, entropy_srcs=[f"sop-{seed}"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(prefix, entropy_srcs=[f"study-{seed}"])
    ds.SeriesInstanceUID = generate_uid(prefix, entropy_srcs=[f"series-{seed}"])
    ds.PatientName = "SYNTHETIC^PHANTOM"
    ds.PatientID = f"SYN{seed:06d}"
    ds.StudyDate = "20240115"
    ds.StudyTime = "100000"
    ds.Modality = modality
    if body_part:
        ds.BodyPartExamined = body_part
    if view_position:
        ds.ViewPosition = view_position
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.BitsAllocated = bits_alloc
    ds.BitsStored = min(bits_stored, bits_alloc)
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if arr.dtype.kind == "i" else 0
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
        ds.RescaleType = "US"
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


__all__ = ["chest_array", "chest_jpeg", "chest_png", "chest_dicom", "to_uint8", "DEFAULT_SIZE"]
