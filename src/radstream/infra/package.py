"""Deployment packages: the function code zip and, for real Lambda, a dependency layer.

The function zip is built from an allow-list: ``radstream/__init__.py`` and the
``radstream.deployed`` tree (domain code and handlers), nothing else; tooling, the definition and
the emulator never ship. It is byte-for-byte reproducible (fixed timestamps, sorted
entries), so its CodeSha256 only changes when the code does and re-deploying is a no-op.

On the embedded target the emulator's Python environment provides the third-party packages
(the role a layer plays on Lambda). LocalStack and AWS get a layer built with
``pip install --platform manylinux2014_x86_64`` from ``LAMBDA_REQUIREMENTS``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import radstream

PACKAGE_ROOT = Path(radstream.__file__).parent
# The allow-list: what Lambda runs, relative to the radstream package.
SHIPPED = ("__init__.py", "deployed")
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
# What the handlers import at run time (no onnxruntime: inference happens in the model server).
LAMBDA_REQUIREMENTS = ["numpy", "Pillow", "pydicom", "pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-libjpeg", "urllib3"]


def shipped_files() -> list[Path]:
    files: list[Path] = []
    for entry in SHIPPED:
        path = PACKAGE_ROOT / entry
        files += [path] if path.is_file() else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


@functools.cache
def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in shipped_files():
            info = zipfile.ZipInfo(f"radstream/{path.relative_to(PACKAGE_ROOT).as_posix()}", FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def sha256_b64(data: bytes) -> str:
    """Lambda's CodeSha256 format."""
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def build_dependency_layer(build_dir: Path, python_version: str = "3.11") -> bytes:
    """A Lambda layer zip of LAMBDA_REQUIREMENTS for Amazon Linux (x86_64 wheels only)."""
    target = build_dir / "layer" / "python"
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
         "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", python_version,
         "--only-binary=:all:", "--upgrade", *LAMBDA_REQUIREMENTS],
        check=True,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in target.parent.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            info = zipfile.ZipInfo(path.relative_to(target.parent).as_posix(), FIXED_TIME)
            info.external_attr = 0o755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
