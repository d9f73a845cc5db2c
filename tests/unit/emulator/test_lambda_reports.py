"""The emulator's START/END/REPORT lines and runtime errors, spelled as Lambda spells them."""

import json
from datetime import datetime, timezone

import pytest

from radstream.emulator import lambda_reports as reports

RID = "8f5c2a0e-1111-2222-3333-444455556666"
AT = datetime(2026, 3, 4, 5, 6, 7, 89_123, tzinfo=timezone.utc)


@pytest.mark.parametrize("duration_ms, billed", [
    (0.0, 1),        # an init failure never ran: still one billed millisecond
    (0.2, 1),
    (1.0, 1),
    (1.01, 2),       # every started millisecond is billed
    (99.999, 100),
    (1234.0, 1234),
])
def test_billed_duration_rounds_up_to_the_next_millisecond(duration_ms, billed):
    assert reports.billed_duration_ms(duration_ms) == billed


@pytest.mark.parametrize("peak_mb, memory_mb, used", [
    (87.1, 256, 88),      # whole MB, rounded up
    (300.0, 256, 256),    # never above the memory size
    (0.0, 128, 128),      # peak unreadable: the memory size stands in
])
def test_max_memory_used(peak_mb, memory_mb, used):
    assert reports.max_memory_used_mb(peak_mb, memory_mb) == used


def test_report_line_on_a_cold_start_has_init_duration():
    line = reports.report_line(RID, 12.3456, 13, 256, 88, init_ms=345.678)
    assert line == (f"REPORT RequestId: {RID}\tDuration: 12.35 ms\tBilled Duration: 13 ms\t"
                    f"Memory Size: 256 MB\tMax Memory Used: 88 MB\tInit Duration: 345.68 ms")


def test_report_line_on_a_warm_start_has_no_init_duration():
    line = reports.report_line(RID, 1.0, 1, 128, 60, init_ms=None)
    assert line == f"REPORT RequestId: {RID}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t" \
                   f"Max Memory Used: 60 MB"


def test_start_and_end_lines():
    assert reports.start_line(RID, "$LATEST") == f"START RequestId: {RID} Version: $LATEST"
    assert reports.end_line(RID) == f"END RequestId: {RID}"


def test_timeout_is_logged_without_error_prefix_and_returned_as_sandbox_timedout():
    line, payload = reports.timed_out(RID, 3, AT)
    assert line == f"2026-03-04T05:06:07.089Z {RID} Task timed out after 3.00 seconds"
    assert json.loads(payload) == {"errorType": "Sandbox.Timedout",
                                   "errorMessage": f"RequestId: {RID} Error: Task timed out after 3.00 seconds"}


def test_out_of_memory_and_exit_are_logged_as_errors():
    line, payload = reports.out_of_memory(RID, 128, AT)
    message = "Runtime exited with error: signal: killed (memory used exceeded the function's 128 MB)"
    assert line == f"2026-03-04T05:06:07.089Z {RID} Error: {message}"
    assert json.loads(payload) == {"errorType": "Runtime.OutOfMemory", "errorMessage": f"RequestId: {RID} Error: {message}"}

    line, payload = reports.exited(RID, -9, AT)
    assert line == f"2026-03-04T05:06:07.089Z {RID} Error: Runtime exited with error: exit status -9"
    assert json.loads(payload)["errorType"] == "Runtime.ExitError"
