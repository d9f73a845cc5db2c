"""ValidateMetadata: reject a study whose sidecar is incomplete, mistyped or unsafe; say exactly
which image bytes the later steps must read (``image``: URI, version, declared SHA-256)."""

import json

from radstream.deployed.intake.metadata import image_reference, validate_study
from radstream.deployed.handlers.observability import observed


@observed("validate_metadata", carry=True)  # its stage event rides in its result to SendTelemetry
def handler(event, context):
    validate_study(event)  # raises MetadataValidationError listing every problem
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "Metadata validated successfully"}),
        "status": "SUCCESS",
        "image": image_reference(event),
    }
