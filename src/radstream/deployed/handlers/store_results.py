"""StoreResults: write the study's terminal success record to the results bucket, naming exactly
which image bytes it describes (version and SHA-256, from PrepareTensors)."""

import json

from radstream.deployed import config, s3_layout
from radstream.deployed.handlers.aws_io import write_s3
from radstream.deployed.records import build_result
from radstream.deployed.handlers.observability import observed

RESULTS_BUCKET = config.require(config.RESULTS_BUCKET)


@observed("store_results", carry=True)  # its stage event rides in its result to SendTelemetry
def handler(event, context):
    metadata = event.get("metadata") or {}
    study_id = event.get("study_id") or metadata["study_id"]
    record = build_result(study_id, event["s3_path"], metadata, event["inference_results"],
                          source=event.get("source"), execution_name=event.get("execution_name"))
    uri = write_s3(RESULTS_BUCKET, s3_layout.result_key(study_id), json.dumps(record, indent=2).encode(),
                   "application/json")
    return {"status": "SUCCESS", "study_id": study_id, "results_s3_path": uri}
