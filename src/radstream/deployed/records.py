"""Terminal records: what a study leaves behind when it ends.

Exactly one of these exists per study: a result when it succeeded, a failure when it failed
(keys in :mod:`radstream.deployed.s3_layout`). Both are plain dicts built here, free of AWS,
and written by the store_results / record_failure handlers (and by the upload trigger for an upload
it refuses before any work). A failure also becomes a notification (:func:`build_notification`):
structured, filterable by its attributes, and free of stack traces and file paths.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from radstream.deployed.intake.study_id import is_safe_study_id, not_a_study_name

RESULT_FIELDS_FROM_METADATA = ("study_id", "view", "timestamp", "modality", "body_part")
NOTIFICATION_TYPE = "radstream.study.failed"
MAX_MESSAGE_CHARS = 2000
# An absolute file path (not the path part of a URI such as s3://bucket/key): where code ran, not
# what went wrong with the study.
_FILE_PATH = re.compile(r"(?<![\w:/.-])/(?:[\w.@+-]+/)+[\w.@+-]*")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.S)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_key_for(study_id: Any, execution_name: str | None) -> str:
    """The name a study's failure record goes under: the study id when it is one, else a stable
    ``_study-<hash>`` name that no study id can take (so it never lands on a real study's record)."""
    if is_safe_study_id(study_id):
        return study_id
    return not_a_study_name("study", f"{execution_name}|{study_id!r}")


def rejected_upload_record_key(key: str) -> str:
    """The failure record's name for an upload whose key names no study: ``_upload-<hash of key>``."""
    return not_a_study_name("upload", key)


def build_result(study_id: str, s3_path: str, metadata: Mapping[str, Any],
                 inference_results: Mapping[str, Any], source: Mapping[str, Any] | None = None,
                 execution_name: str | None = None) -> dict[str, Any]:
    """``source`` says exactly which bytes were processed: the image's ``version_id`` and ``sha256``."""
    source = source or {}
    return {
        "study_id": study_id,
        "status": "SUCCEEDED",
        "image": s3_path,
        "image_version_id": source.get("version_id"),
        "image_sha256": source.get("sha256"),
        "execution_name": execution_name,
        "metadata": {k: metadata[k] for k in RESULT_FIELDS_FROM_METADATA if k in metadata},
        "inference_results": dict(inference_results),
        "stored_at": utc_now_iso(),
    }


def clean_message(text: str) -> str:
    """A failure message fit for a record and a notification: no stack trace, no file paths, bounded."""
    text = _TRACEBACK.sub("", str(text))
    text = _FILE_PATH.sub("<path>", text).strip()
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


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
    return {"code": code, "message": clean_message(message) or code}


def error_of(exc: BaseException) -> dict[str, str]:
    """An exception as a record's ``error``: its class name is the code, as Lambda reports it."""
    return {"code": type(exc).__name__, "message": clean_message(str(exc)) or type(exc).__name__}


def build_failure(study_id: Any, s3_path: Any, error: Mapping[str, Any] | None,
                  execution_name: str | None = None, *, upload_key: str | None = None,
                  stage: str | None = None) -> dict[str, Any]:
    """``error`` is Step Functions' Catch output (``{"Error", "Cause"}``) or an :func:`error_of` dict."""
    parsed = ({"code": str(error["code"]), "message": clean_message(error.get("message", ""))}
              if isinstance(error, Mapping) and "code" in error else parse_step_error(error))
    record = {
        "study_id": study_id if is_safe_study_id(study_id) else None,
        "status": "FAILED",
        "image": s3_path if isinstance(s3_path, str) else None,
        "execution_name": execution_name,
        "error": parsed,
        "stored_at": utc_now_iso(),
    }
    if upload_key is not None:
        record["upload_key"] = upload_key[:1024]
    if stage is not None:
        record["stage"] = stage
    return record


def build_notification(record: Mapping[str, Any], record_key: str, record_uri: str,
                       execution_arn: str | None) -> dict[str, Any]:
    """The message a person (or a filter) acts on when a study fails: which study, what code, why,
    where the record is, which execution, when. Attributes of the same names allow SNS filtering."""
    return {
        "type": NOTIFICATION_TYPE,
        "study_id": record.get("study_id") or record_key,
        "error_code": record["error"]["code"],
        "message": record["error"]["message"],
        "failure_record": record_uri,
        "execution_arn": execution_arn,
        "time": record["stored_at"],
    }


def notification_attributes(notification: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """SNS message attributes for subscription filter policies (e.g. on ``error_code``)."""
    return {name: {"DataType": "String", "StringValue": str(notification[name])}
            for name in ("study_id", "error_code", "type") if notification.get(name)}


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
