"""`radstream e2e`: the end-to-end check list, run against a deployed stack.

Every check drives the deployed system the way a user or AWS would (boto3 against the
endpoint, the seed's test events verbatim, uploads through the S3 trigger) and says what it
saw. Exit status is non-zero when any check fails.

The list is defined once, here: ``radstream e2e`` runs it, and so does pytest
(tests/e2e/test_checklist.py, one test per check against the session's embedded stack). Each check
sets up what it needs, so any one of them can run alone (``radstream e2e --check NAME``).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Callable

from botocore.exceptions import ClientError

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
        self._uploaded: dict | None = None

    def invoke(self, short: str, event: dict) -> tuple[dict, str | None]:
        response = self.lam.invoke(FunctionName=self.names.function(short), Payload=json.dumps(event))
        return json.loads(response["Payload"].read()), response.get("FunctionError")

    def _read(self, uri: str) -> bytes:
        bucket, key = s3_layout.parse_s3_uri(uri)
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def _put_seed_image(self) -> None:
        self.s3.put_object(Bucket=self.names.images_bucket, Key="test.jpg", Body=synthetic.chest_jpeg(1, (1024, 1024)))

    # -- the list ---------------------------------------------------------------------------
    def deployment_is_current(self) -> str:
        from radstream.infra.deploy import pending_changes

        pending = pending_changes(self.target)
        expect(not pending, "pending changes: " + "; ".join(pending))
        return (f"stacks radstream-bootstrap and radstream have template.yaml and the parameters a deploy "
                f"would pass ({len(stack_def.FUNCTIONS)} functions)")

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
        expect(error is None and {k: body.get(k) for k in expected} == expected, f"got {body}")
        expect(body.get("image", {}).get("uri") == self.seed_path, f"no image reference for the next steps in {body}")
        return "documented response (plus the image reference the next steps read)"

    def seed_prepare_tensors(self) -> str:
        import numpy as np

        self._put_seed_image()
        body, error = self.invoke("prepare-tensors", {"s3_path": self.seed_path, "metadata": self.seed_metadata})
        expect(error is None, f"failed: {body}")
        expect(body.get("tensor_shape") == [1, 1, 224, 224], f"tensor_shape {body.get('tensor_shape')}")
        ref = str(body.get("preprocessed_data_ref", ""))
        expect(ref.startswith("s3://"), f"no s3:// preprocessed_data_ref in {body}")
        tensor = np.load(io.BytesIO(self._read(ref)), allow_pickle=False)
        expect(tensor.shape == (1, 1, 224, 224) and tensor.dtype == np.float32,
               f"{ref} holds a {tensor.dtype} array of shape {tensor.shape}")
        return f"tensor {body['tensor_shape']} at {ref}"

    def seed_store_results(self) -> str:
        findings = {"findings": "Normal chest X-ray", "confidence": 0.95}
        body, error = self.invoke("store-results", {
            "s3_path": self.seed_path, "metadata": {"study_id": "test-001", "view": "PA"},
            "inference_results": findings})
        expect(error is None and str(body.get("results_s3_path", "")).startswith("s3://"), f"got {body}")
        stored = json.loads(self._read(body["results_s3_path"]))
        expect(stored.get("study_id") == "test-001" and stored.get("inference_results") == findings,
               f"{body['results_s3_path']} holds {stored}")
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
        self._put_seed_image()
        execution = self._run_execution({"study_id": "test-001", "s3_path": self.seed_path,
                                         "metadata": self.seed_metadata}, "seed-001")
        expect(execution["status"] == "SUCCEEDED", f"status {execution['status']}: {execution.get('cause')}")
        output = json.loads(execution["output"])
        model = output.get("inference", {}).get("inference_results", {}).get("model_name")
        expect(bool(model), f"no model_name in the output's inference results: {output.get('inference')}")
        stored = output.get("stored", {}).get("results_s3_path", "")
        expect(stored == f"s3://{self.names.results_bucket}/{s3_layout.result_key('test-001')}",
               f"results_s3_path {stored!r}")
        return f"test-001 SUCCEEDED ({model}), result at {stored}"

    def seed_execution_fails_through_catch(self) -> str:
        queue = self._subscribe_queue()
        name = f"{self.prefix}-seed-002"
        execution = self._run_execution({"study_id": "test-002", "s3_path": self.seed_path,
                                         "metadata": {"study_id": "test-002"}}, "seed-002")
        expect(execution["status"] == "FAILED", f"status {execution['status']}")
        history = self.sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        path = ["ValidateMetadata", "RecordFailure", "NotifyFailure", "SendFailureTelemetry", "StudyFailed"]
        expect(entered == path, f"path {' > '.join(entered)}, expected {' > '.join(path)}")
        failure = json.loads(self.s3.get_object(Bucket=self.names.results_bucket,
                                                Key=s3_layout.failure_key("test-002"))["Body"].read())
        expect(failure["error"]["code"] == "MetadataValidationError", f"failure record {failure['error']}")
        expect("view" in failure["error"]["message"] and "timestamp" in failure["error"]["message"],
               f"the message does not name both missing fields: {failure['error']['message']}")
        notified = [m for m in self._receive(queue)
                    if m.get("MessageAttributes", {}).get("execution", {}).get("Value") == name]
        expect(len(notified) == 1, f"{len(notified)} SNS notifications for execution {name}")
        message = json.loads(notified[0]["Message"])
        wanted = {"study_id": "test-002", "error_code": "MetadataValidationError",
                  "failure_record": f"s3://{self.names.results_bucket}/{s3_layout.failure_key('test-002')}",
                  "execution_arn": execution["executionArn"]}
        expect({k: message.get(k) for k in wanted} == wanted and message.get("time") and message.get("message"),
               f"the notification is not the structured one: {message}")
        expect("Traceback" not in notified[0]["Message"] and "/var/task" not in notified[0]["Message"],
               f"the notification carries a stack trace or a path: {message}")
        attribute = notified[0].get("MessageAttributes", {}).get("error_code", {}).get("Value")
        expect(attribute == "MetadataValidationError", f"no error_code attribute to filter on: {attribute}")
        return "Catch > failure record (MetadataValidationError) > structured SNS notification > telemetry > Fail"

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

    def _upload_study(self) -> tuple[str, dict]:
        """The study `upload_runs_pipeline` submits (submitted once per Checks, whichever check comes first).
        Users name files after patients: the name must not travel into S3 keys or records."""
        study_id = f"{self.prefix}-upload"
        if self._uploaded is None:
            self._uploaded = self.client.submit(self._first_study(study_id))
        return study_id, self._uploaded

    @staticmethod
    def _first_study(study_id: str) -> Study:
        return Study(synthetic.chest_jpeg(2, (2048, 2048)), "DOE_JOHN_1961.jpg",
                     {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}, study_id)

    def upload_runs_pipeline(self) -> str:
        study_id, record = self._upload_study()
        expect(record["status"] == "SUCCEEDED", f"record {record}")
        expect(isinstance(record.get("findings"), str) and 0.0 <= (record.get("confidence") or -1) <= 1.0,
               f"record {record}")
        expect((record.get("latency_ms") or 0) > 0, f"no latency in {record}")
        stored = json.loads(self._read(record["results_s3_path"]))
        expect(stored.get("study_id") == study_id and stored.get("inference_results", {}).get("findings") ==
               record["findings"], f"stored result {stored}")
        image = f"s3://{self.names.images_bucket}/{s3_layout.image_key(study_id, 'x.jpg')}"
        expect(stored.get("image") == image and "DOE" not in json.dumps(stored),
               f"the stored result names {stored.get('image')!r}, expected {image!r} (no file name)")
        expect(not self._exists(self.names.results_bucket, s3_layout.failure_key(study_id)),
               "a failure record exists beside the result")
        return f"{record['findings']!r} ({record['confidence']:.2f}) in {record['latency_ms']:.0f} ms"

    def same_id_twice_is_never_merged(self) -> str:
        study_id, first = self._upload_study()
        expect(first["status"] == "SUCCEEDED", f"the first upload did not succeed: {first}")
        # exactly the same study again: the first record comes back, marked as a duplicate
        again = self.client.submit(self._first_study(study_id))
        expect(again.get("duplicate") is True and again.get("execution_arn") == first["execution_arn"],
               f"submitting the same study again gave {again}")
        # a different study under the same id: refused, nothing written
        other = self.client.submit(Study(synthetic.chest_jpeg(3, (512, 512)), "chest.jpg",
                                         {"study_id": study_id, "view": "AP", "timestamp": "2024-01-15T10:00:00Z"},
                                         study_id))
        expect(other["status"] == "REFUSED" and other["error"]["code"] == "StudyIdTaken", f"a different study gave {other}")
        # a plain producer overwriting the image: refused by the bucket policy on AWS (puts under incoming/
        # must be conditional); where it lands (the embedded target evaluates no policy conditions), it
        # starts no second execution and the result still names the bytes it was made from
        image_key = s3_layout.image_key(study_id, "x.jpg")
        try:
            self.s3.put_object(Bucket=self.names.images_bucket, Key=image_key, Body=synthetic.chest_jpeg(4, (512, 512)))
        except ClientError as exc:
            expect(exc.response["Error"]["Code"] == "AccessDenied", f"the overwrite failed with {exc}")
        time.sleep(1.0)  # the trigger runs on the overwrite; it must start nothing
        arns = [e["executionArn"] for page in self.sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.names.state_machine_arn) for e in page["executions"] if e["name"] == study_id]
        expect(len(arns) == 1, f"{len(arns)} executions for {study_id}")
        stored = json.loads(self._read(first["results_s3_path"]))
        version = self.s3.get_object(Bucket=self.names.images_bucket, Key=image_key,
                                     VersionId=stored.get("image_version_id") or "null")["Body"].read()
        expect(hashlib.sha256(version).hexdigest() == stored.get("image_sha256")
               == self._first_study(study_id).image_sha256,
               "the result does not name the bytes it was made from")
        return "same study again: first record; different study: REFUSED; overwrite: no second execution"

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
        group = f"/aws/lambda/{self.names.function('validate-metadata')}"
        _, error = self.invoke("validate-metadata", {"study_id": f"{self.prefix}-logs", "metadata": {}})
        expect(error == "Unhandled", f"invalid metadata did not fail the function (FunctionError {error})")
        deadline = time.monotonic() + (5 if self.target.name == "embedded" else 60)  # AWS delivers logs later
        while True:
            events = [e["message"] for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
                      for e in page.get("events", [])]
            reports = [line for line in events
                       if line.startswith("REPORT RequestId:") and "Max Memory Used" in line]
            errors = [line for line in events if "MetadataValidationError" in line]
            if (reports and errors) or time.monotonic() > deadline:
                break
            time.sleep(1)
        expect(reports, f"no REPORT lines with memory figures in {group}")
        expect(errors, f"the handler's MetadataValidationError is not in {group}")
        reported = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
        expect(bool(reported) and all(e["message"].startswith("REPORT") for e in reported),
               "filter_log_events with the pattern REPORT found no REPORT lines")
        return reports[-1]

    def _send_seed_telemetry(self) -> None:
        body, error = self.invoke("send-telemetry", {"study_id": "test-001", "s3_path": self.seed_path,
                                                     "status": "SUCCESS", "processing_time_ms": 150.5})
        expect(error is None and body.get("status") == "SUCCESS", f"send-telemetry: {body}")

    def telemetry_lands_in_s3(self) -> str:
        self._send_seed_telemetry()
        keys = self._delivered_telemetry()
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
        message = record["error"]["message"]
        expect("EXTREMITY" in message and "chest" in message.lower(), f"the reason does not say why: {message}")
        expect(not self._exists(self.names.results_bucket, s3_layout.result_key(f"{self.prefix}-rg3")),
               "a result was stored")
        return message

    def analytics_queries_answer(self) -> str:
        from radstream.analytics.duckdb_engine import DuckDBEngine
        from radstream.analytics.translate import load_queries

        self._send_seed_telemetry()
        expect(self._delivered_telemetry(), f"nothing under {s3_layout.TELEMETRY_PREFIX}/")
        engine = DuckDBEngine(f"s3://{self.names.telemetry_bucket}/{s3_layout.TELEMETRY_PREFIX}",
                              endpoint_url=self.target.endpoint_url, region=self.names.region)
        queries = load_queries()
        results = {name: engine.run(query.sql, name) for name, query in queries.items()}
        total = results["total_events"].rows[0][0]
        expect(total > 0, "total_events is 0")
        return f"all {len(results)} named queries ran; total_events = {total}"

    def _delivered_telemetry(self) -> list[str]:
        """The telemetry object keys, once some are there: the embedded target delivers when asked to
        flush; LocalStack and AWS deliver from the stream on their own time (wait up to 90 s)."""
        if self.target.name == "embedded":
            expect(flush_telemetry(self.target.endpoint_url) is not None, "the emulator did not flush telemetry")
        deadline = time.monotonic() + (0 if self.target.name == "embedded" else 90)
        while True:
            keys = [o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.names.telemetry_bucket, Prefix=s3_layout.TELEMETRY_PREFIX + "/")
                for o in page.get("Contents", [])]
            if keys or time.monotonic() > deadline:
                return keys
            time.sleep(2)

    def _exists(self, bucket: str, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except Exception:
            return False


BASIC = ("deployment_is_current", "model_server_ready", "seed_validate_metadata", "seed_prepare_tensors",
         "seed_store_results", "seed_send_telemetry", "seed_execution_succeeds", "seed_execution_fails_through_catch",
         "upload_runs_pipeline", "same_id_twice_is_never_merged", "corrupt_image_fails_cleanly",
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
