"""Intervals that a verdict can be read off: simultaneous (Bonferroni) levels, and accuracy
differences with both sources of noise, training randomness (seeds) and test-set sampling (images).

**One family, one level.** A report declares its family: the ``m`` questions (tests) it answers
together. Every interval of the report is computed at confidence ``1 - alpha / m``, so that all
``m`` intervals hold together with probability at least ``1 - alpha`` (Bonferroni's inequality;
simultaneous intervals: Dunn 1961, "Multiple comparisons among means", JASA 56, 52-64). The verdict
is read off the interval (:func:`direction`): A is better when the whole interval of A - B lies
above 0 (below 0 for a quantity where lower is better), B when it lies on the other side, and
otherwise there is no detectable difference. The matching adjusted p-value is Bonferroni's
``min(1, m p)`` (``statsmodels.stats.multitest.multipletests(method="bonferroni")``). Holm's
step-down (Holm 1979) rejects more but has no simple matching intervals, so it is not used.

**Two sources of noise.** The test-accuracy difference of models A and B on ``n`` test images
depends only on ``b`` (images A gets right and B wrong) and ``c`` (A wrong, B right):
``(b - c) / n``. Resampling the test images with replacement therefore draws
``(b*, c*, rest) ~ Multinomial(n, (b/n, c/n, 1 - (b+c)/n))`` (the paired bootstrap of
:func:`mnistlab.evidence.compare.paired_bootstrap_diff`, at a cost that does not grow with ``n``).
Over ``k`` training seeds the two-level bootstrap (Davison & Hinkley 1997, *Bootstrap Methods and
their Application*, section 3.8, hierarchical data) resamples the seeds with replacement and, within
each drawn seed, the test images:

- :func:`two_level_bootstrap` takes the counts ``b, c, n`` of each seed and resamples the images
  of each drawn seed independently: right when every run has its own test sample (the nested
  design of Davison & Hinkley's section 3.8, whose resampling of both stages slightly overstates
  the within-run part: conservative);
- :func:`crossed_bootstrap` takes which test images each model gets wrong in each seed. In this
  project every run is scored on the *same* test images, so an image that separates A from B in
  one seed tends to do so in every seed; seeds and images are crossed, not nested. One resample
  of the images is then applied to every drawn seed (the "pigeonhole" bootstrap of Owen 2007,
  Ann. Appl. Stat. 1, 386-411; McCullagh 2000, Bernoulli 6, 285-301, shows that no bootstrap of a
  crossed array is exact, and the pigeonhole one errs on the conservative side). Resampling the
  images independently per seed, as the nested scheme does, would understate the test-set part by
  up to a factor ``k`` in variance.

With one seed both reduce to the ordinary paired bootstrap of the test images (percentile
interval). With ``k >= 2`` seeds a percentile interval cannot reach beyond the range of the seeds'
own differences, which at 3 to 5 seeds and a Bonferroni level such as 99.8 % is far too narrow
(on the simulated crossed design of tests/test_hierarchical.py its 95 % interval covers about
91 %); the interval is instead ``diff +- t(1 - alpha/2, df) * se``, a bootstrap-t-style interval
with the bootstrap standard error:

- ``se**2`` is the bootstrap variance plus ``s**2 / k**2`` (``s`` the standard deviation of the
  seeds' differences): resampling ``k`` seeds gives the seed-level variance ``(k - 1) s**2 / k**2``,
  biased low (Davison & Hinkley 1997, section 3.8), and the addition raises it to the unbiased
  ``s**2 / k``;
- ``df`` is Welch-Satterthwaite's (Satterthwaite 1946, Biometrics Bulletin 2, 110-114) for the sum
  of the seed part ``s**2 / k`` (``k - 1`` degrees of freedom) and the rest of ``se**2``, the
  test-set part (``n - 1``): ``k - 1`` when the test set adds nothing, larger when it dominates.

Without test-set noise the interval is the paired t interval over seeds; on the simulated
crossed design its 95 % interval covers about 95 %. The returned ``p_value`` is the matching
two-sided t test, so ``m * p_value < alpha`` exactly when the interval at ``1 - alpha / m``
excludes 0.

All differences are fractions of the test images (0.01 = 1 percentage point).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


def family_alpha(alpha: float, m: int) -> float:
    """The level of each of ``m`` simultaneous intervals: ``alpha / m`` (Bonferroni; ``alpha`` when
    ``m`` < 2). Each interval has confidence ``1 - alpha / m``."""
    return alpha / m if m > 1 else alpha


def bonferroni(p_values) -> list[float]:
    """``min(1, m p)`` for each of the ``m`` p-values, same order
    (``statsmodels.stats.multitest.multipletests(method="bonferroni")``)."""
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return []
    return [float(v) for v in multipletests(p, method="bonferroni")[1]]


def direction(low: float | None, high: float | None, lower_is_better: bool = False) -> int:
    """The verdict an interval of A - B gives: 1 (A better), -1 (B better) or 0 (no detectable
    difference, also for a missing or non-finite bound).

    A is better when the whole interval lies above 0, or below 0 when ``lower_is_better``; an
    interval that touches 0 gives 0.
    """
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return 0
    sign = 1 if low > 0 else -1 if high < 0 else 0
    return -sign if lower_is_better else sign


def _resample_seeds(rng: np.random.Generator, k: int, n_resamples: int) -> np.ndarray:
    """How often each of ``k`` seeds is drawn in each resample: int (n_resamples, k), rows sum to k."""
    if k == 1:
        return np.ones((n_resamples, 1), dtype=np.int64)
    return rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples)


def _interval(replicates: np.ndarray, per_seed: np.ndarray, alpha: float, n: int) -> dict:
    """Interval of the mean of ``per_seed`` from bootstrap ``replicates`` (see the module docstring);
    ``n`` test images per run (the degrees of freedom of the test-set part)."""
    k = per_seed.size
    diff = float(per_seed.mean())
    low_pct, high_pct = (float(v) for v in np.quantile(replicates, [alpha / 2, 1 - alpha / 2]))
    boot_var = float(replicates.var(ddof=1)) if replicates.size > 1 else 0.0
    out = {"diff": diff, "n_seeds": k, "percentile_low": low_pct, "percentile_high": high_pct}
    if k == 1:
        return out | {"se": math.sqrt(boot_var), "low": min(low_pct, diff), "high": max(high_pct, diff),
                      "df": None, "p_value": None, "interval": "percentile"}
    seed_part = float(per_seed.var(ddof=1)) / k
    variance = boot_var + seed_part / k
    if variance == 0.0:
        return out | {"se": 0.0, "low": diff, "high": diff, "df": float(k - 1),
                      "p_value": 1.0 if diff == 0 else 0.0, "interval": "t"}
    test_part = max(variance - seed_part, 0.0)
    df = variance**2 / (seed_part**2 / (k - 1) + test_part**2 / max(n - 1, 1))
    se = math.sqrt(variance)
    q = float(stats.t.ppf(1 - alpha / 2, df))
    p_value = float(2 * stats.t.sf(abs(diff) / se, df))
    return out | {"se": se, "low": diff - q * se, "high": diff + q * se, "df": float(df), "p_value": p_value,
                  "interval": "t"}


def _check(alpha: float, n_resamples: int) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")


def two_level_bootstrap(b, c, n, seed: int = 0, n_resamples: int = 10000, alpha: float = 0.05) -> dict:
    """Accuracy difference A - B over ``k`` seeds, each run scored on its own test sample (nested).

    Each resample draws ``k`` seeds with replacement and, for every drawn seed, its test images
    with replacement: ``(b*, c*) ~ Multinomial(n_s, (b_s/n_s, c_s/n_s, ...))``, drawn as
    ``b* ~ Binomial(n_s, b_s/n_s)`` and ``c* ~ Binomial(n_s - b*, c_s/(n_s - b_s))``; the replicate
    is the mean over the drawn seeds of ``(b* - c*) / n_s``. Vectorised over resamples (a seed
    drawn ``u`` times contributes one multinomial of ``u n_s`` trials, the sum of ``u``
    independent ones).

    Parameters
    ----------
    b, c : int or sequence of int, length k
        Per seed: test images only A gets right, only B gets right; ``b + c <= n``.
    n : int or sequence of int
        Test images of each seed's run (one number: the same for every seed), ``>= 1``.
    seed : int
        Seed of the ``numpy.random.Generator``.
    n_resamples : int
        Bootstrap resamples (cost O(n_resamples x k), independent of ``n``).
    alpha : float
        One minus the confidence of the interval (already divided by the family size, when the
        interval is one of a family).

    Returns
    -------
    dict
        ``diff`` (mean over seeds of ``(b - c) / n``), ``low``, ``high`` (the interval:
        percentile for one seed, bootstrap standard error and t quantile for several, see the
        module docstring), ``se``, ``df`` (Welch-Satterthwaite; None for one seed), ``p_value``
        (t test matching the interval; None for one seed), ``n_seeds``,
        ``percentile_low``, ``percentile_high`` (the plain percentile interval), ``interval``
        (``"percentile"`` or ``"t"``); fractions of the test images.

    Raises
    ------
    ValueError
        For counts of different lengths, none, negative ones, ``b + c > n``, or ``alpha`` outside (0, 1).
    """
    _check(alpha, n_resamples)
    b, c = np.atleast_1d(np.asarray(b, dtype=np.int64)), np.atleast_1d(np.asarray(c, dtype=np.int64))
    n = np.broadcast_to(np.atleast_1d(np.asarray(n, dtype=np.int64)), b.shape) if b.shape == c.shape else None
    if n is None or b.ndim != 1 or b.size == 0:
        raise ValueError(f"expected b and c of one length k >= 1, got shapes {b.shape} and {c.shape}")
    if (b < 0).any() or (c < 0).any() or (n < 1).any() or (b + c > n).any():
        raise ValueError("expected 0 <= b, 0 <= c and b + c <= n >= 1 for every seed")
    rng = np.random.default_rng(seed)
    k = b.size
    draws = _resample_seeds(rng, k, n_resamples)
    trials = draws * n
    p_b = b / n
    p_c = np.divide(c, n - b, out=np.zeros(k), where=n > b)
    b_star = rng.binomial(trials, p_b)
    c_star = rng.binomial(trials - b_star, p_c)
    replicates = ((b_star - c_star) / n).sum(axis=1) / k
    return _interval(replicates, (b - c) / n, alpha, int(n.min()))


def discordant_patterns(errors_a, errors_b, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct columns of the seeds x images matrix ``d = [B wrong] - [A wrong]``.

    Parameters
    ----------
    errors_a, errors_b : sequence of k sequences of int
        Per seed, the indices (0 .. n-1) of the test images model A, model B gets wrong.
    n : int
        Test images (the same images in every seed).

    Returns
    -------
    patterns : ndarray of int8, shape (P, k)
        Each distinct non-zero column of ``d`` (values -1, 0, 1; +1: A right and B wrong).
    counts : ndarray of int64, shape (P,)
        Images with that column; the other ``n - counts.sum()`` images have ``d = 0`` in every seed.

    Raises
    ------
    ValueError
        For lists of different lengths, or an index outside 0 .. n-1.
    """
    if len(errors_a) != len(errors_b) or not len(errors_a):
        raise ValueError(f"expected per-seed error lists of one length k >= 1, got {len(errors_a)} "
                         f"and {len(errors_b)}")
    sets = [(np.unique(np.asarray(a, dtype=np.int64)), np.unique(np.asarray(b, dtype=np.int64)))
            for a, b in zip(errors_a, errors_b, strict=True)]
    images = np.unique(np.concatenate([np.concatenate(pair) for pair in sets]))
    if images.size and (images[0] < 0 or images[-1] >= n):
        raise ValueError(f"image indices must lie in 0 .. {n - 1}")
    d = np.zeros((len(sets), images.size), dtype=np.int8)
    for s, (wrong_a, wrong_b) in enumerate(sets):
        d[s, np.searchsorted(images, wrong_b)] += 1
        d[s, np.searchsorted(images, wrong_a)] -= 1
    if not images.size:
        return np.zeros((0, len(sets)), dtype=np.int8), np.zeros(0, dtype=np.int64)
    patterns, counts = np.unique(d.T, axis=0, return_counts=True)
    keep = patterns.any(axis=1)
    return patterns[keep], counts[keep].astype(np.int64)


def crossed_bootstrap(errors_a, errors_b, n: int, seed: int = 0, n_resamples: int = 10000,
                      alpha: float = 0.05) -> dict:
    """Accuracy difference A - B over ``k`` seeds scored on the same ``n`` test images (crossed).

    Each resample draws ``k`` seeds with replacement and one resample of the ``n`` test images,
    applied to every drawn seed (Owen 2007's pigeonhole bootstrap); the replicate is the mean over
    the drawn seeds of the resampled accuracy difference. Images with the same column of
    ``d = [B wrong] - [A wrong]`` over the seeds are exchangeable, so the image resample is one
    multinomial over the distinct columns (:func:`discordant_patterns`) and the cost is
    O(n_resamples x (patterns + k)).

    Parameters
    ----------
    errors_a, errors_b : sequence of k sequences of int
        Per seed (run), the indices of the test images model A, model B gets wrong.
    n : int
        Test images, the same in every run.
    seed, n_resamples, alpha
        As for :func:`two_level_bootstrap`.

    Returns
    -------
    dict
        As :func:`two_level_bootstrap`, plus ``b`` and ``c``: the per-seed discordant counts.

    Raises
    ------
    ValueError
        As :func:`discordant_patterns`, or for ``alpha`` outside (0, 1).
    """
    _check(alpha, n_resamples)
    patterns, counts = discordant_patterns(errors_a, errors_b, n)
    k = len(errors_a)
    b = (counts[:, None] * (patterns == 1)).sum(axis=0)
    c = (counts[:, None] * (patterns == -1)).sum(axis=0)
    rng = np.random.default_rng(seed)
    draws = _resample_seeds(rng, k, n_resamples)
    if counts.size:
        weights = rng.multinomial(n, np.append(counts, n - counts.sum()) / n, size=n_resamples)[:, :-1]
        per_seed_sums = weights @ patterns.astype(np.int64)  # (n_resamples, k): resampled b* - c* per seed
    else:
        per_seed_sums = np.zeros((n_resamples, k), dtype=np.int64)
    replicates = (draws * per_seed_sums).sum(axis=1) / (k * n)
    return _interval(replicates, (b - c) / n, alpha, n) | {"b": b.tolist(), "c": c.tolist()}
