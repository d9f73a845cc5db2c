"""Terminal records: what a study leaves behind when it ends.

Exactly one of these exists per study: a result when it succeeded, a failure when it failed
(keys in :mod:`radstream.deployed.s3_layout`). Both are plain dicts built here, free of AWS,
and written by the store_results / record_failure handlers.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from radstream.deployed.intake.metadata import is_safe_study_id

RESULT_FIELDS_FROM_METADATA = ("study_id", "view", "timestamp", "modality", "body_part")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_key_for(study_id: Any, execution_name: str | None) -> str:
    """A safe S3 key component for a study that may have an unsafe or missing id."""
    if is_safe_study_id(study_id):
        return study_id
    if execution_name:
        return _UNSAFE.sub("_", execution_name)[:80]
    return "unknown"


def build_result(study_id: str, s3_path: str, metadata: Mapping[str, Any],
                 inference_results: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "study_id": study_id,
        "status": "SUCCEEDED",
        "image": s3_path,
        "metadata": {k: metadata[k] for k in RESULT_FIELDS_FROM_METADATA if k in metadata},
        "inference_results": dict(inference_results),
        "stored_at": utc_now_iso(),
    }


def parse_step_error(error: Mapping[str, Any] | None) -> dict[str, str]:
    """Step Functions' Catch output ``{"Error", "Cause"}`` -> ``{"code", "message"}``.

    A Lambda failure's Cause is the JSON ``{"errorMessage", "errorType", ...}``; other
    errors (timeouts, service errors) carry a plain string.
    """
    error = error or {}
    code = str(error.get("Error") or "UnknownError")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            message = str(parsed.get("errorMessage") or parsed.get("message") or cause)
        else:
            message = cause
    elif isinstance(cause, dict):
        message = str(cause.get("errorMessage") or json.dumps(cause))
    return {"code": code, "message": message or code}


def build_failure(study_id: Any, s3_path: Any, error: Mapping[str, Any] | None,
                  execution_name: str | None = None) -> dict[str, Any]:
    return {
        "study_id": study_id if isinstance(study_id, str) else None,
        "status": "FAILED",
        "image": s3_path if isinstance(s3_path, str) else None,
        "execution_name": execution_name,
        "error": parse_step_error(error),
        "stored_at": utc_now_iso(),
    }


def flatten_failure_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The failure path passes the whole workflow state as ``input`` (it may lack any field,
    and a missing JSONPath would abort the execution); lift out what the handlers need."""
    state = event.get("input") if isinstance(event.get("input"), Mapping) else {}
    metadata = state.get("metadata") if isinstance(state.get("metadata"), Mapping) else {}
    flat = {k: v for k, v in event.items() if k != "input"}
    flat.setdefault("study_id", state.get("study_id") or metadata.get("study_id"))
    flat.setdefault("s3_path", state.get("s3_path"))
    if "error" in flat and isinstance(flat["error"], Mapping) and "Error" in flat["error"]:
        flat["error_code"] = parse_step_error(flat["error"])["code"]
    return flat
