"""Hostile and broken files, each with the error class RadStream must answer with.

``hostile_corpus()`` returns a list of ``HostileCase`` (a NamedTuple, so it unpacks as
``(case_name, filename, data, metadata, expected_error)``; ``expected_error`` is the class
*name*, which is also the Step Functions error name and the failure record's ``error.code``).
``valid_corpus()`` returns files that must be accepted (same shape, ``expected_error`` None).

Both are deterministic and cheap (~1 s, mostly the synthetic images); the pipeline test uploads
each case with its ``metadata`` as the sidecar and expects exactly one FAILED record with that
code. Use from anywhere: ``from support.hostile_corpus import hostile_corpus`` (tests/ on
sys.path, as pytest's rootdir conftest arranges) or load the file by path.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np


class HostileCase(NamedTuple):
    case_name: str
    filename: str
    data: bytes
    metadata: dict[str, Any]
    expected_error: str | None


SIZE = (512, 512)


def _meta(case: str, **extra: Any) -> dict[str, Any]:
    m = {"study_id": f"hostile-{case.replace('_', '-')}", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}
    m.update(extra)
    return m


def _chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes | None = None,
              extra_chunks: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """Hand-built PNG (lets us declare anything: huge sizes, 16-bit RGB...)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr)
    for ctype, payload in extra_chunks or []:
        body += _chunk(ctype, payload)
    body += _chunk(b"IDAT", zlib.compress(raw_rows if raw_rows is not None else b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + body + _chunk(b"IEND", b"")


def _patch_jpeg_sof(jpeg: bytes, *, width: int | None = None, height: int | None = None,
                    precision: int | None = None) -> bytes:
    i = 2
    b = bytearray(jpeg)
    while i < len(b):
        assert b[i] == 0xFF
        marker = b[i + 1]
        seglen = struct.unpack(">H", b[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            if precision is not None:
                b[i + 4] = precision
            if height is not None:
                b[i + 5:i + 7] = struct.pack(">H", height)
            if width is not None:
                b[i + 7:i + 9] = struct.pack(">H", width)
            return bytes(b)
        i += 2 + seglen
    raise AssertionError("no SOF marker")


@lru_cache(maxsize=None)
def _base() -> dict[str, bytes]:
    from PIL import Image

    from radstream.tooling import synthetic_images as synthetic

    arr8 = synthetic.to_uint8(synthetic.chest_array(7, SIZE))
    out: dict[str, bytes] = {
        "jpeg": synthetic.chest_jpeg(7, SIZE),
        "png8": synthetic.chest_png(7, SIZE),
        "png16": synthetic.chest_png(7, SIZE, bits=16, compress_level=1),
        "dicom": synthetic.chest_dicom(7, SIZE),
    }
    # colourful RGB (a photo-like gradient over the radiograph)
    rgb = np.stack([arr8, np.flipud(arr8), np.linspace(0, 255, SIZE[1], dtype=np.uint8)[None, :].repeat(SIZE[0], 0)], -1)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=85)
    out["colour_jpeg"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    out["colour_png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=85)
    out["cmyk_jpeg"] = buf.getvalue()
    # grayscale saved as RGB (R == G == B): must be accepted
    buf = io.BytesIO()
    Image.fromarray(np.repeat(arr8[..., None], 3, -1)).save(buf, "JPEG", quality=90)
    out["neutral_rgb_jpeg"] = buf.getvalue()
    # animated PNG, 2 frames
    buf = io.BytesIO()
    f = Image.fromarray(arr8)
    f.save(buf, "PNG", save_all=True, append_images=[Image.fromarray(255 - arr8)], duration=100)
    out["apng"] = buf.getvalue()
    # strip and tiny
    buf = io.BytesIO()
    Image.fromarray(np.zeros((200, 2000), np.uint8) + 100).save(buf, "PNG")
    out["strip_png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8) + 100).save(buf, "PNG")
    out["tiny_png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(arr8).save(buf, "GIF")
    out["gif"] = buf.getvalue()
    return out


def _dicom_multiframe() -> bytes:
    from radstream.tooling import synthetic_images as synthetic

    a = synthetic.chest_array(8, (256, 256))
    return _dicom_with(np.stack([a, a]), NumberOfFrames=2)  # pixel data for 2 frames


def _dicom_with(pixels: np.ndarray, **attrs: Any) -> bytes:
    """Synthetic chest DICOM, then override header attributes (pixel data written verbatim)."""
    import pydicom

    from radstream.tooling import synthetic_images as synthetic

    base = synthetic.chest_dicom(9, pixel_array=np.zeros(pixels.shape[-2:], np.uint16))
    ds = pydicom.dcmread(io.BytesIO(base))
    for k, v in attrs.items():
        if k == "TransferSyntaxUID":
            ds.file_meta.TransferSyntaxUID = v
        else:
            setattr(ds, k, v)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=False)
    return buf.getvalue()


def _dicom_bomb() -> bytes:
    a = np.zeros((64, 64), np.uint16)
    return _dicom_with(a, Rows=65535, Columns=65535)


def _dicom_unsupported_ts() -> bytes:
    import pydicom
    from pydicom.encaps import encapsulate

    from radstream.tooling import synthetic_images as synthetic

    ds = pydicom.dcmread(io.BytesIO(synthetic.chest_dicom(10, (256, 256))))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 Main Profile @ Main Level
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])  # an MPEG-2 sequence header stub
    ds["PixelData"].VR = "OB"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _dicom_32bit() -> bytes:
    a = (np.arange(256 * 256, dtype=np.uint32) * 7).reshape(256, 256)
    return _dicom_with(a, BitsAllocated=32, BitsStored=32, HighBit=31)


def _dicom_no_pixels() -> bytes:
    import pydicom

    from radstream.tooling import synthetic_images as synthetic

    ds = pydicom.dcmread(io.BytesIO(synthetic.chest_dicom(11, (128, 128))))
    del ds.PixelData
    for kw in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PhotometricInterpretation"):
        delattr(ds, kw)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _pydicom_file(name: str) -> bytes:
    from pydicom.data import get_testdata_file

    with open(get_testdata_file(name), "rb") as fh:
        return fh.read()


def hostile_corpus(*, include_large: bool = True) -> list[HostileCase]:
    """Every hostile/broken case with its expected error class name.

    ``include_large=False`` leaves out the 6 MB real lower-leg radiograph (RG3_UNCR.dcm).
    """
    b = _base()
    jpeg, png8, dcm = b["jpeg"], b["png8"], b["dicom"]
    cases: list[HostileCase] = []

    def add(name: str, filename: str, data: bytes, expected: str, **meta: Any) -> None:
        cases.append(HostileCase(name, filename, data, _meta(name, **meta), expected))

    add("zero_bytes", "empty.jpg", b"", "EmptyFileError")
    add("truncated_jpeg", "cut.jpg", jpeg[: len(jpeg) * 4 // 10], "TruncatedImageError")
    add("truncated_png", "cut.png", png8[: len(png8) // 2], "TruncatedImageError")
    add("truncated_dicom_pixels", "cut.dcm", dcm[: len(dcm) * 6 // 10], "TruncatedImageError")
    add("truncated_dicom_header", "cut_header.dcm", dcm[:300], "TruncatedImageError")
    add("png_named_jpg", "image.jpg", png8, "ExtensionMismatchError")
    add("dicom_named_png", "image.png", dcm, "ExtensionMismatchError")
    add("jpeg_named_txt", "notes.txt", jpeg, "ExtensionMismatchError")
    add("not_an_image_text", "image.jpg", b"patient,finding\nA,normal\n" * 40, "UnsupportedFormatError")
    add("not_an_image_pdf", "report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 10,
        "UnsupportedFormatError")
    add("gif_image", "image.gif", b["gif"], "UnsupportedFormatError")
    add("dicom_without_pixels", "report.dcm", _dicom_no_pixels(), "UnsupportedFormatError")
    add("bomb_png", "bomb.png", png_bytes(100_000, 100_000, 8, 0), "DecompressionBombError")
    add("bomb_jpeg", "bomb.jpg", _patch_jpeg_sof(jpeg, width=60_000, height=60_000), "DecompressionBombError")
    add("bomb_dicom", "bomb.dcm", _dicom_bomb(), "DecompressionBombError")
    add("multiframe_dicom", "cine.dcm", _dicom_multiframe(), "MultiFrameError")
    add("animated_png", "anim.png", b["apng"], "MultiFrameError")
    add("colour_jpeg", "photo.jpg", b["colour_jpeg"], "ColourImageError")
    add("colour_png", "photo.png", b["colour_png"], "ColourImageError")
    add("colour_dicom", "rgb.dcm", _pydicom_file("SC_rgb.dcm"), "ColourImageError")
    add("png16_colour", "rgb48.png",
        png_bytes(256, 256, 16, 2, raw_rows=b"".join(b"\x00" + bytes(range(256)) * 6 for _ in range(256))),
        "ColourImageError")
    add("cmyk_jpeg", "print.jpg", b["cmyk_jpeg"], "CmykImageError")
    add("absurd_aspect_ratio", "strip.png", b["strip_png"], "AspectRatioError")
    add("tiny_image", "icon.png", b["tiny_png"], "ImageTooSmallError")
    add("jpeg_12bit_declared", "deep.jpg", _patch_jpeg_sof(jpeg, precision=12), "UnsupportedBitDepthError")
    add("dicom_32bit", "deep.dcm", _dicom_32bit(), "UnsupportedBitDepthError")
    add("png_bad_header_crc", "broken.png", png8[:29] + b"\x00\x00\x00\x00" + png8[33:], "CorruptImageError")
    add("unsupported_transfer_syntax", "mpeg2.dcm", _dicom_unsupported_ts(), "UnsupportedTransferSyntaxError")
    add("not_chest_ct", "ct.dcm", _pydicom_file("CT_small.dcm"), "NotChestImageError")
    add("not_chest_sidecar_body_part", "knee.jpg", jpeg, "NotChestImageError", body_part="KNEE")
    if include_large:
        add("not_chest_lower_leg", "RG3_UNCR.dcm", _pydicom_file("RG3_UNCR.dcm"), "NotChestImageError", view="AP")
    add("metadata_view_contradicts_dicom", "chest.dcm", dcm, "MetadataMismatchError", view="AP")
    add("metadata_modality_contradicts_dicom", "chest2.dcm", dcm, "MetadataMismatchError", modality="CR")
    add("metadata_size_contradicts_png", "chest.png", png8, "MetadataMismatchError", width=1024, height=1024)
    return cases


def valid_corpus() -> list[HostileCase]:
    """Files that must be accepted (the edge of what is allowed)."""
    b = _base()
    out = [
        HostileCase("jpeg_gray", "ok.jpg", b["jpeg"], _meta("ok-jpeg"), None),
        HostileCase("png_8bit_gray", "ok.png", b["png8"], _meta("ok-png8"), None),
        HostileCase("png_16bit_gray", "ok16.png", b["png16"], _meta("ok-png16"), None),
        HostileCase("jpeg_rgb_neutral", "ok_rgb.jpeg", b["neutral_rgb_jpeg"], _meta("ok-rgb-neutral"), None),
        HostileCase("dicom_dx_no_extension", "1.2.826.0.1.3680043.8.498.1", b["dicom"], _meta("ok-dicom"), None),
    ]
    return out


if __name__ == "__main__":  # quick look: python tests/support/hostile_corpus.py
    for c in hostile_corpus():
        print(f"{c.case_name:40s} {c.filename:22s} {len(c.data):>9,d}  -> {c.expected_error}")
