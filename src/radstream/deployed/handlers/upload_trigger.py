"""Upload trigger: every object arriving under ``incoming/`` may complete a study; the invocation
that finds both the image and the sidecar starts exactly one execution for exactly those versions.

S3 invokes this function asynchronously: an error raised here is retried twice by Lambda and then
goes to the function's on-failure destination (a queue `radstream failures` reads). So transient
problems (throttling, a failed listing) are raised; what retrying cannot fix is refused on the spot
with a failure record under a safe name (``intake.upload`` lists the limits):

- a key that is not ``incoming/<safe study id>/<file>`` -> ``UploadKeyError`` under ``_upload-<hash>``;
- a sidecar or image over its size limit, a sidecar that is not UTF-8 or nests too deep;
- Step Functions refusing the input (``WorkflowStartError``).

The execution name is the study id, and its input names the object versions (or ETags) read, so a
repeated event is recognised (same versions: ignored) and a different upload under a taken id is
refused and logged, never merged into the first study.

Express workflows (``RADSTREAM_WORKFLOW_TYPE=EXPRESS``) do not deduplicate execution names: a second
StartExecution under the same name starts a second execution. Both the image's and the sidecar's
events may find the study complete, so on Express the trigger first claims the study with a
write-once object (``started/<study id>.json`` holding the execution input) and starts it only if the
claim is new; an existing claim is compared like an existing execution's input. The claim is
released when StartExecution fails, so Lambda's retry of the event can start it; a trigger killed
between the claim and StartExecution (its timeout) leaves the study claimed and unstarted.
"""

import json
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from radstream.deployed import config, s3_layout
from radstream.deployed.handlers.aws_io import client
from radstream.deployed.intake.errors import UploadRefusedError, WorkflowStartError
from radstream.deployed.intake.upload import (Folder, StoredObject, check_image_size, check_sidecar_size,
                                              parse_sidecar, parse_upload_key)
from radstream.deployed.intake.workflow_input import execution_name_for, same_upload, workflow_input
from radstream.deployed.records import (build_failure, build_notification, error_of, notification_attributes,
                                        rejected_upload_record_key)
from radstream.deployed.handlers import observability
from radstream.deployed.handlers.observability import logger, observed
from radstream.deployed.telemetry import record_study_outcome

STATE_MACHINE_ARN = config.require(config.STATE_MACHINE_ARN)
EXPRESS = config.require(config.WORKFLOW_TYPE) == "EXPRESS"
RESULTS_BUCKET = config.require(config.RESULTS_BUCKET)
ERRORS_TOPIC_ARN = config.require(config.ERRORS_TOPIC_ARN)
STAGE = "UploadTrigger"
# StartExecution errors that no retry can fix: the input or the name is refused.
_PERMANENT_START_ERRORS = {"InvalidExecutionInput", "InvalidName", "ValidationException"}


@observed("upload_trigger")
def handler(event, context):
    outcome = {"started": [], "duplicates": [], "waiting": [], "conflicts": [], "refused": []}
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        study_id = None
        try:
            upload = parse_upload_key(key)
            study_id = upload.study_id
            _take(bucket, study_id, outcome)
        except UploadRefusedError as exc:
            _refuse(bucket, key, study_id, exc, outcome)
    return outcome


def _take(bucket: str, study_id: str, outcome: dict) -> None:
    s3 = client("s3")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=s3_layout.study_prefix(study_id))
    folder = Folder.of(study_id, [StoredObject(o["Key"], o["Size"], o["ETag"].strip('"'))
                                  for o in listing.get("Contents", [])])
    for image in folder.images:  # refuse what is over a limit as soon as it is there
        check_image_size(image.size)
    if folder.sidecar is None:
        outcome["waiting"].append(study_id)  # the sidecar's arrival invokes us again
        logger.info("study %s: waiting for its sidecar", study_id)
        return
    check_sidecar_size(folder.sidecar.size)
    got = s3.get_object(Bucket=bucket, Key=folder.sidecar.key)
    sidecar = StoredObject(folder.sidecar.key, got["ContentLength"], got["ETag"].strip('"'), _version(got))
    metadata, problem = parse_sidecar(got["Body"].read())
    images = folder.images
    if not images:
        outcome["waiting"].append(study_id)  # the image's arrival invokes us again
        logger.info("study %s: waiting for its image", study_id)
        return
    if len(images) == 1:
        head = s3.head_object(Bucket=bucket, Key=images[0].key)
        check_image_size(head["ContentLength"])
        images = (StoredObject(images[0].key, head["ContentLength"], head["ETag"].strip('"'), _version(head)),)
    study = workflow_input(study_id, bucket, Folder(sidecar, images), metadata, problem)
    if EXPRESS and not _claim(bucket, study_id, study, outcome):
        return
    try:
        _start(study_id, study, outcome)
    except Exception:
        if EXPRESS:
            _release(bucket, study_id)
        raise


def _start(study_id: str, study: dict, outcome: dict) -> None:
    sfn = client("stepfunctions")
    name = execution_name_for(study_id)
    try:
        arn = sfn.start_execution(stateMachineArn=STATE_MACHINE_ARN, name=name, input=json.dumps(study))["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:  # Standard only: Express starts a second execution instead
        existing = sfn.describe_execution(executionArn=_execution_arn(name))
        _taken(study_id, name, json.loads(existing.get("input") or "{}"), study, outcome)
        return
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _PERMANENT_START_ERRORS:
            raise WorkflowStartError(f"Step Functions refused to start the study ({code}): "
                                     f"{exc.response.get('Error', {}).get('Message', '')}") from None
        raise  # throttling, service errors: Lambda retries the event, then hands it to the failure queue
    outcome["started"].append(arn)
    logger.info("started %s for study %s", arn, study_id)


def _claim(bucket: str, study_id: str, study: dict, outcome: dict) -> bool:
    """Express: True if this invocation claimed the study (and must start it); False if it was claimed
    already, by the same upload (a repeated event) or by a different one (refused, logged)."""
    s3, key = client("s3"), s3_layout.start_claim_key(study_id)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(study).encode(), IfNoneMatch="*",
                      ContentType="application/json")
        return True
    except ClientError as exc:
        # 409 ConditionalRequestConflict (a concurrent claim still in flight) is raised: the retry sees the claim
        if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
    claimed = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    _taken(study_id, execution_name_for(study_id), claimed, study, outcome)
    return False


def _release(bucket: str, study_id: str) -> None:
    try:
        client("s3").delete_object(Bucket=bucket, Key=s3_layout.start_claim_key(study_id))
    except ClientError:  # the event's retry will find the claim and stop: logged for the operator
        logger.exception("study %s: could not release its start claim after a failed start", study_id)


def _taken(study_id: str, name: str, first: dict, study: dict, outcome: dict) -> None:
    """The study id was started (or claimed) before: by these very objects, or by another upload."""
    if same_upload(first, study):
        outcome["duplicates"].append(name)  # the image's and the sidecar's events both got here
        logger.info("study %s: execution %s already started for these objects", study_id, name)
    else:
        outcome["conflicts"].append(name)
        logger.warning("study %s: a different upload arrived under a study id already taken (execution %s "
                       "ran on other object versions); refused, the first study is unchanged "
                       "(`radstream reconcile` lists it)", study_id, name)


def _refuse(bucket: str, key: str, study_id: str | None, exc: UploadRefusedError, outcome: dict) -> None:
    """One failure record (written once: the image's and the sidecar's events may both refuse) and
    one notification."""
    record_key = study_id or rejected_upload_record_key(key)
    record = build_failure(study_id, None, error_of(exc), None, upload_key=key, stage=STAGE)
    failure_key = s3_layout.failure_key(record_key)
    try:
        client("s3").put_object(Bucket=RESULTS_BUCKET, Key=failure_key, IfNoneMatch="*",
                                Body=json.dumps(record, indent=2).encode(), ContentType="application/json")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
        logger.info("upload %s already refused (%s)", key, failure_key)
        return
    outcome["refused"].append(record_key)
    logger.warning("upload %s refused: %s: %s", key, record["error"]["code"], record["error"]["message"])
    record_study_outcome({"study_id": record_key, "status": "FAILED", "error_code": record["error"]["code"],
                          "processing_time_ms": 0.0})
    observability.study_outcome("FAILED", record["error"]["code"], None)
    notification = build_notification(record, record_key, s3_layout.s3_uri(RESULTS_BUCKET, failure_key), None)
    try:
        client("sns").publish(TopicArn=ERRORS_TOPIC_ARN, Subject="RadStream study failed",
                              Message=json.dumps(notification), MessageAttributes=notification_attributes(notification))
    except ClientError:  # the record is what counts; a lost notification is logged, not retried
        logger.exception("could not publish the failure notification for %s", record_key)


def _version(response: dict) -> str | None:
    version = response.get("VersionId")
    return None if version in (None, "null") else version


def _execution_arn(name: str) -> str:
    return STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:", 1) + ":" + name
