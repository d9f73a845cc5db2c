"""The metrics AWS services publish to CloudWatch by themselves, published by the emulator.

On AWS, Lambda, Step Functions and SQS put their own metrics into CloudWatch, and CloudWatch Logs
extracts the embedded metric format from log events. moto does none of this, so the emulator does,
with AWS's namespaces, names, dimensions and units:

- ``AWS/Lambda`` per ``FunctionName`` and for the account (no dimension): ``Invocations``, ``Errors``
  and ``Throttles`` (Count; 0 or 1 per invocation), ``Duration`` (Milliseconds), ``ConcurrentExecutions``
  (Count: invocations in flight, sampled as each starts; read its Maximum);
- ``AWS/States`` per ``StateMachineArn``: ``ExecutionsStarted``, ``ExecutionsSucceeded``,
  ``ExecutionsFailed``, ``ExecutionsAborted``, ``ExecutionsTimedOut`` (Count) and ``ExecutionTime``
  (Milliseconds, at the end of every execution);
- ``AWS/SQS`` per ``QueueName``: ``ApproximateNumberOfMessagesVisible``, ``...NotVisible``,
  ``...Delayed`` (Count), sampled every ``sample_interval_s`` (AWS: every minute);
- metrics in EMF log lines of ``/aws/lambda/*`` log groups (``emf.extract``).

Nothing is written per event: datapoints are buffered and flushed once per ``interval_s``, values of one
metric and second folded into one member (``Values``/``Counts``), straight into the emulator's metric
store through ``sink`` (in-process: no HTTP request). Pure Python, no moto.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable, Iterable

from radstream.emulator import emf

logger = logging.getLogger(__name__)

Sink = Callable[[str, str, str, list[dict]], None]  # (account, region, namespace, PutMetricData members)
Sampler = Callable[[], Iterable[tuple[str, str, str, str, tuple, str, float]]]
EXECUTION_END_METRICS = {"SUCCEEDED": "ExecutionsSucceeded", "FAILED": "ExecutionsFailed",
                         "ABORTED": "ExecutionsAborted", "TIMED_OUT": "ExecutionsTimedOut"}


class MetricPublisher:
    def __init__(self, sink: Sink, interval_s: float = 1.0, sample_interval_s: float = 10.0) -> None:
        self._sink = sink
        self.interval_s, self.sample_interval_s = interval_s, sample_interval_s
        self._lock = threading.Lock()
        # (account, region, namespace, name, dimensions, unit, second) -> Counter(value -> count)
        self._buffer: dict[tuple, Counter] = {}
        self._samplers: list[Sampler] = []
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sample = 0.0
        self._in_flight: dict[tuple[str, str, str], int] = {}  # (account, region, function) -> running

    # -- recording ---------------------------------------------------------------------------
    def add(self, account: str, region: str, namespace: str, name: str, dimensions: tuple, unit: str | None,
            value: float, at: float | None = None, count: float = 1.0) -> None:
        key = (account, region, namespace, name, dimensions, unit, int(at if at is not None else time.time()))
        with self._lock:
            counts = self._buffer.get(key)
            if counts is None:
                counts = self._buffer[key] = Counter()
            counts[float(value)] += count

    def log_lines(self, account: str, region: str, lines: Iterable[str]) -> None:
        """Metrics embedded in log lines (EMF), as CloudWatch Logs extracts them: folded like every other
        value, into one datum per metric and second (one per line and metric kept memory growing with
        every invocation)."""
        for line in lines:
            for namespace, member in emf.extract(line):
                dims = tuple((d["Name"], d["Value"]) for d in member["Dimensions"])
                for value, count in zip(member["Values"], member["Counts"]):
                    self.add(account, region, namespace, member["MetricName"], dims, member.get("Unit"), value,
                             member["Timestamp"], count)

    def add_sampler(self, sampler: Sampler) -> None:
        """``sampler()`` yields (account, region, namespace, name, dimensions, unit, value) every
        ``sample_interval_s``."""
        self._samplers.append(sampler)

    # -- AWS/Lambda ------------------------------------------------------------------------------
    def begin_invocation(self, account: str, region: str, function: str, reserved: int | None) -> int | None:
        """Count an invocation in flight; None (and a throttle) when ``reserved`` are running already."""
        key = (account, region, function)
        with self._lock:
            running = self._in_flight.get(key, 0)
            if reserved is not None and running >= reserved:
                throttled = True
            else:
                throttled = False
                running = self._in_flight[key] = running + 1
                total = sum(n for (a, r, _), n in self._in_flight.items() if (a, r) == (account, region))
        if throttled:
            for dims in ((("FunctionName", function),), ()):
                self.add(account, region, "AWS/Lambda", "Throttles", dims, "Count", 1)
            return None
        self.add(account, region, "AWS/Lambda", "ConcurrentExecutions", (("FunctionName", function),), "Count", running)
        self.add(account, region, "AWS/Lambda", "ConcurrentExecutions", (), "Count", total)
        return running

    def end_invocation(self, account: str, region: str, function: str) -> None:
        """An invocation counted by ``begin_invocation`` is no longer in flight."""
        with self._lock:
            key = (account, region, function)
            self._in_flight[key] = max(0, self._in_flight.get(key, 1) - 1)

    def invoked(self, account: str, region: str, function: str, duration_ms: float, error: bool) -> None:
        """One invocation ran: ``Invocations``, ``Errors``, ``Throttles`` (0) and its ``Duration``."""
        for dims in ((("FunctionName", function),), ()):
            self.add(account, region, "AWS/Lambda", "Invocations", dims, "Count", 1)
            self.add(account, region, "AWS/Lambda", "Errors", dims, "Count", 1 if error else 0)
            self.add(account, region, "AWS/Lambda", "Throttles", dims, "Count", 0)
            self.add(account, region, "AWS/Lambda", "Duration", dims, "Milliseconds", round(duration_ms, 2))

    # -- AWS/States ------------------------------------------------------------------------------
    def execution_started(self, account: str, region: str, state_machine_arn: str) -> None:
        self.add(account, region, "AWS/States", "ExecutionsStarted", (("StateMachineArn", state_machine_arn),),
                 "Count", 1)

    def execution_ended(self, account: str, region: str, state_machine_arn: str, status: str,
                        duration_ms: float) -> None:
        dims = (("StateMachineArn", state_machine_arn),)
        name = EXECUTION_END_METRICS.get(status)
        if name is None:
            return
        self.add(account, region, "AWS/States", name, dims, "Count", 1)
        self.add(account, region, "AWS/States", "ExecutionTime", dims, "Milliseconds", round(duration_ms, 3))

    # -- flushing --------------------------------------------------------------------------------
    def flush(self) -> int:
        """Write everything buffered to the sink now; returns the members written."""
        with self._lock:
            buffer, self._buffer = self._buffer, {}
        batches: dict[tuple[str, str, str], list[dict]] = {}
        for (account, region, namespace, name, dims, unit, second), counts in buffer.items():
            values = sorted(counts)
            batches.setdefault((account, region, namespace), []).append({
                "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                "Timestamp": float(second), "Unit": unit,
                "Values": values, "Counts": [float(counts[v]) for v in values]})
        written = 0
        for (account, region, namespace), batch in batches.items():
            try:
                self._sink(account, region, namespace, batch)
                written += len(batch)
            except Exception:  # one bad batch must not stop the others, nor the thread
                logger.exception("could not store %d %s metric(s)", len(batch), namespace)
        return written

    def _sample(self) -> None:
        for sampler in self._samplers:
            try:
                for account, region, namespace, name, dims, unit, value in sampler():
                    self.add(account, region, namespace, name, dims, unit, value)
            except Exception:
                logger.exception("metric sampler failed")

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            now = time.monotonic()
            if self._samplers and now - self._last_sample >= self.sample_interval_s:
                self._last_sample = now
                self._sample()
            self.flush()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="cloudwatch-metrics")
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
