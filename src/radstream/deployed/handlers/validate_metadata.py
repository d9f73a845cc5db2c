"""ValidateMetadata: reject a study whose sidecar is incomplete, mistyped or unsafe."""

import json

from radstream.deployed.intake.metadata import validate_study
from radstream.deployed.telemetry import instrument


@instrument("validate_metadata")
def handler(event, context):
    validate_study(event)  # raises MetadataValidationError listing every problem
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "Metadata validated successfully"}),
        "status": "SUCCESS",
    }
