"""Fault injection on the embedded target: a switch, off by default, for the faults RadStream must
survive. Set and cleared through the admin API (``/_radstream/faults``; `radstream fault` is its
client), never by the deployed code.

=====================  ==============================================================================
fault                  what happens while it is set
=====================  ==============================================================================
s3-slowdown            S3 requests are answered ``503 SlowDown`` (AWS's request-rate refusal)
kinesis-throughput     Kinesis PutRecord(s) are answered ``ProvisionedThroughputExceededException``
lambda-crash           an invocation's process is killed mid-invocation (``Runtime.ExitError``)
lambda-oom             an invocation's environment is stopped as the memory monitor stops one that
                       exceeds its memory size (``Runtime.OutOfMemory``; no memory is allocated)
=====================  ==============================================================================

Each fault fires with probability ``rate`` (default 1), at most ``count`` times when given, and only
for the named ``function`` (Lambda faults) or request ``origins`` (``lambda``, ``client``...: request
faults; default ``lambda``, the pipeline's own calls). A crashed upload trigger is ``lambda-crash``
on ``radstream-upload-trigger``. The model server's faults (down, slow, 500/503) live with the model
server, which the stack manager controls.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field

REQUEST_FAULTS = ("s3-slowdown", "kinesis-throughput")
LAMBDA_FAULTS = ("lambda-crash", "lambda-oom")
FAULTS = REQUEST_FAULTS + LAMBDA_FAULTS


@dataclass
class Fault:
    name: str
    rate: float = 1.0
    count: int | None = None
    function: str | None = None
    origins: tuple[str, ...] = ("lambda",)
    fired: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class FaultSwitch:
    """The faults currently set; thread-safe."""

    _faults: dict[str, Fault] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(default_factory=random.Random)

    def set(self, name: str, *, rate: float = 1.0, count: int | None = None, function: str | None = None,
            origins: list[str] | tuple[str, ...] | None = None) -> Fault:
        if name not in FAULTS:
            raise ValueError(f"no fault named {name!r}; the faults are: {', '.join(FAULTS)}")
        if not 0 < float(rate) <= 1:
            raise ValueError(f"rate {rate} is not in (0, 1]")
        if count is not None and int(count) < 1:
            raise ValueError(f"count {count} is not a positive number")
        if name in LAMBDA_FAULTS and not function:
            raise ValueError(f"{name} needs a function name (e.g. radstream-upload-trigger)")
        fault = Fault(name, float(rate), int(count) if count is not None else None, function,
                      tuple(origins) if origins else ("lambda",))
        with self._lock:
            self._faults[name] = fault
        return fault

    def clear(self, name: str | None = None) -> list[str]:
        with self._lock:
            cleared = [name] if name in self._faults else [] if name else list(self._faults)
            for key in cleared:
                del self._faults[key]
        return cleared

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [f.as_dict() for f in self._faults.values()]

    def fires(self, name: str, *, function: str | None = None, origin: str | None = None) -> bool:
        """Should this event fail now? Counts it when it does."""
        with self._lock:
            fault = self._faults.get(name)
            if fault is None or (fault.function and fault.function != function):
                return False
            if origin is not None and origin not in fault.origins:
                return False
            if fault.count is not None and fault.fired >= fault.count:
                return False
            if self._random.random() >= fault.rate:
                return False
            fault.fired += 1
            return True
