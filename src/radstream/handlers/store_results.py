"""StoreResults: write the study's terminal success record to the results bucket."""

import json

from radstream.config import names_from_env
from radstream.handlers._aws import write_s3
from radstream.records import build_result, result_key
from radstream.telemetry import instrument


@instrument("store_results")
def handler(event, context):
    metadata = event.get("metadata") or {}
    study_id = event.get("study_id") or metadata["study_id"]
    record = build_result(study_id, event["s3_path"], metadata, event["inference_results"])
    uri = write_s3(
        names_from_env().results_bucket, result_key(study_id),
        json.dumps(record, indent=2).encode(), "application/json",
    )
    return {"status": "SUCCESS", "study_id": study_id, "results_s3_path": uri}
