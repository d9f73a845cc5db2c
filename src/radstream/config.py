"""Names and endpoints, resolved once from the environment.

Deployed code (handlers) and tooling (CLI, deploy) share these defaults so that the same
names appear on every target. Nothing here knows which target it runs on: the embedded
emulator and LocalStack are reached through the standard ``AWS_ENDPOINT_URL`` variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

EMBEDDED_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
DEFAULT_EMULATOR_PORT = 4566
DEFAULT_MODEL_PORT = 8080
DEFAULT_MODEL_NAME = "chestxray14-stub"
PIPELINE_VERSION = "0.1.0"


@dataclass(frozen=True)
class Names:
    """Resource names for one account; every one can be overridden by an environment variable."""

    account_id: str = EMBEDDED_ACCOUNT_ID
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


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def names_from_env() -> Names:
    """Names as deployed code sees them (account from the environment, moto's by default)."""
    return Names(account_id=os.environ.get("RADSTREAM_ACCOUNT_ID", EMBEDDED_ACCOUNT_ID), region=region())


def model_endpoint() -> str:
    return os.environ.get("RADSTREAM_MODEL_ENDPOINT", f"http://127.0.0.1:{DEFAULT_MODEL_PORT}")


def model_name() -> str:
    return os.environ.get("RADSTREAM_MODEL_NAME", DEFAULT_MODEL_NAME)


def deid_salt() -> str:
    """Salt for the hashes that replace DICOM UIDs (study ids derived from headers); set one per deployment."""
    return os.environ.get("RADSTREAM_DEID_SALT", "")


def pipeline_version() -> str:
    return os.environ.get("RADSTREAM_PIPELINE_VERSION", PIPELINE_VERSION)
