"""`radstream redrive`: run failed (or lost) studies again once the cause is fixed, keeping every attempt.

Step Functions' RedriveExecution restarts a failed execution from the state that failed. It does not
fit here: RadStream's workflow catches every error into its failure path, which ends in the ``Fail``
state, so a redrive would re-enter that path (and moto 5.2.5, the embedded target, does not implement
RedriveExecution at all). A study is therefore run again as a new execution of the same input under a
derived name, ``<study>.attempt-<n>`` (``.`` is never in a study id, so no other study can own it):

1. the current failure record moves to ``attempts/<study>/<execution>.json`` in the results bucket
   (the history; never deleted by RadStream), so the study again has no terminal record;
2. the new execution starts: the records it writes go under the study id as always. A study whose
   trigger failed (its event is in the failure queue), or whose execution was lost (an emulator restart),
   has no execution to repeat: the upload trigger is invoked again for its sidecar, and the queue's
   messages about it are deleted once it ran.

A study that succeeded is never touched, nor one still running, nor an upload the trigger refuses for
good (a key that names no study, a sidecar or image over a limit: the upload itself must change, under
a new study id).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from radstream.deployed import s3_layout
from radstream.deployed.intake.study_id import is_safe_study_id
from radstream.deployed.intake.workflow_input import MAX_ATTEMPTS, execution_name_for
from radstream.tooling.recovery.checks import failed_studies
from radstream.tooling.recovery.inventory import Inventory

# Refusals about the upload itself: running it again would refuse it again.
REFUSED_FOR_GOOD = frozenset({"UploadKeyError", "SidecarTooLargeError", "SidecarEncodingError", "SidecarTooDeepError",
                              "ImageTooLargeError"})


@dataclass
class Redrive:
    study_id: str
    action: str                        # "execution" | "trigger" | "skip"
    reason: str
    execution_name: str | None = None  # the new attempt's name (action "execution")
    previous: str | None = None        # the attempt it repeats
    started: str | None = None         # the new execution's ARN, once started
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def plan(inventory: Inventory, studies: list[str] | None = None, *, all_failed: bool = False) -> list[Redrive]:
    """What redriving ``studies`` (or every failed study) would do, study by study."""
    if all_failed:
        studies = [f.study_id for f in failed_studies(inventory)]
    plans = []
    for study_id in dict.fromkeys(studies or []):
        plans.append(_plan_one(inventory, study_id))
    return plans


def _plan_one(inventory: Inventory, study_id: str) -> Redrive:
    if not is_safe_study_id(study_id):
        return Redrive(study_id, "skip", "not a study id: an upload whose key names no study is refused for good "
                                         "(see its failure record's upload_key); upload it again correctly")
    if study_id in inventory.results:
        return Redrive(study_id, "skip", "succeeded: a study with a result is never redriven")
    latest = inventory.latest_execution(study_id)
    if latest is not None and latest.status == "RUNNING":
        return Redrive(study_id, "skip", f"still running ({latest.name})")
    record = inventory.failures.get(study_id)
    if record is not None and record.code in REFUSED_FOR_GOOD:
        return Redrive(study_id, "skip", f"the upload itself is refused ({record.code}); submit a corrected study "
                                         f"under a new id")
    if latest is not None:
        if latest.attempt >= MAX_ATTEMPTS:
            return Redrive(study_id, "skip", f"{MAX_ATTEMPTS} attempts already")
        return Redrive(study_id, "execution", f"{latest.name} ended {latest.status}",
                       execution_name_for(study_id, latest.attempt + 1), latest.name)
    upload = inventory.uploads.get(study_id)
    if upload is None or not upload.complete:
        return Redrive(study_id, "skip", "no complete upload (sidecar and image) to start from")
    why = (f"the upload trigger failed on it ({inventory.queued_for(study_id)[0].code})" if inventory.queued_for(study_id)
           else f"the trigger refused to start it ({record.code})" if record is not None
           else "it never started (its trigger event was lost)")
    return Redrive(study_id, "trigger", why)


def apply(target: Any, inventory: Inventory, plans: list[Redrive]) -> list[Redrive]:
    """Carry the plans out; each gets ``started`` or ``error``."""
    for item in plans:
        if item.action == "skip":
            continue
        try:
            _keep_attempt(target, inventory, item)
            if item.action == "execution":
                item.started = _start_attempt(target, inventory, item)
            else:
                item.started = _retrigger(target, inventory, item)
        except (ClientError, RedriveError) as exc:
            item.error = str(exc)
    return plans


class RedriveError(RuntimeError):
    pass


def _keep_attempt(target: Any, inventory: Inventory, item: Redrive) -> None:
    """Move the current failure record into the study's attempt history (copy, then delete)."""
    record = inventory.failures.get(item.study_id)
    if record is None:
        return
    s3, bucket = target.client("s3"), target.names.results_bucket
    source = s3_layout.failure_key(item.study_id)
    attempt = record.execution_name or f"trigger-{(record.stored_at or _now()).replace(':', '')}"
    s3.copy_object(Bucket=bucket, Key=s3_layout.attempt_key(item.study_id, attempt),
                   CopySource={"Bucket": bucket, "Key": source}, ContentType="application/json",
                   MetadataDirective="REPLACE")
    s3.delete_object(Bucket=bucket, Key=source)


def _start_attempt(target: Any, inventory: Inventory, item: Redrive) -> str:
    sfn = target.client("stepfunctions")
    previous = next(e for e in inventory.executions[item.study_id] if e.name == item.previous)
    study = json.loads(sfn.describe_execution(executionArn=previous.arn)["input"])
    return sfn.start_execution(stateMachineArn=target.names.state_machine_arn, name=item.execution_name,
                               input=json.dumps(study))["executionArn"]


def _retrigger(target: Any, inventory: Inventory, item: Redrive) -> str:
    """Invoke the upload trigger for the study's sidecar, as S3 would; then drop the queue's messages."""
    upload = inventory.uploads[item.study_id]
    bucket = target.names.images_bucket
    event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": target.names.region,
                          "eventTime": _now(), "eventName": "ObjectCreated:Put",
                          "s3": {"s3SchemaVersion": "1.0", "configurationId": "radstream-redrive",
                                 "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                                 "object": {"key": upload.sidecar.key, "size": upload.sidecar.size}}}]}
    response = target.client("lambda").invoke(FunctionName=target.names.function("upload-trigger"),
                                               Payload=json.dumps(event).encode())
    body = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        raise RedriveError(f"the upload trigger failed again: {(body or {}).get('errorType')}: "
                           f"{(body or {}).get('errorMessage')}")
    started = (body or {}).get("started") or []
    if not started:
        raise RedriveError(f"the upload trigger started nothing: {body}")
    sqs = target.client("sqs")
    for queued in inventory.queued_for(item.study_id):
        sqs.delete_message(QueueUrl=inventory.queue_url, ReceiptHandle=queued.receipt_handle)
    return started[0]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
