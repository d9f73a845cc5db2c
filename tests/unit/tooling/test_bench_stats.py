"""Percentiles, throughput windows and the bootstrap verdicts the benchmark and A/B experiments print."""

import numpy as np
import pytest

from radstream.tooling.bench.stats import bootstrap_rounds, latency_summary, p50, p95, percentile, throughput


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99), percentile(values, 100)) == (50, 95, 99, 100)
    assert percentile([7.0], 95) == 7.0
    assert latency_summary([1.0, 2.0, 3.0, 10.0]) == {"count": 4, "p50": 2.0, "p95": 10.0, "p99": 10.0, "mean": 4.0,
                                                      "min": 1.0, "max": 10.0}
    with pytest.raises(ValueError):
        percentile([], 50)


def test_throughput_sustained_over_the_run_and_peak_over_ten_seconds():
    # 30 studies: 20 finish in the first 10 s, 10 more spread over the next 20 s.
    ends = [i * 0.5 for i in range(1, 21)] + [10 + 2 * i for i in range(1, 11)]
    result = throughput([0.0] * 30, ends)
    assert result["sustained_per_min"] == pytest.approx(30 / 30 * 60)
    assert result["peak_per_min"] == pytest.approx(20 / 10 * 60)  # the 20 finishes between 0.5 s and 10 s
    short = throughput([0.0, 0.0], [1.0, 2.0])
    assert short["peak_per_min"] == short["sustained_per_min"] == 60.0 and short["peak_window_s"] == 2.0


def rounds(values, per_round: int) -> list:
    return [values[i:i + per_round] for i in range(0, len(values), per_round)]


def test_bootstrap_says_no_significant_difference_when_arms_are_alike():
    rng = np.random.default_rng(1)
    a, b = rng.normal(300, 30, 60), rng.normal(300, 30, 60)
    d = bootstrap_rounds("p50 latency (ms)", rounds(a, 10), rounds(b, 10), p50, lower_is_better=True)
    assert d.low <= 0 <= d.high and not d.significant
    assert d.verdict().startswith("no significant difference")
    assert (d.n_a, d.n_b) == (6, 6)  # rounds
    assert d.diff == pytest.approx(d.b - d.a)


def test_bootstrap_finds_a_real_difference_and_names_the_better_arm():
    rng = np.random.default_rng(2)
    a, b = rng.normal(300, 20, 60), rng.normal(200, 20, 60)
    d = bootstrap_rounds("p95 latency (ms)", rounds(a, 10), rounds(b, 10), p95, lower_is_better=True)
    assert d.high < 0 and d.significant
    assert d.verdict("batch-1", "batch-8").startswith("batch-8 is better")
    worse = bootstrap_rounds("throughput", rounds(a, 10), rounds(b, 10), np.mean, lower_is_better=False)
    assert worse.verdict().startswith("B is worse")


def test_a_slow_round_that_hit_one_arm_widens_the_interval_instead_of_deciding():
    """Studies of one block share the machine's load at that moment: the interval must reflect how much
    rounds differ, not how many studies there are. Here the arms are alike except that one round of B ran
    while the machine was busy: resampling studies one by one would call B worse (CI about +375 to +392 ms),
    pairing rounds does not."""
    rng = np.random.default_rng(3)
    a = [list(rng.normal(200, 10, 20)) for _ in range(6)]
    b = [list(rng.normal(200, 10, 20)) for _ in range(5)] + [list(rng.normal(600, 10, 20))]
    by_round = bootstrap_rounds("p95 latency (ms)", a, b, p95, lower_is_better=True, seed=1)
    assert not by_round.significant and by_round.low <= by_round.diff <= by_round.high


def test_pairing_by_round_sees_a_small_steady_difference_through_a_load_that_moves_both_arms():
    """Load drifts from round to round (both arms' blocks of a round alike); B is 5 ms faster in every round."""
    rng = np.random.default_rng(4)
    load = [100, 300, 150, 600, 200, 450]
    a = [list(level + rng.normal(0, 2, 20)) for level in load]
    b = [list(level - 5 + rng.normal(0, 2, 20)) for level in load]
    d = bootstrap_rounds("p50 latency (ms)", a, b, p50, lower_is_better=True)
    assert d.high < 0 and d.verdict().startswith("B is better")


def test_bootstrap_needs_two_rounds_and_arms_of_the_same_rounds():
    with pytest.raises(ValueError, match="at least 2 rounds"):
        bootstrap_rounds("throughput", [[1.0]], [[2.0]], np.mean, lower_is_better=False)
    with pytest.raises(ValueError, match="must match"):
        bootstrap_rounds("throughput", [[1.0], [2.0]], [[2.0]], np.mean, lower_is_better=False)
