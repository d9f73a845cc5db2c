"""Resource names for one account: the same names on every target, each overridable.

Deploy passes them to the functions as environment variables; tooling uses them to find a
deployment's buckets, state machine and stream.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_REGION = "us-east-1"
DEFAULT_MODEL_NAME = "chestxray14-stub"
PIPELINE_VERSION = "0.1.0"


@dataclass(frozen=True)
class Names:
    """Resource names for one account; every one can be overridden by an environment variable."""

    account_id: str = "123456789012"  # moto's default account (the embedded target)
    region: str = DEFAULT_REGION
    prefix: str = "radstream"
    overrides: dict = field(default_factory=dict)

    def _get(self, key: str, default: str) -> str:
        return self.overrides.get(key) or os.environ.get(key) or default

    @property
    def images_bucket(self) -> str:
        return self._get("RADSTREAM_IMAGES_BUCKET", f"{self.prefix}-images-{self.account_id}")

    @property
    def results_bucket(self) -> str:
        return self._get("RADSTREAM_RESULTS_BUCKET", f"{self.prefix}-results-{self.account_id}")

    @property
    def telemetry_bucket(self) -> str:
        return self._get("RADSTREAM_TELEMETRY_BUCKET", f"{self.prefix}-telemetry-{self.account_id}")

    @property
    def telemetry_stream(self) -> str:
        return self._get("RADSTREAM_TELEMETRY_STREAM", f"{self.prefix}-telemetry")

    @property
    def firehose(self) -> str:
        return self._get("RADSTREAM_FIREHOSE", f"{self.prefix}-telemetry-firehose")

    @property
    def state_machine(self) -> str:
        return self._get("RADSTREAM_STATE_MACHINE", f"{self.prefix}-pipeline")

    @property
    def state_machine_arn(self) -> str:
        return self._get(
            "RADSTREAM_STATE_MACHINE_ARN",
            f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{self.state_machine}",
        )

    @property
    def errors_topic(self) -> str:
        return self._get("RADSTREAM_ERRORS_TOPIC", f"{self.prefix}-pipeline-errors")

    @property
    def errors_topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account_id}:{self.errors_topic}"

    @property
    def glue_database(self) -> str:
        return self._get("RADSTREAM_GLUE_DATABASE", f"{self.prefix}_analytics")

    @property
    def athena_workgroup(self) -> str:
        return self._get("RADSTREAM_ATHENA_WORKGROUP", f"{self.prefix}-analytics")

    @property
    def lambda_role(self) -> str:
        return f"{self.prefix}-lambda-role"

    @property
    def states_role(self) -> str:
        return f"{self.prefix}-states-role"

    @property
    def firehose_role(self) -> str:
        return f"{self.prefix}-firehose-role"

    def function(self, short: str) -> str:
        """``function("validate-metadata")`` -> ``radstream-validate-metadata``."""
        return f"{self.prefix}-{short}"

    def function_arn(self, short: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function(short)}"

    def role_arn(self, role: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{role}"


def model_name() -> str:
    """The model the pipeline asks for (``RADSTREAM_MODEL_NAME`` when deploying your own)."""
    return os.environ.get("RADSTREAM_MODEL_NAME") or DEFAULT_MODEL_NAME


def pipeline_version() -> str:
    return os.environ.get("RADSTREAM_PIPELINE_VERSION") or PIPELINE_VERSION
