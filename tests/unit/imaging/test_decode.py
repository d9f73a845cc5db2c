"""Decoder paths: JPEG (draft fast path), PNG 8/16 bit, DICOM (uncompressed, JPEG 2000, JPEG lossless,
MONOCHROME1, rescale, window, VOI LUT sequence, signed and 8-bit data), against naive references."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from radstream.deployed.imaging import Limits, prepare_tensor
from radstream.tooling import synthetic_images as synthetic
from radstream.deployed.imaging import errors as E

from support.dicom_samples import read_sample


def naive_tensor_from_array(img: np.ndarray) -> np.ndarray:
    """Reference: float64 image -> box resize via PIL 'F' -> min-max."""
    pil = Image.fromarray(np.asarray(img, dtype=np.float32))
    out = np.asarray(pil.resize((224, 224), Image.Resampling.BOX), dtype=np.float64)
    return (out - out.min()) / (out.max() - out.min())


def naive_dicom(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(io.BytesIO(data))
    arr = apply_modality_lut(ds.pixel_array, ds)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        arr = apply_voi_lut(arr, ds)
    arr = np.asarray(arr, dtype=np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        arr = arr.max() + arr.min() - arr
    return naive_tensor_from_array(arr)


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def check_tensor(t: np.ndarray) -> None:
    assert t.shape == (1, 1, 224, 224) and t.dtype == np.float32
    assert t.flags.c_contiguous and t.flags.writeable
    assert float(t.min()) == 0.0 and abs(float(t.max()) - 1.0) < 1e-6


# --------------------------------------------------------------------------- JPEG

def test_jpeg_large_uses_reduced_scale_decode_and_matches_full_decode():
    data = synthetic.chest_jpeg(5, (2000, 2000))
    out = prepare_tensor(data, filename="c.jpg")
    check_tensor(out.tensor)
    assert out.source["decode_scale"] == 8
    assert out.source["format"] == "jpeg" and (out.source["width"], out.source["height"]) == (2000, 2000)
    full = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)
    assert corr(out.tensor, naive_tensor_from_array(full)) > 0.99


def test_jpeg_near_target_size_decodes_full_scale():
    out = prepare_tensor(synthetic.chest_jpeg(5, (300, 300)), filename="c.jpg")
    check_tensor(out.tensor)
    assert out.source["decode_scale"] == 1


def test_jpeg_progressive_and_neutral_rgb_accepted():
    arr = synthetic.to_uint8(synthetic.chest_array(6, (600, 500)))
    buf = io.BytesIO()
    Image.fromarray(np.repeat(arr[..., None], 3, -1)).save(buf, "JPEG", quality=90, progressive=True)
    out = prepare_tensor(buf.getvalue(), filename="p.jpg")
    check_tensor(out.tensor)
    assert out.source["progressive"] is True and out.source["photometric"] == "RGB-neutral"
    assert corr(out.tensor, naive_tensor_from_array(arr)) > 0.99


def test_jpeg_colour_rejected():
    arr = synthetic.to_uint8(synthetic.chest_array(6, (300, 300)))
    rgb = np.stack([arr, np.zeros_like(arr), 255 - arr], -1)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG")
    with pytest.raises(E.ColourImageError, match="grayscale"):
        prepare_tensor(buf.getvalue(), filename="x.jpg")


# --------------------------------------------------------------------------- PNG

def test_png_8bit():
    data = synthetic.chest_png(4, (800, 700))
    out = prepare_tensor(data, filename="c.png")
    check_tensor(out.tensor)
    assert out.source["bits_stored"] == 8 and out.source["colour_type"] == "grayscale"
    ref = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32)
    assert corr(out.tensor, naive_tensor_from_array(ref)) > 0.999


def test_png_16bit_grayscale_accepted_with_full_precision():
    # 16-bit data that uses only the low 10 bits: an 8-bit path would flatten it.
    arr = synthetic.chest_array(4, (512, 512), bits=10)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    out = prepare_tensor(buf.getvalue(), filename="c16.png")
    check_tensor(out.tensor)
    assert out.source["bits_stored"] == 16
    np.testing.assert_allclose(out.tensor[0, 0], naive_tensor_from_array(arr.astype(np.float64)), atol=1e-5)
    assert len(np.unique(out.tensor)) > 1000


def test_png_16bit_from_synthetic_generator():
    out = prepare_tensor(synthetic.chest_png(4, (512, 512), bits=16), filename="c16.png")
    check_tensor(out.tensor)


def test_png_neutral_rgb_and_gray_palette_accepted():
    arr = synthetic.to_uint8(synthetic.chest_array(6, (300, 300)))
    for img in (Image.fromarray(np.repeat(arr[..., None], 3, -1)), Image.fromarray(arr).convert("P")):
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out = prepare_tensor(buf.getvalue(), filename="x.png")
        assert corr(out.tensor, naive_tensor_from_array(arr)) > 0.99


def test_png_colour_palette_rejected():
    arr = synthetic.to_uint8(synthetic.chest_array(6, (300, 300)))
    rgb = np.stack([arr, 255 - arr, arr // 2], -1)
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(buf, "PNG")
    with pytest.raises(E.ColourImageError, match="palette"):
        prepare_tensor(buf.getvalue(), filename="x.png")


def test_png_corrupt_idat():
    data = bytearray(synthetic.chest_png(4, (300, 300)))
    i = data.find(b"IDAT")
    data[i + 40:i + 400] = bytes(360)  # zero out compressed data in the middle
    with pytest.raises((E.CorruptImageError, E.TruncatedImageError)):
        prepare_tensor(bytes(data), filename="x.png")


# --------------------------------------------------------------------------- DICOM (real pydicom-data files)

def test_real_chest_radiograph_monochrome1_windowed(rg1_bytes):
    out = prepare_tensor(rg1_bytes, filename="RG1_UNCR.dcm", metadata={"view": "PA"})
    check_tensor(out.tensor)
    s = out.source
    assert (s["modality"], s["body_part"], s["view_position"], s["photometric"]) == ("CR", "CHEST", "PA", "MONOCHROME1")
    assert (s["width"], s["height"], s["bits_stored"]) == (1841, 1955, 15)
    assert s["inverted"] is True and s["voi"] == "window"
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(rg1_bytes), atol=1e-4)
    # MONOCHROME1 inverted: lungs (air) dark, mediastinum/spine (bone) bright in the display image
    t = out.tensor[0, 0]
    assert t[100:140, 112 - 8:112 + 8].mean() > t[90:130, 40:80].mean()


def test_real_chest_jpeg2000_matches_uncompressed(rg1_bytes):
    j2k = prepare_tensor(read_sample("RG1_J2KR.dcm"), filename="RG1_J2KR.dcm")
    assert j2k.source["transfer_syntax"] == "1.2.840.10008.1.2.4.90"
    np.testing.assert_allclose(j2k.tensor, prepare_tensor(rg1_bytes, filename="a.dcm").tensor, atol=1e-6)


def test_jpeg_lossless_dicom_decodes():
    data = read_sample("JPGLosslessP14SV1_1s_1f_8b.dcm")  # US, 8-bit, JPEG lossless SV1, window set
    out = prepare_tensor(data, filename="x.dcm", require_chest=False)
    check_tensor(out.tensor)
    assert out.source["transfer_syntax"] == "1.2.840.10008.1.2.4.70"
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(data), atol=1e-4)


def test_jpeg_lossless_16bit_signed_dicom_decodes():
    data = read_sample("JPEG-LL.dcm")  # NM 1024x256, 16-bit signed, lossless
    out = prepare_tensor(data, filename="x.dcm", require_chest=False, limits=Limits(max_aspect=5))
    check_tensor(out.tensor)
    assert out.source["pixel_representation"] == 1
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(data), atol=1e-4)


def test_ct_rescale_slope_intercept_applied():
    data = read_sample("CT_small.dcm")  # signed 16-bit, RescaleIntercept -1024
    out = prepare_tensor(data, filename="ct.dcm", require_chest=False)
    assert out.source["rescale"] is True and out.source["voi"] == "none"
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(data), atol=1e-4)
    with pytest.raises(E.NotChestImageError, match="CT"):
        prepare_tensor(data, filename="ct.dcm")


def test_leg_rejected_as_not_chest_with_reason():
    with pytest.raises(E.NotChestImageError, match="body part EXTREMITY") as info:
        prepare_tensor(read_sample("RG3_UNCR.dcm"), filename="RG3_UNCR.dcm", metadata={"view": "PA"})
    assert "chest" in str(info.value).lower()


# --------------------------------------------------------------------------- DICOM (synthetic variants)

def test_monochrome1_and_monochrome2_give_the_same_picture():
    m2 = prepare_tensor(synthetic.chest_dicom(2, (400, 400)), filename="a.dcm")
    m1 = prepare_tensor(synthetic.chest_dicom(2, (400, 400), photometric="MONOCHROME1"), filename="b.dcm")
    assert m1.source["inverted"] and not m2.source["inverted"]
    np.testing.assert_allclose(m1.tensor, m2.tensor, atol=1e-5)


def test_window_center_width_applied_and_clips():
    plain = synthetic.chest_dicom(2, (400, 400))
    windowed = synthetic.chest_dicom(2, (400, 400), window=(1000, 800))  # narrow window: clips the brights
    a = prepare_tensor(plain, filename="a.dcm")
    b = prepare_tensor(windowed, filename="b.dcm")
    assert b.source["voi"] == "window"
    np.testing.assert_allclose(b.tensor[0, 0], naive_dicom(windowed), atol=1e-4)
    assert np.mean(b.tensor >= 0.999) > np.mean(a.tensor >= 0.999) + 0.05


def test_voi_lut_sequence_applied():
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTData = (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16).tolist()  # gamma-like, nonlinear
    lut["LUTData"].VR = "US"
    data = synthetic.chest_dicom(2, (300, 300), extra={"VOILUTSequence": Sequence([lut])})
    out = prepare_tensor(data, filename="lut.dcm")
    assert out.source["voi"] == "lut"
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(data), atol=1e-4)
    linear = prepare_tensor(synthetic.chest_dicom(2, (300, 300)), filename="a.dcm")
    assert not np.allclose(out.tensor, linear.tensor, atol=1e-2)


def test_8bit_and_signed_rescaled_dicom():
    a8 = synthetic.to_uint8(synthetic.chest_array(2, (300, 300)))
    d8 = synthetic.chest_dicom(2, pixel_array=a8, bits_stored=8)
    out8 = prepare_tensor(d8, filename="a.dcm")
    assert out8.source["bits_allocated"] == 8
    np.testing.assert_allclose(out8.tensor[0, 0], naive_dicom(d8), atol=1e-4)
    signed = (synthetic.chest_array(2, (300, 300)).astype(np.int16) - 2048)
    ds = synthetic.chest_dicom(2, pixel_array=signed, rescale=(2.0, -100.0), window=(-500, 3000))
    out = prepare_tensor(ds, filename="s.dcm")
    assert out.source["pixel_representation"] == 1 and out.source["rescale"] is True
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(ds), atol=1e-4)


def test_modality_and_view_mismatch_messages_list_every_problem():
    data = synthetic.chest_dicom(2, (300, 300), modality="DX", view_position="PA")
    with pytest.raises(E.MetadataMismatchError) as info:
        prepare_tensor(data, filename="a.dcm", metadata={"view": "LATERAL", "modality": "CR", "width": 999})
    msg = str(info.value)
    assert "view LATERAL" in msg and "modality CR" in msg and "width 999" in msg


@pytest.mark.parametrize("sidecar_view,header_view", [("PA", "PA"), ("lateral", "LL"), ("LAT", "RL"), ("AP", "AP")])
def test_compatible_views_accepted(sidecar_view, header_view):
    data = synthetic.chest_dicom(2, (200, 200), view_position=header_view)
    prepare_tensor(data, filename="a.dcm", metadata={"view": sidecar_view, "modality": "XR", "body_part": "thorax"})


@pytest.mark.parametrize("modality,body_part", [("MR", "CHEST"), ("CR", "SKULL"), ("US", None)])
def test_not_chest_dicom(modality, body_part):
    data = synthetic.chest_dicom(2, (200, 200), modality=modality, body_part=body_part)
    with pytest.raises(E.NotChestImageError):
        prepare_tensor(data, filename="a.dcm")


def test_dicom_without_body_part_is_accepted():
    prepare_tensor(synthetic.chest_dicom(2, (200, 200), body_part=None), filename="a.dcm")


def test_limits_are_configurable():
    data = synthetic.chest_png(1, (300, 300))
    with pytest.raises(E.DecompressionBombError, match="limit"):
        prepare_tensor(data, filename="a.png", limits=Limits(max_pixels=300 * 300 - 1))
    with pytest.raises(E.ImageTooSmallError):
        prepare_tensor(data, filename="a.png", limits=Limits(min_side=301))


def test_bomb_refused_before_decoding(monkeypatch):
    """The pixel limit is enforced from the header: no decoder is ever called."""
    from PIL import Image as PILImage

    from support.hostile_corpus import png_bytes

    def boom(*a, **k):
        raise AssertionError("decoder called")

    monkeypatch.setattr(PILImage, "open", boom)
    with pytest.raises(E.DecompressionBombError):
        prepare_tensor(png_bytes(50_000, 50_000, 16, 0), filename="b.png")


def test_source_is_json_serialisable_and_has_no_identifiers(rg1_planted):
    import json

    data, ids = rg1_planted
    out = prepare_tensor(data, filename="x.dcm")
    text = json.dumps(out.source)
    for value in ids.values():
        assert value not in text


def test_unused_high_bits_and_12bit_sign_extension_match_pydicom():
    """The zero-copy path reads raw words; its table must mask/sign-extend exactly like pixel_array."""
    a = synthetic.chest_array(3, (256, 256))
    noisy = a | np.uint16(0xF000)  # garbage in the 4 unused high bits
    d = synthetic.chest_dicom(3, pixel_array=noisy, bits_stored=12)
    np.testing.assert_allclose(prepare_tensor(d, filename="a.dcm").tensor[0, 0], naive_dicom(d), atol=1e-5)
    np.testing.assert_allclose(prepare_tensor(d, filename="a.dcm").tensor,
                               prepare_tensor(synthetic.chest_dicom(3, pixel_array=a, bits_stored=12),
                                              filename="b.dcm").tensor, atol=1e-6)
    signed12 = (a.astype(np.int32) - 2048).astype(np.int16) & np.int16(0x0FFF)  # 12-bit two's complement, no sign bits
    d = synthetic.chest_dicom(3, pixel_array=signed12.view(np.int16), bits_stored=12, window=(0, 3000))
    np.testing.assert_allclose(prepare_tensor(d, filename="s.dcm").tensor[0, 0], naive_dicom(d), atol=1e-5)


@pytest.mark.parametrize("name", [
    "MR_small_RLE.dcm",               # RLE Lossless (pydicom's own decoder)
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS (pylibjpeg-libjpeg)
    "MR_small_bigendian.dcm",         # Explicit VR Big Endian (no zero-copy path)
    "MR_small_implicit.dcm",          # Implicit VR Little Endian (zero-copy path)
    "693_J2KR.dcm",                   # JPEG 2000 lossless, signed CT
    "J2K_pixelrep_mismatch.dcm",      # J2K stream signedness differs from PixelRepresentation
])
def test_transfer_syntaxes_match_pydicom_reference(name):
    data = read_sample(name)
    out = prepare_tensor(data, filename=name, require_chest=False, limits=Limits(max_aspect=5))
    check_tensor(out.tensor)
    np.testing.assert_allclose(out.tensor[0, 0], naive_dicom(data), atol=1e-4)


def test_undecodable_compressed_pixel_data_is_corrupt_not_a_crash():
    # pydicom's own known-bad sample: JPEG Extended 12-bit with a misplaced marker segment
    with pytest.raises(E.CorruptImageError, match="JPEG Extended"):
        prepare_tensor(read_sample("JPEG-lossy.dcm"), filename="x.dcm", require_chest=False,
                       limits=Limits(max_aspect=5))


def _deflated(data: bytes) -> bytes:
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(io.BytesIO(data))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_deflated_dicom_decodes():
    plain = synthetic.chest_dicom(4, (300, 300))
    deflated = _deflated(plain)
    assert len(deflated) < len(plain)
    np.testing.assert_allclose(prepare_tensor(deflated, filename="d.dcm").tensor,
                               prepare_tensor(plain, filename="p.dcm").tensor, atol=1e-6)


def test_deflated_dicom_bomb_refused_before_parsing():
    # 1000x1000 16-bit of zeros deflates to ~2 KB; with a 100k-pixel limit it may inflate to ~1.4 MB at most
    bomb = _deflated(synthetic.chest_dicom(4, pixel_array=np.zeros((1000, 1000), np.uint16)))
    assert len(bomb) < 10_000
    with pytest.raises(E.DecompressionBombError, match="inflates"):
        prepare_tensor(bomb, filename="b.dcm", limits=Limits(max_pixels=100_000))
