"""Thin Lambda entry points: parse the event, call the domain, shape the reply.

Each module exposes ``handler(event, context)``. AWS clients come from ``aws_io`` so they are
created on first use and reused while the execution environment stays warm. Importing this
package is every function's cold start: it checks the settings all handlers share and gives the
telemetry package its Kinesis producer.
"""

from radstream.deployed import config, telemetry
from radstream.deployed.handlers import aws_io

_TELEMETRY_STREAM = config.require(config.TELEMETRY_STREAM)


def _telemetry_producer() -> telemetry.TelemetryProducer:
    # Few attempts: a handler must not stall for long on an unreachable stream.
    return telemetry.TelemetryProducer(aws_io.telemetry_kinesis_client(), _TELEMETRY_STREAM, max_attempts=3,
                                       base_delay_s=0.05, max_delay_s=0.5)


telemetry.use_producer_factory(_telemetry_producer)
