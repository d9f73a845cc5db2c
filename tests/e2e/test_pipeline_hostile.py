"""Imaging through the whole pipeline (embedded stack): hostile corpus and de-identification.

* every hostile case ends FAILED with its own error code, with one failure record and nothing
  under ``results/`` (and no preprocessed tensor) for it;
* the valid edge cases (16-bit grayscale PNG, neutral RGB JPEG, DICOM named by UID) succeed;
* the real chest radiograph RG1_UNCR.dcm with planted identifiers flows through, and no
  identifier (names, IDs, birth date, addresses, accession, institution, physicians, UIDs)
  appears in any object of the results and telemetry buckets, in any derived object of the
  images bucket, or in any CloudWatch log event under /aws/lambda/.

(The lower-leg radiograph's rejection is in the e2e check list: ``leg_is_rejected``.)
"""

from __future__ import annotations

import gzip
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from radstream.deployed.imaging import metadata_from_dicom
from radstream.tooling.stack.emulator_admin import flush_telemetry

from support.hostile_corpus import hostile_corpus, valid_corpus

RUN = uuid.uuid4().hex[:6]
CORPUS = hostile_corpus()
VALID = valid_corpus()


def sid(base: str) -> str:
    return f"{base}-{RUN}"[-64:].lstrip("-_")


def keys(stack, bucket: str, prefix: str = "") -> list[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def submit_all(stack, cases) -> dict[str, dict]:
    def one(case):
        study_id = sid(case.metadata["study_id"])
        metadata = dict(case.metadata, study_id=study_id)
        return case.case_name, stack.submit(case.data, metadata, filename=case.filename, study_id=study_id)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, cases))


@pytest.fixture(scope="module")
def hostile_records(embedded_stack):
    return submit_all(embedded_stack, CORPUS)


@pytest.fixture(scope="module")
def valid_records(embedded_stack):
    return submit_all(embedded_stack, VALID)


@pytest.mark.parametrize("case", CORPUS, ids=[c.case_name for c in CORPUS])
def test_hostile_case_fails_with_its_code_and_writes_no_result(embedded_stack, hostile_records, case):
    record = hostile_records[case.case_name]
    study_id = sid(case.metadata["study_id"])
    assert record["status"] == "FAILED", record
    assert record["error"]["code"] == case.expected_error, record["error"]
    assert len(record["error"]["message"]) > 30
    names = embedded_stack.names
    assert keys(embedded_stack, names.results_bucket, f"results/{study_id}/") == []
    assert keys(embedded_stack, names.results_bucket, f"failures/{study_id}/") == [f"failures/{study_id}/failure.json"]
    assert keys(embedded_stack, names.images_bucket, f"preprocessed/{study_id}/") == []


@pytest.mark.parametrize("case", VALID, ids=[c.case_name for c in VALID])
def test_valid_edge_case_succeeds(embedded_stack, valid_records, case):
    record = valid_records[case.case_name]
    assert record["status"] == "SUCCEEDED", record
    assert record["results_s3_path"].endswith(f"results/{sid(case.metadata['study_id'])}/result.json")


def _variants(value: str) -> set[bytes]:
    out = {value, value.replace("^", " "), value.replace("^", ", ")}
    return {v.encode() for v in out if len(v) >= 6}


def _object_text(stack, bucket: str, key: str) -> bytes:
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body


def test_real_chest_radiograph_flows_through_deidentified(embedded_stack, rg1_planted):
    data, identifiers = rg1_planted
    study_id = sid("deid-rg1")
    metadata = dict(metadata_from_dicom(data), study_id=study_id)  # what `radstream submit` derives
    record = embedded_stack.submit(data, metadata, filename="chest.dcm", study_id=study_id)
    assert record["status"] == "SUCCEEDED", record

    # deliver buffered telemetry to S3 now, so the scan below covers it
    assert flush_telemetry(embedded_stack.endpoint_url) is not None, "the emulator did not flush telemetry"

    needles = {name: _variants(v) for name, v in identifiers.items()}
    names = embedded_stack.names
    scanned: dict[str, bytes] = {}
    for bucket in (names.results_bucket, names.telemetry_bucket):
        for key in keys(embedded_stack, bucket):
            scanned[f"s3://{bucket}/{key}"] = _object_text(embedded_stack, bucket, key)
    for key in keys(embedded_stack, names.images_bucket):
        if not key.startswith("incoming/"):  # the upload itself is the PHI zone; everything derived is scanned
            scanned[f"s3://{names.images_bucket}/{key}"] = _object_text(embedded_stack, names.images_bucket, key)

    logs = embedded_stack.client("logs")
    groups = [g["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/aws/lambda/") for g in page["logGroups"]]
    assert groups, "no Lambda log groups: the log scan would be vacuous"
    for group in groups:
        lines = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
                 for e in page.get("events", [])]
        scanned[f"logs:{group}"] = "\n".join(lines).encode()

    # the scan is not vacuous: this study left a result, telemetry or log lines naming it
    assert any(study_id.encode() in body for where, body in scanned.items() if "results/" in where)
    assert any(study_id.encode() in body for where, body in scanned.items() if where.startswith("logs:")) or \
        any(study_id.encode() in body for where, body in scanned.items() if names.telemetry_bucket in where)

    # positive control: the same detector finds the identifiers in the original upload (PHI zone)
    upload = _object_text(embedded_stack, names.images_bucket, f"incoming/{study_id}/image.dcm")  # uploads are stored as image<ext>
    assert all(any(v in upload for v in variants) for variants in needles.values())

    leaks = [f"{name} in {where}" for where, body in scanned.items()
             for name, variants in needles.items() if any(v in body for v in variants)]
    assert leaks == []
