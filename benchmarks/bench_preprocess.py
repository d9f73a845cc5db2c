"""Preprocessing benchmark: RadStream's path vs the naive path, same images, same run.

Naive path (what a first version typically does): full-resolution decode, convert to a float
array, normalise the full image, resize the full image to 224x224 (Pillow bicubic); for DICOM:
pydicom pixel_array, apply_modality_lut + apply_voi_lut in float64, invert MONOCHROME1, same.
Ours: ``radstream.deployed.imaging.prepare_tensor`` (all checks included): JPEG decoded at 1/8 scale in
the DCT domain, DICOM LUTs composed into one table and applied as a single gather, box-filter
resize in C, normalisation on 224x224 only.

Prints per format: median ms per image for each path, the ratio (naive / ours), and the
correlation between the two tensors (they should agree, > 0.99). Never asserts on speed.

    .venv/bin/python benchmarks/bench_preprocess.py [--repeat 7] [--images 3] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

from radstream.deployed.imaging import prepare_tensor
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.samples import sample_dicom_path


def naive_raster(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    img.load()
    img = img.convert("F") if img.mode.startswith("I") else img.convert("L")
    arr = np.asarray(img, dtype=np.float64)
    arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)
    out = Image.fromarray(arr.astype(np.float32)).resize((224, 224), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.float32)[None, None]


def naive_dicom(data: bytes) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(io.BytesIO(data))
    arr = apply_modality_lut(ds.pixel_array, ds)
    arr = np.asarray(apply_voi_lut(arr, ds), dtype=np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        arr = arr.max() + arr.min() - arr
    arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12)
    out = Image.fromarray(arr.astype(np.float32)).resize((224, 224), Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.float32)[None, None]


def ours(data: bytes, filename: str) -> np.ndarray:
    return prepare_tensor(data, filename=filename).tensor


def corpus(n: int) -> dict[str, list[tuple[str, bytes]]]:
    size = (2000, 2000)
    sets: dict[str, list[tuple[str, bytes]]] = {
        "JPEG 2000x2000 (q90)": [(f"s{i}.jpg", synthetic.chest_jpeg(100 + i, size)) for i in range(n)],
        "PNG 8-bit 2000x2000": [(f"s{i}.png", synthetic.chest_png(200 + i, size)) for i in range(n)],
        "PNG 16-bit 2000x2000": [(f"s{i}.png", synthetic.chest_png(300 + i, size, bits=16)) for i in range(n)],
        "DICOM DX 2000x2000 12-bit": [(f"s{i}.dcm", synthetic.chest_dicom(400 + i, size, window=(2048, 4096)))
                                      for i in range(n)],
    }
    with open(sample_dicom_path("RG1_UNCR.dcm"), "rb") as fh:
        sets["DICOM RG1_UNCR (real CR 1841x1955, MONO1)"] = [("RG1_UNCR.dcm", fh.read())]
    with open(sample_dicom_path("RG1_J2KR.dcm"), "rb") as fh:
        sets["DICOM RG1_J2KR (JPEG 2000 lossless)"] = [("RG1_J2KR.dcm", fh.read())]
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="timed runs per image (median taken)")
    ap.add_argument("--images", type=int, default=3, help="synthetic images per format")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    print(f"generating images (python {sys.version.split()[0]}, {os.cpu_count()} cores)...", file=sys.stderr)
    rows = []
    for label, items in corpus(args.images).items():
        naive_ms, ours_ms, corrs = [], [], []
        for name, data in items:
            naive = naive_dicom if name.endswith(".dcm") else naive_raster
            ours_fn = lambda d=data, n=name: ours(d, n)  # noqa: E731
            naive_fn = lambda d=data: naive(d)  # noqa: E731
            # interleave: ours, naive, ours, naive ... so drift affects both equally
            o, nv = [], []
            ours_fn(), naive_fn()
            for _ in range(args.repeat):
                t0 = time.perf_counter(); ours_fn(); o.append(time.perf_counter() - t0)  # noqa: E702
                t0 = time.perf_counter(); naive_fn(); nv.append(time.perf_counter() - t0)  # noqa: E702
            ours_ms.append(statistics.median(o) * 1000)
            naive_ms.append(statistics.median(nv) * 1000)
            corrs.append(float(np.corrcoef(ours_fn().ravel(), naive_fn().ravel())[0, 1]))
        n_med, o_med = statistics.median(naive_ms), statistics.median(ours_ms)
        rows.append({
            "format": label, "images": len(items), "mean_bytes": int(np.mean([len(d) for _, d in items])),
            "naive_ms": round(n_med, 2), "ours_ms": round(o_med, 2), "ratio": round(n_med / o_med, 2),
            "tensor_correlation": round(min(corrs), 4),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'format':44s} {'imgs':>4s} {'bytes':>10s} {'naive ms':>9s} {'ours ms':>8s} {'ratio':>6s} {'corr':>7s}")
    for r in rows:
        print(f"{r['format']:44s} {r['images']:>4d} {r['mean_bytes']:>10,d} {r['naive_ms']:>9.1f} "
              f"{r['ours_ms']:>8.1f} {r['ratio']:>5.1f}x {r['tensor_correlation']:>7.4f}")
    print("(median per image over --repeat runs, interleaved; ratio = naive/ours; corr = agreement of the tensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
