"""What the upload trigger refuses before any work: keys that name no study, sidecars over the size or
nesting limit or not UTF-8, images over the size limit; and the hash check that ties a sidecar to its image."""

import hashlib
import json

import pytest

from radstream.deployed.intake import upload
from radstream.deployed.intake.errors import (ImageChangedError, ImageTooLargeError, SidecarEncodingError,
                                              SidecarTooDeepError, SidecarTooLargeError, UploadKeyError)
from radstream.deployed.intake.study_id import MAX_LENGTH, study_id_problem


@pytest.mark.parametrize("key, study_id, filename", [
    ("incoming/s1/metadata.json", "s1", "metadata.json"),
    ("incoming/A_b-9/image.dcm", "A_b-9", "image.dcm"),
])
def test_upload_keys_one_folder_deep_under_a_safe_id(key, study_id, filename):
    parsed = upload.parse_upload_key(key)
    assert (parsed.study_id, parsed.filename) == (study_id, filename)
    assert parsed.is_sidecar == (filename == "metadata.json")


@pytest.mark.parametrize("key", [
    "incoming/../../radstream-results/x/metadata.json",   # the impersonation of the issue
    "incoming/x/y/metadata.json", "incoming/metadata.json", "incoming//metadata.json", "incoming/x/",
    "incoming/bad id/metadata.json", "incoming/.x/image.jpg", "incoming/" + "a" * (MAX_LENGTH + 1) + "/image.jpg",
    "incoming/ünï/image.jpg", "elsewhere/x/metadata.json",
])
def test_everything_else_is_refused_naming_the_problem(key):
    with pytest.raises(UploadKeyError) as excinfo:
        upload.parse_upload_key(key)
    assert "incoming/" in str(excinfo.value)


def test_study_id_problems_say_what_is_wrong():
    assert study_id_problem("ok-1") is None
    assert "65 characters" in study_id_problem("a" * 65)
    assert "'/'" in study_id_problem("a/b") and "empty" in study_id_problem("")
    assert "string" in study_id_problem(7)


def test_sidecar_limits():
    assert upload.parse_sidecar(b'{"study_id": "s1"}') == ({"study_id": "s1"}, None)
    assert upload.parse_sidecar('\ufeff{"view": "PA"}'.encode("utf-8")) == ({"view": "PA"}, None)  # BOM: still UTF-8
    with pytest.raises(SidecarTooLargeError, match="300,000 bytes"):
        upload.check_sidecar_size(300_000)
    with pytest.raises(SidecarTooLargeError):
        upload.parse_sidecar(b'{"x": "' + b"a" * upload.SIDECAR_MAX_BYTES + b'"}')
    with pytest.raises(SidecarEncodingError, match="UTF-8"):
        upload.parse_sidecar('{"view": "PA", "name": "Müller"}'.encode("latin-1"))
    deep = "[" * (upload.SIDECAR_MAX_DEPTH + 1) + "]" * (upload.SIDECAR_MAX_DEPTH + 1)
    with pytest.raises(SidecarTooDeepError):
        upload.parse_sidecar(deep.encode())
    with pytest.raises(SidecarTooDeepError):  # far past the parser's recursion limit: refused before parsing
        upload.parse_sidecar(b"[" * 50_000)
    shallow = {"a": {"b": "[[[[[[[[[[[[ in a string does not count"}}
    assert upload.parse_sidecar(json.dumps(shallow).encode()) == (shallow, None)


def test_a_sidecar_that_is_not_json_is_carried_to_validation():
    metadata, problem = upload.parse_sidecar(b"{this is not json")
    assert metadata is None and "not valid JSON" in problem
    metadata, problem = upload.parse_sidecar(b'{"patient_age": NaN}')  # Step Functions could not take it back
    assert metadata is None and "NaN" in problem


def test_image_size_limit_and_hash_check():
    upload.check_image_size(upload.IMAGE_MAX_BYTES)
    with pytest.raises(ImageTooLargeError, match="before download"):
        upload.check_image_size(upload.IMAGE_MAX_BYTES + 1)
    data = b"image bytes"
    digest = hashlib.sha256(data).hexdigest()
    assert upload.verify_image(data, digest) == digest == upload.verify_image(data, None)
    with pytest.raises(ImageChangedError, match="not the image"):
        upload.verify_image(b"other bytes", digest)
