"""The failure path's last resort: when the record-failure function cannot write the record (here: it
does not exist), the workflow writes a minimal record to S3 itself and still notifies, so the study
ends in exactly one terminal record."""

import json
import time
import uuid

from radstream.definition.workflow import render_definition
from radstream.deployed import s3_layout


def test_a_failing_record_failure_function_still_leaves_one_record(embedded_stack):
    names = embedded_stack.names
    definition = render_definition(names).replace(names.function_arn("record-failure"),
                                                  names.function_arn("no-such-function"))
    sfn = embedded_stack.client("stepfunctions")
    name = f"direct-record-{uuid.uuid4().hex[:6]}"
    machine = sfn.create_state_machine(name=name, definition=definition,
                                       roleArn=names.role_arn(names.states_role))["stateMachineArn"]
    study_id = f"direct-{uuid.uuid4().hex[:8]}"
    arn = sfn.start_execution(stateMachineArn=machine, name=study_id, input=json.dumps(
        {"study_id": study_id, "s3_path": "s3://nowhere/x.jpg", "metadata": {"study_id": study_id}}))["executionArn"]
    deadline = time.monotonic() + 120
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still running"
        time.sleep(0.5)
    assert execution["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered[:5] == ["ValidateMetadata", "RecordFailure", "DescribeFailureDirectly", "RecordFailureDirectly",
                           "NotifyFailure"], entered
    record = json.loads(embedded_stack.client("s3").get_object(
        Bucket=names.results_bucket, Key=s3_layout.failure_key(study_id))["Body"].read())
    assert record["study_id"] == study_id and record["error"]["code"] == "MetadataValidationError"
    assert record["written_by"] == "workflow" and record["execution_name"] == study_id
    sfn.delete_state_machine(stateMachineArn=machine)
