"""The whole pipeline on the embedded target: seed events, happy path, failure paths, trigger."""

import json
import uuid

import pytest

from radstream.tooling import synthetic_images as synthetic
from radstream.infra.deploy import plan

SEED_METADATA = {"study_id": "test-001", "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def meta(study_id: str, **extra) -> dict:
    return {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z", **extra}


@pytest.fixture(scope="module")
def seed_image(embedded_stack):
    """The seed events point at s3://radstream-images-{account}/test.jpg: put a real JPEG there."""
    s3_path = f"s3://{embedded_stack.names.images_bucket}/test.jpg"
    embedded_stack.client("s3").put_object(Bucket=embedded_stack.names.images_bucket, Key="test.jpg",
                                           Body=synthetic.chest_jpeg(5, (1024, 1024)))
    return s3_path


def list_keys(stack, bucket: str, prefix: str) -> list[str]:
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def read_json(stack, bucket: str, key: str) -> dict:
    return json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def run_execution(stack, payload: dict, name: str) -> dict:
    import time

    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.names.state_machine_arn, name=name,
                              input=json.dumps(payload))["executionArn"]
    for _ in range(600):
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    raise AssertionError(f"{arn} still running")


# -- deployment ------------------------------------------------------------------------------
def test_redeploy_changes_nothing(embedded_stack):
    assert plan(embedded_stack.target) == []


# -- the seed's events, verbatim -----------------------------------------------------------------
def test_seed_validate_metadata(embedded_stack, seed_image):
    body, error = embedded_stack.invoke("validate-metadata", {"study_id": "test-001", "s3_path": seed_image,
                                                              "metadata": SEED_METADATA})
    assert error is None
    assert body == {"statusCode": 200, "body": "{\"message\": \"Metadata validated successfully\"}",
                    "status": "SUCCESS"}


def test_seed_prepare_tensors(embedded_stack, seed_image):
    body, error = embedded_stack.invoke("prepare-tensors", {"s3_path": seed_image, "metadata": SEED_METADATA})
    assert error is None, body
    assert body["tensor_shape"] == [1, 1, 224, 224]
    bucket, _, key = body["preprocessed_data_ref"][5:].partition("/")
    data = embedded_stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert data[:6] == b"\x93NUMPY"


def test_seed_store_results(embedded_stack, seed_image):
    body, error = embedded_stack.invoke("store-results", {
        "s3_path": seed_image, "metadata": {"study_id": "test-001", "view": "PA"},
        "inference_results": {"findings": "Normal chest X-ray", "confidence": 0.95}})
    assert error is None, body
    bucket, _, key = body["results_s3_path"][5:].partition("/")
    stored = read_json(embedded_stack, bucket, key)
    assert stored["inference_results"] == {"findings": "Normal chest X-ray", "confidence": 0.95}


def test_seed_send_telemetry(embedded_stack, seed_image):
    body, error = embedded_stack.invoke("send-telemetry", {"study_id": "test-001", "s3_path": seed_image,
                                                           "status": "SUCCESS", "processing_time_ms": 150.5})
    assert error is None, body
    assert body["status"] == "SUCCESS"


def test_seed_execution_succeeds(embedded_stack, seed_image):
    execution = run_execution(embedded_stack, {"study_id": "test-001", "s3_path": seed_image,
                                               "metadata": SEED_METADATA}, uid("seed-001"))
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["inference"]["inference_results"]["model_name"]
    assert output["stored"]["results_s3_path"].endswith("results/test-001/result.json")


def test_seed_execution_fails_through_catch(embedded_stack, seed_image):
    sqs, sns = embedded_stack.client("sqs"), embedded_stack.client("sns")
    queue = sqs.create_queue(QueueName=uid("errors"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=embedded_stack.names.errors_topic_arn, Protocol="sqs", Endpoint=queue_arn)
    name = uid("seed-002")
    execution = run_execution(embedded_stack, {"study_id": "test-002", "s3_path": seed_image,
                                               "metadata": {"study_id": "test-002"}}, name)
    assert execution["status"] == "FAILED"
    history = embedded_stack.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["ValidateMetadata", "NotifyFailure", "RecordFailure", "SendFailureTelemetry", "StudyFailed"]
    failure = read_json(embedded_stack, embedded_stack.names.results_bucket, "failures/test-002/failure.json")
    assert failure["error"]["code"] == "MetadataValidationError"
    assert "view" in failure["error"]["message"] and "timestamp" in failure["error"]["message"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    notified = [json.loads(m["Body"]) for m in messages]
    assert any(n.get("MessageAttributes", {}).get("execution", {}).get("Value") == name and
               "MetadataValidationError" in n["Message"] for n in notified)


# -- through the upload trigger -------------------------------------------------------------------
def test_happy_path_upload(embedded_stack):
    study_id = uid("happy")
    # users name files after patients: the name must not travel into S3 keys or records
    record = embedded_stack.submit(synthetic.chest_jpeg(7, (2048, 2048)), meta(study_id), "DOE_JOHN_1961.jpg")
    assert record["status"] == "SUCCEEDED", record
    assert isinstance(record["findings"], str) and 0.0 <= record["confidence"] <= 1.0
    assert record["stub"] is True and record["latency_ms"] > 0
    stored = read_json(embedded_stack, embedded_stack.names.results_bucket, f"results/{study_id}/result.json")
    assert stored["study_id"] == study_id and stored["inference_results"]["findings"] == record["findings"]
    assert stored["image"].endswith(f"incoming/{study_id}/image.jpg") and "DOE" not in json.dumps(stored)
    assert list_keys(embedded_stack, embedded_stack.names.results_bucket, f"failures/{study_id}/") == []


def test_png_16_bit_upload(embedded_stack):
    study_id = uid("png16")
    record = embedded_stack.submit(synthetic.chest_png(8, (2000, 2000), bits=16), meta(study_id), "chest.png")
    assert record["status"] == "SUCCEEDED", record


def test_invalid_metadata_upload_lists_every_problem(embedded_stack):
    study_id = uid("invalid")
    record = embedded_stack.submit(synthetic.chest_jpeg(9, (512, 512)),
                                   {"study_id": study_id, "view": "SIDEWAYS", "timestamp": "not-a-time"}, "x.jpg")
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError"
    assert "SIDEWAYS" in record["error"]["message"] and "not-a-time" in record["error"]["message"]
    assert list_keys(embedded_stack, embedded_stack.names.results_bucket, f"results/{study_id}/") == []


def test_unreadable_sidecar_fails_with_reason(embedded_stack):
    study_id = uid("badjson")
    s3 = embedded_stack.client("s3")
    bucket = embedded_stack.names.images_bucket
    s3.put_object(Bucket=bucket, Key=f"incoming/{study_id}/x.jpg", Body=synthetic.chest_jpeg(1, (256, 256)))
    s3.put_object(Bucket=bucket, Key=f"incoming/{study_id}/metadata.json", Body=b"{this is not json")
    from radstream.tooling.client import PipelineClient

    record = PipelineClient(embedded_stack.target).wait(study_id, timeout_s=120)
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError"
    assert "not valid JSON" in record["error"]["message"]


def test_corrupt_image_fails_with_its_code(embedded_stack):
    study_id = uid("corrupt")
    jpeg = synthetic.chest_jpeg(11, (1024, 1024))
    record = embedded_stack.submit(jpeg[: len(jpeg) // 2], meta(study_id), "broken.jpg")
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "TruncatedImageError"
    assert list_keys(embedded_stack, embedded_stack.names.results_bucket, f"results/{study_id}/") == []


def test_duplicate_upload_starts_one_execution(embedded_stack):
    study_id = uid("dup")
    first = embedded_stack.submit(synthetic.chest_jpeg(12, (512, 512)), meta(study_id), "a.jpg")
    assert first["status"] == "SUCCEEDED"
    # the raw re-upload a producer might do: same study, sidecar again
    s3 = embedded_stack.client("s3")
    s3.put_object(Bucket=embedded_stack.names.images_bucket, Key=f"incoming/{study_id}/metadata.json",
                  Body=json.dumps(meta(study_id)).encode())
    sfn = embedded_stack.client("stepfunctions")
    executions = [e for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=embedded_stack.names.state_machine_arn) for e in page["executions"] if e["name"] == study_id]
    assert len(executions) == 1
    # and the client refuses to overwrite a processed study, returning its record instead
    again = embedded_stack.submit(synthetic.chest_jpeg(13, (512, 512)), meta(study_id), "a.jpg")
    assert again["duplicate"] is True and again["execution_arn"] == first["execution_arn"]


def test_lambda_logs_and_reports_reach_cloudwatch(embedded_stack):
    logs = embedded_stack.client("logs")
    group = f"/aws/lambda/{embedded_stack.names.function('validate-metadata')}"
    embedded_stack.invoke("validate-metadata", {"study_id": "x", "metadata": {}})
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    lines = [e["message"] for s in streams
             for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"])["events"]]
    assert any(line.startswith("REPORT RequestId:") and "Max Memory Used" in line for line in lines)
    assert any("MetadataValidationError" in line for line in lines)
    filtered = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
    assert filtered


def test_unsafe_study_id_still_ends_in_one_failure_record(embedded_stack):
    study_id = f"bad id {uuid.uuid4().hex[:6]}!"
    record = embedded_stack.submit(synthetic.chest_jpeg(14, (512, 512)), meta(study_id), "x.jpg")
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "MetadataValidationError" and "study_id" in record["error"]["message"]
    key = record["failure_s3_path"].split(f"{embedded_stack.names.results_bucket}/", 1)[1]
    assert " " not in key and "!" not in key
