"""Lazily created, cached boto3 clients (one per service per warm execution environment)."""

from __future__ import annotations

import functools
import io
from typing import Any

import boto3
from botocore.config import Config

from botocore.exceptions import ClientError

from radstream.deployed.errors import StudyNotFoundError
from radstream.deployed.intake.errors import ImageChangedError
from radstream.deployed.s3_layout import parse_s3_uri, s3_uri

# Throttling (S3 503 SlowDown, Step Functions ThrottlingException) is retried with backoff up to 8
# attempts: transient refusals cost time, not studies. Short per-attempt timeouts keep a stalled call
# well inside the function's timeout; a function that times out anyway is retried by the workflow.
_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=3, read_timeout=15)


@functools.cache
def client(service: str) -> Any:
    # Endpoint comes from AWS_ENDPOINT_URL when set (emulator, LocalStack), else real AWS.
    return boto3.client(service, config=_CONFIG)


def telemetry_kinesis_client() -> Any:
    """Short timeouts and one attempt: the producer retries, and telemetry must not stall a study."""
    return boto3.client("kinesis", config=Config(connect_timeout=2, read_timeout=10,
                                                 retries={"max_attempts": 1, "mode": "standard"}))


def read_s3(uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    s3 = client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise _gone(uri, None) from None


def open_image(uri: str, *, version_id: str | None = None, etag: str | None = None) -> tuple[int, Any]:
    """``(size, body stream)`` of exactly ``version_id`` when given, else of the object only while its
    ETag is still ``etag`` (a bucket without versioning): the caller may refuse it from its size
    before reading a byte."""
    bucket, key = parse_s3_uri(uri)
    pin = {"VersionId": version_id} if version_id else ({"IfMatch": f'"{etag}"'} if etag else {})
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key, **pin)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise _gone(uri, version_id) from None
        if code in ("PreconditionFailed", "412"):
            raise ImageChangedError(f"{uri} was replaced after the study started (its ETag is no longer "
                                    f"{etag}); submit the new image as a new study") from None
        raise
    return response["ContentLength"], response["Body"]


def _gone(uri: str, version_id: str | None) -> StudyNotFoundError:
    return StudyNotFoundError(f"no object at {uri}" + (f" (version {version_id})" if version_id else "")
                              + ": it was deleted after the study started")


def write_s3(bucket: str, key: str, body: bytes, content_type: str) -> str:
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return s3_uri(bucket, key)


def npy_bytes(array: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def load_npy(data: bytes) -> Any:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)
