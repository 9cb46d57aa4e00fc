"""Simultaneous levels and the two-level bootstrap over seeds and test images, on constructed cases
with known answers: one seed is the ordinary paired bootstrap, no test-set noise is the seed-level
bootstrap (and the paired t interval), and on simulated two-level data the 95 % intervals cover the
true difference about 95 % of the time."""

import math

import numpy as np
import pytest
from scipy import stats

from mnistlab.evidence.hierarchical import (
    bonferroni,
    crossed_bootstrap,
    direction,
    discordant_patterns,
    family_alpha,
    two_level_bootstrap,
)


def test_family_level_and_bonferroni_by_hand():
    assert family_alpha(0.05, 8) == pytest.approx(0.00625) and family_alpha(0.05, 1) == 0.05
    assert family_alpha(0.05, 0) == 0.05
    assert bonferroni([0.01, 0.2, 0.5]) == pytest.approx([0.03, 0.6, 1.0]) and bonferroni([]) == []


@pytest.mark.parametrize(("low", "high", "lower", "expected"), [
    (0.1, 0.3, False, 1), (-0.3, -0.1, False, -1), (-0.1, 0.3, False, 0), (0.0, 0.3, False, 0),
    (-0.3, -0.1, True, 1), (0.1, 0.3, True, -1), (None, 0.3, False, 0), (math.nan, 1.0, False, 0)])
def test_direction_is_read_off_the_interval(low, high, lower, expected):
    assert direction(low, high, lower) == expected


def test_discordant_patterns_by_hand():
    # seed 0: A wrong on 1, 2; B wrong on 2, 3 -> d = [0, -1, 0, +1, 0]
    # seed 1: A wrong on 1;    B wrong on 3, 4 -> d = [0, -1, 0, +1, +1]
    patterns, counts = discordant_patterns([[1, 2], [1]], [[2, 3], [3, 4]], 5)
    found = {tuple(p): int(c) for p, c in zip(patterns.tolist(), counts, strict=True)}
    assert found == {(-1, -1): 1, (1, 1): 1, (0, 1): 1}
    with pytest.raises(ValueError, match="0 .. 4"):
        discordant_patterns([[5]], [[0]], 5)
    with pytest.raises(ValueError, match="one length"):
        discordant_patterns([[1]], [[1], [2]], 5)


def test_counts_are_checked():
    with pytest.raises(ValueError, match="b \\+ c <= n"):
        two_level_bootstrap([8], [5], 10)
    with pytest.raises(ValueError, match="one length"):
        two_level_bootstrap([1, 2], [1], 10)
    with pytest.raises(ValueError, match="alpha"):
        two_level_bootstrap([1], [1], 10, alpha=1.5)


def paired_vectors(b: int, c: int, n: int):
    a = np.array([1] * b + [0] * c + [1] * (n - b - c), dtype=bool)
    other = np.array([0] * b + [1] * c + [1] * (n - b - c), dtype=bool)
    return a, other


def test_one_seed_is_the_ordinary_paired_bootstrap():
    b, c, n = 60, 30, 2000
    a, other = paired_vectors(b, c, n)
    reference = stats.bootstrap((a.astype(float) - other,), np.mean, n_resamples=40000, method="percentile",
                                random_state=np.random.default_rng(5)).confidence_interval
    for result in (two_level_bootstrap(b, c, n, seed=1, n_resamples=40000),
                   crossed_bootstrap([np.flatnonzero(~a)], [np.flatnonzero(~other)], n, seed=2,
                                     n_resamples=40000)):
        assert result["diff"] == pytest.approx((b - c) / n) and result["interval"] == "percentile"
        assert result["n_seeds"] == 1 and result["p_value"] is None
        # percentile quantiles of the same distribution: equal up to Monte Carlo error and the 1/n lattice
        assert result["low"] == pytest.approx(reference.low, abs=1.5 / n)
        assert result["high"] == pytest.approx(reference.high, abs=1.5 / n)
        # the standard error of a mean of d in {-1, 0, 1}: sqrt(((b + c)/n - diff^2) / n)
        assert result["se"] == pytest.approx(math.sqrt(((b + c) / n - ((b - c) / n) ** 2) / n), rel=0.03)
    assert crossed_bootstrap([[0, 1]], [[2]], 10, seed=0)["b"] == [1]


def test_no_test_set_noise_is_the_seed_level_bootstrap_and_the_paired_t_interval():
    # each seed's difference is the same on every image (b = n or c = n or neither): resampling the
    # images changes nothing, so only the seeds vary
    n = 500
    b, c = np.array([n, 0, n, n, 0, 0]), np.array([0, 0, 0, 0, n, 0])
    d = (b - c) / n  # +1, 0, +1, +1, -1, 0
    result = two_level_bootstrap(b, c, n, seed=0, n_resamples=40000)
    rng = np.random.default_rng(9)
    seed_level = d[rng.integers(0, d.size, (40000, d.size))].mean(axis=1)
    assert result["percentile_low"] == pytest.approx(np.quantile(seed_level, 0.025), abs=1 / 6 + 1e-9)
    assert result["percentile_high"] == pytest.approx(np.quantile(seed_level, 0.975), abs=1 / 6 + 1e-9)
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert (result["low"], result["high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=0.02)
    assert result["df"] == pytest.approx(d.size - 1, rel=0.02)
    assert result["p_value"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue, rel=0.05)
    # a huge test set makes test-set noise negligible: a constant shift per seed, read as a t interval
    shifts = np.array([0.010, 0.012, 0.008, 0.011, 0.009])
    big = 10**9
    b_big, c_big = np.round((0.05 + shifts) * big).astype(np.int64), np.full(5, 0.05 * big, np.int64)
    near = two_level_bootstrap(b_big, c_big, big, seed=3, n_resamples=40000)
    half = stats.t.ppf(0.975, 4) * shifts.std(ddof=1) / math.sqrt(5)
    expected = (shifts.mean() - half, shifts.mean() + half)
    assert (near["low"], near["high"]) == pytest.approx(expected, rel=0.02)


def test_seeds_that_agree_exactly_leave_only_the_shared_test_set():
    # the same images separate A from B in every seed: the crossed bootstrap keeps one test set's noise,
    # the nested one (a test set per seed) would divide it by the number of seeds
    n, k = 4000, 4
    wrong_a, wrong_b = list(range(0, 40)), list(range(40, 120))
    crossed = crossed_bootstrap([wrong_a] * k, [wrong_b] * k, n, seed=0, n_resamples=40000)
    nested = two_level_bootstrap([80] * k, [40] * k, n, seed=0, n_resamples=40000)
    one_set = math.sqrt(((120) / n - (40 / n) ** 2) / n)
    assert crossed["diff"] == nested["diff"] == pytest.approx(0.01)
    assert crossed["se"] == pytest.approx(one_set, rel=0.03)
    assert nested["se"] == pytest.approx(one_set / math.sqrt(k), rel=0.03)
    assert crossed["df"] > 1000  # all of it from the test set: a normal interval, not t with 3 df


def test_p_value_matches_the_interval_at_the_family_level():
    rng = np.random.default_rng(4)
    for _ in range(20):
        k = int(rng.integers(2, 7))
        b, c = rng.integers(20, 80, k), rng.integers(20, 80, k)
        for m in (1, 5, 30):
            result = two_level_bootstrap(b, c, 5000, seed=1, n_resamples=4000, alpha=0.05 / m)
            excludes = result["low"] > 0 or result["high"] < 0
            assert excludes == (min(1.0, m * result["p_value"]) < 0.05)


# -- coverage on simulated two-level data ------------------------------------------------------------

P_A, P_B, LOW, HIGH, NOISE = 0.04, 0.03, 0.3, 0.9, 0.005
#: The true difference: A-favouring images separate the models with probability E[U(0.3, 0.9)] = 0.6.
MU = (P_A - P_B) * (LOW + HIGH) / 2


def simulate(rng, n: int, k: int, types=None):
    """Per-seed wrong images of A and B: images of three types (A-favouring, B-favouring, neutral)
    and seeds that separate them with their own probabilities, plus cell noise; ``types`` shared
    across seeds (one test set) or, when None, drawn anew for every seed (a test set per seed)."""
    wrong_a, wrong_b = [], []
    for _ in range(k):
        kinds = rng.choice(3, size=n, p=[P_A, P_B, 1 - P_A - P_B]) if types is None else types
        f, g = rng.uniform(LOW, HIGH, 2)
        v, noise = rng.random(n), rng.random(n)
        d = np.where((kinds == 0) & (v < f), 1, np.where((kinds == 1) & (v < g), -1, 0))
        d = np.where((d == 0) & (noise < NOISE), -1, np.where((d == 0) & (noise > 1 - NOISE), 1, d))
        wrong_a.append(np.flatnonzero(d == -1))
        wrong_b.append(np.flatnonzero(d == 1))
    return wrong_a, wrong_b


def test_coverage_of_the_crossed_bootstrap_on_one_shared_test_set():
    rng = np.random.default_rng(0)
    n, k, sims = 3000, 5, 300
    covered = percentile = 0
    for i in range(sims):
        types = rng.choice(3, size=n, p=[P_A, P_B, 1 - P_A - P_B])
        result = crossed_bootstrap(*simulate(rng, n, k, types), n, seed=i, n_resamples=2000)
        covered += result["low"] <= MU <= result["high"]
        percentile += result["percentile_low"] <= MU <= result["percentile_high"]
    assert 0.91 <= covered / sims <= 0.985, covered / sims
    assert percentile / sims < covered / sims  # the plain percentile interval over 5 seeds is too narrow


def test_coverage_of_the_nested_bootstrap_on_a_test_set_per_seed():
    rng = np.random.default_rng(1)
    n, k, sims = 3000, 5, 300
    covered = 0
    for i in range(sims):
        wrong_a, wrong_b = simulate(rng, n, k)
        b = [len(np.setdiff1d(wb, wa)) for wa, wb in zip(wrong_a, wrong_b, strict=True)]
        c = [len(np.setdiff1d(wa, wb)) for wa, wb in zip(wrong_a, wrong_b, strict=True)]
        result = two_level_bootstrap(b, c, n, seed=i, n_resamples=2000)
        covered += result["low"] <= MU <= result["high"]
    assert 0.91 <= covered / sims <= 0.99, covered / sims
