"""Deploy the stack to any target: plan what would change, then apply it.

Planning reads the target's current state and yields one ``Step`` per resource that is
missing or different; applying runs them in order. Re-running against an up-to-date target
plans nothing, so deploy is idempotent, and ``--dry-run`` is just "plan and print".
Everything goes through the public AWS APIs, so the same code deploys to the embedded
emulator, LocalStack and AWS.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError

from radstream.definition import catalog as catalog_def
from radstream.definition import stack
from radstream.definition.firehose import firehose_destination_config
from radstream.definition.workflow import render_definition
from radstream.deployed import s3_layout
from radstream.infra import catalog, package
from radstream.infra.targets import Target

logger = logging.getLogger(__name__)


@dataclass
class Step:
    resource: str
    action: str  # create | update | ensure
    detail: str = ""
    apply: Callable[[], None] = field(default=lambda: None, repr=False)

    def describe(self) -> str:
        return f"{self.action:<7} {self.resource}" + (f"  ({self.detail})" if self.detail else "")


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


class Planner:
    def __init__(self, target: Target, build_dir: Path | None = None) -> None:
        self.target = target
        self.names = target.names
        self.build_dir = build_dir or Path("build")
        self.clients: dict[str, object] = {}
        self._layer_arn: str | None = None  # the dependency layer functions attach (not on embedded)

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = self.target.client(service)
        return self.clients[service]

    # -- the plan, in dependency order ----------------------------------------------------
    def plan(self) -> list[Step]:
        steps: list[Step] = []
        steps += self._buckets()
        steps += self._roles()
        steps += self._topic()
        steps += self._stream()
        steps += self._firehose()
        steps += self._catalog()
        steps += self._layer()
        steps += self._functions()
        steps += self._state_machine()
        steps += self._trigger()
        return steps

    def _buckets(self) -> list[Step]:
        s3 = self.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        steps = []
        for bucket in stack.buckets(self.names):
            if bucket not in existing:
                def create(bucket=bucket):
                    kwargs = {"Bucket": bucket}
                    if self.target.region != "us-east-1":
                        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.target.region}
                    s3.create_bucket(**kwargs)
                steps.append(Step(f"s3://{bucket}", "create", apply=create))
        return steps

    def _roles(self) -> list[Step]:
        iam = self.client("iam")
        steps = []
        for role, (trust, policy) in stack.roles(self.names).items():
            try:
                iam.get_role(RoleName=role)
                current = iam.get_role_policy(RoleName=role, PolicyName="radstream")["PolicyDocument"]
                if isinstance(current, str):
                    current = json.loads(current)
                if current == policy:
                    continue
                steps.append(Step(f"iam role {role}", "update", "inline policy",
                                  lambda role=role, policy=policy: iam.put_role_policy(
                                      RoleName=role, PolicyName="radstream", PolicyDocument=json.dumps(policy))))
            except ClientError as exc:
                if _error_code(exc) != "NoSuchEntity":
                    raise
                def create(role=role, trust=trust, policy=policy):
                    try:
                        iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
                    except ClientError as exc:
                        if _error_code(exc) != "EntityAlreadyExists":
                            raise
                    iam.put_role_policy(RoleName=role, PolicyName="radstream", PolicyDocument=json.dumps(policy))
                steps.append(Step(f"iam role {role}", "create", apply=create))
        return steps

    def _topic(self) -> list[Step]:
        sns = self.client("sns")
        arns = set()
        for page in sns.get_paginator("list_topics").paginate():
            arns.update(t["TopicArn"] for t in page.get("Topics", []))
        if self.names.errors_topic_arn in arns:
            return []
        return [Step(f"sns topic {self.names.errors_topic}", "create",
                     apply=lambda: sns.create_topic(Name=self.names.errors_topic))]

    def _stream(self) -> list[Step]:
        kinesis = self.client("kinesis")
        try:
            kinesis.describe_stream_summary(StreamName=self.names.telemetry_stream)
            return []
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise

        def create():
            kinesis.create_stream(StreamName=self.names.telemetry_stream, ShardCount=1)
            kinesis.get_waiter("stream_exists").wait(StreamName=self.names.telemetry_stream,
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return [Step(f"kinesis stream {self.names.telemetry_stream}", "create", "1 shard", create)]

    def _firehose(self) -> list[Step]:
        firehose = self.client("firehose")
        names = self.names
        destination = firehose_destination_config(
            bucket_arn=f"arn:aws:s3:::{names.telemetry_bucket}", role_arn=names.role_arn(names.firehose_role))
        try:
            firehose.describe_delivery_stream(DeliveryStreamName=names.firehose)
            return []
        except ClientError as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
        stream_arn = f"arn:aws:kinesis:{names.region}:{names.account_id}:stream/{names.telemetry_stream}"

        def create():
            firehose.create_delivery_stream(
                DeliveryStreamName=names.firehose, DeliveryStreamType="KinesisStreamAsSource",
                KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn,
                                                  "RoleARN": names.role_arn(names.firehose_role)},
                ExtendedS3DestinationConfiguration=destination)
        return [Step(f"firehose {names.firehose}", "create", f"{names.telemetry_stream} -> s3://{names.telemetry_bucket}",
                     create)]

    def _catalog(self) -> list[Step]:

        if self.target.name == "localstack":
            # Glue and Athena are LocalStack Pro features; `radstream query` reads S3 with DuckDB instead.
            logger.warning("localstack: skipping the Glue catalog and Athena workgroup (LocalStack Pro only)")
            return []
        glue, athena = self.client("glue"), self.client("athena")
        bucket, database = self.names.telemetry_bucket, self.names.glue_database
        missing_or_changed = []
        try:
            glue.get_database(Name=database)
        except glue.exceptions.EntityNotFoundException:
            missing_or_changed.append(database)
        for table in catalog_def.TABLE_RECORD_TYPES:
            try:
                current = glue.get_table(DatabaseName=database, Name=table)["Table"]
                if not catalog_def.same_table(current, catalog_def.table_input(table, bucket)):
                    missing_or_changed.append(table)
            except glue.exceptions.EntityNotFoundException:
                missing_or_changed.append(table)
        steps = []
        if missing_or_changed:
            steps.append(Step(f"glue catalog {database}", "create", ", ".join(missing_or_changed),
                              lambda: catalog.ensure_catalog(glue, bucket, database=database)))
        if self.target.name == "aws" and not self._crawler_exists(glue, catalog_def.CRAWLER):
            steps.append(Step(f"glue crawler {catalog_def.CRAWLER}", "create", f"over {s3_layout.TELEMETRY_PREFIX}/",
                              lambda: catalog.ensure_crawler(glue, self.names.role_arn(self.names.firehose_role),
                                                                 database=database)))
        workgroups, token = set(), None
        while True:  # list_work_groups has no boto3 paginator
            page = athena.list_work_groups(**({"NextToken": token} if token else {}))
            workgroups.update(w["Name"] for w in page.get("WorkGroups", []))
            token = page.get("NextToken")
            if not token:
                break
        if self.names.athena_workgroup not in workgroups:
            output = s3_layout.s3_uri(bucket, s3_layout.QUERY_RESULTS_PREFIX)
            steps.append(Step(f"athena workgroup {self.names.athena_workgroup}", "create", f"results to {output}",
                              lambda: catalog.ensure_workgroup(athena, output, name=self.names.athena_workgroup)))
        return steps

    @staticmethod
    def _crawler_exists(glue, name: str) -> bool:
        try:
            glue.get_crawler(Name=name)
            return True
        except glue.exceptions.EntityNotFoundException:
            return False

    def _layer(self) -> list[Step]:
        """Real Lambda has no access to our virtualenv: ship the third-party packages as a layer."""
        if self.target.name == "embedded":
            return []
        lam = self.client("lambda")
        layer_name = f"{self.names.prefix}-dependencies"
        versions = lam.list_layer_versions(LayerName=layer_name).get("LayerVersions", [])
        wanted = ",".join(package.LAMBDA_REQUIREMENTS)
        for version in versions:
            if version.get("Description") == wanted:
                self._layer_arn = version["LayerVersionArn"]
                return []

        def publish():
            layer = package.build_dependency_layer(self.build_dir)
            self._layer_arn = lam.publish_layer_version(
                LayerName=layer_name, Description=wanted, Content={"ZipFile": layer},
                CompatibleRuntimes=[stack.RUNTIME])["LayerVersionArn"]
        return [Step(f"lambda layer {layer_name}", "create", wanted, publish)]

    def _functions(self) -> list[Step]:
        lam = self.client("lambda")
        code = package.function_zip()
        code_sha = package.sha256_b64(code)
        role_arn = self.names.role_arn(self.names.lambda_role)
        steps = []
        for fn in stack.FUNCTIONS:
            name = self.names.function(fn.short)
            env = stack.function_environment(fn, self.names, self.target.model_endpoint)
            wanted = {"Handler": fn.handler, "MemorySize": fn.memory_mb, "Timeout": fn.timeout_s,
                      "Runtime": stack.RUNTIME, "Environment": {"Variables": env}}
            try:
                current = lam.get_function_configuration(FunctionName=name)
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    raise

                def create(name=name, fn=fn, wanted=wanted):
                    lam.create_function(FunctionName=name, Role=role_arn, Code={"ZipFile": code},
                                        Description=fn.description, Publish=False, **wanted, **self._layers())
                    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
                steps.append(Step(f"lambda {name}", "create", f"{fn.memory_mb} MB, {fn.timeout_s} s", create))
                continue
            changed = [k for k, v in wanted.items() if current.get(k) != v]
            if changed:
                steps.append(Step(f"lambda {name}", "update", "configuration: " + ", ".join(changed),
                                  lambda name=name, wanted=wanted: self._update_config(lam, name, wanted)))
            if current.get("CodeSha256") != code_sha:
                steps.append(Step(f"lambda {name}", "update", "code",
                                  lambda name=name: self._update_code(lam, name, code)))
        return steps

    def _layers(self) -> dict:
        return {"Layers": [self._layer_arn]} if self._layer_arn else {}

    @staticmethod
    def _update_config(lam, name: str, wanted: dict) -> None:
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        lam.update_function_configuration(FunctionName=name, **wanted)

    @staticmethod
    def _update_code(lam, name: str, code: bytes) -> None:
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        lam.update_function_code(FunctionName=name, ZipFile=code)

    def _state_machine(self) -> list[Step]:
        sfn = self.client("stepfunctions")
        definition = render_definition(self.names)
        role_arn = self.names.role_arn(self.names.states_role)
        try:
            current = sfn.describe_state_machine(stateMachineArn=self.names.state_machine_arn)
        except ClientError as exc:
            if _error_code(exc) not in ("StateMachineDoesNotExist", "ResourceNotFoundException"):
                raise
            return [Step(f"state machine {self.names.state_machine}", "create", apply=lambda: sfn.create_state_machine(
                name=self.names.state_machine, definition=definition, roleArn=role_arn, type="STANDARD"))]
        if json.loads(current["definition"]) == json.loads(definition):
            return []
        return [Step(f"state machine {self.names.state_machine}", "update", "definition",
                     lambda: sfn.update_state_machine(stateMachineArn=self.names.state_machine_arn,
                                                      definition=definition, roleArn=role_arn))]

    def _trigger(self) -> list[Step]:
        s3, lam = self.client("s3"), self.client("lambda")
        bucket = self.names.images_bucket
        function_arn = self.names.function_arn(stack.TRIGGER_FUNCTION)
        wanted = {"LambdaFunctionConfigurations": [{
            "Id": "radstream-upload-trigger",
            "LambdaFunctionArn": function_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": stack.TRIGGER_PREFIX},
                                               {"Name": "suffix", "Value": stack.TRIGGER_SUFFIX}]}},
        }]}
        try:
            current = s3.get_bucket_notification_configuration(Bucket=bucket)
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
            current = {}
        configs = current.get("LambdaFunctionConfigurations", [])
        if any(c.get("LambdaFunctionArn") == function_arn for c in configs):
            return []

        def create():
            try:
                lam.add_permission(FunctionName=function_arn, StatementId="radstream-s3-invoke",
                                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                                   SourceArn=f"arn:aws:s3:::{bucket}", SourceAccount=self.names.account_id)
            except ClientError as exc:
                if _error_code(exc) != "ResourceConflictException":
                    raise
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
        return [Step(f"s3 trigger s3://{bucket}/{stack.TRIGGER_PREFIX}*{stack.TRIGGER_SUFFIX}", "create",
                     f"-> {stack.TRIGGER_FUNCTION}", create)]


def plan(target: Target) -> list[Step]:
    """Steps without applying them: what ``deploy --dry-run`` prints."""
    return Planner(target).plan()


def deploy(target: Target, *, dry_run: bool = False, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Bring the target up to date; returns the steps taken (or, with dry_run, that would be)."""
    planner = Planner(target)
    steps = planner.plan()
    for step in steps:
        if on_step:
            on_step(step)
        if not dry_run:
            started = time.perf_counter()
            step.apply()
            logger.debug("%s took %.2f s", step.describe(), time.perf_counter() - started)
    return steps
