"""SendTelemetry: the study's end-to-end performance record and outcome event to Kinesis, with the
stage events the workflow carried in its state (``input``: one PutRecords per study), and its
outcome as CloudWatch metrics (``Studies``, ``StudyLatency``)."""

from radstream.deployed.handlers import observability
from radstream.deployed.handlers.observability import observed
from radstream.deployed.records import flatten_failure_event
from radstream.deployed.telemetry import carried_stage_events, record_study_outcome


@observed("send_telemetry")
def handler(event, context):
    result = record_study_outcome(flatten_failure_event(event), carried_stage_events(event.get("input")))
    observability.study_outcome(result["study_status"], result["error_code"], result["processing_time_ms"])
    return result
