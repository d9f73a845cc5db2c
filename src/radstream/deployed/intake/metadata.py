"""Validation of a study's JSON sidecar.

Every problem is collected and reported in one ``MetadataValidationError`` so a user fixes
a sidecar in one round trip. ``study_id`` ends up in S3 keys and execution names, so it is
checked by :mod:`radstream.deployed.intake.study_id`, like every study id.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from .errors import MetadataValidationError
from .study_id import study_id_problem

# DICOM ViewPosition defined terms (PS3.3 C.8.11.5) plus the spellings sidecars commonly use.
VALID_VIEWS = frozenset({"PA", "AP", "LATERAL", "LAT", "LL", "RL", "RLD", "LLD", "RLO", "LLO"})
REQUIRED_FIELDS = ("study_id", "view", "timestamp")
# Optional fields we understand and type-check; anything else is carried along untouched.
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "modality": str,
    "body_part": str,
    "patient_age": int,
    "patient_sex": str,
    "priority": str,
    "image_sha256": str,
}
VALID_SEXES = frozenset({"M", "F", "O", "U"})
# A producer may declare the SHA-256 of the image it uploaded (`radstream submit` always does):
# preprocessing then refuses any other bytes, so a sidecar can never be paired with another image.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 with a time; ``Z`` accepted for UTC (``fromisoformat`` handles it on 3.11)."""
    if "T" not in value and " " not in value:
        raise ValueError("no time part")
    return datetime.fromisoformat(value)


def metadata_problems(metadata: Any) -> list[str]:
    """Every problem with a sidecar, as human-readable strings (empty when valid)."""
    if not isinstance(metadata, Mapping):
        return [f"metadata must be a JSON object, got {type(metadata).__name__}"]
    problems: list[str] = []
    for name in REQUIRED_FIELDS:
        if name not in metadata or metadata[name] in (None, ""):
            problems.append(f"missing required field '{name}'")

    study_id = metadata.get("study_id")
    if study_id not in (None, ""):
        problem = study_id_problem(study_id)
        if problem:
            problems.append(f"'study_id': {problem}")

    view = metadata.get("view")
    if view not in (None, ""):
        if not isinstance(view, str):
            problems.append(f"'view' must be a string, got {type(view).__name__}")
        elif view.upper() not in VALID_VIEWS:
            problems.append(f"'view' {view!r} is not one of {', '.join(sorted(VALID_VIEWS))}")

    timestamp = metadata.get("timestamp")
    if timestamp not in (None, ""):
        if not isinstance(timestamp, str):
            problems.append(f"'timestamp' must be an ISO 8601 string, got {type(timestamp).__name__}")
        else:
            try:
                parse_timestamp(timestamp)
            except ValueError:
                problems.append(f"'timestamp' {timestamp!r} is not ISO 8601 (e.g. 2024-01-15T10:00:00Z)")

    for name, expected in OPTIONAL_TYPES.items():
        value = metadata.get(name)
        if value is None:
            continue
        # bool is an int subclass; an age of `true` is still wrong.
        if not isinstance(value, expected) or isinstance(value, bool):
            problems.append(f"'{name}' must be {_type_name(expected)}, got {type(value).__name__}")
    age = metadata.get("patient_age")
    if isinstance(age, int) and not isinstance(age, bool) and not 0 <= age <= 130:
        problems.append(f"'patient_age' {age} is outside 0-130")
    sex = metadata.get("patient_sex")
    if isinstance(sex, str) and sex.upper() not in VALID_SEXES:
        problems.append(f"'patient_sex' {sex!r} is not one of M, F, O, U")
    digest = metadata.get("image_sha256")
    if isinstance(digest, str) and not SHA256_HEX.fullmatch(digest):
        problems.append("'image_sha256' must be 64 lowercase hexadecimal digits (the SHA-256 of the image file)")
    return problems


def study_problems(study: Any) -> list[str]:
    """Problems with a whole workflow input: ``{"study_id", "s3_path", "metadata"}``."""
    if not isinstance(study, Mapping):
        return [f"input must be a JSON object, got {type(study).__name__}"]
    problems: list[str] = []
    if study.get("upload_problem"):
        problems.append(str(study["upload_problem"]))
    if study.get("metadata") is None:
        if not study.get("upload_problem"):
            problems.append("missing 'metadata' object")
    else:
        problems.extend(metadata_problems(study["metadata"]))
    s3_path = study.get("s3_path")
    if not isinstance(s3_path, str) or not s3_path.startswith("s3://") or "/" not in s3_path[5:]:
        problems.append("'s3_path' must be an s3://bucket/key URI of the image")
    top_id = study.get("study_id")
    meta = study.get("metadata")
    meta_id = meta.get("study_id") if isinstance(meta, Mapping) else None
    if top_id is None:
        problems.append("missing top-level 'study_id'")
    elif meta_id not in (None, "") and top_id != meta_id:
        problems.append(f"top-level study_id {top_id!r} differs from metadata.study_id {meta_id!r}")
    return problems


def validate_study(study: Any) -> None:
    """Raise ``MetadataValidationError`` listing every problem, or return quietly."""
    problems = study_problems(study)
    if problems:
        raise MetadataValidationError(problems)


def image_reference(study: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly which bytes preprocessing must read: the image's URI, the version (or ETag) the upload
    trigger saw, and the SHA-256 the sidecar declares (each None when not known)."""
    image = study.get("image") if isinstance(study.get("image"), Mapping) else {}
    metadata = study.get("metadata") if isinstance(study.get("metadata"), Mapping) else {}
    return {"uri": study.get("s3_path"), "version_id": image.get("version_id"), "etag": image.get("etag"),
            "sha256": metadata.get("image_sha256")}


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(t, t.__name__) for t in expected)
    return names.get(expected, expected.__name__)
