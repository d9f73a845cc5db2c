"""Submitting studies and reading their terminal records: what `radstream submit` does.

A study is submitted the way any producer would: upload the image, then its sidecar, under
``incoming/{study_id}/`` in the images bucket; the S3 trigger starts the execution. Waiting
follows that execution (its name is derived from the study id; the embedded emulator signals its
end, other targets are polled) and then reads the one record the study left behind: a result or a
failure with its reason.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from radstream.deployed import s3_layout
from radstream.deployed.intake.metadata import is_safe_study_id
from radstream.deployed.intake.workflow_input import execution_name_for
from radstream.deployed.records import record_key_for
from radstream.infra.targets import Target
from radstream.tooling.stack import emulator_admin

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
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
    """One study to submit: image bytes, its file name, and its sidecar (None = no sidecar)."""

    image: bytes
    filename: str
    metadata: dict | None
    study_id: str

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


class PipelineClient:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.names = target.names
        self.s3 = target.client("s3")
        self.sfn = target.client("stepfunctions")

    def execution_arn(self, study_id: str) -> str:
        return (f"arn:aws:states:{self.names.region}:{self.names.account_id}:execution:"
                f"{self.names.state_machine}:{execution_name_for(study_id)}")

    def _describe(self, study_id: str) -> dict | None:
        try:
            return self.sfn.describe_execution(executionArn=self.execution_arn(study_id))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ExecutionDoesNotExist", "ResourceNotFoundException"):
                return None
            raise

    def execution_exists(self, study_id: str) -> bool:
        return self._describe(study_id) is not None

    def upload(self, study: Study) -> None:
        """Image first, sidecar last: the sidecar's arrival triggers the pipeline."""
        self.s3.put_object(Bucket=self.names.images_bucket, Key=s3_layout.image_key(study.study_id, study.filename),
                           Body=study.image)
        sidecar = json.dumps(study.metadata if study.metadata is not None else {}).encode()
        self.s3.put_object(Bucket=self.names.images_bucket, Key=s3_layout.sidecar_key(study.study_id), Body=sidecar,
                           ContentType="application/json")

    def submit(self, study: Study, *, wait: bool = True, timeout_s: float = 300.0) -> dict[str, Any]:
        """Submit one study; with ``wait``, return its terminal record."""
        existing = self._describe(study.study_id)
        if existing is not None:
            # Submitting again would overwrite the stored image of a study already processed.
            record = self.wait(study.study_id, timeout_s=timeout_s) if wait else {"study_id": study.study_id}
            record["duplicate"] = True
            return record
        self.upload(study)
        if not wait:
            return {"study_id": study.study_id, "status": "SUBMITTED", "execution_arn": self.execution_arn(study.study_id)}
        return self.wait(study.study_id, timeout_s=timeout_s)

    def wait(self, study_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
        """The study's terminal record. On the embedded target the emulator says when the execution
        ends (one request, no poll interval added to what is measured); elsewhere DescribeExecution
        is polled at a steady short interval."""
        deadline = time.monotonic() + timeout_s
        signalled = self.target.name == "embedded"
        while True:
            remaining = deadline - time.monotonic()
            if signalled and remaining > 0:
                answer = emulator_admin.wait_for_execution(self.target.endpoint_url, self.execution_arn(study_id),
                                                           min(remaining, 20.0))
                signalled = answer is not None  # an emulator without the route: poll instead
            execution = self._describe(study_id)
            if execution is not None and execution["status"] in TERMINAL:
                return self.record(study_id, execution)
            if time.monotonic() > deadline:
                state = execution["status"] if execution else "not started (is the upload trigger deployed?)"
                return {"study_id": study_id, "status": "TIMED_OUT", "execution_arn": self.execution_arn(study_id),
                        "error": {"code": "ClientTimeout", "message": f"waited {timeout_s:.0f} s; execution {state}"}}
            if not signalled:
                time.sleep(POLL_INTERVAL_S)

    def record(self, study_id: str, execution: dict) -> dict[str, Any]:
        latency_ms = None
        if execution.get("stopDate") and execution.get("startDate"):
            latency_ms = round((execution["stopDate"] - execution["startDate"]).total_seconds() * 1000, 1)
        out: dict[str, Any] = {"study_id": study_id, "status": execution["status"],
                               "execution_arn": execution["executionArn"], "latency_ms": latency_ms,
                               "started_at": _epoch(execution.get("startDate")),
                               "stopped_at": _epoch(execution.get("stopDate"))}
        if execution["status"] == "SUCCEEDED":
            key = s3_layout.result_key(study_id)
            out["results_s3_path"] = f"s3://{self.names.results_bucket}/{key}"
            result = self._read_json(self.names.results_bucket, key) or {}
            inference = result.get("inference_results", {})
            out.update({k: inference.get(k) for k in ("findings", "confidence", "model_name", "model_version", "stub")})
        else:
            safe = study_id if is_safe_study_id(study_id) else None
            key = s3_layout.failure_key(record_key_for(safe, execution["name"]))
            failure = self._read_json(self.names.results_bucket, key)
            if failure:
                out["error"] = failure["error"]
                out["failure_s3_path"] = f"s3://{self.names.results_bucket}/{key}"
            else:
                out["error"] = {"code": execution.get("error") or execution["status"],
                                "message": execution.get("cause") or "no failure record was written"}
        return out

    def _read_json(self, bucket: str, key: str) -> dict | None:
        try:
            return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError:
            return None
