"""The report opens in a real browser: headless Chromium (Debian package `chromium`) renders report.html
to a screenshot that is not blank. Skips, saying why, where Chromium is not installed
(`apt-get install chromium`)."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from radstream.tooling.report.build import build_report
from support.results import ab_doc, bench_doc

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags that work on these machines (no sandbox as root; no background network on a closed network).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    import json

    (tmp_path / "bench.json").write_text(json.dumps(bench_doc()))
    (tmp_path / "ab.json").write_text(json.dumps(ab_doc()))
    report = build_report([tmp_path / "bench.json", tmp_path / "ab.json"], tmp_path / "out")
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,3000",
                    f"--screenshot={shot}", report.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (3000, 1280)
    assert (pixels < 240).mean() > 0.05, "the screenshot is (almost) all white"
    assert len(np.unique(pixels)) > 50, "the screenshot has no charts in it"
