"""The statistics the benchmark and the A/B experiments report: percentiles, throughput, bootstrap intervals.

Percentiles are nearest-rank (a value that was measured, as Athena's queries compute them locally).
Confidence intervals on differences between arms come from ``scipy.stats.bootstrap`` (percentile
method), so no distribution is assumed, over an A/B experiment's rounds: a round is one block of every
arm, run back to back, and the studies of one block share that moment's load on a shared machine, so
they are not independent draws. Each round gives one paired difference (the arm's block statistic minus
the baseline's in the same round); the interval is on the mean of those differences. A busy minute then
weighs as one round, not as every study it slowed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

PEAK_WINDOW_S = 10.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q / 100 * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values_ms: Sequence[float]) -> dict:
    """p50/p95/p99, mean, min, max in ms (all None when nothing was measured)."""
    if not values_ms:
        return {k: None for k in ("count", "p50", "p95", "p99", "mean", "min", "max")}
    return {"count": len(values_ms), "p50": round(percentile(values_ms, 50), 1),
            "p95": round(percentile(values_ms, 95), 1), "p99": round(percentile(values_ms, 99), 1),
            "mean": round(float(np.mean(values_ms)), 1), "min": round(min(values_ms), 1),
            "max": round(max(values_ms), 1)}


def throughput(starts_s: Sequence[float], ends_s: Sequence[float], window_s: float = PEAK_WINDOW_S) -> dict:
    """Sustained throughput over the run (studies finished / (last finish - first upload)) and the peak
    over any ``window_s`` window of finishes, both per minute. A run shorter than the window reports its
    whole span as the peak window (``peak_window_s`` says which)."""
    if not ends_s:
        return {"sustained_per_min": 0.0, "peak_per_min": 0.0, "peak_window_s": window_s, "span_s": 0.0}
    span = max(ends_s) - min(starts_s)
    sustained = len(ends_s) / span * 60 if span > 0 else 0.0
    ends = sorted(ends_s)
    if ends[-1] - min(starts_s) <= window_s:
        return {"sustained_per_min": round(sustained, 1), "peak_per_min": round(sustained, 1),
                "peak_window_s": round(span, 2), "span_s": round(span, 3)}
    best, lo = 0, 0
    for hi, end in enumerate(ends):  # the most finishes in any window ending at a finish
        while end - ends[lo] > window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return {"sustained_per_min": round(sustained, 1), "peak_per_min": round(best / window_s * 60, 1),
            "peak_window_s": window_s, "span_s": round(span, 3)}


@dataclass
class Difference:
    """``b - a`` of one metric, with its bootstrap confidence interval and what it means."""

    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    confidence: float
    lower_is_better: bool
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return not (self.low <= 0 <= self.high)

    @property
    def relative(self) -> float | None:
        return self.diff / self.a if self.a else None

    def verdict(self, a_name: str = "A", b_name: str = "B") -> str:
        interval = f"{self.confidence:.0%} CI {_fmt(self.low)} to {_fmt(self.high)}"
        if not self.significant:
            return f"no significant difference ({b_name} - {a_name} = {_fmt(self.diff)}, {interval}, spans 0)"
        better = (self.diff < 0) == self.lower_is_better
        rel = f" ({self.relative:+.0%})" if self.relative is not None else ""
        return (f"{b_name} is {'better' if better else 'worse'}: {b_name} - {a_name} = {_fmt(self.diff)}{rel}, "
                f"{interval}")

    def as_dict(self, a_name: str = "A", b_name: str = "B") -> dict:
        return asdict(self) | {"significant": self.significant, "relative": self.relative,
                               "verdict": self.verdict(a_name, b_name)}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 0.01 else f"{x:,.1f}" if abs(x) >= 10 else f"{x:.2f}"


def bootstrap_rounds(metric: str, a_rounds: Sequence[Sequence[float]], b_rounds: Sequence[Sequence[float]],
                     statistic: Callable[[np.ndarray], float], *, lower_is_better: bool,
                     confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Difference:
    """Round ``i`` is ``a_rounds[i]`` and ``b_rounds[i]`` (the values of each arm's block in it: many
    studies, or one per-block figure). ``a``/``b`` are the means over rounds of each block's statistic,
    ``diff`` the mean of the paired differences, with its bootstrap interval."""
    from scipy import stats

    if len(a_rounds) != len(b_rounds):
        raise ValueError(f"{metric}: the arms have {len(a_rounds)} and {len(b_rounds)} rounds; they must match")
    if len(a_rounds) < 2:
        raise ValueError(f"{metric}: a bootstrap interval needs at least 2 rounds (got {len(a_rounds)}); "
                         f"run more blocks")
    if any(len(r) == 0 for r in list(a_rounds) + list(b_rounds)):
        raise ValueError(f"{metric}: a round without values in one arm")
    a_stat = np.array([statistic(np.asarray(r, dtype=float)) for r in a_rounds])
    b_stat = np.array([statistic(np.asarray(r, dtype=float)) for r in b_rounds])
    paired = b_stat - a_stat
    point = float(np.mean(paired))
    if np.ptp(paired) == 0:  # every round differs alike: the interval is the point
        low = high = point
    else:
        result = stats.bootstrap((paired,), np.mean, confidence_level=confidence, n_resamples=resamples,
                                 method="percentile", rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Difference(metric, float(np.mean(a_stat)), float(np.mean(b_stat)), point, low, high,
                      confidence, lower_is_better, len(a_rounds), len(b_rounds))


def p50(values: np.ndarray) -> float:
    return float(percentile(values, 50))


def p95(values: np.ndarray) -> float:
    return float(percentile(values, 95))


def mean(values: np.ndarray) -> float:
    return float(np.mean(values))
