"""What a deployment holds about its studies, read once: uploads (with every object version), terminal
records, executions (every attempt) and the upload trigger's failure queue.

`failures`, `reconcile` and `redrive` all work from one ``Inventory``: the classification is pure code
(``reconcile.py``, ``failures.py``, ``redrive.py``) and is tested without any AWS.

The failure queue is read without consuming it: messages are received with a visibility timeout of 0
(they stay in the queue) until a few receives in a row bring nothing new. On AWS a standard queue is
sampled, so a very long queue may take several rounds; the read stops after ``max_rounds``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from radstream.deployed import s3_layout
from radstream.deployed.intake.errors import UploadKeyError
from radstream.deployed.intake.upload import parse_upload_key
from radstream.deployed.intake.workflow_input import parse_execution_name
from radstream.deployed.records import rejected_upload_record_key
from radstream.infra.deploy import deployed_workflow
from radstream.tooling.errors import StackError

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass
class StoredFile:
    key: str
    size: int
    modified: datetime
    versions: int = 1           # how many versions the key has had (more than one: overwritten)


@dataclass
class Upload:
    """A study's folder under ``incoming/``."""

    study_id: str
    sidecar: StoredFile | None = None
    images: list[StoredFile] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.sidecar is not None and bool(self.images)

    @property
    def modified(self) -> datetime:
        return max(f.modified for f in [*self.images, *([self.sidecar] if self.sidecar else [])])

    @property
    def overwritten(self) -> list[str]:
        return [f.key for f in [*self.images, *([self.sidecar] if self.sidecar else [])] if f.versions > 1]


@dataclass
class Record:
    """A terminal record: ``results/<study>/result.json`` or ``failures/<name>/failure.json``."""

    name: str                    # the study id, or a ``_...`` name for what is not a study
    kind: str                    # "result" | "failure"
    stored_at: str | None
    code: str | None = None
    message: str | None = None
    execution_name: str | None = None
    stage: str | None = None
    upload_key: str | None = None


@dataclass
class Execution:
    name: str
    study_id: str
    attempt: int
    status: str
    arn: str
    started: datetime | None
    stopped: datetime | None


@dataclass
class QueuedFailure:
    """An S3 event the upload trigger failed to process through Lambda's retries (its on-failure
    destination). ``study_id`` is the study its object belongs to, or a ``_upload-...`` name."""

    message_id: str
    receipt_handle: str
    study_id: str
    key: str
    code: str
    message: str
    time: str | None
    attempts: int | None
    event: dict


@dataclass
class Inventory:
    uploads: dict[str, Upload] = field(default_factory=dict)
    results: dict[str, Record] = field(default_factory=dict)
    failures: dict[str, Record] = field(default_factory=dict)
    executions: dict[str, list[Execution]] = field(default_factory=dict)   # by study, attempts in order
    queued: list[QueuedFailure] = field(default_factory=list)
    queue_url: str | None = None
    read_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def latest_execution(self, study_id: str) -> Execution | None:
        attempts = self.executions.get(study_id)
        return attempts[-1] if attempts else None

    def queued_for(self, study_id: str) -> list[QueuedFailure]:
        return [q for q in self.queued if q.study_id == study_id]


def read_inventory(target: Any, *, with_records: bool = True) -> Inventory:
    if deployed_workflow(target).express:
        raise StackError("this deployment runs the Express workflow (WorkflowType=EXPRESS), whose executions "
                         "cannot be listed or described; reconcile and redrive read Standard executions. Deploy "
                         f"`--parameter WorkflowType=STANDARD` (radstream deploy --target {target.name}) to use them")
    inventory = Inventory()
    names = target.names
    s3 = target.client("s3")
    inventory.uploads = _uploads(s3, names.images_bucket)
    if with_records:
        inventory.results, inventory.failures = _records(s3, names.results_bucket)
    inventory.executions = _executions(target.client("stepfunctions"), names.state_machine_arn)
    inventory.queue_url, inventory.queued = _queue(target.client("sqs"), names.upload_trigger_failure_queue)
    return inventory


def _uploads(s3: Any, bucket: str) -> dict[str, Upload]:
    versions: dict[str, int] = {}
    current: dict[str, dict] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=s3_layout.INCOMING_PREFIX):
        for version in page.get("Versions", []):
            versions[version["Key"]] = versions.get(version["Key"], 0) + 1
            if version.get("IsLatest"):
                current[version["Key"]] = version
        for marker in page.get("DeleteMarkers", []):
            if marker.get("IsLatest"):
                current.pop(marker["Key"], None)
    uploads: dict[str, Upload] = {}
    for key, version in current.items():
        try:
            parsed = parse_upload_key(key)
        except UploadKeyError:
            continue  # refused by the trigger, under a _upload-... record
        upload = uploads.setdefault(parsed.study_id, Upload(parsed.study_id))
        stored = StoredFile(key, version["Size"], version["LastModified"], versions[key])
        if parsed.is_sidecar:
            upload.sidecar = stored
        else:
            upload.images.append(stored)
    return uploads


def _records(s3: Any, bucket: str) -> tuple[dict[str, Record], dict[str, Record]]:
    results: dict[str, Record] = {}
    failures: dict[str, Record] = {}
    for prefix, kind, into in ((s3_layout.RESULTS_PREFIX, "result", results),
                               (s3_layout.FAILURES_PREFIX, "failure", failures)):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                parts = obj["Key"][len(prefix):].split("/")
                if len(parts) != 2:
                    continue
                # a result's presence is what counts; a failure's code and reason are read
                body = (_read_json(s3, bucket, obj["Key"]) or {}) if kind == "failure" else {}
                error = body.get("error") if isinstance(body.get("error"), dict) else {}
                into[parts[0]] = Record(parts[0], kind, body.get("stored_at") or obj["LastModified"].isoformat(),
                                        error.get("code"), error.get("message"), body.get("execution_name"),
                                        body.get("stage"), body.get("upload_key"))
    return results, failures


def _executions(sfn: Any, state_machine_arn: str) -> dict[str, list[Execution]]:
    found: dict[str, list[Execution]] = {}
    try:
        pages = list(sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("StateMachineDoesNotExist", "ResourceNotFoundException"):
            return found
        raise
    for page in pages:
        for e in page["executions"]:
            parsed = parse_execution_name(e["name"])
            if parsed is None:
                continue
            found.setdefault(parsed[0], []).append(Execution(e["name"], parsed[0], parsed[1], e["status"],
                                                             e["executionArn"], e.get("startDate"), e.get("stopDate")))
    for attempts in found.values():
        attempts.sort(key=lambda e: e.attempt)
    return found


def _queue(sqs: Any, queue_name: str, max_rounds: int = 20) -> tuple[str | None, list[QueuedFailure]]:
    try:
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except ClientError:
        return None, []  # no queue (a deployment without the on-failure destination)
    seen: dict[str, dict] = {}
    quiet = 0
    for _ in range(max_rounds):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       WaitTimeSeconds=0, AttributeNames=["SentTimestamp"]).get("Messages", [])
        new = [m for m in messages if m["MessageId"] not in seen]
        seen.update({m["MessageId"]: m for m in new})
        quiet = 0 if new else quiet + 1
        if quiet >= 2:
            break
    return url, [q for m in seen.values() for q in _queued_failures(m)]


def _queued_failures(message: dict) -> list[QueuedFailure]:
    """An on-failure destination's invocation record -> one entry per S3 object in its event."""
    try:
        body = json.loads(message["Body"])
    except ValueError:
        return []
    event = body.get("requestPayload") if isinstance(body.get("requestPayload"), dict) else {}
    response = body.get("responsePayload") if isinstance(body.get("responsePayload"), dict) else {}
    context = body.get("requestContext") if isinstance(body.get("requestContext"), dict) else {}
    code = response.get("errorType") or context.get("condition") or "UnknownError"
    out = []
    for record in event.get("Records", []) or [{}]:
        key = unquote_plus(((record.get("s3") or {}).get("object") or {}).get("key") or "")
        try:
            study_id = parse_upload_key(key).study_id
        except UploadKeyError:
            study_id = rejected_upload_record_key(key)
        out.append(QueuedFailure(message["MessageId"], message["ReceiptHandle"], study_id, key, str(code),
                                 str(response.get("errorMessage") or context.get("condition") or ""),
                                 body.get("timestamp"), context.get("approximateInvokeCount"), event))
    return out


def _read_json(s3: Any, bucket: str, key: str) -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return None
