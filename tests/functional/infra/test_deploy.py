"""`radstream deploy` and `destroy` through the emulator's CloudFormation, in an empty account of their
own (a fresh emulator process; no model server: nothing here invokes a function)."""

import pytest

from radstream.definition import template as cfn
from radstream.infra.deploy import DeployedWorkflow, deploy, deployed_workflow, destroy, pending_changes
from radstream.infra.errors import DeployError
from radstream.infra.targets import Target
from radstream.tooling.errors import StackError
from radstream.tooling.recovery.inventory import read_inventory
from support.emulator import running_emulator


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("deploy-emulator")) as client:
        endpoint = client("s3").meta.endpoint_url
        yield Target("embedded", endpoint, "us-east-1", "123456789012", "http://127.0.0.1:9")


def stack_names(target) -> set[str]:
    return {s["StackName"] for s in target.client("cloudformation").list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"}


def test_dry_run_in_an_empty_account_changes_nothing(account):
    result = deploy(account, dry_run=True)
    assert [(s.name, s.action) for s in result.stacks] == [("radstream-bootstrap", "would create"),
                                                          ("radstream", "would create")]
    assert any("AWS::S3::Bucket" in c and "ArtifactsBucket" in c for c in result.stacks[0].changes)
    assert stack_names(account) == set() and account.client("s3").list_buckets()["Buckets"] == []
    assert "stack radstream does not exist" in pending_changes(account)


def test_deploy_then_redeploy_is_a_no_op_then_a_change_is_a_change_set(account):
    lines = []
    first = deploy(account, report=lines.append)
    assert [s.action for s in first.stacks] == ["created", "created"] and first.changed
    assert first.outputs["StateMachineArn"].endswith(":stateMachine:radstream-pipeline")
    assert any("CREATE_COMPLETE" in line and "radstream" in line for line in lines)  # the progress display
    assert pending_changes(account) == []

    again = deploy(account)
    assert [s.action for s in again.stacks] == ["unchanged", "unchanged"] and not again.changed
    assert again.uploaded == [] and again.outputs == first.outputs

    assert pending_changes(account, {"InferenceConcurrency": "4"}) == [
        "stack radstream: parameter InferenceConcurrency '16' -> '4'"]
    preview = deploy(account, dry_run=True, overrides={"InferenceConcurrency": "4"})
    assert preview.stacks[1].action == "would update"
    assert any("RunInferenceFunction" in c for c in preview.stacks[1].changes)
    changed = deploy(account, overrides={"InferenceConcurrency": "4"})
    assert changed.stacks[1].action == "updated"
    lam = account.client("lambda")
    assert lam.get_function_concurrency(FunctionName="radstream-run-inference")["ReservedConcurrentExecutions"] == 4
    # a site's choice stays until changed: a plain deploy keeps it
    assert deploy(account).stacks[1].action == "unchanged"


def test_what_the_template_deployed(account):
    deploy(account)
    s3 = account.client("s3")
    notification = s3.get_bucket_notification_configuration(Bucket="radstream-images-123456789012")
    assert notification["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"].endswith(":function:radstream-upload-trigger")
    assert s3.get_bucket_versioning(Bucket="radstream-results-123456789012")["Status"] == "Enabled"
    sfn = account.client("stepfunctions")
    definition = sfn.describe_state_machine(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:radstream-pipeline")["definition"]
    assert "${" not in definition and ":function:radstream-run-inference" in definition
    assert account.client("firehose").describe_delivery_stream(DeliveryStreamName="radstream-telemetry-firehose")
    assert {t["Name"] for t in account.client("glue").get_tables(DatabaseName="radstream_analytics")["TableList"]} == {
        "telemetry_events", "performance_metrics"}
    roles = {r["RoleName"] for r in account.client("iam").list_roles()["Roles"]}
    assert {"radstream-validate-metadata", "radstream-run-inference", "radstream-pipeline"} <= roles


def test_unknown_parameter_is_named(account):
    with pytest.raises(DeployError, match="no parameter NoSuchThing"):
        deploy(account, overrides={"NoSuchThing": "1"})


def test_workflow_type_and_memory_are_deploys_and_whatever_refers_to_the_state_machine_follows_it(account):
    """What `radstream ab` deploys: EXPRESS replaces the state machine under its own name, and the upload
    trigger (which refers to it) is updated to the new one, as CloudFormation does; STANDARD brings the
    original back. A memory size is a function update."""
    deploy(account)
    sfn, lam = account.client("stepfunctions"), account.client("lambda")

    def machines() -> list[tuple[str, str]]:
        return [(m["name"], m["type"]) for m in sfn.list_state_machines()["stateMachines"]]

    def trigger_env() -> dict:
        return lam.get_function_configuration(FunctionName="radstream-upload-trigger")["Environment"]["Variables"]

    express = deploy(account, overrides={"WorkflowType": "EXPRESS", "PrepareTensorsMemorySize": "2048"})
    assert machines() == [("radstream-pipeline-express", "EXPRESS")]
    assert express.outputs["StateMachineArn"].endswith(":stateMachine:radstream-pipeline-express")
    assert (trigger_env()["RADSTREAM_STATE_MACHINE_ARN"], trigger_env()["RADSTREAM_WORKFLOW_TYPE"]) == (
        express.outputs["StateMachineArn"], "EXPRESS")
    assert lam.get_function_configuration(FunctionName="radstream-prepare-tensors")["MemorySize"] == 2048
    assert deployed_workflow(account) == DeployedWorkflow(express.outputs["StateMachineArn"], "EXPRESS")
    # reconcile/redrive list and describe executions, which Express does not keep: refused with the reason
    with pytest.raises(StackError, match="runs the Express workflow"):
        read_inventory(account)

    standard = deploy(account, overrides={"WorkflowType": "STANDARD", "PrepareTensorsMemorySize": "1024"})
    assert machines() == [("radstream-pipeline", "STANDARD")]
    assert trigger_env()["RADSTREAM_STATE_MACHINE_ARN"] == standard.outputs["StateMachineArn"] == \
        account.names.state_machine_arn
    assert lam.get_function_configuration(FunctionName="radstream-prepare-tensors")["MemorySize"] == 1024
    assert pending_changes(account) == []


def test_destroy_keeps_data_unless_asked_and_a_new_deploy_says_what_to_do(account):
    deploy(account)
    account.client("s3").put_object(Bucket="radstream-results-123456789012", Key="results/x/result.json", Body=b"{}")
    assert destroy(account) == ["stack radstream"]
    assert stack_names(account) == {cfn.BOOTSTRAP_STACK_NAME}
    buckets = {b["Name"] for b in account.client("s3").list_buckets()["Buckets"]}
    assert "radstream-results-123456789012" in buckets
    with pytest.raises(DeployError, match="destroy --target embedded --delete-data"):
        deploy(account)
    deleted = destroy(account, delete_data=True)
    assert "bucket radstream-results-123456789012" in deleted and "secret radstream/deid-salt" in deleted
    assert deploy(account).stacks[1].action == "created"
