"""Telemetry: the record schema, the Kinesis producer, and what the Lambda handlers call.

    from radstream.telemetry import instrument, record_study_outcome

    @instrument("validate_metadata")
    def handler(event, context): ...

See :mod:`radstream.telemetry.events` for the schema and :mod:`radstream.telemetry.delivery` for the
Firehose/S3 layout.
"""

from .events import (FIELDS, format_timestamp, parse_timestamp, performance_record, stage_event,
                     study_event)
from .lambda_support import (build_study_outcome, get_producer, instrument, record_study_outcome,
                             set_producer, study_id_from_event)
from .producer import (SendResult, TelemetryDeliveryError, TelemetryProducer,
                       TelemetryRecordTooLargeError)

__all__ = [
    "FIELDS", "format_timestamp", "parse_timestamp", "performance_record", "stage_event", "study_event",
    "build_study_outcome", "get_producer", "instrument", "record_study_outcome", "set_producer",
    "study_id_from_event", "SendResult", "TelemetryDeliveryError", "TelemetryProducer",
    "TelemetryRecordTooLargeError",
]
