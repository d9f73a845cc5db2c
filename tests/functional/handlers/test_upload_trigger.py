"""upload-trigger, called with the events S3 sends: the image and the sidecar may arrive in either order,
the invocation that finds both starts exactly one execution for exactly those object versions, a
different upload under a taken id is refused, and anything it cannot take is refused on the spot with
one failure record under a safe name."""

import json
import uuid
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError

from radstream.deployed import s3_layout
from radstream.tooling import synthetic_images as synthetic


def s3_event(bucket: str, key: str, size: int = 0) -> dict:
    """An S3 ObjectCreated notification as Lambda receives it (keys arrive URL-encoded)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-01-15T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "radstream-upload-trigger",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": size, "sequencer": "0065A4F1C2D3E4F5A6"}}}]}


def meta(study_id: str) -> dict:
    return {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}


def executions_named(account, name: str) -> list[dict]:
    sfn = account.client("stepfunctions")
    return [e for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=account.names.state_machine_arn) for e in page["executions"] if e["name"] == name]


def failure_record(account, record_key: str) -> dict:
    return json.loads(account.get(f"s3://{account.names.results_bucket}/{s3_layout.failure_key(record_key)}"))


@pytest.fixture
def trigger(lambda_function):
    return lambda_function("upload-trigger")


def test_sidecar_first_then_image_starts_one_execution_for_those_versions(account, trigger):
    study_id = f"up-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    sidecar_key, image_key = s3_layout.sidecar_key(study_id), s3_layout.image_key(study_id, "chest.jpg")
    sidecar_version = s3.put_object(Bucket=bucket, Key=sidecar_key, Body=json.dumps(meta(study_id)).encode())["VersionId"]

    assert trigger(s3_event(bucket, sidecar_key))["waiting"] == [study_id]  # no image yet: nothing starts
    assert executions_named(account, study_id) == []

    image_version = s3.put_object(Bucket=bucket, Key=image_key, Body=synthetic.chest_jpeg(1, (256, 256)))["VersionId"]
    body = trigger(s3_event(bucket, image_key))
    assert len(body["started"]) == 1 and body["duplicates"] == body["refused"] == []
    execution = account.client("stepfunctions").describe_execution(executionArn=body["started"][0])
    assert execution["name"] == study_id
    study = json.loads(execution["input"])
    assert study["s3_path"] == f"s3://{bucket}/{image_key}" and study["metadata"] == meta(study_id)
    assert (study["image"]["key"], study["image"]["version_id"]) == (image_key, image_version)
    assert (study["sidecar"]["key"], study["sidecar"]["version_id"]) == (sidecar_key, sidecar_version)

    # S3 may deliver an event twice, and the sidecar's own event may come late: same versions, same study.
    # While the execution runs, StartExecution with the same name and input returns it (idempotent);
    # once it has ended the name is refused, and the input's versions show it is the same upload.
    assert trigger(s3_event(bucket, sidecar_key))["started"] == body["started"]
    account.client("stepfunctions").stop_execution(executionArn=body["started"][0])
    assert trigger(s3_event(bucket, image_key))["duplicates"] == [study_id]
    assert len(executions_named(account, study_id)) == 1


def test_an_overwritten_upload_is_refused_and_never_merged(account, trigger):
    """A plain producer re-uploads a finished study with another image: no second execution, the first
    execution keeps naming the version it read (the bucket keeps it)."""
    study_id = f"up-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    image_key = s3_layout.image_key(study_id, "chest.jpg")
    first = s3.put_object(Bucket=bucket, Key=image_key, Body=synthetic.chest_jpeg(1, (256, 256)))["VersionId"]
    s3.put_object(Bucket=bucket, Key=s3_layout.sidecar_key(study_id), Body=json.dumps(meta(study_id)).encode())
    [arn] = trigger(s3_event(bucket, s3_layout.sidecar_key(study_id)))["started"]

    s3.put_object(Bucket=bucket, Key=image_key, Body=synthetic.chest_jpeg(2, (256, 256)))
    body = trigger(s3_event(bucket, image_key))

    assert body["conflicts"] == [study_id] and body["started"] == []
    assert len(executions_named(account, study_id)) == 1
    pinned = json.loads(account.client("stepfunctions").describe_execution(executionArn=arn)["input"])["image"]
    assert pinned["version_id"] == first
    assert s3.get_object(Bucket=bucket, Key=image_key, VersionId=first)["Body"].read() == synthetic.chest_jpeg(1, (256, 256))


def test_a_key_that_names_no_study_is_recorded_apart_and_never_impersonates_one(account, trigger):
    """The issue's impersonation: ``../../radstream-results/x`` was read as study ``x``."""
    victim = f"x{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    hostile = f"incoming/../../radstream-results/{victim}/metadata.json"
    s3.put_object(Bucket=bucket, Key=hostile, Body=json.dumps(meta(victim)).encode())

    body = trigger(s3_event(bucket, hostile))

    [record_key] = body["refused"]
    assert record_key.startswith("_upload-") and body["started"] == []
    record = failure_record(account, record_key)
    assert record["error"]["code"] == "UploadKeyError" and record["upload_key"] == hostile
    assert record["study_id"] is None and record["stage"] == "UploadTrigger"
    assert trigger(s3_event(bucket, hostile))["refused"] == []  # a repeated event writes no second record
    # nothing landed on the victim, who is then processed normally
    assert executions_named(account, victim) == []
    s3.put_object(Bucket=bucket, Key=s3_layout.image_key(victim, "a.jpg"), Body=synthetic.chest_jpeg(1, (256, 256)))
    s3.put_object(Bucket=bucket, Key=s3_layout.sidecar_key(victim), Body=json.dumps(meta(victim)).encode())
    assert len(trigger(s3_event(bucket, s3_layout.sidecar_key(victim)))["started"]) == 1


@pytest.mark.parametrize("sidecar, code", [
    (json.dumps({**meta("S"), "notes": "x" * 300_000}).encode(), "SidecarTooLargeError"),   # the 300 KB
    (json.dumps({**meta("S"), "name": "Müller"}).encode("utf-16"), "SidecarEncodingError"),
    (json.dumps({**meta("S"), "deep": [[[[[[[[[["too deep"]]]]]]]]]]}).encode(), "SidecarTooDeepError"),
])
def test_a_sidecar_over_a_limit_is_refused_before_any_work(account, trigger, telemetry_records, sidecar, code):
    study_id = f"lim-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    s3.put_object(Bucket=bucket, Key=s3_layout.sidecar_key(study_id), Body=sidecar.replace(b'"S"', study_id.encode())
                  if code != "SidecarEncodingError" else sidecar)
    body = trigger(s3_event(bucket, s3_layout.sidecar_key(study_id)))  # refused at once, image or not
    assert body["refused"] == [study_id]
    s3.put_object(Bucket=bucket, Key=s3_layout.image_key(study_id, "a.jpg"), Body=synthetic.chest_jpeg(1, (256, 256)))
    assert trigger(s3_event(bucket, s3_layout.image_key(study_id, "a.jpg")))["refused"] == []  # one record only
    record = failure_record(account, study_id)
    assert record["error"]["code"] == code and record["study_id"] == study_id
    assert executions_named(account, study_id) == []
    outcome = [r for r in telemetry_records() if r.get("record_type") == "performance"]
    assert [(r["study_id"], r["status"], r["error_code"]) for r in outcome] == [(study_id, "FAILURE", code)]


def test_an_image_over_the_size_limit_is_refused_from_its_size(account, trigger, monkeypatch):
    from radstream.deployed.intake import upload

    monkeypatch.setattr(upload, "IMAGE_MAX_BYTES", 1000)
    study_id = f"big-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    s3.put_object(Bucket=bucket, Key=s3_layout.image_key(study_id, "a.jpg"), Body=b"\xff" * 1001)
    s3.put_object(Bucket=bucket, Key=s3_layout.sidecar_key(study_id), Body=json.dumps(meta(study_id)).encode())
    assert trigger(s3_event(bucket, s3_layout.sidecar_key(study_id)))["refused"] == [study_id]
    assert failure_record(account, study_id)["error"]["code"] == "ImageTooLargeError"


def test_start_execution_refused_for_good_is_a_failure_record_and_transient_errors_are_raised(
        account, trigger, monkeypatch):
    from radstream.deployed.handlers import aws_io, upload_trigger

    study_id = f"sfn-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    s3.put_object(Bucket=bucket, Key=s3_layout.image_key(study_id, "a.jpg"), Body=synthetic.chest_jpeg(1, (256, 256)))
    s3.put_object(Bucket=bucket, Key=s3_layout.sidecar_key(study_id), Body=json.dumps(meta(study_id)).encode())
    real = aws_io.client

    def refusing(code: str):
        class StepFunctions:
            exceptions = real("stepfunctions").exceptions

            def start_execution(self, **_):
                raise ClientError({"Error": {"Code": code, "Message": "no"}}, "StartExecution")
        return lambda service: StepFunctions() if service == "stepfunctions" else real(service)

    monkeypatch.setattr(upload_trigger, "client", refusing("ThrottlingException"))
    with pytest.raises(ClientError):  # Lambda retries the event, then hands it to the failure queue
        trigger(s3_event(bucket, s3_layout.sidecar_key(study_id)))
    monkeypatch.setattr(upload_trigger, "client", refusing("InvalidExecutionInput"))
    assert trigger(s3_event(bucket, s3_layout.sidecar_key(study_id)))["refused"] == [study_id]
    record = failure_record(account, study_id)
    assert record["error"]["code"] == "WorkflowStartError" and "InvalidExecutionInput" in record["error"]["message"]


def test_express_starts_a_study_once_because_its_start_claim_is_write_once(account, lambda_function, monkeypatch):
    """Express's StartExecution does not deduplicate names (each call starts another execution, as the fake
    below does, like AWS): the trigger's write-once claim is what makes a repeated event start nothing,
    a failed start release the claim for the retry, and a different upload under the id a conflict."""
    trigger = lambda_function("upload-trigger", RADSTREAM_WORKFLOW_TYPE="EXPRESS")
    from radstream.deployed.handlers import aws_io, upload_trigger

    real, starts, failing = aws_io.client, [], []

    class ExpressStepFunctions:
        exceptions = real("stepfunctions").exceptions

        def start_execution(self, stateMachineArn, name, input):  # noqa: N803 - boto3's names
            if failing:
                raise ClientError({"Error": {"Code": failing[0], "Message": "no"}}, "StartExecution")
            starts.append(json.loads(input))
            return {"executionArn": f"{stateMachineArn.replace(':stateMachine:', ':express:')}:{name}:{uuid.uuid4()}"}

    monkeypatch.setattr(upload_trigger, "client",
                        lambda service: ExpressStepFunctions() if service == "stepfunctions" else real(service))
    study_id = f"ex-{uuid.uuid4().hex[:8]}"
    bucket, s3 = account.names.images_bucket, account.client("s3")
    image_key, sidecar_key = s3_layout.image_key(study_id, "a.jpg"), s3_layout.sidecar_key(study_id)
    s3.put_object(Bucket=bucket, Key=image_key, Body=synthetic.chest_jpeg(1, (256, 256)))
    s3.put_object(Bucket=bucket, Key=sidecar_key, Body=json.dumps(meta(study_id)).encode())

    failing.append("ThrottlingException")
    with pytest.raises(ClientError):  # Lambda retries the event ...
        trigger(s3_event(bucket, sidecar_key))
    assert starts == [] and _claimed(account, study_id) is None  # ... and the released claim lets it start
    failing.clear()

    first = trigger(s3_event(bucket, sidecar_key))
    assert len(first["started"]) == 1 and ":express:" in first["started"][0]
    assert _claimed(account, study_id) == starts[0]  # the claim holds the execution input
    # both events found the study complete (or S3 delivered one twice): one execution, not two
    assert trigger(s3_event(bucket, image_key))["duplicates"] == [study_id]
    assert trigger(s3_event(bucket, sidecar_key))["duplicates"] == [study_id]
    assert len(starts) == 1

    s3.put_object(Bucket=bucket, Key=image_key, Body=synthetic.chest_jpeg(2, (256, 256)))  # another image, same id
    assert trigger(s3_event(bucket, image_key))["conflicts"] == [study_id]
    assert len(starts) == 1 and starts[0]["image"]["version_id"] == _claimed(account, study_id)["image"]["version_id"]


def _claimed(account, study_id: str) -> dict | None:
    try:
        return json.loads(account.get(f"s3://{account.names.images_bucket}/{s3_layout.start_claim_key(study_id)}"))
    except ClientError:
        return None
