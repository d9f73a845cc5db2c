"""``prepare_tensor``: image bytes -> float32 tensor (1, 1, 224, 224) plus non-PHI image facts.

Order of checks (cheap and header-only first, so hostile files cost almost nothing):

1. empty file; 2. format sniffed from magic bytes (never the extension); 3. extension vs content;
4. header parse (PNG IHDR, JPEG SOFn, DICOM header) -> truncation/corruption;
5. pixel limit from the header dimensions (decompression bombs), minimum size, aspect ratio;
6. frames, colour/CMYK, bit depth, DICOM transfer syntax; 7. chest check (DICOM header, sidecar);
8. sidecar vs header contradictions; 9. decode; 10. resize + normalise.

Fast path: JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (Pillow ``draft``) when
the source is at least twice 224 px; uncompressed DICOM pixel data is used in place (zero-copy
``np.frombuffer``) and the display transforms (unused-bit masking, sign extension, rescale,
VOI LUT/window, MONOCHROME1 inversion) are composed into one lookup table applied as a single gather;
resizing is Pillow's C box filter (area average) on the 8-bit or float32 image; normalisation
works on the 224x224 result only.

Normalisation: per-image min-max to [0, 1] after resizing (``source["normalisation"] ==
"minmax"``); a constant image becomes all zeros. The image is resized to 224x224 without
preserving aspect ratio (chest radiographs are close to square; the aspect limit bounds the distortion).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import chest_policy as policy
from . import dicom_decode as dicom
from .errors import (
    AspectRatioError,
    CmykImageError,
    ColourImageError,
    CorruptImageError,
    DecompressionBombError,
    EmptyFileError,
    ImageTooSmallError,
    MultiFrameError,
    TruncatedImageError,
    UnsupportedBitDepthError,
    UnsupportedFormatError,
)
from .formats import DICOM, JPEG, PNG, PNG_COLOUR_NAMES, check_extension, parse_jpeg_header, parse_png_header, sniff

TARGET = 224
MAX_PIXELS = 40_000_000     # ~6300 x 6300; the largest real CR/DX detectors are ~4300 x 4300
MIN_SIDE = 64
MAX_ASPECT = 3.0            # chest detectors are 14x17 in (1.2); 3.0 still admits odd crops
# Colour check: a pixel counts as "coloured" if a chroma channel deviates more than this
# (8-bit levels) from neutral; an image is colour if more than this fraction of pixels are.
CHROMA_TOLERANCE = 8
COLOUR_FRACTION = 0.01


@dataclass
class PreparedImage:
    """The model input and what is known about where it came from (no patient information)."""

    tensor: np.ndarray                      # float32, shape (1, 1, 224, 224), values in [0, 1]
    source: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_pixels: int = MAX_PIXELS
    min_side: int = MIN_SIDE
    max_aspect: float = MAX_ASPECT


def check_dimensions(width: int, height: int, fmt: str, limits: Limits = Limits()) -> None:
    pixels = int(width) * int(height)
    if pixels > limits.max_pixels:
        raise DecompressionBombError(
            f"The {fmt.upper()} header declares {width}x{height} = {pixels:,} pixels, over the limit of "
            f"{limits.max_pixels:,}; refused before decoding (possible decompression bomb). "
            "Downsample the image before upload if it is genuine."
        )
    if min(width, height) < limits.min_side:
        raise ImageTooSmallError(
            f"The image is {width}x{height} pixels; a radiograph needs at least {limits.min_side} pixels "
            "on each side. Send the full-resolution image."
        )
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect:
        raise AspectRatioError(
            f"The image is {width}x{height} (aspect ratio {ratio:.1f}:1); a chest radiograph is at most "
            f"{limits.max_aspect:g}:1. Check the file is the radiograph and not a strip, stitch or banner."
        )


# --------------------------------------------------------------------------- resizing / normalising

def _resize_to_target(img, size: int = TARGET):
    """Pillow box filter (area average) to size x size; input is a PIL image (L or F)."""
    from PIL import Image

    if img.size == (size, size):
        return img
    return img.resize((size, size), Image.Resampling.BOX)


def _finish(arr: np.ndarray) -> np.ndarray:
    """(224, 224) -> float32 (1, 1, 224, 224) min-max normalised, in place on a fresh array."""
    out = np.array(arr, dtype=np.float32).reshape(1, 1, TARGET, TARGET)  # 200 KB: the only copy we own
    lo = float(out.min())
    hi = float(out.max())
    if hi > lo:
        out -= lo
        out *= np.float32(1.0 / (hi - lo))
    else:
        out[...] = 0.0
    return out


def float_image_to_tensor(img2d: np.ndarray) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(np.ascontiguousarray(img2d, dtype=np.float32))
    return _finish(np.asarray(_resize_to_target(pil)))


# --------------------------------------------------------------------------- JPEG / PNG

def _open_pil(data: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise CorruptImageError("The image header could not be parsed by the decoder. Re-export the image.") from None
    except Image.DecompressionBombError:
        raise DecompressionBombError("The image declares too many pixels; refused before decoding.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _decode_error(exc, "image") from None


def _decode_error(exc: Exception, fmt: str) -> Exception:
    msg = str(exc)
    low = msg.lower()
    if "truncated" in low or "premature" in low or "end of file" in low or "unexpected end" in low:
        return TruncatedImageError(
            f"The {fmt.upper()} is truncated: the decoder ran out of data. Re-export or re-upload the image."
        )
    return CorruptImageError(
        f"The {fmt.upper()} is corrupt: the decoder failed ({type(exc).__name__}: {msg[:120]}). Re-export the image."
    )


def _load(img, fmt: str) -> None:
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _decode_error(exc, fmt) from None


def _colour_fraction(c1: np.ndarray, c2: np.ndarray, neutral: int) -> float:
    dev = np.maximum(np.abs(c1.astype(np.int16) - neutral), np.abs(c2.astype(np.int16) - neutral))
    return float(np.count_nonzero(dev > CHROMA_TOLERANCE)) / dev.size


def _prepare_jpeg(data: bytes, limits: Limits) -> PreparedImage:
    hdr = parse_jpeg_header(data)
    check_dimensions(hdr.width, hdr.height, JPEG, limits)
    if hdr.process in (3, 7, 11, 15):
        raise UnsupportedFormatError(
            "The JPEG uses the lossless process (SOF3), which the JPEG decoder does not support. "
            "Send it as DICOM (JPEG lossless is supported there) or as 16-bit PNG."
        )
    if hdr.components == 4:
        raise CmykImageError(
            "The JPEG is CMYK/YCCK (4 colour components, a print format), not a radiograph. "
            "Export the radiograph as grayscale JPEG or PNG."
        )
    if hdr.components not in (1, 3):
        raise CorruptImageError(f"The JPEG has {hdr.components} colour components; expected 1 (grayscale).")
    if hdr.precision != 8:
        raise UnsupportedBitDepthError(
            f"The JPEG has {hdr.precision}-bit samples; only 8-bit JPEG is supported. "
            "Send 12/16-bit data as DICOM or 16-bit grayscale PNG."
        )
    img = _open_pil(data)
    if getattr(img, "n_frames", 1) > 1:
        raise MultiFrameError(
            f"The JPEG contains {img.n_frames} pictures (MPO/multi-picture); send a single image."
        )
    if img.mode == "CMYK":
        raise CmykImageError("The JPEG is CMYK, not a radiograph. Export the radiograph as grayscale JPEG or PNG.")
    colour = img.mode != "L"
    # Decode at reduced scale in the DCT domain; gives an image >= 224 on each side.
    img.draft("YCbCr" if colour else "L", (TARGET, TARGET))
    scale = round(hdr.width / img.size[0]) if img.size[0] else 1
    _load(img, JPEG)
    photometric = "MONOCHROME2"
    if colour:
        if img.mode == "YCbCr":
            y, cb, cr = img.split()
            frac = _colour_fraction(np.asarray(cb), np.asarray(cr), 128)
        else:  # decoder delivered RGB
            rgb = np.asarray(img)
            frac = _colour_fraction(rgb[..., 0] - rgb[..., 1].astype(np.int16) + 128,
                                    rgb[..., 2] - rgb[..., 1].astype(np.int16) + 128, 128)
            y = img.convert("L")
        if frac > COLOUR_FRACTION:
            raise ColourImageError(
                f"The JPEG is a colour image ({frac:.0%} of pixels have colour); a grayscale radiograph "
                "is required. Export the radiograph in grayscale."
            )
        img = y
        photometric = "RGB-neutral"
    tensor = _finish(np.asarray(_resize_to_target(img)))
    source = {
        "format": "jpeg", "width": hdr.width, "height": hdr.height, "bits_stored": 8,
        "photometric": photometric, "components": hdr.components, "decode_scale": scale,
        "progressive": hdr.process == 2,
    }
    return PreparedImage(tensor, source)


def _prepare_png(data: bytes, limits: Limits) -> PreparedImage:
    hdr = parse_png_header(data)
    check_dimensions(hdr.width, hdr.height, PNG, limits)
    if hdr.animated_frames > 1:
        raise MultiFrameError(
            f"The PNG is animated (APNG with {hdr.animated_frames} frames); send a single still image."
        )
    if hdr.colour_type in (2, 6) and hdr.bit_depth == 16:
        raise ColourImageError(
            f"The PNG is 16-bit {PNG_COLOUR_NAMES[hdr.colour_type]} (colour); 16-bit PNG must be grayscale. "
            "Export the radiograph as 16-bit grayscale PNG."
        )
    img = _open_pil(data)
    _load(img, PNG)
    mode = img.mode
    photometric = "MONOCHROME2"
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        pil = _float_pil(arr)
        tensor = _finish(np.asarray(_resize_to_target(pil)))
    else:
        if mode in ("RGB", "RGBA", "P", "PA"):
            if mode in ("P", "PA"):
                pal = np.frombuffer(img.palette.tobytes(), dtype=np.uint8)
                rawmode = img.palette.mode
                if rawmode.startswith("RGB"):
                    ch = len(rawmode)
                    pal = pal[: len(pal) // ch * ch].reshape(-1, ch)
                    used = np.unique(np.asarray(img))
                    used = used[used < len(pal)]
                    p = pal[used]
                    if np.any(np.abs(p[:, 0].astype(int) - p[:, 1]) > 0) or np.any(np.abs(p[:, 2].astype(int) - p[:, 1]) > 0):
                        raise ColourImageError(
                            "The PNG uses a colour palette; a grayscale radiograph is required. Export it in grayscale."
                        )
                img = img.convert("L")
                photometric = "PALETTE-gray"
            else:
                rgb = np.asarray(img)
                frac = _colour_fraction(rgb[..., 0].astype(np.int16) - rgb[..., 1] + 128,
                                        rgb[..., 2].astype(np.int16) - rgb[..., 1] + 128, 128)
                if frac > COLOUR_FRACTION:
                    raise ColourImageError(
                        f"The PNG is a colour image ({frac:.0%} of pixels have colour); a grayscale radiograph "
                        "is required. Export the radiograph in grayscale."
                    )
                img = img.getchannel("G")
                photometric = "RGB-neutral"
        elif mode == "LA":
            img = img.getchannel("L")
        elif mode == "1":
            img = img.convert("L")
        elif mode != "L":
            raise UnsupportedFormatError(f"The PNG decodes to an unsupported mode {mode}; send grayscale PNG.")
        tensor = _finish(np.asarray(_resize_to_target(img)))
    source = {
        "format": "png", "width": hdr.width, "height": hdr.height, "bits_stored": hdr.bit_depth,
        "photometric": photometric, "colour_type": PNG_COLOUR_NAMES[hdr.colour_type],
        "interlaced": bool(hdr.interlace),
    }
    return PreparedImage(tensor, source)


def _float_pil(arr: np.ndarray):
    from PIL import Image

    return Image.fromarray(arr.astype(np.float32, copy=False))


# --------------------------------------------------------------------------- DICOM

_DICOM_SOURCE_KEYS = (
    "format", "width", "height", "bits_allocated", "bits_stored", "pixel_representation", "samples_per_pixel",
    "frames", "photometric", "modality", "body_part", "view_position", "transfer_syntax", "transfer_syntax_name",
)


def _prepare_dicom(data: bytes, metadata: Mapping[str, Any] | None, limits: Limits, require_chest: bool) -> PreparedImage:
    # header + pixels of the largest allowed image, x2 for 32-bit/odd layouts, + 1 MiB of header
    ds = dicom.read_dataset(data, max_inflated=limits.max_pixels * 4 + (1 << 20))
    facts = dicom.dicom_facts(ds)
    dicom.check_structure(ds, facts, len(data))
    check_dimensions(facts["width"], facts["height"], DICOM, limits)
    dicom.check_pixels_layout(facts)
    dicom.check_transfer_syntax(facts)
    if require_chest:
        policy.check_chest(facts["modality"], facts["body_part"], where="DICOM header")
        policy.check_chest(policy.sidecar_modality(metadata), policy.sidecar_body_part(metadata), where="sidecar")
    policy.check_metadata_matches(metadata, facts)
    dicom.check_pixel_length(ds, facts)
    arr = dicom.native_pixels(ds, facts)  # zero-copy for uncompressed little endian
    if arr is None:
        arr = dicom.decode_pixels(ds, facts)
    if arr.shape != (facts["height"], facts["width"]):
        raise CorruptImageError(
            f"The DICOM pixel data decoded to {arr.shape[1]}x{arr.shape[0]} but the header says "
            f"{facts['width']}x{facts['height']}. Re-export the study."
        )
    display, info = dicom.to_display(ds, arr)
    tensor = float_image_to_tensor(display)
    source = {k: facts[k] for k in _DICOM_SOURCE_KEYS}
    source.update(info)
    return PreparedImage(tensor, source)


# --------------------------------------------------------------------------- entry point

def prepare_tensor(
    data: bytes,
    *,
    filename: str,
    metadata: Mapping[str, Any] | None = None,
    require_chest: bool = True,
    limits: Limits = Limits(),
) -> PreparedImage:
    """Turn uploaded image bytes into the model tensor, or raise a specific ImageError subclass.

    ``filename`` is used only to check that its extension matches the content. ``metadata`` is
    the study sidecar: its ``view``, ``modality``, ``body_part`` (and optional ``width``/``height``)
    are checked against the image; a non-chest ``modality``/``body_part`` is rejected.
    ``require_chest=False`` skips the chest check (for tools that decode other anatomy).
    """
    if data is None or len(data) == 0:
        # The file name is not quoted: uploads are often named after the patient.
        raise EmptyFileError("The image file is empty (0 bytes). Upload the image again.")
    data = bytes(data) if not isinstance(data, bytes) else data
    fmt = sniff(data)
    check_extension(filename, fmt)
    if fmt == DICOM:
        with dicom.quiet():  # pydicom warnings can quote element values (PHI): keep them out of logs
            prepared = _prepare_dicom(data, metadata, limits, require_chest)
    else:
        if require_chest:
            policy.check_chest(policy.sidecar_modality(metadata), policy.sidecar_body_part(metadata), where="sidecar")
        prepared = _prepare_jpeg(data, limits) if fmt == JPEG else _prepare_png(data, limits)
        policy.check_metadata_matches(
            {k: v for k, v in (metadata or {}).items() if k in ("width", "height", "columns", "rows")},
            prepared.source,
        )
    prepared.source["tensor_shape"] = list(prepared.tensor.shape)
    prepared.source["normalisation"] = "minmax"
    prepared.source["file_bytes"] = len(data)
    return prepared

