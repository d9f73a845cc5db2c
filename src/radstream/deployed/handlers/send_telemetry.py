"""SendTelemetry: the study's end-to-end performance record and outcome event to Kinesis."""

from radstream.deployed.records import flatten_failure_event
from radstream.deployed.telemetry import instrument, record_study_outcome


@instrument("send_telemetry")
def handler(event, context):
    return record_study_outcome(flatten_failure_event(event))
