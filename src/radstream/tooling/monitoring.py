"""What CloudWatch says about a deployment, on any target: the key figures of the last minutes
(`radstream metrics`) and the alarms' states (`radstream status`).

Everything is read through the CloudWatch API (one GetMetricData call, DescribeAlarms): on AWS from
CloudWatch, on the embedded target from the emulator's CloudWatch, which the emulator fills as AWS
does (AWS/Lambda, AWS/States, and the RadStream metrics the functions embed in their logs). On AWS
service metrics arrive a minute or more after the fact; the embedded target flushes them first.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

from radstream.definition import monitoring, stack
from radstream.definition import template as cfn
from radstream.infra.deploy import deployed_parameters, deployed_workflow, describe
from radstream.infra.targets import Target
from radstream.tooling.stack import emulator_admin

FUNCTION_STATS = {  # query id prefix -> (namespace, metric, statistic)
    "p50": ("AWS/Lambda", "Duration", "p50"),
    "p95": ("AWS/Lambda", "Duration", "p95"),
    "inv": ("AWS/Lambda", "Invocations", "Sum"),
    "err": ("AWS/Lambda", "Errors", "Sum"),
    "thr": ("AWS/Lambda", "Throttles", "Sum"),
    "conc": ("AWS/Lambda", "ConcurrentExecutions", "Maximum"),
    "memu": (monitoring.NAMESPACE, "MemoryUsed", "Maximum"),
    "mema": (monitoring.NAMESPACE, "MemoryAllocated", "Maximum"),
}
EXECUTION_STATUSES = {"started": "ExecutionsStarted", "succeeded": "ExecutionsSucceeded", "failed": "ExecutionsFailed",
                      "timed_out": "ExecutionsTimedOut", "aborted": "ExecutionsAborted"}


def alarm_states(target: Target) -> list[dict[str, Any]]:
    """The template's alarms as deployed: name, state, reason, when the state last changed."""
    names = monitoring.alarm_names(target.names)
    found = target.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    by_name = {a["AlarmName"]: a for a in found}
    return [{"name": name, "state": by_name[name]["StateValue"], "reason": by_name[name].get("StateReason", ""),
             "since": by_name[name].get("StateUpdatedTimestamp")} if name in by_name else
            {"name": name, "state": "NOT DEPLOYED", "reason": "no such alarm: deploy the stack", "since": None}
            for name in names]


def window(minutes: int, now: float | None = None) -> tuple[datetime, datetime]:
    """Whole minutes ending with the current one (so its datapoints are complete as far as they go)."""
    end = math.ceil((now if now is not None else time.time()) / 60) * 60
    start = end - minutes * 60
    return datetime.fromtimestamp(start, tz=timezone.utc), datetime.fromtimestamp(end, tz=timezone.utc)


def metrics_summary(target: Target, minutes: int) -> dict[str, Any]:
    """Per function: invocations, errors, throttles, duration p50/p95, max concurrency, memory used and
    allocated; executions by status and their time; studies by outcome; compute cost per image."""
    if minutes < 1:
        raise ValueError("--minutes takes a positive number of minutes")
    if target.name == "embedded":
        emulator_admin.flush_telemetry(target.endpoint_url)  # the metrics buffered in the last second too
    names = target.names
    start, end = window(minutes)
    period = int((end - start).total_seconds())
    queries: list[dict] = []
    for i, fn in enumerate(stack.FUNCTIONS):
        for prefix, (namespace, metric, stat) in FUNCTION_STATS.items():
            dims = ([{"Name": "FunctionName", "Value": names.function(fn.short)}] if namespace == "AWS/Lambda" else
                    [{"Name": "Stage", "Value": _stage(fn.short)}, {"Name": "service", "Value": monitoring.SERVICE}])
            queries.append(_stat(f"{prefix}_{i}", namespace, metric, dims, stat, period))
    machine = [{"Name": "StateMachineArn", "Value": deployed_workflow(target).state_machine_arn}]
    for key, metric in EXECUTION_STATUSES.items():
        queries.append(_stat(f"x_{key}", "AWS/States", metric, machine, "Sum", period))
    for stat in ("p50", "p95"):
        queries.append(_stat(f"xt_{stat}", "AWS/States", "ExecutionTime", machine, stat, period))
    cloudwatch = target.client("cloudwatch")
    outcomes = cloudwatch.list_metrics(Namespace=monitoring.NAMESPACE, MetricName="Studies")["Metrics"]
    for i, metric in enumerate(outcomes):
        queries.append(_stat(f"st_{i}", monitoring.NAMESPACE, "Studies", metric["Dimensions"], "Sum", period))
    # the expression as the dashboard deployed it (its memory sizes and workflow type)
    parameters = deployed_parameters(describe(target.client("cloudformation"), cfn.STACK_NAME))
    queries += monitoring.cost_per_image_queries(names, period, prefix="c_", parameters=parameters)
    values = _fetch(cloudwatch, queries, start, end)
    functions = []
    for i, fn in enumerate(stack.FUNCTIONS):
        row = {"function": names.function(fn.short)}
        row.update({prefix: values.get(f"{prefix}_{i}") for prefix in FUNCTION_STATS})
        functions.append({"function": row["function"], "invocations": row["inv"] or 0, "errors": row["err"] or 0,
                          "throttles": row["thr"] or 0, "duration_p50_ms": row["p50"], "duration_p95_ms": row["p95"],
                          "max_concurrency": row["conc"], "memory_used_mb": row["memu"],
                          "memory_allocated_mb": row["mema"] or fn.memory_mb})
    studies: dict[str, dict[str, float]] = {}
    for i, metric in enumerate(outcomes):
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        count = values.get(f"st_{i}")
        if count:
            studies.setdefault(dims.get("Outcome", "?"), {})[dims.get("ErrorCode", "none")] = count
    return {
        "target": target.name, "minutes": minutes, "start": start.isoformat(), "end": end.isoformat(),
        "functions": functions,
        "executions": {key: values.get(f"x_{key}") or 0 for key in EXECUTION_STATUSES},
        "execution_time_ms": {"p50": values.get("xt_p50"), "p95": values.get("xt_p95")},
        "studies": studies,
        "compute_cost_per_image_usd": values.get("c_cost"),
    }


def _stage(short: str) -> str:
    """The ``Stage`` dimension of a function's metrics (its telemetry component name)."""
    return short.replace("-", "_")


def _stat(query_id: str, namespace: str, metric: str, dims: list[dict], stat: str, period: int) -> dict:
    return {"Id": query_id, "ReturnData": True,
            "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
                           "Period": period, "Stat": stat}}


def _fetch(cloudwatch, queries: list[dict], start: datetime, end: datetime) -> dict[str, float]:
    """{query id: value} (one period; when CloudWatch splits the window, sums add up and the rest take the
    largest value)."""
    values: dict[str, float] = {}
    token = None
    while True:
        kwargs = {"NextToken": token} if token else {}
        response = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end, **kwargs)
        for result in response["MetricDataResults"]:
            if not result["Values"]:
                continue
            query = next(q for q in queries if q["Id"] == result["Id"])
            stat = query.get("MetricStat", {}).get("Stat")
            values[result["Id"]] = sum(result["Values"]) if stat == "Sum" else max(result["Values"])
        token = response.get("NextToken")
        if not token:
            return values


def print_metrics(doc: dict[str, Any], console) -> None:
    from rich.table import Table

    def ms(value: float | None) -> str:
        return "" if value is None else f"{value:,.0f}"

    table = Table(title=f"CloudWatch, last {doc['minutes']} min ({doc['target']}; {doc['start'][11:16]}-"
                        f"{doc['end'][11:16]} UTC)")
    for column in ("function", "invocations", "errors", "throttles", "p50 ms", "p95 ms", "max concurrent",
                   "memory used / allocated MB"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for row in doc["functions"]:
        memory = (f"{row['memory_used_mb']:,.0f} / {row['memory_allocated_mb']:,.0f}" if row["memory_used_mb"] is not None
                  else f"- / {row['memory_allocated_mb']:,.0f}")
        table.add_row(row["function"], f"{row['invocations']:,.0f}", _red(row["errors"]), _red(row["throttles"]),
                      ms(row["duration_p50_ms"]), ms(row["duration_p95_ms"]),
                      "" if row["max_concurrency"] is None else f"{row['max_concurrency']:,.0f}", memory)
    console.print(table)
    executions, times = doc["executions"], doc["execution_time_ms"]
    console.print("executions    " + ", ".join(f"{key.replace('_', ' ')} {value:,.0f}" for key, value in executions.items())
                  + (f"; time p50 {ms(times['p50'])} ms, p95 {ms(times['p95'])} ms" if times["p95"] is not None else ""))
    if doc["studies"]:
        parts = []
        for outcome, codes in sorted(doc["studies"].items(), reverse=True):
            total = sum(codes.values())
            detail = ", ".join(f"{code} {n:,.0f}" for code, n in sorted(codes.items()) if code != "none")
            parts.append(f"{outcome} {total:,.0f}" + (f" ({detail})" if detail else ""))
        console.print("studies       " + "; ".join(parts))
    cost = doc["compute_cost_per_image_usd"]
    if cost is not None:
        console.print(f"cost/image    ${cost:.6f} compute (Lambda GB-s and requests, Step Functions transitions; "
                      f"the dashboard's expression, list prices)")
    if not any(row["invocations"] for row in doc["functions"]):
        console.print("[yellow]no invocations in this window"
                      + ("" if doc["target"] == "embedded" else " (CloudWatch takes a minute or more to show them)")
                      + "[/yellow]")


def _red(value: float) -> str:
    return f"[red]{value:,.0f}[/red]" if value else "0"
