"""Where everything lives in S3: every key and prefix RadStream writes or reads, defined once.

    images bucket     incoming/{study_id}/image{ext}       the upload (never the user's file name)
                      incoming/{study_id}/metadata.json    its sidecar; the study starts once both are in
                      preprocessed/{study_id}/tensor.npy   the model input (state carries only its URI;
                                                           or in the tensors directory bucket, TensorStorage)
                      started/{study_id}.json              Express workflows: the claim that starts a study once
    results bucket    results/{study_id}/result.json       terminal record of a success
                      failures/{record_key}/failure.json   terminal record of a failure
                      attempts/{study_id}/{execution}.json an earlier failed attempt, kept by redrive
    telemetry bucket  raw_telemetry/record_type=<event|performance>/dt=YYYY-MM-DD/hour=HH/   Firehose
                      raw_telemetry_errors/...             Firehose delivery errors
                      athena-results/                      Athena query results

Every key of a study goes through :func:`_study` (a safe study id, checked in
``intake.study_id``), and a failure record's name is a study id or a name no study id can take
(``_...``), so no key can land on another study's objects or records.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from radstream.deployed.intake.study_id import NOT_A_STUDY_PREFIX, study_id_problem

INCOMING_PREFIX = "incoming/"
PREPROCESSED_PREFIX = "preprocessed/"
STARTED_PREFIX = "started/"
RESULTS_PREFIX = "results/"
FAILURES_PREFIX = "failures/"
ATTEMPTS_PREFIX = "attempts/"
SIDECAR_NAME = "metadata.json"
IMAGE_STEM = "image"
IMAGE_SUFFIXES = (".dcm", ".dicom", ".jpg", ".jpeg", ".png")
TELEMETRY_PREFIX = "raw_telemetry"
TELEMETRY_ERRORS_PREFIX = "raw_telemetry_errors"
QUERY_RESULTS_PREFIX = "athena-results/"
_STUDY_PREFIXES = (INCOMING_PREFIX, PREPROCESSED_PREFIX, RESULTS_PREFIX, FAILURES_PREFIX)


def _study(study_id: str) -> str:
    problem = study_id_problem(study_id)
    if problem:
        raise ValueError(problem)
    return study_id


def study_prefix(study_id: str) -> str:
    return f"{INCOMING_PREFIX}{_study(study_id)}/"


def split_upload_key(key: str) -> tuple[str, str] | None:
    """``incoming/<folder>/<file>`` -> ``(folder, file)``; None for any other shape (deeper, shallower,
    empty parts). Whether ``folder`` is a study id is intake's question."""
    if not isinstance(key, str) or not key.startswith(INCOMING_PREFIX):
        return None
    parts = key[len(INCOMING_PREFIX):].split("/")
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]


def image_key(study_id: str, filename: str) -> str:
    """``incoming/{id}/image<ext>``: file names often are patient names, so only the extension
    stays (a mismatch between extension and content is itself reported)."""
    return f"{study_prefix(study_id)}{IMAGE_STEM}{PurePosixPath(filename).suffix.lower()[:10]}"


def sidecar_key(study_id: str) -> str:
    return study_prefix(study_id) + SIDECAR_NAME


def tensor_key(study_id: str) -> str:
    return f"{PREPROCESSED_PREFIX}{_study(study_id)}/tensor.npy"


def start_claim_key(study_id: str) -> str:
    return f"{STARTED_PREFIX}{_study(study_id)}.json"


def result_key(study_id: str) -> str:
    return f"{RESULTS_PREFIX}{_study(study_id)}/result.json"


def failure_key(record_key: str) -> str:
    """The failure record of a study, or of something that is not one (``_<kind>-<hash>`` names)."""
    if not (isinstance(record_key, str) and record_key.startswith(NOT_A_STUDY_PREFIX)
            and study_id_problem(record_key[1:]) is None):
        _study(record_key)
    return f"{FAILURES_PREFIX}{record_key}/failure.json"


def attempt_key(study_id: str, execution_name: str) -> str:
    """Where redrive keeps the record of an earlier failed attempt (execution names are safe)."""
    return f"{ATTEMPTS_PREFIX}{_study(study_id)}/{execution_name.replace('/', '_')}.json"


def telemetry_table_prefix(record_type: str) -> str:
    """The directory of one telemetry record type (a Glue table's location, without the bucket)."""
    return f"{TELEMETRY_PREFIX}/record_type={record_type}/"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; ValueError naming the URI otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise ValueError(f"s3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def study_id_from_key(value: object) -> str | None:
    """The study a key (or s3:// URI) belongs to, e.g. ``incoming/<study>/image.jpg`` -> ``<study>``."""
    if not isinstance(value, str) or not value:
        return None
    path = value.split("://", 1)[1].split("/", 1)[-1] if "://" in value else value
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and f"{parts[0]}/" in _STUDY_PREFIXES:
        return parts[1]
    return None
