"""What an upload is: the key layout the trigger accepts, the limits it enforces before any work,
and whether a study's folder is complete.

Producers write ``incoming/<study id>/<image file>`` and ``incoming/<study id>/metadata.json`` in
either order; every object's arrival invokes the upload trigger, and whichever invocation finds both
starts the study. Everything here is pure: the trigger handler does the S3 and Step Functions calls.

Limits (what is refused before any work, each with its own error code):

- the key must be ``incoming/<safe study id>/<file>`` (:class:`UploadKeyError`);
- a sidecar of more than ``SIDECAR_MAX_BYTES`` is not read (:class:`SidecarTooLargeError`): a sidecar
  is a few hundred bytes, and the execution input it becomes is capped at 256 KiB by Step Functions;
- a sidecar that is not UTF-8 (:class:`SidecarEncodingError`) or nests JSON deeper than
  ``SIDECAR_MAX_DEPTH`` (:class:`SidecarTooDeepError`);
- an image file of more than ``IMAGE_MAX_BYTES`` (:class:`ImageTooLargeError`), judged from the
  object's size: an uncompressed 16-bit 4,300 x 3,500 radiograph is ~30 MB.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from radstream.deployed import s3_layout
from radstream.deployed.intake.errors import (ImageChangedError, ImageTooLargeError, SidecarEncodingError,
                                              SidecarTooDeepError, SidecarTooLargeError, UploadKeyError)
from radstream.deployed.intake.study_id import study_id_problem

SIDECAR_MAX_BYTES = 64 * 1024
SIDECAR_MAX_DEPTH = 8
IMAGE_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class UploadKey:
    study_id: str
    filename: str

    @property
    def is_sidecar(self) -> bool:
        return self.filename == s3_layout.SIDECAR_NAME


@dataclass(frozen=True)
class StoredObject:
    """One object of a study's folder as S3 lists it (the version is filled in when known)."""

    key: str
    size: int
    etag: str
    version_id: str | None = None

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def reference(self) -> dict[str, Any]:
        """What the execution input says about this object: exactly which bytes to read."""
        return {"key": self.key, "version_id": self.version_id, "etag": self.etag, "size": self.size}


def parse_upload_key(key: str) -> UploadKey:
    """``incoming/<study id>/<file>`` -> UploadKey; UploadKeyError naming the problem otherwise."""
    parts = s3_layout.split_upload_key(key)
    if parts is None:
        raise UploadKeyError(f"the object key {_shown(key)} is not {s3_layout.INCOMING_PREFIX}<study id>/<file>: "
                             f"uploads go exactly one folder deep")
    folder, filename = parts
    problem = study_id_problem(folder)
    if problem:
        raise UploadKeyError(f"the object key {_shown(key)} does not name a study: {problem}")
    return UploadKey(folder, filename)


def check_sidecar_size(size: int) -> None:
    if size > SIDECAR_MAX_BYTES:
        raise SidecarTooLargeError(f"the sidecar is {size:,} bytes; at most {SIDECAR_MAX_BYTES:,} are accepted "
                                   f"(a sidecar describes one study in a few hundred bytes)")


def check_image_size(size: int) -> None:
    if size > IMAGE_MAX_BYTES:
        raise ImageTooLargeError(f"the image file is {size:,} bytes; at most {IMAGE_MAX_BYTES:,} are accepted "
                                 f"(refused before download)")


def verify_image(data: bytes, declared_sha256: str | None) -> str:
    """The SHA-256 of the image bytes read; ImageChangedError when the sidecar declared other bytes."""
    digest = hashlib.sha256(data).hexdigest()
    if declared_sha256 and digest != declared_sha256:
        raise ImageChangedError(f"the image read has SHA-256 {digest[:16]}..., the sidecar declares "
                                f"{declared_sha256[:16]}...: this is not the image the study was submitted with")
    return digest


def parse_sidecar(data: bytes) -> tuple[Any, str | None]:
    """``(metadata, None)``, or ``(None, problem)`` when the sidecar is not JSON (the workflow reports
    that as a validation problem). Raises what is refused outright: not UTF-8, too deep, too large."""
    check_sidecar_size(len(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarEncodingError(f"the sidecar is not UTF-8 text (invalid byte at offset {exc.start}); "
                                   f"save it as UTF-8 JSON") from None
    if _nesting_depth(text) > SIDECAR_MAX_DEPTH:
        raise SidecarTooDeepError(f"the sidecar nests JSON deeper than {SIDECAR_MAX_DEPTH} levels; a sidecar is a "
                                  f"flat object of study fields")
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except ValueError as exc:
        return None, f"sidecar {s3_layout.SIDECAR_NAME} is not valid JSON ({_short(exc)})"


@dataclass(frozen=True)
class Folder:
    """A study's folder: its sidecar and the other objects (images) beside it."""

    sidecar: StoredObject | None
    images: tuple[StoredObject, ...]

    @classmethod
    def of(cls, study_id: str, objects: list[StoredObject]) -> "Folder":
        prefix = s3_layout.study_prefix(study_id)
        mine = [o for o in objects if o.key.startswith(prefix) and "/" not in o.key[len(prefix):]]
        sidecars = [o for o in mine if o.filename == s3_layout.SIDECAR_NAME]
        return cls(sidecars[0] if sidecars else None,
                   tuple(o for o in mine if o.filename != s3_layout.SIDECAR_NAME))

    @property
    def complete(self) -> bool:
        """Both parts have arrived (one image is expected; several are reported by validation)."""
        return self.sidecar is not None and bool(self.images)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _nesting_depth(text: str) -> int:
    """How deep arrays and objects nest (brackets inside strings do not count). Checked before parsing,
    so a hostile sidecar never reaches the parser's recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


def _shown(key: str) -> str:
    return repr(key if len(key) <= 120 else key[:117] + "...")
