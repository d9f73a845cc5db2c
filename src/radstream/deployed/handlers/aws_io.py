"""Lazily created, cached boto3 clients (one per service per warm execution environment)."""

from __future__ import annotations

import functools
import io
from typing import Any

import boto3
from botocore.config import Config

from radstream.deployed.errors import StudyNotFoundError
from radstream.deployed.s3_layout import parse_s3_uri, s3_uri

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30)


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
        raise StudyNotFoundError(f"no object at {uri}: upload the image before its sidecar") from None


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
