"""Uploads through the S3 trigger that the end-to-end check list (test_checklist.py) does not cover:
16-bit PNG, every metadata problem listed, an unreadable sidecar, unsafe study ids and keys, an
oversized sidecar."""

import json
import time
import uuid

import pytest

from radstream.tooling import synthetic_images as synthetic
from radstream.deployed import s3_layout
from radstream.deployed.records import rejected_upload_record_key
from radstream.tooling.client import PipelineClient
from radstream.tooling.errors import InvalidStudyError


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def meta(study_id: str, **extra) -> dict:
    return {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z", **extra}


def list_keys(stack, bucket: str, prefix: str) -> list[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_png_16_bit_upload(embedded_stack):
    study_id = uid("png16")
    record = embedded_stack.submit(synthetic.chest_png(8, (2000, 2000), bits=16), meta(study_id), "chest.png")
    assert record["status"] == "SUCCEEDED", record


def test_invalid_metadata_upload_lists_every_problem(embedded_stack):
    study_id = uid("invalid")
    record = embedded_stack.submit(synthetic.chest_jpeg(9, (512, 512)),
                                   {"study_id": study_id, "view": "SIDEWAYS", "timestamp": "not-a-time"}, "x.jpg")
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError"
    assert "SIDEWAYS" in record["error"]["message"] and "not-a-time" in record["error"]["message"]
    assert list_keys(embedded_stack, embedded_stack.names.results_bucket, f"results/{study_id}/") == []


def test_unreadable_sidecar_fails_with_reason(embedded_stack):
    study_id = uid("badjson")
    s3 = embedded_stack.client("s3")
    bucket = embedded_stack.names.images_bucket
    s3.put_object(Bucket=bucket, Key=f"incoming/{study_id}/x.jpg", Body=synthetic.chest_jpeg(1, (256, 256)))
    s3.put_object(Bucket=bucket, Key=f"incoming/{study_id}/metadata.json", Body=b"{this is not json")
    record = PipelineClient(embedded_stack.target).wait(study_id, timeout_s=120)
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError"
    assert "not valid JSON" in record["error"]["message"]


def test_the_client_refuses_an_unsafe_study_id_before_uploading(embedded_stack):
    study_id = f"bad id {uuid.uuid4().hex[:6]}!"
    with pytest.raises(InvalidStudyError, match="' ', '!'"):
        embedded_stack.submit(synthetic.chest_jpeg(14, (512, 512)), meta(study_id), "x.jpg")
    with pytest.raises(InvalidStudyError, match="65 characters"):
        embedded_stack.submit(synthetic.chest_jpeg(14, (512, 512)), meta("a" * 65), "x.jpg")
    assert list_keys(embedded_stack, embedded_stack.names.images_bucket, "incoming/bad ") == []


def wait_for_record(stack, key: str, timeout_s: float = 60.0) -> dict:
    s3 = stack.client("s3")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return json.loads(s3.get_object(Bucket=stack.names.results_bucket, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_key_that_names_no_study_cannot_impersonate_one(embedded_stack):
    """The issue's case: a plain producer's ``incoming/../../radstream-results/x/`` was read as study ``x``.
    Now it is one failure record under a name no study can have, and a genuine ``x`` is processed."""
    victim = uid("victim")
    s3, bucket = embedded_stack.client("s3"), embedded_stack.names.images_bucket
    hostile = f"incoming/../../radstream-results/{victim}/metadata.json"
    s3.put_object(Bucket=bucket, Key=f"incoming/../../radstream-results/{victim}/x.jpg",
                  Body=synthetic.chest_jpeg(15, (512, 512)))
    s3.put_object(Bucket=bucket, Key=hostile, Body=json.dumps(meta(victim)).encode())

    record = wait_for_record(embedded_stack, s3_layout.failure_key(rejected_upload_record_key(hostile)))
    assert record["error"]["code"] == "UploadKeyError" and record["upload_key"] == hostile

    genuine = embedded_stack.submit(synthetic.chest_jpeg(16, (512, 512)), meta(victim), "x.jpg")
    assert genuine["status"] == "SUCCEEDED" and not genuine.get("duplicate"), genuine
    failures = list_keys(embedded_stack, embedded_stack.names.results_bucket, "failures/")
    assert not [k for k in failures if victim in k]


def test_a_sidecar_over_the_limit_is_refused_before_any_work(embedded_stack):
    """The issue's 300 KB sidecar ended in an uncatchable States.DataLimitExceeded with no record."""
    study_id = uid("bigsidecar")
    record = embedded_stack.submit(synthetic.chest_jpeg(17, (512, 512)), meta(study_id, notes="x" * 300_000), "x.jpg")
    assert record["status"] == "FAILED" and record["error"]["code"] == "SidecarTooLargeError", record
    assert record["execution_arn"] is None  # refused before any work: no execution at all
