"""`radstream e2e`: the end-to-end check list, run against a deployed stack.

Every check drives the deployed system the way a user or AWS would (boto3 against the
endpoint, the seed's test events verbatim, uploads through the S3 trigger) and says what it
saw. Exit status is non-zero when any check fails.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Callable

from radstream.definition import stack as stack_def
from radstream.deployed import s3_layout
from radstream.tooling import synthetic_images as synthetic
from radstream.tooling.client import PipelineClient, Study, dicom_sidecar
from radstream.tooling.errors import CheckFailed
from radstream.tooling.stack.emulator_admin import flush_telemetry


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Checks:
    def __init__(self, target, prefix: str) -> None:
        self.target, self.prefix = target, prefix
        self.names = target.names
        self.client = PipelineClient(target)
        self.lam = target.client("lambda")
        self.s3 = target.client("s3")
        self.sfn = target.client("stepfunctions")
        self.seed_path = f"s3://{self.names.images_bucket}/test.jpg"
        self.seed_metadata = {"study_id": "test-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}

    def invoke(self, short: str, event: dict) -> tuple[dict, str | None]:
        response = self.lam.invoke(FunctionName=self.names.function(short), Payload=json.dumps(event))
        return json.loads(response["Payload"].read()), response.get("FunctionError")

    # -- the list ---------------------------------------------------------------------------
    def deployment_is_current(self) -> str:
        from radstream.infra.deploy import plan

        pending = plan(self.target)
        expect(not pending, "pending changes: " + "; ".join(s.describe() for s in pending))
        return f"{len(stack_def.FUNCTIONS)} functions, state machine, buckets, stream, firehose, catalog in place"

    def model_server_ready(self) -> str:
        if self.target.name != "embedded":
            return f"not checked from here: {self.target.model_endpoint} is reached from inside the target"
        ready = http_status(self.target.model_endpoint + "/v2/health/ready")
        expect(ready == 200, f"{self.target.model_endpoint}/v2/health/ready answered {ready}")
        return "v2 health ready"

    def seed_validate_metadata(self) -> str:
        body, error = self.invoke("validate-metadata", {"study_id": "test-001", "s3_path": self.seed_path,
                                                        "metadata": self.seed_metadata})
        expected = {"statusCode": 200, "body": "{\"message\": \"Metadata validated successfully\"}", "status": "SUCCESS"}
        expect(error is None and body == expected, f"got {body}")
        return "documented response"

    def seed_prepare_tensors(self) -> str:
        self.s3.put_object(Bucket=self.names.images_bucket, Key="test.jpg", Body=synthetic.chest_jpeg(1, (1024, 1024)))
        body, error = self.invoke("prepare-tensors", {"s3_path": self.seed_path, "metadata": self.seed_metadata})
        expect(error is None, f"failed: {body}")
        expect(body.get("tensor_shape") == [1, 1, 224, 224], f"tensor_shape {body.get('tensor_shape')}")
        expect(str(body.get("preprocessed_data_ref", "")).startswith("s3://"), "no preprocessed_data_ref")
        return f"tensor {body['tensor_shape']} at {body['preprocessed_data_ref']}"

    def seed_store_results(self) -> str:
        body, error = self.invoke("store-results", {
            "s3_path": self.seed_path, "metadata": {"study_id": "test-001", "view": "PA"},
            "inference_results": {"findings": "Normal chest X-ray", "confidence": 0.95}})
        expect(error is None and str(body.get("results_s3_path", "")).startswith("s3://"), f"got {body}")
        return body["results_s3_path"]

    def seed_send_telemetry(self) -> str:
        body, error = self.invoke("send-telemetry", {"study_id": "test-001", "s3_path": self.seed_path,
                                                     "status": "SUCCESS", "processing_time_ms": 150.5})
        expect(error is None and body.get("status") == "SUCCESS", f"got {body}")
        return f"status {body['status']}"

    def _run_execution(self, payload: dict, label: str) -> dict:
        arn = self.sfn.start_execution(stateMachineArn=self.names.state_machine_arn,
                                       name=f"{self.prefix}-{label}", input=json.dumps(payload))["executionArn"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            execution = self.sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return execution
            time.sleep(0.2)
        raise CheckFailed(f"execution {arn} still running after 120 s")

    def seed_execution_succeeds(self) -> str:
        self.s3.put_object(Bucket=self.names.images_bucket, Key="test.jpg", Body=synthetic.chest_jpeg(1, (1024, 1024)))
        execution = self._run_execution({"study_id": "test-001", "s3_path": self.seed_path,
                                         "metadata": self.seed_metadata}, "seed-001")
        expect(execution["status"] == "SUCCEEDED", f"status {execution['status']}: {execution.get('cause')}")
        return "test-001 SUCCEEDED"

    def seed_execution_fails_through_catch(self) -> str:
        queue = self._subscribe_queue()
        execution = self._run_execution({"study_id": "test-002", "s3_path": self.seed_path,
                                         "metadata": {"study_id": "test-002"}}, "seed-002")
        expect(execution["status"] == "FAILED", f"status {execution['status']}")
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        for state in ("NotifyFailure", "RecordFailure", "SendFailureTelemetry", "StudyFailed"):
            expect(state in entered, f"{state} not entered (path: {' > '.join(entered)})")
        failure = json.loads(self.s3.get_object(Bucket=self.names.results_bucket,
                                                Key=s3_layout.failure_key("test-002"))["Body"].read())
        expect(failure["error"]["code"] == "MetadataValidationError", f"failure record {failure['error']}")
        messages = self._receive(queue)
        expect(any(self.prefix in json.dumps(m) and "MetadataValidationError" in json.dumps(m) for m in messages),
               "no SNS notification for the failed execution")
        return "Catch > SNS > failure record (MetadataValidationError) > telemetry > Fail"

    def _subscribe_queue(self) -> str:
        sqs, sns = self.target.client("sqs"), self.target.client("sns")
        url = sqs.create_queue(QueueName=f"{self.prefix}-errors")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._subscription = sns.subscribe(TopicArn=self.names.errors_topic_arn, Protocol="sqs",
                                           Endpoint=arn)["SubscriptionArn"]
        return url

    def _receive(self, url: str) -> list[dict]:
        sqs = self.target.client("sqs")
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        # Unsubscribe before deleting: a subscription to a deleted queue makes moto's Publish fail.
        self.target.client("sns").unsubscribe(SubscriptionArn=self._subscription)
        sqs.delete_queue(QueueUrl=url)
        return [json.loads(m["Body"]) for m in messages]

    def upload_runs_pipeline(self) -> str:
        study = Study(synthetic.chest_jpeg(2, (2048, 2048)), "chest.jpg",
                      {"study_id": f"{self.prefix}-upload", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"},
                      f"{self.prefix}-upload")
        record = self.client.submit(study)
        expect(record["status"] == "SUCCEEDED", f"record {record}")
        expect(isinstance(record.get("findings"), str) and record.get("confidence") is not None, f"record {record}")
        return f"{record['findings']!r} ({record['confidence']:.2f}) in {record['latency_ms']:.0f} ms"

    def duplicate_upload_is_ignored(self) -> str:
        study_id = f"{self.prefix}-upload"
        self.client.upload(Study(synthetic.chest_jpeg(2, (512, 512)), "chest.jpg",
                                 {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}, study_id))
        arns = [e["executionArn"] for page in self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.names.state_machine_arn) for e in page["executions"]
            if e["name"] == study_id]
        expect(len(arns) == 1, f"{len(arns)} executions for {study_id}")
        return "re-upload started no second execution"

    def corrupt_image_fails_cleanly(self) -> str:
        jpeg = synthetic.chest_jpeg(3, (1024, 1024))
        study_id = f"{self.prefix}-corrupt"
        record = self.client.submit(Study(jpeg[: len(jpeg) // 2], "broken.jpg",
                                          {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"},
                                          study_id))
        expect(record["status"] == "FAILED" and record["error"]["code"] == "TruncatedImageError", f"record {record}")
        expect(not self._exists(self.names.results_bucket, s3_layout.result_key(study_id)), "a result was stored")
        return f"{record['error']['code']}: {record['error']['message']}"

    def lambda_logs_have_reports(self) -> str:
        logs = self.target.client("logs")
        group = f"/aws/lambda/{self.names.function('prepare-tensors')}"
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        lines = [e["message"] for s in streams for e in logs.get_log_events(
            logGroupName=group, logStreamName=s["logStreamName"])["events"]]
        reports = [line for line in lines if line.startswith("REPORT RequestId:")]
        expect(reports, f"no REPORT lines in {group}")
        return reports[-1]

    def telemetry_lands_in_s3(self) -> str:
        self._flush()
        keys = [o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.names.telemetry_bucket, Prefix=s3_layout.TELEMETRY_PREFIX + "/") for o in page.get("Contents", [])]
        expect(keys, f"nothing under {s3_layout.TELEMETRY_PREFIX}/")
        return f"{len(keys)} objects under s3://{self.names.telemetry_bucket}/{s3_layout.TELEMETRY_PREFIX}/"

    # -- comprehensive --------------------------------------------------------------------
    def _submit_pydicom_sample(self, name: str, suffix: str) -> dict:
        from radstream.tooling.samples import sample_dicom_path

        with open(sample_dicom_path(name), "rb") as handle:
            data = handle.read()
        study_id = f"{self.prefix}-{suffix}"
        return self.client.submit(Study(data, name, dict(dicom_sidecar(data), study_id=study_id), study_id))

    def real_dicom_succeeds(self) -> str:
        record = self._submit_pydicom_sample("RG1_UNCR.dcm", "rg1")
        expect(record["status"] == "SUCCEEDED", f"record {record}")
        return f"RG1_UNCR.dcm: {record['findings']!r}"

    def leg_is_rejected(self) -> str:
        record = self._submit_pydicom_sample("RG3_UNCR.dcm", "rg3")
        expect(record["status"] == "FAILED" and record["error"]["code"] == "NotChestImageError", f"record {record}")
        return record["error"]["message"]

    def analytics_queries_answer(self) -> str:
        from radstream.analytics.duckdb_engine import DuckDBEngine
        from radstream.analytics.translate import load_queries

        self._flush()
        engine = DuckDBEngine(f"s3://{self.names.telemetry_bucket}/{s3_layout.TELEMETRY_PREFIX}",
                              endpoint_url=self.target.endpoint_url, region=self.names.region)
        queries = load_queries()
        results = {name: engine.run(query.sql, name) for name, query in queries.items()}
        total = results["total_events"].rows[0][0]
        expect(total > 0, "total_events is 0")
        return f"all {len(results)} named queries ran; total_events = {total}"

    def _flush(self) -> None:
        if self.target.name == "embedded":
            expect(flush_telemetry(self.target.endpoint_url) is not None, "the emulator did not flush telemetry")

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except Exception:
            return False


BASIC = ("deployment_is_current", "model_server_ready", "seed_validate_metadata", "seed_prepare_tensors",
         "seed_store_results", "seed_send_telemetry", "seed_execution_succeeds", "seed_execution_fails_through_catch",
         "upload_runs_pipeline", "duplicate_upload_is_ignored", "corrupt_image_fails_cleanly",
         "lambda_logs_have_reports", "telemetry_lands_in_s3")
COMPREHENSIVE = ("real_dicom_succeeds", "leg_is_rejected", "analytics_queries_answer")


def run_checks(target, *, comprehensive: bool, study_id: str | None, console,
               only: tuple[str, ...] | None = None) -> int:
    prefix = study_id or f"e2e-{uuid.uuid4().hex[:8]}"
    checks = Checks(target, prefix)
    names = only or (BASIC + (COMPREHENSIVE if comprehensive else ()))
    failures = 0
    for name in names:
        check: Callable[[], str] = getattr(checks, name)
        started = time.perf_counter()
        try:
            detail = check()
            console.print(f"[green]PASS[/green] {name:<38} {detail}  [dim]{time.perf_counter() - started:.1f}s[/dim]")
        except Exception as exc:
            failures += 1
            console.print(f"[red]FAIL[/red] {name:<38} {type(exc).__name__}: {exc}")
    console.print(f"{len(names) - failures} passed, {failures} failed")
    return 1 if failures else 0
