"""What `radstream deploy` uploads to the artifacts bucket: packages, layers, the definition, the template.

Every artifact's key is a content hash, known before anything is built, so a deploy uploads only what
is missing and an unchanged build changes no template parameter (and so nothing in the stack).

- **Function code** is built from an allow-list: ``radstream/__init__.py`` and the ``radstream.deployed``
  tree, nothing else; byte-for-byte reproducible (fixed timestamps, sorted entries).
- **Dependencies** come from lock files with hashes, one per dependency set
  (``definition/lambda_dependencies/<set>.txt``, pinned from ``<set>.in`` by ``make lock``): every function
  has Powertools for AWS Lambda (metrics and logs); the ``core`` set (validate, store, record, telemetry,
  trigger) needs nothing else beyond the runtime (boto3 included), ``imaging`` (prepare-tensors) needs
  numpy, Pillow, pydicom and pylibjpeg, ``inference`` (run-inference) numpy and urllib3. Wheels are for the
  Lambda platform: CPython 3.12 on Amazon Linux 2023 (glibc 2.34), x86_64.
  How they ship is the template parameter ``DependencyPackaging``:
  ``layers`` (AWS): one layer per set, keyed by its lock file's hash; ``bundled`` (LocalStack's free
  edition has no layers): inside each set's package; ``provided`` (embedded): the emulator's virtualenv
  has them, nothing is built.
"""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Callable

import radstream
from radstream.definition import stack
from radstream.definition import template as cfn
from radstream.definition.workflow import raw_definition

PACKAGE_ROOT = Path(radstream.__file__).parent
SHIPPED = ("__init__.py", "deployed")  # the allow-list: what Lambda runs, relative to the radstream package
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
PYTHON_VERSION = stack.RUNTIME.removeprefix("python")  # "3.12"
# Amazon Linux 2023 has glibc 2.34. pip does not widen --platform to older manylinux tags by itself,
# so every compatible one is listed (numpy 2.3+ ships manylinux_2_28 wheels only; pylibjpeg-libjpeg 2.5
# manylinux_2_31/2_34 ones).
LAMBDA_PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
PLATFORM_TAG = f"py{PYTHON_VERSION.replace('.', '')}-manylinux_2_34_x86_64"
PACKAGINGS = ("layers", "bundled", "provided")


@dataclass(frozen=True)
class Artifact:
    key: str
    build: Callable[[], bytes]
    description: str


def shipped_files() -> list[Path]:
    out: list[Path] = []
    for entry in SHIPPED:
        path = PACKAGE_ROOT / entry
        out += [path] if path.is_file() else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(out)


def _zip(entries: list[tuple[str, bytes]], mode: int = 0o644) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


@functools.cache
def function_zip() -> bytes:
    return _zip([(f"radstream/{p.relative_to(PACKAGE_ROOT).as_posix()}", p.read_bytes()) for p in shipped_files()])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- dependency sets ------------------------------------------------------------------------
def lock_file(dependency_set: str) -> str:
    """The pinned, hashed requirements of a dependency set ('' when it has none)."""
    resource = files("radstream.definition").joinpath("lambda_dependencies", f"{dependency_set}.txt")
    return resource.read_text() if resource.is_file() else ""


def lock_hash(dependency_set: str) -> str:
    return sha256((lock_file(dependency_set) + PLATFORM_TAG).encode())[:16]


def pip_install_command(lock: Path, target: Path) -> list[str]:
    """Wheels only, every one checked against the lock file's hashes, for the Lambda platform."""
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(target), *platforms, "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:", "--require-hashes", "--no-deps", "-r", str(lock)]


def installed_dependencies(dependency_set: str, prefix: str) -> list[tuple[str, bytes]]:
    """``pip install`` the set's lock file for Lambda; (zip path under ``prefix``, bytes) of every file."""
    with tempfile.TemporaryDirectory(prefix=f"radstream-{dependency_set}-") as tmp:
        lock, target = Path(tmp) / "requirements.txt", Path(tmp) / "site"
        lock.write_text(lock_file(dependency_set))
        subprocess.run(pip_install_command(lock, target), check=True)
        return [(f"{prefix}{p.relative_to(target).as_posix()}", p.read_bytes())
                for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def layer_zip(dependency_set: str) -> bytes:
    return _zip(installed_dependencies(dependency_set, "python/"), mode=0o755)


def bundled_zip(dependency_set: str) -> bytes:
    code = [(f"radstream/{p.relative_to(PACKAGE_ROOT).as_posix()}", p.read_bytes()) for p in shipped_files()]
    deps = installed_dependencies(dependency_set, "") if lock_file(dependency_set) else []
    return _zip(code + deps, mode=0o755)


# -- what one deployment uploads ------------------------------------------------------------
def template_key() -> str:
    return f"templates/{cfn.STACK_NAME}-{sha256(cfn.stack_template_text().encode())[:16]}.yaml"


def artifacts(packaging: str) -> dict[str, Artifact]:
    """``{template parameter: artifact}`` for a DependencyPackaging value, plus the template itself
    under the pseudo-parameter ``TemplateKey``. Nothing is built until ``Artifact.build`` is called."""
    if packaging not in PACKAGINGS:
        raise ValueError(f"DependencyPackaging must be one of {', '.join(PACKAGINGS)}, got {packaging!r}")
    out: dict[str, Artifact] = {}
    code_hash = sha256(function_zip())[:16]
    for dependency_set in stack.DEPENDENCY_SETS:
        parameter = f"{dependency_set.capitalize()}CodeKey"
        if packaging == "bundled" and lock_file(dependency_set):
            out[parameter] = Artifact(
                f"functions/{dependency_set}-{code_hash}-{lock_hash(dependency_set)}.zip",
                functools.partial(bundled_zip, dependency_set),
                f"code + {dependency_set} dependencies ({PLATFORM_TAG})")
        else:
            out[parameter] = Artifact(f"functions/code-{code_hash}.zip", function_zip, "function code")
        if lock_file(dependency_set):
            layer_parameter = f"{dependency_set.capitalize()}LayerKey"
            out[layer_parameter] = (Artifact(f"layers/{dependency_set}-{lock_hash(dependency_set)}.zip",
                                             functools.partial(layer_zip, dependency_set),
                                             f"{dependency_set} dependency layer ({PLATFORM_TAG})")
                                    if packaging == "layers" else Artifact("", bytes, "not used"))
    definition = raw_definition().encode()
    out["StateMachineDefinitionKey"] = Artifact(f"statemachine/pipeline-{sha256(definition)[:16]}.asl.json",
                                                lambda: definition, "pipeline.asl.json")
    out["TemplateKey"] = Artifact(template_key(), lambda: cfn.stack_template_text().encode(), "template.yaml")
    return out
