"""CloudWatch's embedded metric format (EMF): metrics inside a JSON log line, extracted as CloudWatch
Logs extracts them on AWS.

A log event is EMF when it is a JSON object whose ``_aws`` member has a ``Timestamp`` (ms since the
epoch) and ``CloudWatchMetrics``: directives of a ``Namespace``, dimension sets (lists of member names
whose values are strings) and metric definitions (``Name``, ``Unit``, ``StorageResolution``). Each
metric's value (a number or up to 100 numbers) is the member of that name; each dimension set makes
one metric. A line that breaks the specification yields no metric and is stored as an ordinary log
event, as on AWS. Powertools' ``Metrics`` writes exactly this (one line per flush).

Pure: ``extract`` turns one line into PutMetricData members per namespace.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_VALUES = 100
MAX_DIMENSIONS = 30
MARKER = '"_aws"'  # cheap test before parsing: most log lines are not EMF


def extract(line: str) -> list[tuple[str, dict]]:
    """[(namespace, PutMetricData member)] of one log line; [] when it is not valid EMF."""
    if MARKER not in line:
        return []
    try:
        document = json.loads(line)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    try:
        return _metrics(document)
    except (TypeError, ValueError, KeyError, AttributeError):
        return []


def _metrics(document: dict) -> list[tuple[str, dict]]:
    meta = document["_aws"]
    timestamp_ms = meta["Timestamp"]
    if not _is_number(timestamp_ms):
        return []
    out: list[tuple[str, dict]] = []
    for directive in meta["CloudWatchMetrics"]:
        namespace = directive["Namespace"]
        if not isinstance(namespace, str) or not namespace:
            return []
        dimension_sets = directive.get("Dimensions") or [[]]
        for dimension_set in dimension_sets:
            if len(dimension_set) > MAX_DIMENSIONS or not all(isinstance(document.get(k), str) for k in dimension_set):
                return []
        for definition in directive["Metrics"]:
            name = definition["Name"]
            values = _values(document.get(name))
            if values is None:
                return []
            for dimension_set in dimension_sets:
                member: dict[str, Any] = {
                    "MetricName": name, "Timestamp": timestamp_ms / 1000.0,
                    "Dimensions": [{"Name": k, "Value": document[k]} for k in dimension_set],
                    "Values": values, "Counts": [1.0] * len(values),
                }
                if definition.get("Unit"):
                    member["Unit"] = definition["Unit"]
                out.append((namespace, member))
    return out


def _values(raw: Any) -> list[float] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items or len(items) > MAX_VALUES or not all(_is_number(v) for v in items):
        return None
    return [float(v) for v in items]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
