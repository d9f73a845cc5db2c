"""The Step Functions definition, pipeline.asl.json, and its placeholders.

On a deployment CloudFormation fills the placeholders (template.yaml's DefinitionSubstitutions); tests
that create a state machine of their own fill them with ``render_definition``.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files

from radstream.definition.names import Names

DEFINITION_FILE = "pipeline.asl.json"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
FUNCTION_PLACEHOLDERS = {
    "ValidateMetadataFunctionArn": "validate-metadata",
    "PrepareTensorsFunctionArn": "prepare-tensors",
    "RunInferenceFunctionArn": "run-inference",
    "StoreResultsFunctionArn": "store-results",
    "SendTelemetryFunctionArn": "send-telemetry",
    "RecordFailureFunctionArn": "record-failure",
}


def raw_definition() -> str:
    return files(__package__).joinpath(DEFINITION_FILE).read_text()


def substitutions(names: Names) -> dict[str, str]:
    subs = {key: names.function_arn(short) for key, short in FUNCTION_PLACEHOLDERS.items()}
    subs["ErrorsTopicArn"] = names.errors_topic_arn
    subs["ResultsBucketName"] = names.results_bucket
    return subs


def render_definition(names: Names) -> str:
    """The definition with every ``${Name}`` replaced; unknown placeholders are an error."""
    subs = substitutions(names)

    def replace(match: re.Match) -> str:
        key = match.group(1)
        if key not in subs:
            raise KeyError(f"{DEFINITION_FILE} uses an unknown placeholder ${{{key}}}")
        return subs[key]

    rendered = _PLACEHOLDER.sub(replace, raw_definition())
    json.loads(rendered)  # fail at deploy time, not at execution time
    return rendered
