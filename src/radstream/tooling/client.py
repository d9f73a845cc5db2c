"""Submitting studies and reading their terminal records: what `radstream submit` does.

A study is submitted the way any producer would, under ``incoming/{study_id}/`` in the images
bucket, with write-once (conditional) puts:

1. the study id is checked before anything is sent (``intake.study_id``);
2. the sidecar goes first, with the image's SHA-256 in it: its conditional put claims the study id.
   If the id is taken, the stored sidecar is compared with ours: the same study (same metadata, same
   image hash) is a resubmission and gets the existing record; a different one is refused
   (``StudyIdTakenError``), nothing written;
3. the image goes second (conditional too); the S3 trigger starts the execution once both are in.

Waiting follows that execution (its name is the study id; the embedded emulator signals its end,
other targets are polled) and then reads the one record the study left behind: a result or a
failure with its reason (also a failure the trigger wrote when it refused the upload before
starting anything). Every record returned carries ``recorded_at``, when that terminal record was
written (its ``stored_at``): the end of the study as a benchmark measures it, on either workflow type.

An Express workflow (WorkflowType EXPRESS) has no DescribeExecution on AWS, and its executions' ARNs
end in a suffix the client cannot know, so the terminal record in S3 is the only signal: polled at a
steady short interval, or, on the embedded target, awaited through the emulator's completion route
(the emulator names Express executions like Standard ones). Express runs at least once, so a study
may have run more than once: a result then wins over a failure written by another run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from radstream.deployed import s3_layout
from radstream.deployed.intake.study_id import study_id_problem
from radstream.deployed.intake.workflow_input import execution_name_for
from radstream.infra.deploy import DeployedWorkflow, deployed_workflow
from radstream.infra.targets import Target
from radstream.tooling.errors import InvalidStudyError, StudyIdTakenError
from radstream.tooling.stack import emulator_admin

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
TARGET_UNREACHABLE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)
UNREACHABLE_GIVE_UP_S = 60.0  # a restart of the embedded stack takes a few seconds
POLL_INTERVAL_S = 0.2  # where no completion signal exists (LocalStack, AWS): steady, short


def dicom_sidecar(data: bytes) -> dict | None:
    """The sidecar derived from a DICOM header (de-identified), or None if ``data`` is not DICOM."""
    if data[128:132] != b"DICM":
        return None
    from radstream.deployed.imaging import metadata_from_dicom

    return metadata_from_dicom(data, salt=deid_salt())


def deid_salt() -> str:
    """Salt of the hashes that replace DICOM UIDs (study ids derived from headers); set one per deployment."""
    return os.environ.get("RADSTREAM_DEID_SALT", "")


@dataclass
class Study:
    """One study to submit: image bytes, its file name, and its sidecar (None = an empty sidecar).
    An unsafe or over-long study id is refused here, before anything is uploaded."""

    image: bytes
    filename: str
    metadata: dict | None
    study_id: str

    def __post_init__(self) -> None:
        problem = study_id_problem(self.study_id)
        if problem:
            raise InvalidStudyError(f"study refused before upload: {problem}")

    @property
    def image_sha256(self) -> str:
        return hashlib.sha256(self.image).hexdigest()

    def sidecar_bytes(self) -> bytes:
        """The sidecar as uploaded: the metadata plus the image's SHA-256, so the pipeline can never
        pair it with other bytes."""
        metadata = self.metadata if self.metadata is not None else {}
        if isinstance(metadata, dict) and "image_sha256" not in metadata:
            metadata = {**metadata, "image_sha256": self.image_sha256}
        return json.dumps(metadata, sort_keys=True).encode()

    @classmethod
    def from_path(cls, image_path: Path, metadata: dict | None = None, study_id: str | None = None) -> "Study":
        data = Path(image_path).read_bytes()
        if metadata is None:
            # No sidecar given: derive one from the DICOM header (de-identified) when possible.
            metadata = dicom_sidecar(data)
            if metadata is not None and study_id:
                metadata["study_id"] = study_id
        study_id = study_id or (metadata or {}).get("study_id")
        if not isinstance(study_id, str) or not study_id:
            study_id = f"study-{uuid.uuid4().hex[:12]}"
        return cls(data, Path(image_path).name, metadata, study_id)


def _epoch(when) -> float | None:
    return when.timestamp() if when is not None else None


def _iso_epoch(text: Any) -> float | None:
    """A record's ``stored_at`` (ISO-8601, ms) as epoch seconds."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class PipelineClient:
    def __init__(self, target: Target, workflow: DeployedWorkflow | None = None) -> None:
        self.target = target
        self.names = target.names
        self.s3 = target.client("s3")
        self.sfn = target.client("stepfunctions")
        self.workflow = workflow or deployed_workflow(target)

    def execution_arn(self, study_id: str, attempt: int = 1) -> str | None:
        """The study's execution (``attempt``: a redrive's); None for Express outside the embedded target
        (AWS names an Express execution ``...:express:<machine>:<name>:<random>``)."""
        if self.workflow.express and self.target.name != "embedded":
            return None
        return (self.workflow.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
                + ":" + execution_name_for(study_id, attempt))

    def _describe(self, study_id: str) -> dict | None:
        """The study's latest attempt (``radstream redrive`` runs ``<study>.attempt-<n>``), or None."""
        latest, attempt = None, 1
        while True:
            try:
                found = self.sfn.describe_execution(executionArn=self.execution_arn(study_id, attempt))
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("ExecutionDoesNotExist", "ResourceNotFoundException"):
                    return latest
                raise
            if found["status"] in ("RUNNING", "SUCCEEDED"):
                return found
            latest, attempt = found, attempt + 1

    def started(self, study_id: str) -> bool:
        """Whether the trigger started the study: its execution exists (Standard) or its start claim
        does (Express, where executions cannot be looked up)."""
        if not self.workflow.express:
            return self._describe(study_id) is not None
        try:
            self.s3.head_object(Bucket=self.names.images_bucket, Key=s3_layout.start_claim_key(study_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def upload(self, study: Study) -> bool:
        """Upload ``study`` write-once; True if it was new, False if exactly this study was already
        there (a resubmission: nothing is written again). StudyIdTakenError when a different upload
        holds the id."""
        bucket = self.names.images_bucket
        sidecar = study.sidecar_bytes()
        new = self._put_once(bucket, s3_layout.sidecar_key(study.study_id), sidecar, "application/json")
        if not new:
            stored = self.s3.get_object(Bucket=bucket, Key=s3_layout.sidecar_key(study.study_id))["Body"].read()
            if stored != sidecar:
                raise StudyIdTakenError(
                    f"study id {study.study_id} is already used by a different upload (its sidecar differs); "
                    f"nothing was uploaded. Submit this study under a new id")
        images = [o for o in self._folder(study.study_id) if o["Key"] != s3_layout.sidecar_key(study.study_id)]
        if not images:
            if self._put_once(bucket, s3_layout.image_key(study.study_id, study.filename), study.image, None):
                return new
            images = [o for o in self._folder(study.study_id) if o["Key"] != s3_layout.sidecar_key(study.study_id)]
        if len(images) != 1 or self._sha256_of(images[0]["Key"]) != study.image_sha256:
            raise StudyIdTakenError(
                f"study id {study.study_id} already holds a different image; the pipeline refuses the pair "
                f"(the sidecar declares this image's SHA-256). Submit this study under a new id")
        return new

    def _put_once(self, bucket: str, key: str, body: bytes, content_type: str | None) -> bool:
        """A conditional put (If-None-Match: *): False when the key already exists."""
        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256", **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise
        return True

    def _folder(self, study_id: str) -> list[dict]:
        listing = self.s3.list_objects_v2(Bucket=self.names.images_bucket, Prefix=s3_layout.study_prefix(study_id))
        return listing.get("Contents", [])

    def _sha256_of(self, key: str) -> str:
        head = self.s3.head_object(Bucket=self.names.images_bucket, Key=key, ChecksumMode="ENABLED")
        if head.get("ChecksumSHA256") and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
            return base64.b64decode(head["ChecksumSHA256"]).hex()
        body = self.s3.get_object(Bucket=self.names.images_bucket, Key=key)["Body"].read()
        return hashlib.sha256(body).hexdigest()

    def submit(self, study: Study, *, wait: bool = True, timeout_s: float = 300.0) -> dict[str, Any]:
        """Submit one study; with ``wait``, return its terminal record. A resubmission of exactly the
        same study returns the existing record marked ``"duplicate": true``; a different study under a
        taken id returns status ``REFUSED`` (error code ``StudyIdTaken``) and changes nothing."""
        try:
            new = self.upload(study)
        except StudyIdTakenError as exc:
            return {"study_id": study.study_id, "status": "REFUSED",
                    "error": {"code": StudyIdTakenError.code, "message": str(exc)}}
        if not wait:
            record = {"study_id": study.study_id, "status": "SUBMITTED",
                      "execution_arn": self.execution_arn(study.study_id)}
        else:
            record = self.wait(study.study_id, timeout_s=timeout_s)
        if not new:
            record["duplicate"] = True
        return record

    def wait(self, study_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
        """The study's terminal record. On the embedded target the emulator says when the execution
        ends (one request, no poll interval added to what is measured); elsewhere DescribeExecution
        is polled at a steady short interval.

        If the target stops answering, or the embedded emulator is restarted while the study runs (its
        state is in memory: the execution is gone), the answer is a ``LOST`` record saying so, not a
        traceback; `radstream reconcile` lists such studies and `radstream redrive` runs them again.
        Express: the study's records in S3 say when it ended (see the module docstring)."""
        if self.workflow.express:
            return self._wait_for_record(study_id, timeout_s)
        deadline = time.monotonic() + timeout_s
        signalled = self.target.name == "embedded"
        emulator = self._emulator_started_at()
        execution = None
        unreachable_since = None
        while True:
            remaining = deadline - time.monotonic()
            try:
                if signalled and remaining > 0:
                    # Until the execution exists, look again soon: the trigger may refuse the upload instead.
                    arn = execution["executionArn"] if execution else self.execution_arn(study_id)
                    answer = emulator_admin.wait_for_execution(
                        self.target.endpoint_url, arn, min(remaining, 20.0 if execution is not None else 0.5))
                    signalled = answer is not None or self._emulator_started_at() is not None
                seen, execution = execution, self._describe(study_id)
            except TARGET_UNREACHABLE as exc:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_GIVE_UP_S or time.monotonic() > deadline:
                    return self._lost(study_id, execution, "TargetUnreachable",
                                      f"the target stopped answering while the study ran ({type(exc).__name__}); "
                                      f"once it is back, `radstream reconcile` lists the study and `radstream redrive "
                                      f"{study_id}` runs it again")
                time.sleep(1.0)
                continue
            if unreachable_since is not None or (seen is not None and execution is None):
                unreachable_since = None
                restarted = emulator is not None and self._emulator_started_at() not in (None, emulator)
                if restarted or (seen is not None and execution is None):
                    return self._lost(study_id, seen, "EmulatorRestarted",
                                      "lost in an emulator restart: the embedded target keeps executions in memory, "
                                      "so this study's execution is gone. `radstream reconcile` lists it; "
                                      f"`radstream redrive {study_id}` runs it again from its upload")
            if execution is not None and execution["status"] in TERMINAL:
                return self.record(study_id, execution)
            if execution is None:  # the upload trigger may have refused the upload without starting anything
                refused = self._read_json(self.names.results_bucket, s3_layout.failure_key(study_id))
                if refused is not None:
                    return self._refused_record(study_id, refused)
            if time.monotonic() > deadline:
                state = execution["status"] if execution else "not started (is the upload trigger deployed?)"
                return {"study_id": study_id, "status": "TIMED_OUT", "execution_arn": self.execution_arn(study_id),
                        "error": {"code": "ClientTimeout", "message": f"waited {timeout_s:.0f} s; execution {state}"}}
            if not signalled:
                time.sleep(POLL_INTERVAL_S)

    def _emulator_started_at(self) -> float | None:
        """When the embedded emulator started (None elsewhere, or when it does not answer)."""
        if self.target.name != "embedded":
            return None
        health = emulator_admin.health(self.target.endpoint_url)
        return health.get("started_at") if health else None

    def _lost(self, study_id: str, execution: dict | None, code: str, message: str) -> dict[str, Any]:
        return {"study_id": study_id, "status": "LOST",
                "execution_arn": execution["executionArn"] if execution else self.execution_arn(study_id),
                "error": {"code": code, "message": message}}

    def record(self, study_id: str, execution: dict) -> dict[str, Any]:
        latency_ms = None
        if execution.get("stopDate") and execution.get("startDate"):
            latency_ms = round((execution["stopDate"] - execution["startDate"]).total_seconds() * 1000, 1)
        out: dict[str, Any] = {"study_id": study_id, "status": execution["status"],
                               "execution_arn": execution["executionArn"], "latency_ms": latency_ms,
                               "started_at": _epoch(execution.get("startDate")),
                               "stopped_at": _epoch(execution.get("stopDate"))}
        if execution["status"] == "SUCCEEDED":
            self._add_result(out, study_id, self._read_json(self.names.results_bucket, s3_layout.result_key(study_id)))
        else:
            failure = self._read_json(self.names.results_bucket, s3_layout.failure_key(study_id))
            if failure:
                self._add_failure(out, study_id, failure)
            else:
                out["error"] = {"code": execution.get("error") or execution["status"],
                                "message": execution.get("cause") or "no failure record was written"}
        return out

    def _add_result(self, out: dict, study_id: str, result: dict | None) -> dict:
        out["results_s3_path"] = f"s3://{self.names.results_bucket}/{s3_layout.result_key(study_id)}"
        result = result or {}
        inference = result.get("inference_results", {})
        out.update({k: inference.get(k) for k in ("findings", "confidence", "model_name", "model_version", "stub")})
        out["recorded_at"] = _iso_epoch(result.get("stored_at"))
        out["executed"] = True
        return out

    def _add_failure(self, out: dict, study_id: str, failure: dict) -> dict:
        out["error"] = failure["error"]
        out["failure_s3_path"] = f"s3://{self.names.results_bucket}/{s3_layout.failure_key(study_id)}"
        out["recorded_at"] = _iso_epoch(failure.get("stored_at"))
        out["executed"] = failure.get("execution_name") is not None  # None: the trigger refused the upload
        return out

    def _refused_record(self, study_id: str, failure: dict) -> dict[str, Any]:
        """A study the upload trigger refused before starting an execution: its failure record."""
        return self._add_failure({"study_id": study_id, "status": "FAILED", "execution_arn": None, "latency_ms": None,
                                  "started_at": None, "stopped_at": None}, study_id, failure)

    def _wait_for_record(self, study_id: str, timeout_s: float) -> dict[str, Any]:
        """Express: the study's terminal record in S3 is what says it ended (see the module docstring)."""
        deadline = time.monotonic() + timeout_s
        arn = self.execution_arn(study_id)  # embedded only
        signalled = arn is not None
        ended = None
        while True:
            remaining = deadline - time.monotonic()
            if signalled and remaining > 0:
                answer = emulator_admin.wait_for_execution(self.target.endpoint_url, arn,
                                                           min(remaining, 20.0 if ended is not None else 0.5))
                signalled = answer is not None
                ended = (answer or {}).get("status")
            record = self._terminal_record(study_id)
            if record is not None:
                return record
            if ended in TERMINAL:  # the emulator says it ended, and nothing was written
                return {"study_id": study_id, "status": ended, "execution_arn": arn, "latency_ms": None,
                        "started_at": None, "stopped_at": None,
                        "error": {"code": ended, "message": "the execution ended without a terminal record"}}
            if time.monotonic() > deadline:
                return {"study_id": study_id, "status": "TIMED_OUT", "execution_arn": arn,
                        "error": {"code": "ClientTimeout",
                                  "message": f"waited {timeout_s:.0f} s; no result or failure record yet"}}
            if not signalled:
                time.sleep(POLL_INTERVAL_S)

    def _terminal_record(self, study_id: str) -> dict[str, Any] | None:
        """The study's outcome from its records alone (Express): a result, else a failure, else None."""
        out: dict[str, Any] = {"study_id": study_id, "execution_arn": self.execution_arn(study_id),
                               "latency_ms": None, "started_at": None, "stopped_at": None}
        result = self._read_json(self.names.results_bucket, s3_layout.result_key(study_id))
        if result is not None:
            return self._add_result(dict(out, status="SUCCEEDED"), study_id, result)
        failure = self._read_json(self.names.results_bucket, s3_layout.failure_key(study_id))
        if failure is not None:
            return self._add_failure(dict(out, status="FAILED"), study_id, failure)
        return None

    def _read_json(self, bucket: str, key: str) -> dict | None:
        try:
            return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError:
            return None
