"""DICOM decoding: parse the Part 10 file, check its structure, get display pixels out.

pydicom + the pylibjpeg plugins do the decoding; this module adds the checks that keep hostile files
cheap (the deflate-bomb check before parsing, header-only structure/layout/transfer-syntax checks
before any pixel is decoded) and the display pipeline: stored values -> Modality LUT -> VOI LUT or
window -> MONOCHROME1 inversion, folded into one lookup table. Whether the image is a chest
radiograph and whether it agrees with its sidecar is policy, in :mod:`.chest_policy`.

Only header facts that identify no one leave this module (see ``dicom_facts``). pydicom's
validation warnings can quote element values (names, IDs), so every read happens with
warnings silenced and pydicom exceptions are never chained into our errors.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from contextlib import contextmanager
from typing import Any, Mapping

import numpy as np

from .errors import (
    ColourImageError,
    CorruptImageError,
    DecompressionBombError,
    MultiFrameError,
    TruncatedImageError,
    UnsupportedBitDepthError,
    UnsupportedFormatError,
    UnsupportedTransferSyntaxError,
)


@contextmanager
def quiet():
    """Silence pydicom's warnings (they can quote element values, i.e. PHI)."""
    plog = logging.getLogger("pydicom")
    old = plog.level
    plog.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        plog.setLevel(old)


DEFLATED = "1.2.840.10008.1.2.1.99"


def check_deflate_size(data: bytes, max_inflated: int) -> None:
    """Deflated Explicit VR Little Endian compresses the whole dataset: a few KB can inflate to
    gigabytes before any header is readable. Inflate at most ``max_inflated`` bytes to check."""
    import zlib

    # File meta: (0002,0000) UL group length right after "DICM", explicit VR little endian.
    if data[132:136] != b"\x02\x00\x00\x00" or data[136:138] != b"UL":
        return  # no group length: dcmread handles (or rejects) it
    meta_end = 144 + struct.unpack("<I", data[140:144])[0]
    if DEFLATED.encode() not in data[132:meta_end]:
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data[meta_end:], max_inflated)
    except zlib.error:
        raise CorruptImageError("The deflated DICOM dataset is corrupt (bad deflate stream). Re-export it.") from None
    if len(out) >= max_inflated and (inflater.unconsumed_tail or not inflater.eof):
        raise DecompressionBombError(
            f"The deflated DICOM dataset inflates to more than {max_inflated:,} bytes, over the limit for one "
            "image; refused before parsing (possible decompression bomb)."
        )


def read_dataset(data: bytes, *, stop_before_pixels: bool = False, max_inflated: int | None = None):
    import pydicom
    from pydicom.errors import InvalidDicomError

    if max_inflated is not None and DEFLATED.encode() in data[:1024]:
        check_deflate_size(data, max_inflated)
    try:
        with quiet():
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise CorruptImageError(
            "The DICOM file is corrupt: its Part 10 header cannot be read. Re-export the study from the PACS."
        ) from None
    except (EOFError, struct.error):  # pragma: no cover - depends on where the cut falls
        raise TruncatedImageError(
            "The DICOM file is truncated: it ends inside an element. Re-export or re-upload the study."
        ) from None
    except Exception as exc:  # pydicom raises a zoo of types on garbage; never chain (PHI in messages)
        kind = type(exc).__name__
        raise CorruptImageError(
            f"The DICOM file is corrupt: pydicom could not parse it ({kind}). Re-export the study from the PACS."
        ) from None
    return ds


def element_str(ds, keyword: str) -> str | None:
    val = ds.get(keyword)
    if val is None:
        return None
    s = str(val).strip()
    return s or None


def element_int(ds, keyword: str, default: int | None = None) -> int | None:
    val = ds.get(keyword)
    if val is None or val == "":
        return default
    try:
        return int(val)
    except (TypeError, ValueError):
        return default


def transfer_syntax(ds) -> str | None:
    fm = getattr(ds, "file_meta", None)
    uid = fm.get("TransferSyntaxUID") if fm is not None else None
    return str(uid) if uid else None


def dicom_facts(ds) -> dict[str, Any]:
    """Non-identifying facts about the image (no names, IDs, dates, UIDs other than the transfer syntax)."""
    from pydicom.uid import UID

    ts = transfer_syntax(ds)
    facts = {
        "format": "dicom",
        "width": element_int(ds, "Columns"),
        "height": element_int(ds, "Rows"),
        "bits_allocated": element_int(ds, "BitsAllocated"),
        "bits_stored": element_int(ds, "BitsStored"),
        "pixel_representation": element_int(ds, "PixelRepresentation", 0),
        "samples_per_pixel": element_int(ds, "SamplesPerPixel", 1),
        "frames": element_int(ds, "NumberOfFrames", 1) or 1,
        "photometric": element_str(ds, "PhotometricInterpretation"),
        "modality": element_str(ds, "Modality"),
        "body_part": element_str(ds, "BodyPartExamined"),
        "view_position": element_str(ds, "ViewPosition"),
        "transfer_syntax": ts,
        "transfer_syntax_name": UID(ts).name if ts else None,
    }
    return facts


def is_image_storage(ds) -> bool:
    from pydicom.uid import UID

    fm = getattr(ds, "file_meta", None)
    sop = (fm.get("MediaStorageSOPClassUID") if fm is not None else None) or ds.get("SOPClassUID")
    return bool(sop) and "Image Storage" in UID(str(sop)).name


def check_structure(ds, facts: Mapping[str, Any], data_len: int | None = None) -> None:
    """Checks that need only the header. Limits (pixel count, aspect) are checked by the caller."""
    if facts["transfer_syntax"] is None:
        fm = getattr(ds, "file_meta", None)
        glen = fm.get("FileMetaInformationGroupLength") if fm is not None else None
        meta_end = 132 + 12 + int(glen.value) if glen is not None else None
        if data_len is not None and ((meta_end is not None and data_len < meta_end) or (meta_end is None and data_len < 256)):
            raise TruncatedImageError(
                "The DICOM file is truncated inside its file meta information. Re-export or re-upload the study."
            )
        raise CorruptImageError("The DICOM file has no Transfer Syntax UID in its file meta information. Re-export it.")
    if "PixelData" not in ds:
        if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
            raise UnsupportedBitDepthError(
                "The DICOM pixel data is floating point; RadStream reads 8-16 bit integer radiographs."
            )
        if is_image_storage(ds) or facts["width"]:
            raise TruncatedImageError(
                "The DICOM file is truncated: it is an image object but ends before its pixel data. "
                "Re-export or re-upload the study."
            )
        raise UnsupportedFormatError(
            "The DICOM object has no pixel data (e.g. a report or presentation state). Send the image object."
        )
    if not facts["width"] or not facts["height"]:
        raise CorruptImageError("The DICOM image has no Rows/Columns. Re-export the study from the PACS.")


def check_pixels_layout(facts: Mapping[str, Any]) -> None:
    if facts["frames"] > 1:
        raise MultiFrameError(
            f"The DICOM object has {facts['frames']} frames; RadStream needs one single-frame radiograph. "
            "Send one frame per study (e.g. split the multi-frame object)."
        )
    photometric = (facts["photometric"] or "").upper()
    if facts["samples_per_pixel"] != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ColourImageError(
            f"The DICOM image is colour ({photometric or 'unknown'} photometric interpretation, "
            f"{facts['samples_per_pixel']} samples per pixel); a grayscale radiograph "
            "(MONOCHROME1/MONOCHROME2) is required."
        )
    ba, bs = facts["bits_allocated"], facts["bits_stored"]
    if ba not in (8, 16) or bs is None or not 1 <= bs <= ba:
        raise UnsupportedBitDepthError(
            f"The DICOM pixel data has {ba} bits allocated / {bs} stored; RadStream reads 8-16 bit "
            "integer grayscale. Re-export with 8 or 16 bits allocated."
        )


def check_transfer_syntax(facts: Mapping[str, Any]) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(facts["transfer_syntax"])
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        decoder = None
    except Exception:  # pragma: no cover - defensive
        decoder = None
    if decoder is None:
        raise UnsupportedTransferSyntaxError(
            f"The DICOM transfer syntax {uid} ({uid.name}) is not supported: no installed decoder handles it. "
            "Re-export uncompressed (Explicit VR Little Endian), JPEG lossless or JPEG 2000."
        )
    if not decoder.is_available:
        try:
            missing = " (" + "; ".join(decoder.missing_dependencies) + ")"
        except Exception:  # pragma: no cover - defensive
            missing = ""
        raise UnsupportedTransferSyntaxError(
            f"The DICOM transfer syntax {uid} ({uid.name}) needs a decoder plugin that is not installed{missing}. "
            "Re-export uncompressed or install the pylibjpeg plugin for it."
        )


def check_pixel_length(ds, facts: Mapping[str, Any]) -> None:
    """Uncompressed pixel data shorter than Rows x Columns x bytes means the file was cut."""
    from pydicom.uid import UID

    if UID(facts["transfer_syntax"]).is_compressed:
        return
    expected = facts["width"] * facts["height"] * facts["frames"] * facts["samples_per_pixel"] * (facts["bits_allocated"] // 8)
    got = len(ds.PixelData)
    if got < expected:
        raise TruncatedImageError(
            f"The DICOM file is truncated: pixel data has {got} of {expected} bytes. Re-export or re-upload the study."
        )


def decode_pixels(ds, facts: Mapping[str, Any]) -> np.ndarray:
    """Stored values as a 2-D integer array (pydicom + pylibjpeg plugins for compressed syntaxes)."""
    try:
        with quiet():
            arr = ds.pixel_array
    except Exception as exc:  # decoders raise RuntimeError/ValueError with codec messages (no PHI)
        msg = str(exc).lower()
        kind = type(exc).__name__
        if any(w in msg for w in ("truncat", "end of", "less than expected", "insufficient", "eof", "premature")):
            raise TruncatedImageError(
                f"The DICOM pixel data is truncated ({kind} while decoding {facts['transfer_syntax_name']}). "
                "Re-export or re-upload the study."
            ) from None
        raise CorruptImageError(
            f"The DICOM pixel data could not be decoded ({kind} while decoding {facts['transfer_syntax_name']}). "
            "Re-export the study from the PACS."
        ) from None
    if arr.ndim != 2:
        raise MultiFrameError("The DICOM pixel data is not a single 2-D frame. Send one single-frame radiograph.")
    return arr


_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def native_pixels(ds, facts: Mapping[str, Any]) -> np.ndarray | None:
    """Zero-copy view of uncompressed little-endian pixel data (raw stored words), else None.

    The raw words may carry bits above BitsStored (unused high bits) and signed values are not
    yet sign-extended; ``display_table`` folds both corrections into its lookup table, which
    reproduces pydicom's ``pixel_array`` semantics exactly.
    """
    if facts["transfer_syntax"] not in _NATIVE_LE:
        return None
    itemsize = facts["bits_allocated"] // 8
    count = facts["width"] * facts["height"]
    raw = ds.PixelData
    if len(raw) < count * itemsize:
        return None  # check_pixel_length reports truncation
    dtype = np.dtype(f"<{'i' if facts['pixel_representation'] else 'u'}{itemsize}")
    return np.frombuffer(raw, dtype=dtype, count=count).reshape(facts["height"], facts["width"])


def display_table(ds, arr_dtype: np.dtype) -> tuple[np.ndarray, dict[str, Any]]:
    """Compose stored-value decoding, Modality LUT (rescale), VOI LUT/window and MONOCHROME1
    inversion into one lookup table indexed by the raw stored word (viewed as unsigned).

    Indexing the table with the image gives display values in one vectorised gather, exactly
    equal to pydicom's ``pixel_array`` -> ``apply_modality_lut`` -> ``apply_voi_lut`` on the
    full image, for the cost of computing 256 or 65536 entries.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    itemsize = np.dtype(arr_dtype).itemsize
    nbits = 8 * itemsize
    raw = np.arange(2 ** nbits, dtype=np.int64)
    bits_stored = min(int(ds.get("BitsStored") or nbits), nbits)
    stored = raw & ((1 << bits_stored) - 1)               # unused high bits are ignored (as pydicom does)
    if int(ds.get("PixelRepresentation") or 0) == 1:      # two's complement within BitsStored
        stored = np.where(stored >= (1 << (bits_stored - 1)), stored - (1 << bits_stored), stored)
    values = stored.astype(np.int32)
    info: dict[str, Any] = {}
    with quiet():
        out = apply_modality_lut(values, ds)
        info["rescale"] = bool("ModalityLUTSequence" in ds or "RescaleSlope" in ds or "RescaleIntercept" in ds)
        if "VOILUTSequence" in ds:
            info["voi"] = "lut"
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            info["voi"] = "window"
        else:
            info["voi"] = "none"
        if info["voi"] != "none":
            out = apply_voi_lut(out, ds, index=0, prefer_lut=True)
    table = np.asarray(out, dtype=np.float32)
    if (str(ds.get("PhotometricInterpretation", "")).upper()) == "MONOCHROME1":
        # MONOCHROME1: minimum value is white. Invert within the output range.
        lo, hi = float(table.min()), float(table.max())
        table = np.subtract(np.float32(lo + hi), table, dtype=np.float32)
        info["inverted"] = True
    else:
        info["inverted"] = False
    return table, info


def to_display(ds, arr: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Full-resolution float32 display image from stored values (one gather through the LUT)."""
    if arr.dtype.kind not in "iu" or arr.dtype.itemsize > 2:
        raise UnsupportedBitDepthError(
            f"The DICOM pixel data decoded to {arr.dtype}; RadStream reads 8-16 bit integer radiographs."
        )
    if not arr.dtype.isnative:  # e.g. Explicit VR Big Endian: the unsigned view below must see native words
        arr = arr.astype(arr.dtype.newbyteorder("="))
    table, info = display_table(ds, arr.dtype)
    unsigned = np.dtype(f"u{arr.dtype.itemsize}")
    img = table[arr.view(unsigned)]
    return img, info
