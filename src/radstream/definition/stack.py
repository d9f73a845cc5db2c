"""The one definition of RadStream's infrastructure, as data.

``deploy`` turns this into API calls for any target. Function sizes are chosen for the work
each does: preprocessing decodes ~2000x2000 images, the others move small JSON documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from radstream.definition import names as naming
from radstream.definition.names import Names
from radstream.deployed import config, s3_layout

RUNTIME = "python3.11"


@dataclass(frozen=True)
class FunctionDef:
    short: str  # radstream-<short>
    handler: str
    memory_mb: int
    timeout_s: int
    description: str
    needs_model: bool = False
    needs_state_machine: bool = False


FUNCTIONS = (
    FunctionDef("validate-metadata", "radstream.deployed.handlers.validate_metadata.handler", 256, 10,
                "Validate a study's JSON sidecar"),
    FunctionDef("prepare-tensors", "radstream.deployed.handlers.prepare_tensors.handler", 1024, 60,
                "Decode the image and store its 224x224 tensor"),
    FunctionDef("run-inference", "radstream.deployed.handlers.run_inference.handler", 512, 60,
                "Ask the model server for findings (Open Inference Protocol)", needs_model=True),
    FunctionDef("store-results", "radstream.deployed.handlers.store_results.handler", 256, 10,
                "Write the study's result record"),
    FunctionDef("record-failure", "radstream.deployed.handlers.record_failure.handler", 256, 10,
                "Write the study's failure record"),
    FunctionDef("send-telemetry", "radstream.deployed.handlers.send_telemetry.handler", 256, 15,
                "Send the study's performance record and events to Kinesis"),
    FunctionDef("upload-trigger", "radstream.deployed.handlers.upload_trigger.handler", 256, 15,
                "Start one pipeline execution per uploaded sidecar", needs_state_machine=True),
)
TRIGGER_FUNCTION = "upload-trigger"
TRIGGER_SUFFIX = s3_layout.SIDECAR_NAME
TRIGGER_PREFIX = s3_layout.INCOMING_PREFIX


def function_environment(fn: FunctionDef, names: Names, model_endpoint: str) -> dict[str, str]:
    """Every variable the function's code requires (see radstream.deployed.config), on every target."""
    env = {
        config.IMAGES_BUCKET: names.images_bucket,
        config.RESULTS_BUCKET: names.results_bucket,
        config.TELEMETRY_STREAM: names.telemetry_stream,
        "RADSTREAM_PIPELINE_VERSION": naming.pipeline_version(),
    }
    if fn.needs_model:
        env[config.MODEL_ENDPOINT] = model_endpoint
        env[config.MODEL_NAME] = naming.model_name()
    if fn.needs_state_machine:
        env[config.STATE_MACHINE_ARN] = names.state_machine_arn
    return env


def buckets(names: Names) -> list[str]:
    return [names.images_bucket, names.results_bucket, names.telemetry_bucket]


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def roles(names: Names) -> dict[str, tuple[str, dict]]:
    """role name -> (trust policy, inline policy). Least privilege on the pipeline's own resources."""
    bucket_arns = [f"arn:aws:s3:::{b}" for b in buckets(names)]
    objects = [f"{a}/*" for a in bucket_arns]
    stream_arn = f"arn:aws:kinesis:{names.region}:{names.account_id}:stream/{names.telemetry_stream}"
    lambda_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": objects},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arns},
        {"Effect": "Allow", "Action": ["kinesis:PutRecord", "kinesis:PutRecords"], "Resource": stream_arn},
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": names.state_machine_arn},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"},
    ]}
    states_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": [names.function_arn(f.short) for f in FUNCTIONS]},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": names.errors_topic_arn},
    ]}
    firehose_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords",
                                       "kinesis:ListShards"], "Resource": stream_arn},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetBucketLocation", "s3:ListBucket",
                                       "s3:AbortMultipartUpload"],
         "Resource": [f"arn:aws:s3:::{names.telemetry_bucket}", f"arn:aws:s3:::{names.telemetry_bucket}/*"]},
    ]}
    return {
        names.lambda_role: (_trust("lambda.amazonaws.com"), lambda_policy),
        names.states_role: (_trust("states.amazonaws.com"), states_policy),
        names.firehose_role: (_trust("firehose.amazonaws.com"), firehose_policy),
    }
