"""Format sniffing (magic bytes), filename-extension checks and header parsing without decoding.

Everything here reads a few header bytes only, so limits (pixel count, aspect ratio, bit depth)
are enforced before a decoder allocates anything.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

from .errors import (
    CorruptImageError,
    ExtensionMismatchError,
    TruncatedImageError,
    UnsupportedFormatError,
)

DICOM = "dicom"
JPEG = "jpeg"
PNG = "png"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
DICOM_MAGIC = b"DICM"

# Accepted extensions per format. A file without extension (or with an all-digit "extension",
# as in DICOM files named by UID) is accepted for any format.
EXTENSIONS = {
    DICOM: {".dcm", ".dicom", ".dic"},
    JPEG: {".jpg", ".jpeg", ".jpe", ".jfif"},
    PNG: {".png"},
}

# Recognised but unsupported content, to give a precise message.
_OTHER_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"BM", 0, "a BMP image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "a JPEG 2000 (JP2) file"),
    (b"\xffO\xffQ", 0, "a raw JPEG 2000 codestream"),
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive"),
    (b"\x1f\x8b", 0, "a gzip archive"),
    (b"\x7fELF", 0, "an executable"),
    (b"MZ", 0, "a Windows executable"),
    (b"\xff\x0a", 0, "a JPEG XL codestream"),
    (b"\x00\x00\x00\x0cJXL ", 0, "a JPEG XL file"),
]


def sniff(data: bytes) -> str:
    """Return DICOM, JPEG or PNG from the content; raise for anything else."""
    if len(data) >= 132 and data[128:132] == DICOM_MAGIC:
        return DICOM
    if data.startswith(JPEG_SOI):
        return JPEG
    if data.startswith(PNG_SIGNATURE):
        return PNG
    # A file cut inside the signature itself.
    if 0 < len(data) < len(PNG_SIGNATURE) and PNG_SIGNATURE.startswith(data):
        raise TruncatedImageError(
            f"The file is truncated: only {len(data)} bytes of a PNG signature. Re-export or re-upload the image."
        )
    if 0 < len(data) < 3 and JPEG_SOI.startswith(data):
        raise TruncatedImageError(
            f"The file is truncated: only {len(data)} bytes of a JPEG header. Re-export or re-upload the image."
        )
    if 128 < len(data) < 132 and DICOM_MAGIC.startswith(data[128:]) and not any(data[:128]):
        raise TruncatedImageError("The file is truncated inside the DICOM preamble. Re-export or re-upload the study.")
    for sig, off, what in _OTHER_SIGNATURES:
        if data[off:off + len(sig)] == sig:
            if what.endswith("image") or "JPEG" in what:
                hint = "convert it to PNG (grayscale) or send the original DICOM"
            else:
                hint = "send the radiograph itself"
            raise UnsupportedFormatError(
                f"The content is {what}, not an accepted image. RadStream accepts DICOM (Part 10), JPEG and PNG: {hint}."
            )
    if data[:4] in (b"RIFF",) and data[8:12] == b"WEBP":
        raise UnsupportedFormatError(
            "The content is a WebP image. RadStream accepts DICOM (Part 10), JPEG and PNG: convert it to PNG."
        )
    if len(data) >= 8 and data[:2] in (b"\x08\x00", b"\x02\x00") and data[2:4] < b"\x20\x00":
        raise UnsupportedFormatError(
            "The content looks like a DICOM dataset without the Part 10 header (no 'DICM' at byte 128). "
            "Export it as a DICOM Part 10 file (with preamble and file meta information)."
        )
    what = "text" if _looks_like_text(data[:512]) else "unrecognised binary data"
    raise UnsupportedFormatError(
        f"The content is not an image ({what}). RadStream accepts DICOM (Part 10), JPEG and PNG."
    )


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(b >= 0x09 for b in head)


def _extension(filename: str) -> str:
    base = os.path.basename(filename or "")
    ext = os.path.splitext(base)[1].lower()
    if ext[1:].isdigit():  # e.g. 1.2.840.113619.2.55.3.604688119.969 (a UID as file name)
        return ""
    return ext


def check_extension(filename: str, fmt: str) -> None:
    """Raise ExtensionMismatchError when the filename's extension names another format."""
    ext = _extension(filename)
    if not ext or ext in EXTENSIONS[fmt]:
        return
    claimed = next((f for f, exts in EXTENSIONS.items() if ext in exts), None)
    claimed_txt = f"a {claimed.upper()} file" if claimed else f"a '{ext}' file"
    wanted = ", ".join(sorted(EXTENSIONS[fmt]))
    raise ExtensionMismatchError(
        f"The filename extension '{ext}' says {claimed_txt} but the content is {fmt.upper()}. "
        f"Rename the file with one of {wanted} (or check that the right file was uploaded)."
    )


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int
    animated_frames: int  # from acTL, 0 when not animated


_PNG_VALID_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
PNG_COLOUR_NAMES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def parse_png_header(data: bytes) -> PngHeader:
    if len(data) < 33:
        raise TruncatedImageError(
            f"The PNG is truncated: {len(data)} bytes, too short for its header. Re-export or re-upload the image."
        )
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        raise CorruptImageError("The PNG is corrupt: its first chunk is not a valid IHDR. Re-export the image.")
    if zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        raise CorruptImageError("The PNG is corrupt: the IHDR checksum does not match. Re-export the image.")
    width, height, depth, ctype_, comp, filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if ctype_ not in _PNG_VALID_DEPTHS or depth not in _PNG_VALID_DEPTHS[ctype_] or comp or filt or interlace > 1:
        raise CorruptImageError(
            f"The PNG is corrupt: invalid header combination (bit depth {depth}, colour type {ctype_}). "
            "Re-export the image with a standard encoder."
        )
    if width == 0 or height == 0:
        raise CorruptImageError("The PNG is corrupt: it declares a zero width or height.")
    frames = 0
    # acTL must come before the first IDAT: walk the chunk list up to IDAT.
    pos = 33
    while pos + 8 <= len(data):
        clen, cname = struct.unpack(">I4s", data[pos:pos + 8])
        if cname == b"acTL" and pos + 12 <= len(data):
            frames = struct.unpack(">I", data[pos + 8:pos + 12])[0]
        if cname in (b"IDAT", b"IEND"):
            break
        pos += 12 + clen
    if data.rfind(b"IEND") < 0:
        raise TruncatedImageError(
            "The PNG is truncated: it has no IEND chunk (the upload or export was cut short). Re-upload the image."
        )
    return PngHeader(width, height, depth, ctype_, interlace, frames)


@dataclass(frozen=True)
class JpegHeader:
    width: int
    height: int
    precision: int
    components: int
    process: int  # SOF marker index 0..15 (0 baseline, 1 extended, 2 progressive, 3 lossless...)
    adobe_transform: int | None


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def parse_jpeg_header(data: bytes) -> JpegHeader:
    """Walk JPEG markers up to the frame header (SOFn) without decoding anything."""
    n = len(data)
    pos = 2
    adobe = None
    while True:
        while pos < n and data[pos] != 0xFF:
            pos += 1  # tolerate junk between segments
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise TruncatedImageError(
                "The JPEG is truncated: it ends before the frame header. Re-export or re-upload the image."
            )
        marker = data[pos]
        pos += 1
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # standalone markers
        if marker == 0xD9 or marker == 0xDA:
            raise CorruptImageError("The JPEG is corrupt: image data starts before any frame header (SOF).")
        if pos + 2 > n:
            raise TruncatedImageError("The JPEG is truncated inside a header segment. Re-upload the image.")
        seglen = struct.unpack(">H", data[pos:pos + 2])[0]
        if seglen < 2:
            raise CorruptImageError("The JPEG is corrupt: a header segment has an invalid length.")
        if pos + seglen > n:
            raise TruncatedImageError("The JPEG is truncated inside a header segment. Re-upload the image.")
        seg = data[pos + 2:pos + seglen]
        if marker == 0xEE and seg[:5] == b"Adobe" and len(seg) >= 12:
            adobe = seg[11]
        if marker in _SOF_MARKERS:
            if len(seg) < 6:
                raise CorruptImageError("The JPEG is corrupt: the frame header is too short.")
            precision, height, width, comps = struct.unpack(">BHHB", seg[:6])
            if width == 0 or height == 0:
                raise CorruptImageError(
                    "The JPEG declares a zero width or height (DNL-style streams are not supported). Re-export it."
                )
            return JpegHeader(width, height, precision, comps, marker - 0xC0, adobe)
        pos += seglen
