"""CloudWatch metrics as the CloudWatch API keeps and answers them: the emulator's metric store.

moto 5.2.5 keeps every datum in one list that each query scans (``ListMetrics`` compares every
pair: O(n^2)), answers no percentile (``ExtendedStatistics`` is ignored, ``p95`` in GetMetricData is
``None``), treats a query's dimensions as a subset match, starts its periods at the first datum
instead of the start time, and evaluates no metric math beyond a bare id. This store is what
``moto_patches.install_cloudwatch_metrics`` puts behind moto's CloudWatch API instead:

- a *metric* is (namespace, name, exact set of dimensions), as on AWS: a query names all of a
  metric's dimensions, and gets nothing for a subset (``ListMetrics`` filters by subset, as AWS does);
- every datum keeps its samples (value, count), so percentiles come from the values put, not from
  aggregates; data put as a statistic set has no samples and, as on AWS, no percentile;
- periods start at the start time, rounded down to the period (whole minutes for periods of 60 s
  and more), and a period without data has no datapoint;
- metric math: ids, numbers, ``+ - * /``, parentheses and the functions in ``FUNCTIONS``.

Percentiles are nearest-rank over the samples of the period (CloudWatch's own estimator is not
published; with few samples it can differ by one rank). Data older than ``retention_s`` is dropped,
and a metric keeps at most its newest ``max_datums_per_series`` datums (CloudWatch keeps data for
months; the cap bounds a long local run's memory: publishers fold a second's values into one datum,
so the default keeps the last hour of a metric written every second).
Pure Python, no moto: thread-safe, fed by ``moto_patches`` and by the emulator's metric publisher.
"""

from __future__ import annotations

import ast
import bisect
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

Dimensions = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")
DEFAULT_RETENTION_S = 24 * 3600.0
DEFAULT_MAX_DATUMS_PER_SERIES = 3600


class MetricQueryError(ValueError):
    """A query CloudWatch would refuse (the message is CloudWatch's reason)."""


def dimensions_key(dimensions: Iterable[dict] | None) -> Dimensions:
    return tuple(sorted((str(d["Name"]), str(d["Value"])) for d in dimensions or ()))


def epoch(value: datetime | float | int | str) -> float:
    """Seconds since the epoch from a datetime (naive = UTC), a number, or an ISO 8601 string."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def as_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


@dataclass(slots=True)
class Datum:
    """One PutMetricData member: its aggregates, and its samples unless it was a statistic set."""

    ts: float
    unit: str | None
    sum: float
    count: float
    minimum: float
    maximum: float
    samples: tuple[tuple[float, float], ...] | None  # (value, count)


def datum_from_member(member: dict, now: float | None = None) -> Datum:
    """A PutMetricData ``MetricData`` member (``Value``, ``Values``/``Counts`` or ``StatisticValues``)."""
    ts = epoch(member["Timestamp"]) if member.get("Timestamp") is not None else (now or time.time())
    unit = member.get("Unit")
    if member.get("StatisticValues"):
        s = member["StatisticValues"]
        return Datum(ts, unit, float(s["Sum"]), float(s["SampleCount"]), float(s["Minimum"]), float(s["Maximum"]), None)
    if member.get("Values"):
        values = [float(v) for v in member["Values"]]
        counts = [float(c) for c in (member.get("Counts") or [1.0] * len(values))]
        samples = tuple((v, c) for v, c in zip(values, counts) if c > 0)
    else:
        samples = ((float(member.get("Value", 0.0)), 1.0),)
    if not samples:
        return Datum(ts, unit, 0.0, 0.0, math.inf, -math.inf, ())
    return Datum(ts, unit, sum(v * c for v, c in samples), sum(c for _, c in samples),
                 min(v for v, _ in samples), max(v for v, _ in samples), samples)


def statistic(name: str, data: list[Datum]) -> float | None:
    """One statistic (``Sum``, ``Average``, ``p95``...) over ``data``; None when it has no value."""
    count = sum(d.count for d in data)
    if not data or count <= 0:
        return None
    if name == "SampleCount":
        return count
    if name == "Sum":
        return sum(d.sum for d in data)
    if name == "Average":
        return sum(d.sum for d in data) / count
    if name == "Minimum":
        return min(d.minimum for d in data)
    if name == "Maximum":
        return max(d.maximum for d in data)
    match = _PERCENTILE.match(name)
    if match is None:
        raise MetricQueryError(f"The value {name} for parameter Statistic is not supported by the embedded emulator "
                               f"(it computes {', '.join(BASIC_STATISTICS)} and percentiles pNN.NN)")
    if any(d.samples is None for d in data):
        return None  # statistic sets carry no values to rank, as on AWS
    return percentile(float(match.group(1)), [s for d in data for s in d.samples])


def percentile(p: float, samples: list[tuple[float, float]]) -> float | None:
    """Nearest-rank percentile of weighted samples."""
    total = sum(c for _, c in samples)
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(p / 100.0 * total))
    seen = 0.0
    for value, count in sorted(samples):
        seen += count
        if seen >= rank:
            return value
    return max(v for v, _ in samples)


def is_statistic(name: str) -> bool:
    return name in BASIC_STATISTICS or bool(_PERCENTILE.match(name))


def period_grid(start: float, end: float, period: int) -> list[float]:
    """The start of every period from ``start`` (rounded down: to the period below a minute, to the minute
    above) to before ``end``."""
    if period <= 0:
        raise MetricQueryError("The parameter Period must be greater than 0.")
    if end <= start:
        raise MetricQueryError("The parameter StartTime must be less than the parameter EndTime.")
    step = period if period < 60 else 60
    first = math.floor(start / step) * step
    return [first + k * period for k in range(int(math.ceil((end - first) / period)))]


@dataclass
class _Series:
    data: list[Datum] = field(default_factory=list)
    keys: list[float] = field(default_factory=list)  # data's timestamps, for bisect

    def add(self, datum: Datum) -> None:
        if not self.keys or datum.ts >= self.keys[-1]:
            self.keys.append(datum.ts)
            self.data.append(datum)
        else:
            at = bisect.bisect_right(self.keys, datum.ts)
            self.keys.insert(at, datum.ts)
            self.data.insert(at, datum)

    def between(self, start: float, end: float, unit: str | None = None) -> list[Datum]:
        found = self.data[bisect.bisect_left(self.keys, start):bisect.bisect_left(self.keys, end)]
        return [d for d in found if d.unit == unit] if unit else found

    def drop_before(self, cutoff: float) -> None:
        at = bisect.bisect_left(self.keys, cutoff)
        if at:
            del self.keys[:at], self.data[:at]

    def keep_newest(self, count: int) -> None:
        if len(self.data) > count:
            del self.keys[:-count], self.data[:-count]


class MetricStore:
    """Metrics of one account and region."""

    def __init__(self, retention_s: float = DEFAULT_RETENTION_S,
                 max_datums_per_series: int = DEFAULT_MAX_DATUMS_PER_SERIES) -> None:
        if max_datums_per_series < 1:
            raise ValueError("max_datums_per_series must be at least 1")
        self._lock = threading.RLock()
        self._series: dict[tuple[str, str, Dimensions], _Series] = {}
        self._by_name: dict[tuple[str, str], set[Dimensions]] = {}
        self.retention_s = retention_s
        self.max_datums_per_series = max_datums_per_series
        self._puts_since_prune = 0

    # -- writing -----------------------------------------------------------------------------
    def put(self, namespace: str, members: list[dict], now: float | None = None) -> None:
        """Store PutMetricData's ``MetricData`` members (already validated)."""
        now = now or time.time()
        with self._lock:
            for member in members:
                key = (namespace, member["MetricName"], dimensions_key(member.get("Dimensions")))
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = _Series()
                    self._by_name.setdefault(key[:2], set()).add(key[2])
                series.add(datum_from_member(member, now))
                if len(series.data) > self.max_datums_per_series + self.max_datums_per_series // 10:
                    series.keep_newest(self.max_datums_per_series)  # a tenth at a time: amortised O(1)
            self._puts_since_prune += 1
            if self._puts_since_prune >= 1000:
                self._prune(now)

    def _prune(self, now: float) -> None:
        self._puts_since_prune = 0
        for series in self._series.values():
            series.drop_before(now - self.retention_s)

    # -- reading -----------------------------------------------------------------------------
    def data(self, namespace: str, name: str, dimensions: Dimensions, start: float, end: float,
             unit: str | None = None) -> list[Datum]:
        with self._lock:
            series = self._series.get((namespace, name, dimensions))
            return series.between(start, end, unit) if series else []

    def list_metrics(self, namespace: str | None = None, name: str | None = None,
                     dimensions: Iterable[dict] | None = None) -> list[dict]:
        """ListMetrics: every metric matching, dimensions filtered by subset (a filter without a value
        matches any value)."""
        wanted = [(d["Name"], d.get("Value")) for d in dimensions or ()]
        out = []
        with self._lock:
            for (ns, metric), sets in sorted(self._by_name.items()):
                if (namespace and ns != namespace) or (name and metric != name):
                    continue
                for dims in sorted(sets):
                    present = dict(dims)
                    if all(k in present and (v is None or present[k] == v) for k, v in wanted):
                        out.append({"Namespace": ns, "MetricName": metric,
                                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims]})
        return out

    def statistics(self, namespace: str, name: str, dimensions: Iterable[dict] | None, start: float, end: float,
                   period: int, statistics: list[str], extended: list[str], unit: str | None = None) -> list[dict]:
        """GetMetricStatistics' datapoints (oldest first; periods without data left out)."""
        for name_ in extended:
            if not _PERCENTILE.match(name_):
                raise MetricQueryError(f"The value {name_} for parameter ExtendedStatistics is not supported by "
                                       f"the embedded emulator (percentiles pNN.NN are)")
        key = dimensions_key(dimensions)
        grid = period_grid(start, end, period)
        data = self.data(namespace, name, key, grid[0], end, unit)
        out = []
        for window_start in grid:
            window = [d for d in data if window_start <= d.ts < window_start + period]
            if not window:
                continue
            point: dict[str, Any] = {"Timestamp": as_datetime(window_start),
                                     "Unit": unit or window[-1].unit or "None"}
            for stat in statistics:
                point[stat] = statistic(stat, window)
            if extended:
                point["ExtendedStatistics"] = {p: v for p in extended if (v := statistic(p, window)) is not None}
            out.append(point)
        return out

    def metric_stat_series(self, metric_stat: dict, start: float, end: float) -> tuple[list[float], dict[float, float]]:
        """(period grid, {period start: value}) of one GetMetricData ``MetricStat``."""
        metric = metric_stat["Metric"]
        period, stat = int(metric_stat["Period"]), metric_stat["Stat"]
        if not is_statistic(stat):
            raise MetricQueryError(f"The value {stat} for parameter MetricStat.Stat is not supported by the "
                                   f"embedded emulator ({', '.join(BASIC_STATISTICS)} and pNN.NN are)")
        grid = period_grid(start, end, period)
        data = self.data(metric["Namespace"], metric["MetricName"], dimensions_key(metric.get("Dimensions")),
                         grid[0], end, metric_stat.get("Unit"))
        values: dict[float, float] = {}
        for window_start in grid:
            window = [d for d in data if window_start <= d.ts < window_start + period]
            value = statistic(stat, window) if window else None
            if value is not None:
                values[window_start] = value
        return grid, values


# -- GetMetricData ----------------------------------------------------------------------------
def metric_data(store: MetricStore, queries: list[dict], start: float, end: float,
                scan_by: str = "TimestampDescending") -> list[dict]:
    """GetMetricData's ``MetricDataResults`` for the queries that return data."""
    series: dict[str, dict[float, float]] = {}
    grids: list[list[float]] = []
    for query in queries:
        if "MetricStat" in query:
            grid, series[query["Id"]] = store.metric_stat_series(query["MetricStat"], start, end)
            grids.append(grid)
    grid = grids[0] if grids else period_grid(start, end, int(queries[0].get("Period") or 60)) if queries else []
    pending = [q for q in queries if "MetricStat" not in q]
    for _ in range(len(pending)):  # expressions may refer to expressions: evaluate in dependency order
        for query in list(pending):
            expression = query.get("Expression", "")
            if expression.lstrip().upper().startswith("SELECT"):
                raise MetricQueryError("Metrics Insights queries (SELECT ...) are not supported by the embedded emulator")
            try:
                series[query["Id"]] = evaluate_expression(expression, series, grid)
            except _UnknownId:
                continue
            pending.remove(query)
    if pending:
        raise MetricQueryError(f"Expression {pending[0].get('Expression')!r} refers to an unknown metric id")
    results = []
    for query in queries:
        if not query.get("ReturnData", True):
            continue
        points = sorted(series[query["Id"]].items(), reverse=scan_by != "TimestampAscending")
        label = query.get("Label") or (query["MetricStat"]["Metric"]["MetricName"] if "MetricStat" in query else query["Id"])
        results.append({"Id": query["Id"], "Label": label, "Timestamps": [as_datetime(t) for t, _ in points],
                        "Values": [v for _, v in points], "StatusCode": "Complete"})
    return results


# -- metric math ------------------------------------------------------------------------------
class _UnknownId(KeyError):
    pass


Series = dict[float, float]
FUNCTIONS = ("FILL", "SUM", "AVG", "MIN", "MAX", "ABS")


def evaluate_expression(expression: str, series: dict[str, Series], grid: list[float]) -> Series:
    """A metric math expression over the query results ``series`` (id -> {period start: value}).

    Time series combine per timestamp (a timestamp missing in either operand has no result, as on
    AWS); ``FILL(m, v)`` gives ``m`` a value ``v`` at every period of the query without one;
    ``SUM/AVG/MIN/MAX([m1, m2, ...])`` combine series per timestamp over the values present.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise MetricQueryError(f"Invalid metric math expression: {expression!r}") from None
    value = _eval(tree.body, series, grid)
    if isinstance(value, list):
        raise MetricQueryError(f"Metric math expression {expression!r} returns an array, not a time series")
    return value if isinstance(value, dict) else {t: float(value) for t in grid}


def _eval(node: ast.AST, series: dict[str, Series], grid: list[float]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in series:
            raise _UnknownId(node.id)
        return series[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _eval(node.operand, series, grid)
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return {t: sign * v for t, v in operand.items()} if isinstance(operand, dict) else sign * operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        return _binary(node.op, _eval(node.left, series, grid), _eval(node.right, series, grid))
    if isinstance(node, ast.List):
        return [_eval(item, series, grid) for item in node.elts]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        args = [_eval(arg, series, grid) for arg in node.args]
        return _call(node.func.id, args, grid)
    raise MetricQueryError(f"the embedded emulator's metric math does not support {ast.unparse(node)!r} "
                           f"(ids, numbers, + - * /, {', '.join(FUNCTIONS)})")


def _apply(op: ast.operator, a: float, b: float) -> float | None:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    return a / b if b != 0 else None


def _binary(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(left, dict) and isinstance(right, dict):
        pairs = {t: (left[t], right[t]) for t in left.keys() & right.keys()}
    elif isinstance(left, dict):
        pairs = {t: (v, right) for t, v in left.items()}
    elif isinstance(right, dict):
        pairs = {t: (left, v) for t, v in right.items()}
    else:
        return _apply(op, left, right)
    out = {t: _apply(op, a, b) for t, (a, b) in pairs.items()}
    return {t: v for t, v in out.items() if v is not None}


def _call(name: str, args: list[Any], grid: list[float]) -> Any:
    if name == "FILL":
        if len(args) != 2 or not isinstance(args[0], dict) or isinstance(args[1], (dict, list)):
            raise MetricQueryError("FILL takes a time series and a number: FILL(m1, 0)")
        return {t: args[0].get(t, args[1]) for t in grid} | args[0]
    if name == "ABS":
        (value,) = args
        return {t: abs(v) for t, v in value.items()} if isinstance(value, dict) else abs(value)
    combine = {"SUM": sum, "AVG": lambda xs: sum(xs) / len(xs), "MIN": min, "MAX": max}[name]
    if len(args) == 1 and isinstance(args[0], list) and args[0] and all(isinstance(m, dict) for m in args[0]):
        members = args[0]  # SUM([m1, m2]): one time series, combined per timestamp
        stamps = sorted(set().union(*[m.keys() for m in members]))
        return {t: combine([m[t] for m in members if t in m]) for t in stamps}
    if len(args) == 1 and isinstance(args[0], dict):  # SUM(m1): one number over the whole range
        return float(combine(list(args[0].values()))) if args[0] else 0.0
    raise MetricQueryError(f"{name} takes a time series or an array of them: {name}(m1), {name}([m1, m2])")
