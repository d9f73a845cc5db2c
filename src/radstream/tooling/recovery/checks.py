"""Which studies failed (`radstream failures`) and what does not add up (`radstream reconcile`), from an
``Inventory``. Pure: no AWS here.

A study's state is decided by, in order: its result record (succeeded), its latest execution if it is
running, its failure record, the trigger's failure queue, and its latest execution's end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from radstream.deployed.records import clean_message
from radstream.tooling.recovery.durations import as_datetime
from radstream.tooling.recovery.inventory import Inventory

QUEUE_STAGE = "UploadTrigger (failure queue)"


@dataclass
class FailedStudy:
    study_id: str                 # or a ``_...`` name: an upload whose key names no study
    code: str
    message: str
    when: str | None
    source: str                   # "record" | "queue" | "execution"
    stage: str | None = None
    execution: str | None = None
    record: str | None = None     # the failure record's key, when there is one

    def as_dict(self) -> dict:
        return asdict(self)


def failed_studies(inventory: Inventory, since: datetime | None = None) -> list[FailedStudy]:
    """Every study whose current state is a failure: a failure record, an event in the trigger's failure
    queue, or a latest execution that ended without success and left no record."""
    out: dict[str, FailedStudy] = {}
    for name, record in inventory.failures.items():
        if name in inventory.results:
            continue  # both records: reconcile reports it as duplicated
        latest = inventory.latest_execution(name)
        if latest is not None and latest.status == "RUNNING":
            continue  # being redriven
        out[name] = FailedStudy(name, record.code or "UnknownError", record.message or "", record.stored_at, "record",
                                record.stage, record.execution_name, f"failures/{name}/failure.json")
    for queued in inventory.queued:
        if queued.study_id in out or queued.study_id in inventory.results:
            continue
        latest = inventory.latest_execution(queued.study_id)
        if latest is not None:
            continue  # the other object's event started it
        out[queued.study_id] = FailedStudy(queued.study_id, queued.code, clean_message(queued.message), queued.time,
                                           "queue", QUEUE_STAGE)
    for study_id, attempts in inventory.executions.items():
        latest = attempts[-1]
        if study_id in out or study_id in inventory.results or latest.status in ("RUNNING", "SUCCEEDED"):
            continue
        out[study_id] = FailedStudy(study_id, f"Execution{latest.status.title().replace('_', '')}",
                                    f"execution {latest.name} ended {latest.status} and left no failure record",
                                    latest.stopped.isoformat() if latest.stopped else None, "execution",
                                    execution=latest.name)
    rows = [f for f in out.values() if since is None or _after(f.when, since)]
    return sorted(rows, key=lambda f: (f.when or "", f.study_id))


@dataclass
class Finding:
    study_id: str
    kind: str          # missing | stuck | orphaned | duplicated
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Reconciliation:
    studies: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    findings: list[Finding] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def as_dict(self) -> dict:
        return {"studies": self.studies, "succeeded": self.succeeded, "failed": self.failed, "running": self.running,
                **{kind: [f.as_dict() for f in self.of_kind(kind)] for kind in FINDING_KINDS}}


FINDING_KINDS = ("missing", "stuck", "orphaned", "duplicated")


def reconcile(inventory: Inventory, *, since: datetime | None = None, stuck_after: timedelta = timedelta(minutes=20),
              grace: timedelta = timedelta(minutes=10)) -> Reconciliation:
    """Uploads against terminal records and executions:

    - missing: a complete upload (sidecar and image) with no terminal record and nothing running;
    - stuck: an execution running for longer than ``stuck_after``;
    - orphaned: an image without a sidecar (or a sidecar without an image) older than ``grace``;
    - duplicated: a study with both a result and a failure, an upload object overwritten (more than one
      version), or more than one image in a folder.
    """
    now = inventory.read_at
    report = Reconciliation()
    failed = {f.study_id for f in failed_studies(inventory)}
    for study_id, upload in sorted(inventory.uploads.items()):
        if since is not None and upload.modified < since:
            continue
        report.studies += 1
        latest = inventory.latest_execution(study_id)
        queued = inventory.queued_for(study_id)
        if study_id in inventory.results and study_id in inventory.failures:
            report.findings.append(Finding(study_id, "duplicated", "both a result and a failure record"))
        for key in upload.overwritten:
            report.findings.append(Finding(study_id, "duplicated", f"{key} was overwritten (a different upload "
                                           f"under a taken study id); the records describe the first version"))
        if len(upload.images) > 1:
            report.findings.append(Finding(study_id, "duplicated", f"{len(upload.images)} images in one study: "
                                           + ", ".join(sorted(i.key.rsplit('/', 1)[-1] for i in upload.images))))
        if study_id in inventory.results:
            report.succeeded += 1
            continue
        if latest is not None and latest.status == "RUNNING":
            report.running += 1
            if latest.started and now - latest.started > stuck_after:
                report.findings.append(Finding(study_id, "stuck", f"execution {latest.name} has been running for "
                                               f"{_ago(now - latest.started)} (over {_ago(stuck_after)})"))
            continue
        if study_id in failed:
            report.failed += 1
            if queued and study_id not in inventory.failures:
                report.findings.append(Finding(study_id, "missing", f"the upload trigger failed on it through its "
                                               f"retries ({queued[0].code}); its event is in the failure queue"))
            continue
        if not upload.complete:
            if now - upload.modified > grace:
                what = ("an image without a sidecar" if upload.images else "a sidecar without an image")
                report.findings.append(Finding(study_id, "orphaned", f"{what} for {_ago(now - upload.modified)}"))
            continue
        if latest is None:
            report.findings.append(Finding(study_id, "missing", "a complete upload with no execution and no record "
                                           "(its trigger event was lost, e.g. in an emulator restart)"))
        else:
            report.findings.append(Finding(study_id, "missing", f"execution {latest.name} ended {latest.status} "
                                           f"without a terminal record"))
    for study_id, attempts in sorted(inventory.executions.items()):
        latest = attempts[-1]
        if study_id in inventory.uploads or latest.status != "RUNNING" or not latest.started:
            continue
        if now - latest.started > stuck_after:
            report.findings.append(Finding(study_id, "stuck", f"execution {latest.name} has been running for "
                                           f"{_ago(now - latest.started)} and its upload is gone"))
    return report


def _after(when: str | datetime | None, since: datetime) -> bool:
    parsed = as_datetime(when)
    return parsed is None or parsed >= since


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
