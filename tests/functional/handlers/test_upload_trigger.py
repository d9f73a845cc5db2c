"""upload-trigger, called with the event S3 sends: a sidecar's arrival starts exactly one execution."""

import json
import uuid
from urllib.parse import quote_plus

from radstream.deployed import s3_layout
from radstream.tooling import synthetic_images as synthetic


def s3_event(bucket: str, key: str, size: int) -> dict:
    """An S3 ObjectCreated notification as Lambda receives it (keys arrive URL-encoded)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-01-15T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "radstream-upload-trigger",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": size, "sequencer": "0065A4F1C2D3E4F5A6"}}}]}


def upload(account, study_id: str) -> tuple[str, dict]:
    bucket = account.names.images_bucket
    metadata = {"study_id": study_id, "view": "PA", "timestamp": "2024-01-15T10:00:00Z"}
    account.put(bucket, s3_layout.image_key(study_id, "chest.jpg"), synthetic.chest_jpeg(1, (256, 256)))
    sidecar = json.dumps(metadata).encode()
    account.put(bucket, s3_layout.sidecar_key(study_id), sidecar)
    return s3_layout.sidecar_key(study_id), metadata


def executions_named(account, name: str) -> list[dict]:
    sfn = account.client("stepfunctions")
    return [e for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=account.names.state_machine_arn) for e in page["executions"] if e["name"] == name]


def test_sidecar_event_starts_one_execution_with_the_study(account, lambda_function):
    study_id = f"up-{uuid.uuid4().hex[:8]}"
    key, metadata = upload(account, study_id)
    trigger = lambda_function("upload-trigger")

    body = trigger(s3_event(account.names.images_bucket, key, 80))

    assert body["duplicates"] == [] and len(body["started"]) == 1
    execution = account.client("stepfunctions").describe_execution(executionArn=body["started"][0])
    assert execution["stateMachineArn"] == account.names.state_machine_arn and execution["name"] == study_id
    assert json.loads(execution["input"]) == {
        "study_id": study_id, "metadata": metadata,
        "s3_path": f"s3://{account.names.images_bucket}/{s3_layout.image_key(study_id, 'chest.jpg')}"}

    # S3 may deliver an event twice: while the execution runs, StartExecution with the same name and
    # input is idempotent (the same execution comes back); once it has ended, the name is refused.
    assert trigger(s3_event(account.names.images_bucket, key, 80)) == body
    account.client("stepfunctions").stop_execution(executionArn=body["started"][0])
    assert trigger(s3_event(account.names.images_bucket, key, 80)) == {"started": [], "duplicates": [study_id]}
    assert len(executions_named(account, study_id)) == 1


def test_image_event_starts_nothing(account, lambda_function):
    study_id = f"up-{uuid.uuid4().hex[:8]}"
    upload(account, study_id)
    trigger = lambda_function("upload-trigger")
    body = trigger(s3_event(account.names.images_bucket, s3_layout.image_key(study_id, "chest.jpg"), 900))
    assert body == {"started": [], "duplicates": []}
    assert executions_named(account, study_id) == []
