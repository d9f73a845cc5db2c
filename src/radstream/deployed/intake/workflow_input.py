"""What the upload trigger hands the workflow: one study's execution name and input."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from radstream.deployed.intake.metadata import is_safe_study_id
from radstream.deployed.s3_layout import SIDECAR_NAME

_EXECUTION_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def execution_name_for(study_id: str) -> str:
    """Deterministic execution name: the study id itself when safe, else a readable slug + hash.

    Deterministic so that Step Functions' name uniqueness makes re-uploads idempotent.
    """
    if is_safe_study_id(study_id):
        return study_id
    digest = hashlib.sha256(study_id.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{_EXECUTION_UNSAFE.sub('_', study_id)[:40]}-{digest}"


def workflow_input(study_id: str, bucket: str, image_keys: list[str], sidecar: bytes) -> dict[str, Any]:
    """The execution input for a study; problems are carried along for ValidateMetadata to report."""
    study: dict[str, Any] = {"study_id": study_id}
    images = [k for k in image_keys if not k.endswith("/" + SIDECAR_NAME)]
    if len(images) == 1:
        study["s3_path"] = f"s3://{bucket}/{images[0]}"
    else:
        study["s3_path"] = None
        study["upload_problem"] = (
            f"expected exactly one image beside the sidecar, found {len(images)}"
            + (f": {', '.join(k.rsplit('/', 1)[-1] for k in images[:5])}" if images else "")
        )
    try:
        metadata = json.loads(sidecar)
    except ValueError as exc:
        study["metadata"] = None
        study["upload_problem"] = f"sidecar {SIDECAR_NAME} is not valid JSON ({exc})"
    else:
        study["metadata"] = metadata
    return study
