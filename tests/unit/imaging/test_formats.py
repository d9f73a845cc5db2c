from __future__ import annotations

import pytest

from radstream.deployed.imaging import errors as E
from radstream.tooling import synthetic_images as synthetic
from radstream.deployed.imaging.formats import (
    DICOM,
    JPEG,
    PNG,
    check_extension,
    parse_jpeg_header,
    parse_png_header,
    sniff,
)

from support.hostile_corpus import png_bytes


@pytest.fixture(scope="module")
def small():
    return {
        "jpeg": synthetic.chest_jpeg(3, (300, 400)),
        "png": synthetic.chest_png(3, (300, 400)),
        "png16": synthetic.chest_png(3, (300, 400), bits=16),
        "dicom": synthetic.chest_dicom(3, (300, 400)),
    }


def test_sniff_by_content_not_name(small):
    assert sniff(small["jpeg"]) == JPEG
    assert sniff(small["png"]) == PNG
    assert sniff(small["dicom"]) == DICOM


@pytest.mark.parametrize("data,word", [
    (b"GIF89a" + b"\x00" * 20, "GIF"),
    (b"II*\x00" + b"\x00" * 20, "TIFF"),
    (b"%PDF-1.4 hello", "PDF"),
    (b"PK\x03\x04 zip", "ZIP"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
    (b"hello world, I am text", "text"),
    (bytes(range(256)) * 2, "binary"),
    (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "Part 10"),
])
def test_sniff_rejects_non_images_naming_what_it_saw(data, word):
    with pytest.raises(E.UnsupportedFormatError, match=word):
        sniff(data)


@pytest.mark.parametrize("data", [b"\x89P", b"\x89PNG\r", b"\xff", b"\xff\xd8"])
def test_sniff_signature_prefix_is_truncation(data):
    with pytest.raises(E.TruncatedImageError):
        sniff(data)


@pytest.mark.parametrize("name,fmt", [
    ("x.jpg", JPEG), ("X.JPEG", JPEG), ("x.jfif", JPEG), ("x.png", PNG), ("scan.dcm", DICOM), ("scan.DICOM", DICOM),
    ("IM000001", DICOM), ("1.2.840.113619.2.55.3.604688119.969", DICOM), ("dir/sub/chest", PNG), ("", JPEG),
])
def test_extension_accepted(name, fmt):
    check_extension(name, fmt)


@pytest.mark.parametrize("name,fmt,claimed", [
    ("x.jpg", PNG, "JPEG"), ("x.png", DICOM, "PNG"), ("x.dcm", JPEG, "DICOM"), ("x.txt", JPEG, "'.txt'"),
])
def test_extension_mismatch(name, fmt, claimed):
    with pytest.raises(E.ExtensionMismatchError, match=claimed):
        check_extension(name, fmt)


def test_png_header(small):
    h = parse_png_header(small["png"])
    assert (h.width, h.height, h.bit_depth, h.colour_type, h.animated_frames) == (400, 300, 8, 0, 0)
    h16 = parse_png_header(small["png16"])
    assert (h16.bit_depth, h16.colour_type) == (16, 0)


@pytest.mark.parametrize("depth,ctype", [(16, 3), (4, 2), (3, 0), (8, 5)])
def test_png_invalid_depth_colour_combination_is_corrupt(depth, ctype):
    with pytest.raises(E.CorruptImageError, match="invalid header"):
        parse_png_header(png_bytes(100, 100, depth, ctype))


def test_png_zero_size_is_corrupt():
    with pytest.raises(E.CorruptImageError, match="zero"):
        parse_png_header(png_bytes(0, 100, 8, 0))


def test_png_short_file_truncated():
    with pytest.raises(E.TruncatedImageError):
        parse_png_header(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")


def test_jpeg_header(small):
    h = parse_jpeg_header(small["jpeg"])
    assert (h.width, h.height, h.precision, h.components, h.process) == (400, 300, 8, 1, 0)


def test_jpeg_header_cut_before_sof_is_truncated(small):
    with pytest.raises(E.TruncatedImageError):
        parse_jpeg_header(small["jpeg"][:10])


def test_jpeg_scan_before_frame_is_corrupt():
    with pytest.raises(E.CorruptImageError):
        parse_jpeg_header(b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 50)
