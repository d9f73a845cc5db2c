"""Serverless cost of the studies a benchmark ran, from what AWS would bill.

Inputs are measured, not assumed: Lambda billed duration and memory come from the REPORT lines
of the invocations in CloudWatch Logs, state transitions from the executions' histories.
Prices are us-east-1 list prices (x86 Lambda, Standard workflows), the same as the
``estimated_cost_per_image`` analytics query. The model server (EKS) and storage are excluded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LAMBDA_GB_SECOND_USD = 0.0000166667
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
STATE_TRANSITION_USD = 0.025 / 1_000

_REPORT = re.compile(r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB")


@dataclass
class Cost:
    invocations: int
    gb_seconds: float
    transitions: int

    @property
    def usd(self) -> float:
        return (self.gb_seconds * LAMBDA_GB_SECOND_USD + self.invocations * LAMBDA_REQUEST_USD
                + self.transitions * STATE_TRANSITION_USD)


def lambda_usage(report_lines: list[str]) -> tuple[int, float]:
    """(invocations, GB-seconds) from Lambda REPORT lines."""
    invocations, gb_seconds = 0, 0.0
    for line in report_lines:
        match = _REPORT.search(line)
        if match:
            invocations += 1
            gb_seconds += int(match["billed"]) / 1000 * int(match["memory"]) / 1024
    return invocations, gb_seconds


def report_lines_since(logs_client, function_names: list[str], since_ms: int) -> list[str]:
    lines: list[str] = []
    for name in function_names:
        paginator = logs_client.get_paginator("filter_log_events")
        try:
            for page in paginator.paginate(logGroupName=f"/aws/lambda/{name}", startTime=since_ms,
                                           filterPattern="REPORT"):
                lines += [e["message"] for e in page.get("events", []) if e["message"].startswith("REPORT")]
        except logs_client.exceptions.ResourceNotFoundException:
            continue  # a function never invoked has no log group yet
    return lines


def state_transitions(sfn_client, execution_arns: list[str]) -> int:
    total = 0
    for arn in execution_arns:
        for page in sfn_client.get_paginator("get_execution_history").paginate(executionArn=arn):
            total += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
    return total
