"""Errors raised by the telemetry package.

None of them ever fails a pipeline handler: ``instrument`` and ``record_study_outcome`` log and
report emission problems instead of raising them, and the workflow catches SendTelemetry's own
failures without failing the study. So no failure record carries these codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from radstream.deployed.errors import RadStreamError

if TYPE_CHECKING:
    from .producer import SendResult


class TelemetrySchemaError(ValueError):
    """A telemetry record does not match the documented schema (a bug in the caller)."""


class TelemetryRecordTooLargeError(RadStreamError):
    """A telemetry record exceeds Kinesis' 1 MiB per-record limit; shrink the record (it is a bug)."""


class TelemetryDeliveryError(RadStreamError):
    """Telemetry records could not be written to Kinesis after all retries."""

    def __init__(self, result: SendResult):
        self.result = result
        codes = sorted({f.error_code for f in result.failed})
        super().__init__(f"{len(result.failed)} telemetry record(s) not delivered after retries "
                         f"(error codes {codes}); check the Kinesis stream exists and has capacity")
