"""failures / reconcile / redrive decide from an Inventory: pure, tested without AWS."""

from datetime import datetime, timedelta, timezone

import pytest

from radstream.tooling.recovery import redrive
from radstream.tooling.recovery.checks import failed_studies, reconcile
from radstream.tooling.recovery.durations import parse_duration, parse_since
from radstream.tooling.recovery.inventory import Execution, Inventory, QueuedFailure, Record, StoredFile, Upload

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


def upload(study: str, *, sidecar=True, images=1, modified=None, versions=1) -> Upload:
    when = modified or ago(minutes=1)
    return Upload(study, StoredFile(f"incoming/{study}/metadata.json", 50, when) if sidecar else None,
                  [StoredFile(f"incoming/{study}/image{i}.jpg", 900, when, versions) for i in range(images)])


def execution(study: str, status: str, attempt: int = 1, started=None) -> Execution:
    name = study if attempt == 1 else f"{study}.attempt-{attempt}"
    return Execution(name, study, attempt, status, f"arn:aws:states:us-east-1:1:execution:p:{name}",
                     started or ago(minutes=1), None if status == "RUNNING" else ago(seconds=30))


def failure(study: str, code: str = "ModelServerUnavailableError", **extra) -> Record:
    return Record(study, "failure", ago(seconds=20).isoformat(), code, "the model server is down", study, **extra)


def queued(study: str) -> QueuedFailure:
    return QueuedFailure("m1", "r1", study, f"incoming/{study}/metadata.json", "Runtime.ExitError", "exited",
                         ago(seconds=5).isoformat(), 3, {"Records": []})


def inventory(**parts) -> Inventory:
    inv = Inventory(read_at=NOW)
    for name, value in parts.items():
        setattr(inv, name, value)
    return inv


def test_failed_studies_come_from_records_the_queue_and_recordless_executions():
    inv = inventory(
        uploads={s: upload(s) for s in ("ok", "failed", "crashed", "lost", "redriving")},
        results={"ok": Record("ok", "result", NOW.isoformat())},
        failures={"failed": failure("failed"), "redriving": failure("redriving")},
        executions={"ok": [execution("ok", "SUCCEEDED")], "failed": [execution("failed", "FAILED")],
                    "lost": [execution("lost", "ABORTED")],
                    "redriving": [execution("redriving", "FAILED"), execution("redriving", "RUNNING", 2)]},
        queued=[queued("crashed")])
    rows = {f.study_id: f for f in failed_studies(inv)}
    assert set(rows) == {"failed", "crashed", "lost"}
    assert (rows["failed"].code, rows["failed"].source) == ("ModelServerUnavailableError", "record")
    assert (rows["crashed"].code, rows["crashed"].source) == ("Runtime.ExitError", "queue")
    assert (rows["lost"].code, rows["lost"].source) == ("ExecutionAborted", "execution")
    assert failed_studies(inv, since=NOW + timedelta(seconds=1)) == []


def test_reconcile_finds_missing_stuck_orphaned_and_duplicated():
    inv = inventory(
        uploads={"ok": upload("ok"), "lost": upload("lost"), "hung": upload("hung"),
                 "orphan": upload("orphan", sidecar=False, modified=ago(minutes=30)),
                 "young": upload("young", sidecar=False, modified=ago(minutes=1)),
                 "twice": upload("twice", versions=2), "two-images": upload("two-images", images=2),
                 "both": upload("both"), "recordless": upload("recordless")},
        results={s: Record(s, "result", NOW.isoformat()) for s in ("ok", "twice", "both")},
        failures={"both": failure("both"), "two-images": failure("two-images", "MetadataValidationError")},
        executions={"hung": [execution("hung", "RUNNING", started=ago(hours=1))],
                    "recordless": [execution("recordless", "FAILED")]})
    report = reconcile(inv, stuck_after=timedelta(minutes=20), grace=timedelta(minutes=10))
    found = {(f.study_id, f.kind) for f in report.findings}
    assert found == {("lost", "missing"), ("hung", "stuck"), ("orphan", "orphaned"), ("twice", "duplicated"),
                     ("two-images", "duplicated"), ("both", "duplicated")}, found
    assert (report.studies, report.succeeded, report.running) == (9, 3, 1)
    assert reconcile(inv, since=NOW - timedelta(seconds=10)).studies == 0


def test_redrive_plans_never_touch_success_running_or_uploads_refused_for_good():
    inv = inventory(
        uploads={s: upload(s) for s in ("ok", "failed", "again", "crashed", "lost", "big", "running")},
        results={"ok": Record("ok", "result", NOW.isoformat())},
        failures={"failed": failure("failed"), "big": failure("big", "SidecarTooLargeError"),
                  "again": failure("again")},
        executions={"ok": [execution("ok", "SUCCEEDED")], "failed": [execution("failed", "FAILED")],
                    "again": [execution("again", "FAILED"), execution("again", "FAILED", 2)],
                    "running": [execution("running", "RUNNING")]},
        queued=[queued("crashed")])
    plans = {p.study_id: p for p in redrive.plan(inv, ["ok", "failed", "again", "crashed", "lost", "big", "running",
                                                        "_upload-abc", "nobody"])}
    assert {s: p.action for s, p in plans.items()} == {
        "ok": "skip", "failed": "execution", "again": "execution", "crashed": "trigger", "lost": "trigger",
        "big": "skip", "running": "skip", "_upload-abc": "skip", "nobody": "skip"}
    assert plans["failed"].execution_name == "failed.attempt-2" and plans["failed"].previous == "failed"
    assert plans["again"].execution_name == "again.attempt-3"
    assert "succeeded" in plans["ok"].reason and "SidecarTooLargeError" in plans["big"].reason
    every_failed = {p.study_id for p in redrive.plan(inv, all_failed=True)}
    assert every_failed == {"failed", "again", "crashed", "big"}  # "big" is listed, then skipped


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("20m", 1200), ("2h", 7200), ("1.5d", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_since_takes_a_duration_or_a_time():
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("2026-11-28T10:00:00Z", NOW) == datetime(2026, 11, 28, 10, tzinfo=timezone.utc)
    assert parse_since("2026-11-28T10:00", NOW).tzinfo is not None
    with pytest.raises(ValueError, match="--since 'yesterday'"):
        parse_since("yesterday", NOW)
