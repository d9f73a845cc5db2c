"""Uploads through the S3 trigger that the end-to-end check list (test_checklist.py) does not cover:
16-bit PNG, every metadata problem listed, an unreadable sidecar, an unsafe study id."""

import uuid

from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.client import PipelineClient


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


def test_unsafe_study_id_still_ends_in_one_failure_record(embedded_stack):
    study_id = f"bad id {uuid.uuid4().hex[:6]}!"
    record = embedded_stack.submit(synthetic.chest_jpeg(14, (512, 512)), meta(study_id), "x.jpg")
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError" and "study_id" in record["error"]["message"]
    key = record["failure_s3_path"].split(f"{embedded_stack.names.results_bucket}/", 1)[1]
    assert " " not in key and "!" not in key
