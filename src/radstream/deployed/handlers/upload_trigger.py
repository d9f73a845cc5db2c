"""Upload trigger: an S3 event on a study's sidecar starts exactly one pipeline execution.

Uploads go to ``incoming/{study_id}/<image>`` then ``incoming/{study_id}/metadata.json``;
the sidecar's arrival is the signal. The execution name is derived from the study id, and
Step Functions refuses a second execution with the same name, so a repeated upload cannot
process a study twice.
"""

import json
import logging
from urllib.parse import unquote_plus

from radstream.deployed import config
from radstream.deployed.handlers.aws_io import client
from radstream.deployed.intake.workflow_input import execution_name_for, workflow_input
from radstream.deployed.s3_layout import SIDECAR_NAME
from radstream.deployed.telemetry import instrument

STATE_MACHINE_ARN = config.require(config.STATE_MACHINE_ARN)

logger = logging.getLogger()
logger.setLevel(logging.INFO)


@instrument("upload_trigger")
def handler(event, context):
    started, duplicates = [], []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        if not key.endswith("/" + SIDECAR_NAME):
            continue
        prefix = key[: -len(SIDECAR_NAME)]
        study_id = prefix.rstrip("/").rsplit("/", 1)[-1]
        sidecar_bytes = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        listing = client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        image_keys = [o["Key"] for o in listing.get("Contents", []) if o["Key"] != key]
        study = workflow_input(study_id, bucket, image_keys, sidecar_bytes)
        name = execution_name_for(study_id)
        sfn = client("stepfunctions")
        try:
            arn = sfn.start_execution(
                stateMachineArn=STATE_MACHINE_ARN,
                name=name,
                input=json.dumps(study),
            )["executionArn"]
            started.append(arn)
            logger.info("started %s for study %s", arn, study_id)
        except sfn.exceptions.ExecutionAlreadyExists:
            duplicates.append(name)
            logger.warning("study %s was already submitted (execution %s); upload ignored", study_id, name)
    return {"started": started, "duplicates": duplicates}
