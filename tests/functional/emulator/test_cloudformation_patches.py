"""The emulator's CloudFormation fills moto's gaps (radstream.emulator.moto_patches): each patched type,
deployed from a small template through the emulator's CloudFormation, shows up in its service's API.

The emulator runs as its own process (as `radstream up` starts it); template.yaml itself is deployed
end to end by the e2e tier (tests/conftest.py) and by tests/functional/infra/test_deploy.py.
"""

import json
import time

import pytest
import yaml

from radstream.definition.firehose import firehose_destination_config
from support.emulator import running_emulator

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"Email": {"Type": "String", "Default": ""}, "Key": {"Type": "String", "Default": "one"}},
    "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
    "Resources": {
        "Data": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": "cfn-data",
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [{"Id": "expire", "Status": "Enabled", "Prefix": "incoming/",
                                                  "ExpirationInDays": 3}]}}},
        "TlsOnly": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Data"}, "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                                    "Resource": "arn:aws:s3:::cfn-data/*",
                                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
        "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"Name": "cfn-stream", "ShardCount": 1}},
        "Delivery": {"Type": "AWS::KinesisFirehose::DeliveryStream", "Properties": {
            "DeliveryStreamName": "cfn-delivery", "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {"KinesisStreamARN": {"Fn::GetAtt": ["Stream", "Arn"]},
                                                 "RoleARN": "arn:aws:iam::123456789012:role/firehose"},
            "ExtendedS3DestinationConfiguration": firehose_destination_config(
                "arn:aws:s3:::cfn-data", "arn:aws:iam::123456789012:role/firehose")}},
        "Database": {"Type": "AWS::Glue::Database", "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseInput": {"Name": "cfn_db"}}},
        "Table": {"Type": "AWS::Glue::Table", "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseName": {"Ref": "Database"},
            "TableInput": {"Name": "events", "Parameters": {"key": {"Ref": "Key"}},
                           "StorageDescriptor": {"Columns": [{"Name": "a", "Type": "string"}],
                                                 "Location": "s3://cfn-data/events/"}}}},
        "WorkGroup": {"Type": "AWS::Athena::WorkGroup", "Properties": {
            "Name": "cfn-wg", "WorkGroupConfiguration": {"ResultConfiguration": {"OutputLocation": "s3://cfn-data/q/"}}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "cfn-topic"}},
        "Subscription": {"Type": "AWS::SNS::Subscription", "Condition": "HasEmail", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "email", "Endpoint": {"Ref": "Email"}}},
        "Salt": {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Name": "cfn/salt", "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True}}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/cfn/logs"}},
        "LogStream": {"Type": "AWS::Logs::LogStream", "Properties": {"LogGroupName": {"Ref": "Logs"},
                                                                     "LogStreamName": "delivery"}},
    },
    "Outputs": {"SaltArn": {"Value": {"Ref": "Salt"}}, "Delivery": {"Value": {"Fn::GetAtt": ["Delivery", "Arn"]}}},
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("cfn-emulator")) as client:
        yield client


def apply(client, name: str, template: dict, parameters: dict | None = None) -> dict:
    cf = client("cloudformation")
    exists = any(s["StackName"] == name for s in cf.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE")
    change_set = f"cs{time.monotonic_ns()}"
    cf.create_change_set(StackName=name, ChangeSetName=change_set, ChangeSetType="UPDATE" if exists else "CREATE",
                         TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()])
    described = cf.describe_change_set(StackName=name, ChangeSetName=change_set)
    cf.execute_change_set(StackName=name, ChangeSetName=change_set)
    return described


def test_every_patched_type_is_created_through_its_service(emulator):
    changes = apply(emulator, "patched", TEMPLATE)
    listed = {c["ResourceChange"]["LogicalResourceId"] for c in changes["Changes"]}
    assert "Subscription" not in listed  # its condition is false: never listed, never created
    assert {"Delivery", "Table", "WorkGroup", "Salt", "TlsOnly"} <= listed
    s3 = emulator("s3")
    assert s3.get_bucket_versioning(Bucket="cfn-data")["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket="cfn-data")["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    rule = s3.get_bucket_lifecycle_configuration(Bucket="cfn-data")["Rules"][0]
    assert rule["Expiration"]["Days"] == 3
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket="cfn-data")["Policy"]
    # the emulator speaks plain HTTP: the conditional TLS-only Deny is stored, not enforced
    s3.put_object(Bucket="cfn-data", Key="incoming/x", Body=b"x")
    assert s3.get_object(Bucket="cfn-data", Key="incoming/x")["Body"].read() == b"x"
    delivery = emulator("firehose").describe_delivery_stream(DeliveryStreamName="cfn-delivery")["DeliveryStreamDescription"]
    assert delivery["Source"]["KinesisStreamSourceDescription"]["KinesisStreamARN"].endswith(":stream/cfn-stream")
    destination = delivery["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert destination["Prefix"].startswith("raw_telemetry/record_type=!{partitionKeyFromQuery:record_type}/")
    glue = emulator("glue")
    assert glue.get_table(DatabaseName="cfn_db", Name="events")["Table"]["Parameters"] == {"key": "one"}
    assert emulator("athena").get_work_group(WorkGroup="cfn-wg")["WorkGroup"]["Configuration"][
        "ResultConfiguration"]["OutputLocation"] == "s3://cfn-data/q/"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               emulator("cloudformation").describe_stacks(StackName="patched")["Stacks"][0]["Outputs"]}
    salt = emulator("secretsmanager").get_secret_value(SecretId=outputs["SaltArn"])["SecretString"]
    assert len(salt) == 40 and salt.isalnum()
    assert outputs["Delivery"].endswith(":deliverystream/cfn-delivery")
    assert emulator("logs").describe_log_streams(logGroupName="/cfn/logs")["logStreams"][0]["logStreamName"] == "delivery"


def test_a_parameter_change_updates_what_uses_it_and_is_listed(emulator):
    subset = {"Parameters": TEMPLATE["Parameters"], "Conditions": TEMPLATE["Conditions"],
              "Resources": {k: v for k, v in TEMPLATE["Resources"].items() if k in ("Database", "Table", "Topic", "Subscription")}}
    subset["Resources"]["Database"] = {**subset["Resources"]["Database"], "Properties": {
        "CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseInput": {"Name": "cfn_db2"}}}
    apply(emulator, "params", subset, {"Key": "one"})
    changes = apply(emulator, "params", subset, {"Key": "two", "Email": "alerts@example.org"})
    listed = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"] for c in changes["Changes"]}
    assert listed.get("Table") == "Modify" and "Subscription" in listed  # moto says Modify where AWS says Add
    assert emulator("glue").get_table(DatabaseName="cfn_db2", Name="events")["Table"]["Parameters"] == {"key": "two"}
    topic = "arn:aws:sns:us-east-1:123456789012:cfn-topic"
    assert [s["Endpoint"] for s in emulator("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [
        "alerts@example.org"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in
                  emulator("cloudformation").describe_stacks(StackName="params")["Stacks"][0]["Parameters"]}
    assert parameters["Key"] == "two"


def test_a_managed_policy_is_detached_so_the_stack_and_its_roles_delete(emulator):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    apply(emulator, "policies", {"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "cfn-role", "AssumeRolePolicyDocument": trust}},
        "Use": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}}}}})
    iam = emulator("iam")
    assert len(iam.list_attached_role_policies(RoleName="cfn-role")["AttachedPolicies"]) == 1
    emulator("cloudformation").delete_stack(StackName="policies")
    assert "cfn-role" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert not [p for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"].startswith("policies-")]


def test_state_machines_from_templates_execute(emulator):
    s3 = emulator("s3")
    s3.create_bucket(Bucket="cfn-artifacts")
    s3.put_object(Bucket="cfn-artifacts", Key="sm.json", Body=json.dumps({
        "StartAt": "Say", "States": {"Say": {"Type": "Pass", "Result": {"said": "${Word}"}, "End": True}}}).encode())
    apply(emulator, "machine", {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": "cfn-machine", "RoleArn": "arn:aws:iam::123456789012:role/sfn",
        "DefinitionS3Location": {"Bucket": "cfn-artifacts", "Key": "sm.json"},
        "DefinitionSubstitutions": {"Word": "hello"},
        "TracingConfiguration": {"Enabled": True}}}}})
    sfn = emulator("stepfunctions")
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:cfn-machine"
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])["States"]["Say"]["Result"] == {
        "said": "hello"}
    execution = sfn.start_execution(stateMachineArn=arn, name="run-1", input="{}")["executionArn"]
    for _ in range(100):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"said": "hello"}


def test_the_template_yaml_short_tags_parse_as_moto_reads_them():
    # moto parses YAML templates itself: the deploy sends template.yaml as text, tags and all
    from moto.cloudformation.utils import yaml_tag_constructor

    from radstream.definition import template as cfn

    yaml.add_multi_constructor("", yaml_tag_constructor, Loader=yaml.Loader)
    as_moto_reads_it = yaml.load(cfn.stack_template_text(), Loader=yaml.Loader)
    assert as_moto_reads_it == cfn.stack_template()
