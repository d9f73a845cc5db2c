"""Deployment settings as a Lambda function sees them: its environment variables, required.

Deploy sets every variable a function needs on every target (embedded, LocalStack, AWS), so a
missing one is a deployment mistake. It fails the function's cold start with an error naming
the variable, rather than falling back to a default that only works on a laptop and turning a
configuration mistake into a confusing failure deep inside a study.
"""

from __future__ import annotations

import os

from radstream.deployed.errors import ConfigurationError

IMAGES_BUCKET = "RADSTREAM_IMAGES_BUCKET"
RESULTS_BUCKET = "RADSTREAM_RESULTS_BUCKET"
TELEMETRY_STREAM = "RADSTREAM_TELEMETRY_STREAM"
STATE_MACHINE_ARN = "RADSTREAM_STATE_MACHINE_ARN"
MODEL_ENDPOINT = "RADSTREAM_MODEL_ENDPOINT"
MODEL_NAME = "RADSTREAM_MODEL_NAME"
ERRORS_TOPIC_ARN = "RADSTREAM_ERRORS_TOPIC_ARN"
TENSORS_BUCKET = "RADSTREAM_TENSORS_BUCKET"
WORKFLOW_TYPE = "RADSTREAM_WORKFLOW_TYPE"


def require(variable: str) -> str:
    """The value of ``variable``; ConfigurationError naming it when unset or empty."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ConfigurationError(
            f"environment variable {variable} is not set: this function was deployed without it "
            f"(`radstream deploy` sets it on every target; check the function's configuration)")
    return value
