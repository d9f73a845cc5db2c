"""RecordFailure: write the study's terminal failure record (error code and message)."""

import json

from radstream.config import names_from_env
from radstream.handlers._aws import write_s3
from radstream.records import build_failure, failure_key, flatten_failure_event, record_key_for
from radstream.telemetry import instrument


@instrument("record_failure")
def handler(event, context):
    event = flatten_failure_event(event)
    execution_name = event.get("execution_name")
    record = build_failure(event.get("study_id"), event.get("s3_path"), event.get("error"), execution_name=execution_name)
    key = failure_key(record_key_for(event.get("study_id"), execution_name))
    uri = write_s3(names_from_env().results_bucket, key, json.dumps(record, indent=2).encode(), "application/json")
    return {"failure_s3_path": uri, "error": record["error"]}
