"""CloudWatch metric alarms, evaluated as CloudWatch evaluates them; moto stores alarms but never does.

Each alarm is evaluated once per period, shortly after a period ends (``settle_s`` later, so the metrics
of the period's last second are in): the last ``EvaluationPeriods`` complete periods are read from the
metric store (one statistic or extended statistic of one metric, or a metric math query), each
datapoint is compared with the threshold, and the alarm goes to

- ``ALARM`` when at least ``DatapointsToAlarm`` (default: ``EvaluationPeriods``) datapoints breach;
- ``OK`` when fewer do;
- by ``TreatMissingData`` when periods have no datapoint: ``missing`` (default) evaluates the ones
  present and goes to ``INSUFFICIENT_DATA`` when none is; ``ignore`` keeps the state when none is;
  ``breaching``/``notBreaching`` count a missing datapoint as breaching/not breaching.

A state change is recorded on the alarm (its reason spelled as CloudWatch spells it, the evaluated
datapoints in its reason data) and, when actions are enabled, published to the SNS topics of the new
state's actions as CloudWatch's notification (subject ``ALARM: "name" in <region>``, JSON body with
``NewStateValue``, ``OldStateValue``, ``NewStateReason``, ``Trigger``). New alarms start in
``INSUFFICIENT_DATA``, as on AWS.

Not evaluated (the alarm's state is left alone, the log says why): anomaly detection bands and
composite alarms. Pure Python, no moto: ``AlarmEvaluator`` gets its alarms, sets states and publishes
through callbacks (``moto_patches``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from radstream.emulator.metric_store import MetricQueryError, MetricStore, metric_data, period_grid

logger = logging.getLogger(__name__)

OPERATORS = {
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
                "us-west-2": "US West (Oregon)", "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)",
                "eu-west-2": "EU (London)", "ap-southeast-2": "Asia Pacific (Sydney)"}


@dataclass
class AlarmSpec:
    """What evaluation needs of one metric alarm (the PutMetricAlarm fields)."""

    account: str
    region: str
    name: str
    arn: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    state: str
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: list[dict] = field(default_factory=list)
    statistic: str | None = None
    extended_statistic: str | None = None
    unit: str | None = None
    metrics: list[dict] = field(default_factory=list)  # metric math: GetMetricData queries
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    description: str = ""
    actions_enabled: bool = True
    alarm_actions: list[str] = field(default_factory=list)
    ok_actions: list[str] = field(default_factory=list)
    insufficient_data_actions: list[str] = field(default_factory=list)
    updated_at: float = 0.0  # configuration change: evaluate again at once


@dataclass
class Evaluation:
    state: str
    reason: str
    reason_data: dict


def evaluation_period(spec: AlarmSpec) -> int:
    if spec.metrics:
        periods = [int(q["MetricStat"]["Period"]) for q in spec.metrics if "MetricStat" in q]
        return periods[0] if periods else int(spec.period or 60)
    return int(spec.period)


def datapoints(spec: AlarmSpec, store: MetricStore, now: float) -> tuple[list[float], dict[float, float]]:
    """(period starts of the evaluation range, {period start: value}) for complete periods before ``now``."""
    period = evaluation_period(spec)
    end = math.floor(now / period) * period
    start = end - spec.evaluation_periods * period
    grid = period_grid(start, end, period)
    if spec.metrics:
        results = metric_data(store, spec.metrics, start, end, "TimestampAscending")
        returned = [r for r in results if r["Id"] == _returned_id(spec)]
        values = {t.timestamp(): v for t, v in zip(returned[0]["Timestamps"], returned[0]["Values"])} if returned else {}
        return grid, values
    stat = spec.extended_statistic or spec.statistic or "Average"
    metric = {"Namespace": spec.namespace, "MetricName": spec.metric_name, "Dimensions": spec.dimensions}
    _, values = store.metric_stat_series({"Metric": metric, "Period": period, "Stat": stat,
                                          **({"Unit": spec.unit} if spec.unit else {})}, start, end)
    return grid, values


def _returned_id(spec: AlarmSpec) -> str | None:
    returned = [q["Id"] for q in spec.metrics if q.get("ReturnData", False)]
    return returned[0] if returned else None


def evaluate(spec: AlarmSpec, grid: list[float], values: dict[float, float], now: float) -> Evaluation | None:
    """The alarm's state for these datapoints; None when it keeps its state (``ignore``) or cannot be
    evaluated here."""
    if spec.comparison_operator not in OPERATORS:
        logger.warning("alarm %s: %s is not evaluated by the embedded emulator", spec.name, spec.comparison_operator)
        return None
    breaches, words = OPERATORS[spec.comparison_operator]
    needed = spec.datapoints_to_alarm or spec.evaluation_periods
    present = [(t, values[t]) for t in grid if t in values]
    missing = len(grid) - len(present)
    data = {"version": "1.0", "queryDate": _iso(now), "startDate": _iso(grid[0]) if grid else None,
            "period": evaluation_period(spec), "threshold": spec.threshold,
            "recentDatapoints": [v for _, v in present],
            "evaluatedDatapoints": [{"timestamp": _iso(t), "value": v} for t, v in reversed(present)]}
    if spec.statistic or spec.extended_statistic:
        data["statistic"] = spec.extended_statistic or spec.statistic
    treat = spec.treat_missing_data or "missing"
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None
        return Evaluation("INSUFFICIENT_DATA", f"Insufficient Data: {len(grid)} datapoint{'s' * (len(grid) != 1)} "
                                               f"{'were' if len(grid) != 1 else 'was'} unknown.", data)
    breaching = [(t, v) for t, v in present if breaches(v, spec.threshold)]
    count = len(breaching) + (missing if treat == "breaching" else 0)
    shown = present[::-1]
    listed = ", ".join(f"{v} ({_short(t)})" for t, v in shown)
    if count >= needed:
        reason = (f"Threshold Crossed: {count} out of the last {len(grid)} datapoints [{listed}] "
                  f"{'were' if count != 1 else 'was'} {words} the threshold ({spec.threshold}) "
                  f"(minimum {needed} datapoint{'s' * (needed != 1)} for OK -> ALARM transition).")
        return Evaluation("ALARM", reason, data)
    if present:
        reason = (f"Threshold Crossed: {len(present)} datapoint{'s' * (len(present) != 1)} [{listed}] "
                  f"{'were' if len(present) != 1 else 'was'} not {words} the threshold ({spec.threshold}) "
                  f"(minimum {needed} datapoint{'s' * (needed != 1)} for ALARM -> OK transition).")
    else:
        reason = (f"Threshold Crossed: no datapoints were received for {len(grid)} period"
                  f"{'s' * (len(grid) != 1)} and {len(grid)} missing datapoint{'s' * (len(grid) != 1)} "
                  f"{'were' if len(grid) != 1 else 'was'} treated as [NonBreaching].")
    return Evaluation("OK", reason, data)


def notification(spec: AlarmSpec, old_state: str, new: Evaluation, at: float) -> tuple[str, str]:
    """(subject, message) of the SNS notification CloudWatch sends for a state change."""
    region = REGION_NAMES.get(spec.region, spec.region)
    trigger: dict = {"Period": evaluation_period(spec), "EvaluationPeriods": spec.evaluation_periods,
                     "DatapointsToAlarm": spec.datapoints_to_alarm or spec.evaluation_periods,
                     "ComparisonOperator": spec.comparison_operator, "Threshold": spec.threshold,
                     "TreatMissingData": spec.treat_missing_data or "missing",
                     "EvaluateLowSampleCountPercentile": ""}
    if spec.metrics:
        trigger["Metrics"] = spec.metrics
    else:
        trigger.update({"MetricName": spec.metric_name, "Namespace": spec.namespace,
                        "StatisticType": "ExtendedStatistic" if spec.extended_statistic else "Statistic",
                        ("ExtendedStatistic" if spec.extended_statistic else "Statistic"):
                            spec.extended_statistic or (spec.statistic or "").upper(),
                        "Unit": spec.unit,
                        "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in spec.dimensions]})
    message = {"AlarmName": spec.name, "AlarmDescription": spec.description or None, "AWSAccountId": spec.account,
               "AlarmConfigurationUpdatedTimestamp": _iso(spec.updated_at or at), "NewStateValue": new.state,
               "NewStateReason": new.reason, "StateChangeTime": _iso(at), "Region": region, "AlarmArn": spec.arn,
               "OldStateValue": old_state, "OKActions": spec.ok_actions, "AlarmActions": spec.alarm_actions,
               "InsufficientDataActions": spec.insufficient_data_actions, "Trigger": trigger}
    return f'{new.state}: "{spec.name}" in {region}'[:100], json.dumps(message)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _short(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%d/%m/%y %H:%M:%S")


class AlarmEvaluator:
    """Evaluates every alarm once per period in a background thread.

    ``alarms()`` lists the alarms (``AlarmSpec``), ``store_for(account, region)`` gives their metric
    store, ``set_state(spec, evaluation)`` records a change, ``publish(account, region, topic_arn,
    subject, message)`` sends a notification.
    """

    def __init__(self, alarms: Callable[[], list[AlarmSpec]], store_for: Callable[[str, str], MetricStore],
                 set_state: Callable[[AlarmSpec, Evaluation], None],
                 publish: Callable[[str, str, str, str, str], None], settle_s: float = 2.0,
                 tick_s: float = 1.0) -> None:
        self._alarms, self._store_for, self._set_state, self._publish = alarms, store_for, set_state, publish
        self.settle_s, self.tick_s = settle_s, tick_s
        self._evaluated: dict[tuple[str, str, str], tuple[int, float]] = {}  # -> (period index, updated_at)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """Evaluate every alarm that is due; returns the (name, old, new) state changes."""
        now = now if now is not None else time.time()
        changes = []
        for spec in self._alarms():
            key = (spec.account, spec.region, spec.name)
            period = evaluation_period(spec)
            due = (math.floor((now - self.settle_s) / period), spec.updated_at)
            if self._evaluated.get(key) == due:
                continue
            self._evaluated[key] = due
            try:
                grid, values = datapoints(spec, self._store_for(spec.account, spec.region), now - self.settle_s)
                result = evaluate(spec, grid, values, now)
            except MetricQueryError as exc:
                logger.warning("alarm %s cannot be evaluated: %s", spec.name, exc)
                continue
            if result is None or result.state == spec.state:
                continue
            old = spec.state
            self._set_state(spec, result)
            changes.append((spec.name, old, result.state))
            if spec.actions_enabled:
                actions = {"ALARM": spec.alarm_actions, "OK": spec.ok_actions,
                           "INSUFFICIENT_DATA": spec.insufficient_data_actions}[result.state]
                subject, message = notification(spec, old, result, now)
                for action in actions:
                    if ":sns:" not in action:
                        logger.info("alarm %s: action %s is not run by the embedded emulator", spec.name, action)
                        continue
                    try:
                        self._publish(spec.account, spec.region, action, subject, message)
                    except Exception:
                        logger.exception("alarm %s: could not notify %s", spec.name, action)
        return changes

    def _run(self) -> None:
        while not self._stopped.wait(self.tick_s):
            try:
                for name, old, new in self.run_once():
                    logger.info("alarm %s: %s -> %s", name, old, new)
            except Exception:  # never let one bad alarm stop evaluation
                logger.exception("alarm evaluation failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="cloudwatch-alarms")
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
