"""The monitoring template.yaml deploys, as Python reads it: its alarms, its dashboard, the metrics the
functions publish.

The alarms and the dashboard are defined in the template only; this module reads them from there
(the dashboard's cost-per-image expression included, so `radstream metrics` asks CloudWatch the very
expression the dashboard draws). ``NAMESPACE``/``SERVICE`` are what ``deployed/handlers/observability.py``
publishes under (a test checks they agree).
"""

from __future__ import annotations

import json
import re
from typing import Any

from radstream.definition import template as cfn
from radstream.definition.names import Names

NAMESPACE = "RadStream"
SERVICE = "radstream"
COST_WIDGET_TITLE = "Cost per image"


def _context(names: Names, parameters: dict[str, str] | None = None) -> cfn.Context:
    return cfn.Context(names.account_id, names.region, parameters or {})


def alarm_names(names: Names | None = None) -> list[str]:
    """The alarms' names, in the template's order."""
    ctx = _context(names or Names())
    return [cfn.physical_name(lid, ctx) for lid in cfn.resources_of_type("AWS::CloudWatch::Alarm")]


def dashboard_name(names: Names | None = None) -> str:
    (logical_id,) = cfn.resources_of_type("AWS::CloudWatch::Dashboard")
    return cfn.physical_name(logical_id, _context(names or Names()))


def dashboard_body(names: Names, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The dashboard as deployed for ``names`` (its ``!Sub`` evaluated)."""
    (resource,) = cfn.resources_of_type("AWS::CloudWatch::Dashboard").values()
    return json.loads(cfn.evaluate(resource["Properties"]["DashboardBody"], _context(names, parameters)))


def cost_per_image_queries(names: Names, period_s: int, prefix: str = "",
                           parameters: dict[str, str] | None = None) -> list[dict]:
    """GetMetricData queries of the dashboard's cost-per-image widget as deployed with ``parameters``
    (memory sizes, workflow type), every id prefixed with ``prefix`` (in the expression too); the
    expression's id is ``{prefix}cost``."""
    widget = next(w for w in dashboard_body(names, parameters)["widgets"]
                  if w["properties"].get("title", "").startswith(COST_WIDGET_TITLE))
    queries = [widget_query(metric, period_s) for metric in widget["properties"]["metrics"]]
    ids = sorted((q["Id"] for q in queries), key=len, reverse=True)
    for query in queries:
        if "Expression" in query:
            for old in ids:
                query["Expression"] = re.sub(rf"\b{re.escape(old)}\b", prefix + old, query["Expression"])
        query["Id"] = prefix + query["Id"]
    return queries


def widget_query(metric: list, period_s: int) -> dict:
    """One dashboard metric (``[namespace, name, dim, value, ..., {options}]`` or ``[{expression...}]``) as a
    GetMetricData query."""
    options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
    fields = metric[:-1] if options else metric
    query: dict[str, Any] = {"Id": options["id"], "ReturnData": options.get("visible", True)}
    if "expression" in options:
        query["Expression"] = options["expression"]
        return query
    namespace, name, *dims = fields
    query["MetricStat"] = {"Metric": {"Namespace": namespace, "MetricName": name,
                                      "Dimensions": [{"Name": dims[i], "Value": dims[i + 1]} for i in range(0, len(dims), 2)]},
                           "Period": period_s, "Stat": options.get("stat", "Average")}
    return query
