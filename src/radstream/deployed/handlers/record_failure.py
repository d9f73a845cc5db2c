"""RecordFailure: write the study's terminal failure record (error code and message) and hand the
workflow the notification NotifyFailure publishes (study, code, message, record URI, execution)."""

import json

from radstream.deployed import config, s3_layout
from radstream.deployed.handlers.aws_io import write_s3
from radstream.deployed.records import build_failure, build_notification, flatten_failure_event, record_key_for
from radstream.deployed.handlers.observability import observed

RESULTS_BUCKET = config.require(config.RESULTS_BUCKET)


@observed("record_failure")
def handler(event, context):
    event = flatten_failure_event(event)
    execution_name = event.get("execution_name")
    record = build_failure(event.get("study_id"), event.get("s3_path"), event.get("error"), execution_name=execution_name)
    record_key = record_key_for(event.get("study_id"), execution_name)
    uri = write_s3(RESULTS_BUCKET, s3_layout.failure_key(record_key), json.dumps(record, indent=2).encode(),
                   "application/json")
    return {"failure_s3_path": uri, "error": record["error"],
            "notification": build_notification(record, record_key, uri, event.get("execution_arn"))}
