"""The `radstream` command line against the session's embedded stack."""

import json

import pytest

from radstream.tooling.cli import main
from radstream.tooling import synthetic_images as synthetic


def cli(embedded_stack, *args: str) -> int:
    return main(["--state-dir", str(embedded_stack.embedded.state_dir), *args])


def test_status_json_reports_running_and_current(embedded_stack, capsys):
    assert cli(embedded_stack, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["emulator"]["running"] and status["model_server"]["ready"]
    assert status["deployment"] == {"up_to_date": True, "pending": []}


def test_deploy_dry_run_changes_nothing(embedded_stack, capsys):
    assert cli(embedded_stack, "deploy", "--dry-run") == 0
    assert "up to date" in capsys.readouterr().err


def test_submit_wait_json_prints_the_terminal_record(embedded_stack, tmp_path, capsys):
    image = tmp_path / "chest.png"
    image.write_bytes(synthetic.chest_png(3, (1200, 1000), bits=8))
    sidecar = tmp_path / "chest.json"
    sidecar.write_text(json.dumps({"study_id": "cli-submit-1", "view": "AP", "timestamp": "2024-02-01T08:30:00+01:00"}))
    assert cli(embedded_stack, "submit", str(image), "--metadata", str(sidecar), "--wait", "--json") == 0
    record = json.loads(capsys.readouterr().out)
    assert record["study_id"] == "cli-submit-1" and record["status"] == "SUCCEEDED"
    assert record["execution_arn"].endswith(":execution:radstream-pipeline:cli-submit-1")
    assert record["results_s3_path"].endswith("results/cli-submit-1/result.json")
    assert record["latency_ms"] > 0


def test_submit_dicom_without_sidecar_derives_one(embedded_stack, capsys):
    from radstream.tooling.samples import sample_dicom_path

    assert cli(embedded_stack, "submit", sample_dicom_path("RG1_UNCR.dcm"), "--study-id", "cli-dicom-1",
               "--wait", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "SUCCEEDED"


def test_submit_failure_exits_non_zero_with_reason(embedded_stack, tmp_path, capsys):
    image = tmp_path / "notes.jpg"
    image.write_bytes(b"these are not pixels")
    sidecar = tmp_path / "notes.json"
    sidecar.write_text(json.dumps({"study_id": "cli-bad-1", "view": "PA", "timestamp": "2024-02-01T08:30:00Z"}))
    assert cli(embedded_stack, "submit", str(image), "--metadata", str(sidecar), "--wait", "--json") == 1
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "FAILED" and record["error"]["code"] and record["error"]["message"]


def test_submit_missing_file_is_a_clear_error(embedded_stack, capsys):
    assert cli(embedded_stack, "submit", "/nonexistent/x.dcm") == 2
    assert "no such image file" in capsys.readouterr().err


def test_e2e_runs_the_named_checks(embedded_stack, capsys):
    # the whole list runs in test_checklist.py; here: the command's wiring, exit status and report
    assert cli(embedded_stack, "e2e", "--check", "seed_validate_metadata", "--check", "deployment_is_current") == 0
    err = capsys.readouterr().err
    assert "PASS seed_validate_metadata" in err and "PASS deployment_is_current" in err and "2 passed, 0 failed" in err
    assert cli(embedded_stack, "e2e", "--check", "no_such_check") == 2
    assert "no check named no_such_check" in capsys.readouterr().err
