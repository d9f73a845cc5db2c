"""What the upload trigger hands the workflow: one study's execution name and input.

The execution name is the study id, so Step Functions' name uniqueness makes a repeated trigger
idempotent. A redriven study's later attempts run under ``<study id>.attempt-<n>``: ``.`` cannot
occur in a study id, so an attempt's name can never be another study's.
"""

from __future__ import annotations

import re
from typing import Any

from radstream.deployed import s3_layout
from radstream.deployed.intake.study_id import study_id_problem
from radstream.deployed.intake.upload import Folder

ATTEMPT_SEPARATOR = ".attempt-"
_ATTEMPT_NAME = re.compile(r"(?P<study>[^.]+)(?:\.attempt-(?P<n>[1-9][0-9]?))?")
MAX_ATTEMPTS = 99


def execution_name_for(study_id: str, attempt: int = 1) -> str:
    """``study`` for the first attempt, ``study.attempt-<n>`` for a redrive; ValueError for an unsafe id."""
    problem = study_id_problem(study_id)
    if problem:
        raise ValueError(problem)
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError(f"attempt {attempt} is outside 1-{MAX_ATTEMPTS}")
    return study_id if attempt == 1 else f"{study_id}{ATTEMPT_SEPARATOR}{attempt}"


def parse_execution_name(name: str) -> tuple[str, int] | None:
    """``(study id, attempt)`` of an execution RadStream named, or None."""
    match = _ATTEMPT_NAME.fullmatch(name or "")
    if not match or study_id_problem(match.group("study")):
        return None
    return match.group("study"), int(match.group("n") or 1)


def workflow_input(study_id: str, bucket: str, folder: Folder, metadata: Any,
                   sidecar_problem: str | None) -> dict[str, Any]:
    """The execution input: the study, exactly which object versions it is made of (``image`` and
    ``sidecar`` references), and any upload problem for ValidateMetadata to report."""
    study: dict[str, Any] = {"study_id": study_id, "metadata": metadata,
                             "sidecar": folder.sidecar.reference() if folder.sidecar else None}
    if len(folder.images) == 1:
        image = folder.images[0]
        study["s3_path"] = s3_layout.s3_uri(bucket, image.key)
        study["image"] = image.reference()
    else:
        names = ", ".join(sorted(o.filename for o in folder.images)[:5])
        study["s3_path"] = None
        study["upload_problem"] = (f"expected exactly one image beside the sidecar, found {len(folder.images)}"
                                   + (f": {names}" if names else ""))
    if sidecar_problem:
        study["upload_problem"] = sidecar_problem
    return study


def same_upload(first: Any, second: Any) -> bool:
    """Two execution inputs are of the same upload: the same object versions (or ETags where the bucket
    is not versioned) of the image and the sidecar."""
    def identity(study: Any, part: str) -> tuple | None:
        ref = study.get(part) if isinstance(study, dict) else None
        return (ref.get("key"), ref.get("version_id"), ref.get("etag")) if isinstance(ref, dict) else None

    return all(identity(first, part) == identity(second, part) for part in ("image", "sidecar"))
