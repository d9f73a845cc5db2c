"""Telemetry: the record schema, the Kinesis producer, and what the Lambda handlers call.

    from radstream.deployed.telemetry import instrument, record_study_outcome

    @instrument("validate_metadata")
    def handler(event, context): ...

See :mod:`radstream.deployed.telemetry.events` for the schema, :mod:`~radstream.deployed.telemetry.errors`
for its errors (they never fail a handler) and :mod:`radstream.deployed.s3_layout` for
where Firehose delivers the records.
"""

from .events import (FIELDS, format_timestamp, parse_timestamp, performance_record, stage_event,
                     study_event)
from .instrumentation import (STAGE_EVENT_KEY, build_study_outcome, carried_stage_events, get_producer, instrument,
                             record_study_outcome, set_producer, study_id_from_event, use_producer_factory)
from .producer import SendResult, TelemetryProducer

__all__ = [
    "FIELDS", "format_timestamp", "parse_timestamp", "performance_record", "stage_event", "study_event",
    "STAGE_EVENT_KEY", "build_study_outcome", "carried_stage_events", "get_producer", "instrument", "record_study_outcome", "set_producer",
    "study_id_from_event", "use_producer_factory", "SendResult", "TelemetryProducer",
]
