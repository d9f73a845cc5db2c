import pytest

from radstream.deployed.intake.errors import MetadataValidationError
from radstream.deployed.intake.metadata import image_reference, metadata_problems, study_problems, validate_study
from radstream.deployed.intake.study_id import is_safe_study_id

GOOD = {"study_id": "test-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}
STUDY = {"study_id": "test-001", "s3_path": "s3://radstream-images-123456789012/test.jpg", "metadata": GOOD}


def test_seed_study_is_valid():
    validate_study(STUDY)


@pytest.mark.parametrize("view", ["PA", "AP", "LATERAL", "LL", "RL", "pa"])
def test_known_views_accepted(view):
    assert metadata_problems(dict(GOOD, view=view)) == []


def test_every_problem_is_listed_in_one_error():
    bad = {"study_id": "../etc/passwd", "view": "SIDEWAYS", "timestamp": "yesterday", "patient_age": "forty"}
    with pytest.raises(MetadataValidationError) as excinfo:
        validate_study({"study_id": "../etc/passwd", "s3_path": "s3://b/k.jpg", "metadata": bad})
    problems = excinfo.value.problems
    assert any("study_id" in p for p in problems)
    assert any("SIDEWAYS" in p for p in problems)
    assert any("yesterday" in p for p in problems)
    assert any("patient_age" in p for p in problems)
    assert len(problems) == 4
    assert all(p in str(excinfo.value) for p in problems)


def test_seed_failure_input_lists_missing_fields():
    problems = study_problems({"study_id": "test-002", "s3_path": "s3://b/test.jpg", "metadata": {"study_id": "test-002"}})
    assert problems == ["missing required field 'view'", "missing required field 'timestamp'"]


@pytest.mark.parametrize("study_id", ["a/b", "..", "", "a b", "x" * 65, "-lead", "ünïcode", 42])
def test_unsafe_study_ids_rejected(study_id):
    assert not is_safe_study_id(study_id)
    assert any("study_id" in p for p in metadata_problems(dict(GOOD, study_id=study_id)))


def test_types_are_checked():
    problems = metadata_problems(dict(GOOD, view=3, timestamp=20240115, patient_age=True, patient_sex="Q"))
    assert "'view' must be a string, got int" in problems
    assert any("'timestamp' must be an ISO 8601 string" in p for p in problems)
    assert "'patient_age' must be an integer, got bool" in problems
    assert any("patient_sex" in p for p in problems)


def test_date_without_time_is_not_a_timestamp():
    assert any("ISO 8601" in p for p in metadata_problems(dict(GOOD, timestamp="2024-01-15")))


def test_non_object_metadata():
    assert metadata_problems(["PA"]) == ["metadata must be a JSON object, got list"]


def test_study_level_checks():
    problems = study_problems({"study_id": "a", "s3_path": "/local/file.jpg", "metadata": dict(GOOD, study_id="b")})
    assert any("s3_path" in p for p in problems)
    assert any("differs" in p for p in problems)


def test_upload_problem_is_reported_first():
    problems = study_problems({"study_id": "a", "s3_path": None, "metadata": None,
                               "upload_problem": "sidecar metadata.json is not valid JSON (x)"})
    assert problems[0].startswith("sidecar metadata.json is not valid JSON")
    assert "missing 'metadata' object" not in problems


def test_declared_image_hash_is_checked_and_becomes_the_image_reference():
    digest = "ab" * 32
    assert metadata_problems(dict(GOOD, image_sha256=digest)) == []
    assert any("image_sha256" in p for p in metadata_problems(dict(GOOD, image_sha256="ABC")))
    study = dict(STUDY, metadata=dict(GOOD, image_sha256=digest),
                 image={"key": "test.jpg", "version_id": "v1", "etag": "e1", "size": 3})
    assert image_reference(study) == {"uri": STUDY["s3_path"], "version_id": "v1", "etag": "e1", "sha256": digest}
    assert image_reference(STUDY) == {"uri": STUDY["s3_path"], "version_id": None, "etag": None, "sha256": None}
