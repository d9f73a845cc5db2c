"""template.yaml, the one definition of the infrastructure: it lints, it is secure by default, and the
Python views of it (names.py, stack.py, catalog.py, firehose.py, workflow.py) agree with it."""

import json
import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from radstream.definition import catalog, stack
from radstream.definition import template as cfn
from radstream.definition.firehose import firehose_destination_config
from radstream.definition.names import Names
from radstream.definition.workflow import FUNCTION_PLACEHOLDERS, raw_definition

DEFINITION = Path(cfn.__file__).parent
ACCOUNT, REGION = "111122223333", "eu-west-1"
CTX = cfn.Context(ACCOUNT, REGION, {"ModelEndpoint": "http://model.internal:8080"})
RESOURCES = cfn.stack_template()["Resources"]


def props(logical_id: str) -> dict:
    return RESOURCES[logical_id]["Properties"]


@pytest.mark.parametrize("name", [cfn.STACK_TEMPLATE, cfn.BOOTSTRAP_TEMPLATE])
def test_cfn_lint_passes(name):
    matches = lint_file(DEFINITION / name, config=ManualArgs(regions=["us-east-1", "eu-west-1", "us-gov-west-1"]))
    assert [str(m) for m in matches] == []


def test_template_names_are_the_names_tooling_uses():
    names = Names(ACCOUNT, REGION)
    expected = {
        "ImagesBucket": names.images_bucket, "ResultsBucket": names.results_bucket,
        "TelemetryBucket": names.telemetry_bucket, "AccessLogsBucket": names.access_logs_bucket,
        "TelemetryStream": names.telemetry_stream, "TelemetryDeliveryStream": names.firehose,
        "Pipeline": names.state_machine, "ErrorsTopic": names.errors_topic,
        "AnalyticsDatabase": names.glue_database, "AnalyticsWorkGroup": names.athena_workgroup,
        "PipelineRole": names.states_role, "FirehoseRole": names.firehose_role,
        "UploadTriggerFailureQueue": names.upload_trigger_failure_queue, "DeidSalt": names.deid_salt_secret,
    }
    for fn in stack.FUNCTIONS:
        expected[fn.logical_id] = names.function(fn.short)
        expected[fn.logical_id.replace("Function", "Role")] = names.function_role(fn.short)
        expected[fn.logical_id.replace("Function", "LogGroup")] = names.log_group(fn.short)
    assert {lid: cfn.physical_name(lid, CTX) for lid in expected} == expected
    assert cfn.evaluate(cfn.bootstrap_template()["Resources"]["ArtifactsBucket"]["Properties"]["BucketName"],
                        CTX, cfn.bootstrap_template()) == names.artifacts_bucket()
    assert cfn._ref("Pipeline", CTX, cfn.stack_template()) == names.state_machine_arn
    assert cfn._ref("ErrorsTopic", CTX, cfn.stack_template()) == names.errors_topic_arn


def test_function_environment_is_what_the_template_gives():
    names = Names(ACCOUNT, REGION)
    for fn in stack.FUNCTIONS:
        in_template = cfn.evaluate(props(fn.logical_id)["Environment"]["Variables"], CTX)
        assert in_template == stack.function_environment(fn, names, "http://model.internal:8080"), fn.short


def test_state_machine_is_pipeline_asl_json_with_every_placeholder_substituted():
    pipeline = props("Pipeline")
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", raw_definition()))
    assert set(pipeline["DefinitionSubstitutions"]) == placeholders
    for key, short in FUNCTION_PLACEHOLDERS.items():
        assert cfn.evaluate(pipeline["DefinitionSubstitutions"][key], CTX) == Names(ACCOUNT, REGION).function_arn(short)
    assert set(pipeline["DefinitionS3Location"]) == {"Bucket", "Key"}
    assert pipeline["TracingConfiguration"] == {"Enabled": True}
    assert pipeline["LoggingConfiguration"]["IncludeExecutionData"] is False


def test_every_task_has_a_timeout_above_its_functions_and_jittered_retries():
    states = json.loads(raw_definition())["States"]
    arn_to_short = {"${" + key + "}": short for key, short in FUNCTION_PLACEHOLDERS.items()}
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        assert state["Retry"] and all(r["JitterStrategy"] == "FULL" for r in state["Retry"]), name
        short = arn_to_short.get(state["Resource"])
        floor = stack.function(short).timeout_s if short else 0
        assert state["TimeoutSeconds"] > floor, name


def test_glue_tables_are_the_catalog_the_queries_read():
    bucket = Names(ACCOUNT, REGION).telemetry_bucket
    for logical_id, table in (("TelemetryEventsTable", catalog.EVENTS_TABLE),
                              ("PerformanceMetricsTable", catalog.PERFORMANCE_TABLE)):
        assert cfn.evaluate(props(logical_id)["TableInput"], CTX) == catalog.table_input(table, bucket)
    assert props("AnalyticsDatabase")["DatabaseInput"]["Name"] == catalog.DATABASE
    assert props("AnalyticsWorkGroup")["Name"] == catalog.WORKGROUP


def test_firehose_delivers_in_the_layout_the_tables_read():
    names = Names(ACCOUNT, REGION)
    in_template = cfn.evaluate(props("TelemetryDeliveryStream")["ExtendedS3DestinationConfiguration"], CTX)
    wanted = firehose_destination_config(f"arn:aws:s3:::{names.telemetry_bucket}",
                                         f"arn:aws:iam::{ACCOUNT}:role/{names.firehose_role}")
    for key, value in wanted.items():
        assert in_template[key] == value, key


def test_packaging_is_a_parameter_not_code():
    params = cfn.stack_template()["Parameters"]
    assert params["DependencyPackaging"]["AllowedValues"] == ["layers", "bundled", "provided"]
    for fn in stack.FUNCTIONS:
        assert fn.code_key_parameter in params
        assert fn.runtime == "python3.12"
    assert {fn.short: (fn.dependency_set, fn.layer) for fn in stack.FUNCTIONS} == {
        "prepare-tensors": ("imaging", "ImagingLayer"), "run-inference": ("inference", "InferenceLayer"),
        **{short: ("core", "CoreLayer") for short in ("validate-metadata", "store-results", "record-failure",
                                                      "send-telemetry", "upload-trigger")}}
    for layer in ("CoreLayer", "ImagingLayer", "InferenceLayer"):
        assert RESOURCES[layer]["Condition"] == "UseLayers"


# -- secure by default (checkov also scans the template: tests/functional/definition) ---------
def _statements():
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
            documents = [p["PolicyDocument"] for p in resource["Properties"].get("Policies", [])]
            documents += [resource["Properties"]["PolicyDocument"]] if "PolicyDocument" in resource["Properties"] else []
            for document in documents:
                for statement in document["Statement"]:
                    if "Fn::If" in statement:  # a statement that exists under a condition: check what it grants
                        statement = statement["Fn::If"][1]
                    yield logical_id, statement


def test_sizing_and_workflow_parameters_default_to_what_ships():
    defaults = cfn.parameter_defaults()
    assert [defaults[k] for k in ("PrepareTensorsMemorySize", "RunInferenceMemorySize", "WorkflowType",
                                  "TensorStorage", "TensorStorageZoneId")] == ["1024", "512", "STANDARD", "standard", ""]
    assert props("PrepareTensorsFunction")["MemorySize"] == {"Ref": "PrepareTensorsMemorySize"}
    assert props("RunInferenceFunction")["MemorySize"] == {"Ref": "RunInferenceMemorySize"}
    assert (stack.function("prepare-tensors").memory_mb, stack.function("run-inference").memory_mb) == (1024, 512)


@pytest.mark.parametrize("kind", ["STANDARD", "EXPRESS"])
def test_each_workflow_type_is_its_own_state_machine_and_the_trigger_follows_it(kind):
    """A type cannot change in place and CloudFormation replaces a named resource only under a new name."""
    names = Names(ACCOUNT, REGION)
    ctx = cfn.Context(ACCOUNT, REGION, {**CTX.parameters, "WorkflowType": kind})
    assert cfn.physical_name("Pipeline", ctx) == names.state_machine_for(kind)
    assert cfn.evaluate(props("Pipeline")["StateMachineType"], ctx) == kind
    env = cfn.evaluate(props("UploadTriggerFunction")["Environment"]["Variables"], ctx)
    assert (env["RADSTREAM_STATE_MACHINE_ARN"], env["RADSTREAM_WORKFLOW_TYPE"]) == (names.state_machine_arn_for(kind), kind)
    trusted = cfn.evaluate(props("PipelineRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnLike"], ctx)
    assert names.state_machine_arn_for(kind) in trusted["aws:SourceArn"]
    assert names.state_machine_for("STANDARD") == names.state_machine and names.state_machine_arn_for(
        "STANDARD") == names.state_machine_arn


def test_tensors_go_to_the_directory_bucket_only_when_asked_and_it_exists():
    names = Names(ACCOUNT, REGION)

    def tensors_bucket(**parameters) -> str:
        ctx = cfn.Context(ACCOUNT, REGION, {**CTX.parameters, **parameters})
        return cfn.evaluate(props("PrepareTensorsFunction")["Environment"]["Variables"]["RADSTREAM_TENSORS_BUCKET"], ctx)

    assert tensors_bucket() == names.images_bucket
    assert tensors_bucket(TensorStorageZoneId="euw1-az1") == names.images_bucket  # the bucket exists, unused
    assert tensors_bucket(TensorStorage="express-one-zone", TensorStorageZoneId="euw1-az1") == \
        f"radstream-tensors-{ACCOUNT}--euw1-az1--x-s3"  # a directory bucket's name: zone and --x-s3 suffix
    bucket = RESOURCES["TensorsDirectoryBucket"]
    assert bucket["Condition"] == "HasTensorsDirectoryBucket" and bucket["Properties"]["DataRedundancy"] == "SingleAvailabilityZone"
    assert not cfn.condition("HasTensorsDirectoryBucket", CTX)  # nothing is created unless a zone is given
    rule = cfn.stack_template()["Rules"]["ExpressTensorsNeedAZone"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TensorStorageZoneId"}, ""]}]}
    # both functions that touch tensors may open directory-bucket sessions (run-inference read-only)
    for role, mode in (("PrepareTensorsRole", None), ("RunInferenceRole", "ReadOnly")):
        [session] = [s for lid, s in _statements() if lid == role and s["Action"] == "s3express:CreateSession"]
        assert session["Resource"] == {"Fn::GetAtt": ["TensorsDirectoryBucket", "Arn"]}
        assert session.get("Condition", {}).get("StringEquals", {}).get("s3express:SessionMode") == mode


def test_no_hard_coded_partition():
    text = cfn.stack_template_text()
    assert "arn:aws:" not in text and "arn:aws-" not in text


def test_every_function_has_its_own_least_privilege_role():
    roles = [props(fn.logical_id)["Role"]["Fn::GetAtt"][0] for fn in stack.FUNCTIONS]
    assert len(set(roles)) == len(roles)
    for logical_id, statement in _statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions), (logical_id, actions)
        if statement["Resource"] == "*":
            assert logical_id == "PipelineRole" and all(a.startswith(("logs:", "xray:")) for a in actions)
    trigger = [s for lid, s in _statements() if lid == "UploadTriggerRole"]
    assert {"states:StartExecution", "sqs:SendMessage"} <= {a for s in trigger for a in
                                                          (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_service_roles_and_resource_policies_have_confused_deputy_conditions():
    pipeline_trust = props("PipelineRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert set(pipeline_trust) == {"StringEquals", "ArnLike"}
    assert "sts:ExternalId" in props("FirehoseRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
    permission = props("UploadTriggerS3Permission")
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"} and "SourceArn" in permission


def test_buckets_are_private_encrypted_tls_only_and_expire_what_they_should():
    buckets = cfn.resources_of_type("AWS::S3::Bucket")
    policies = {r["Properties"]["Bucket"]["Ref"]: r for r in cfn.resources_of_type("AWS::S3::BucketPolicy").values()}
    for logical_id, bucket in buckets.items():
        p = bucket["Properties"]
        assert set(p["PublicAccessBlockConfiguration"].values()) == {True}, logical_id
        assert "BucketEncryption" in p, logical_id
        deny = policies[logical_id]["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert bucket["DeletionPolicy"] == "Retain", logical_id
    assert props("ResultsBucket")["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r.get("Prefix"): r for r in props("ImagesBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["incoming/"]["ExpirationInDays"] == {"Ref": "IncomingRetentionDays"}
    assert rules["preprocessed/"]["ExpirationInDays"] == {"Ref": "TensorRetentionDays"}


def test_observability_and_limits():
    for logical_id, group in cfn.resources_of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, logical_id
    for fn in stack.FUNCTIONS:
        p = props(fn.logical_id)
        assert p["TracingConfig"] == {"Mode": "Active"}
        assert p["LoggingConfig"]["LogGroup"] == {"Ref": fn.logical_id.replace("Function", "LogGroup")}
    assert props("RunInferenceFunction")["ReservedConcurrentExecutions"] == {"Ref": "InferenceConcurrency"}
    assert "VpcConfig" in props("RunInferenceFunction")
    invoke = props("UploadTriggerInvokeConfig")
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["UploadTriggerFailureQueue", "Arn"]}
    assert not cfn.resources_of_type("AWS::Glue::Crawler")


def test_template_fits_cloudformation_limits():
    assert len(cfn.stack_template_text().encode()) < 1_000_000  # TemplateURL; deploy uploads it (> 51,200 bytes)
    assert len(RESOURCES) <= 500 and len(cfn.stack_template()["Parameters"]) <= 200


def test_offline_evaluation_refuses_what_only_a_deployment_knows():
    with pytest.raises(ValueError, match="no value and no default"):
        cfn.evaluate({"Ref": "ModelEndpoint"}, cfn.Context(ACCOUNT, REGION, {}))
    assert cfn.partition_of("cn-north-1") == "aws-cn" and Names(region="us-gov-west-1").partition == "aws-us-gov"


# -- monitoring: alarms and the dashboard (tests/e2e/test_monitoring.py runs them) -----------------
def test_every_alarm_notifies_the_errors_topic_on_alarm_and_on_ok():
    from radstream.definition import monitoring

    alarms = cfn.resources_of_type("AWS::CloudWatch::Alarm")
    assert monitoring.alarm_names(Names()) == ["radstream-p95-latency", "radstream-error-rate", "radstream-lambda-throttles",
                                               "radstream-upload-trigger-failures", "radstream-model-server-unavailable"]
    for logical_id, alarm in alarms.items():
        p = alarm["Properties"]
        assert p["AlarmActions"] == p["OKActions"] == [{"Ref": "ErrorsTopic"}], logical_id
        assert p["TreatMissingData"] == "notBreaching", logical_id  # no traffic is not a problem
        periods = [q["MetricStat"]["Period"] for q in p.get("Metrics", []) if "MetricStat" in q] or [p["Period"]]
        assert all(period == {"Ref": "AlarmPeriodSeconds"} for period in periods), logical_id
    latency = alarms["LatencyAlarm"]["Properties"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == \
        ("ExecutionTime", "p95", {"Ref": "LatencyTargetMs"})
    assert cfn.stack_template()["Parameters"]["LatencyTargetMs"]["Default"] == 5000
    throttled = {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
                 for q in alarms["ThrottlesAlarm"]["Properties"]["Metrics"] if "MetricStat" in q}
    assert throttled == {fn.logical_id for fn in stack.FUNCTIONS}
    queue = alarms["UploadTriggerFailuresAlarm"]["Properties"]["Dimensions"][0]["Value"]
    assert queue == {"Fn::GetAtt": ["UploadTriggerFailureQueue", "QueueName"]}


def test_the_topic_can_take_alarm_notifications():
    """CloudWatch cannot publish to a topic under the AWS managed key aws/sns: the topic's own key lets it."""
    assert props("ErrorsTopic")["KmsMasterKeyId"] == {"Fn::If": ["UseKms", {"Ref": "KmsKeyArn"}, {"Ref": "NotificationsKey"}]}
    statements = props("NotificationsKey")["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    assert props("NotificationsKey")["EnableKeyRotation"] is True
    publishers = {r["Ref"] for r in props("NotificationsKeyUsePolicy")["Roles"]}
    assert publishers == {"PipelineRole", "UploadTriggerRole"}  # the two that sns:Publish to it


def test_the_dashboard_has_the_seeds_panels_and_prices_each_function_by_its_memory():
    from radstream.definition import monitoring

    body = monitoring.dashboard_body(Names(ACCOUNT, REGION))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    for panel in ("Duration", "Memory used vs allocated", "Errors", "Throughput", "Cost per image"):
        assert any(t.startswith(panel) for t in titles), panel
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert alarms["properties"]["alarms"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
                                              for name in monitoring.alarm_names()]
    queries = monitoring.cost_per_image_queries(Names(ACCOUNT, REGION), 300)
    durations = {q["Id"]: q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in queries
                 if q.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "Duration"}
    expression = next(q["Expression"] for q in queries if "Expression" in q)
    memory = {Names(ACCOUNT, REGION).function(fn.short): fn.memory_mb for fn in stack.FUNCTIONS}
    assert set(durations.values()) == set(memory)
    for query_id, function in durations.items():
        assert re.search(rf"FILL\({query_id},0\)\*{memory[function]}\b", expression), (function, expression)


def test_the_dashboards_cost_follows_the_deployed_memory_sizes_and_workflow_type():
    from radstream.definition import monitoring

    def expression(**parameters) -> str:
        queries = monitoring.cost_per_image_queries(Names(ACCOUNT, REGION), 300, parameters=parameters)
        return next(q["Expression"] for q in queries if "Expression" in q)

    standard = expression()
    assert "FILL(started,0) * 6 * 0.000025" in standard and "xtime" not in standard
    changed = expression(PrepareTensorsMemorySize="2048", RunInferenceMemorySize="1024", WorkflowType="EXPRESS")
    assert "FILL(d2,0)*2048 " in changed and "FILL(d3,0)*1024 " in changed
    # Express: per execution plus duration at 64 MB, no transitions
    assert "FILL(started,0) * 0.000001 + FILL(xtime,0) / 1000 * 0.0625 * 0.00001667" in changed
    assert "* 6 *" not in changed


def test_metric_namespace_is_what_the_handlers_publish(monkeypatch):
    from radstream.definition import monitoring

    monkeypatch.setenv("RADSTREAM_TELEMETRY_STREAM", "s")  # importing the handlers package checks it
    from radstream.deployed.handlers import observability

    assert (observability.NAMESPACE, observability.SERVICE) == (monitoring.NAMESPACE, monitoring.SERVICE)
    dims = {d["Name"]: d["Value"] for d in props("ModelServerAlarm")["Dimensions"]}
    assert props("ModelServerAlarm")["Namespace"] == monitoring.NAMESPACE and dims["service"] == monitoring.SERVICE
