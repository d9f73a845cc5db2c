"""Resource names for one account: the same names on every target.

template.yaml fixes these names (a test checks the two agree); tooling uses them to find a
deployment's buckets, state machine and stream. ``prefix`` exists for tests that create
resources of their own beside a deployment; a deployment always has the prefix ``radstream``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from radstream.definition.template import partition_of

DEFAULT_REGION = "us-east-1"
DEFAULT_MODEL_NAME = "chestxray14-stub"
PIPELINE_VERSION = "0.1.0"


@dataclass(frozen=True)
class Names:
    """Resource names for one account (the names template.yaml gives them)."""

    account_id: str = "123456789012"  # moto's default account (the embedded target)
    region: str = DEFAULT_REGION
    prefix: str = "radstream"

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def images_bucket(self) -> str:
        return f"{self.prefix}-images-{self.account_id}"

    @property
    def results_bucket(self) -> str:
        return f"{self.prefix}-results-{self.account_id}"

    @property
    def telemetry_bucket(self) -> str:
        return f"{self.prefix}-telemetry-{self.account_id}"

    @property
    def telemetry_stream(self) -> str:
        return f"{self.prefix}-telemetry"

    @property
    def firehose(self) -> str:
        return f"{self.prefix}-telemetry-firehose"

    @property
    def state_machine(self) -> str:
        """The Standard workflow's name (the default WorkflowType)."""
        return self.state_machine_for("STANDARD")

    @property
    def state_machine_arn(self) -> str:
        return self.state_machine_arn_for("STANDARD")

    def state_machine_for(self, workflow_type: str) -> str:
        """Each workflow type has its own name: a state machine cannot change type in place, and
        CloudFormation replaces a named resource only under a new name."""
        return f"{self.prefix}-pipeline" + ("-express" if workflow_type == "EXPRESS" else "")

    def state_machine_arn_for(self, workflow_type: str) -> str:
        return (f"arn:{self.partition}:states:{self.region}:{self.account_id}:stateMachine:"
                f"{self.state_machine_for(workflow_type)}")

    @property
    def errors_topic(self) -> str:
        return f"{self.prefix}-pipeline-errors"

    @property
    def errors_topic_arn(self) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{self.errors_topic}"

    @property
    def deployed_buckets(self) -> list[str]:
        """The stack's data buckets (kept when the stack is deleted, unless `destroy --delete-data`)."""
        return [self.images_bucket, self.results_bucket, self.telemetry_bucket, self.access_logs_bucket]

    @property
    def glue_database(self) -> str:
        return f"{self.prefix}_analytics"

    @property
    def athena_workgroup(self) -> str:
        return f"{self.prefix}-analytics"

    @property
    def states_role(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def firehose_role(self) -> str:
        return f"{self.prefix}-firehose"

    @property
    def upload_trigger_failure_queue(self) -> str:
        return f"{self.prefix}-upload-trigger-failures"

    @property
    def access_logs_bucket(self) -> str:
        return f"{self.prefix}-access-logs-{self.account_id}"

    @property
    def deid_salt_secret(self) -> str:
        return f"{self.prefix}/deid-salt"

    def artifacts_bucket(self) -> str:
        """The bootstrap stack's bucket (bootstrap.yaml)."""
        return f"{self.prefix}-artifacts-{self.account_id}-{self.region}"

    def function_role(self, short: str) -> str:
        """Every function has its own role, named like the function."""
        return self.function(short)

    def log_group(self, short: str) -> str:
        return f"/aws/lambda/{self.function(short)}"

    def function(self, short: str) -> str:
        """``function("validate-metadata")`` -> ``radstream-validate-metadata``."""
        return f"{self.prefix}-{short}"

    def function_arn(self, short: str) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:{self.function(short)}"

    def role_arn(self, role: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{role}"


def model_name() -> str:
    """The model the pipeline asks for (``RADSTREAM_MODEL_NAME`` when deploying your own)."""
    return os.environ.get("RADSTREAM_MODEL_NAME") or DEFAULT_MODEL_NAME


def pipeline_version() -> str:
    return os.environ.get("RADSTREAM_PIPELINE_VERSION") or PIPELINE_VERSION
