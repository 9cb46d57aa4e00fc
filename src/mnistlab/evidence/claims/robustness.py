"""Claim g, Gabor features and invariances: the drop from clean accuracy of the two SVMs.

Each row tests the Gabor SVM's drop from clean accuracy minus the pixel SVM's, image by image on
the same test digits (a difference in differences, :func:`drop_difference`): at every family and
severity of the robustness stage (:func:`robustness_rows`, the families the claim names first) and
on each MNIST-C corruption (:func:`mnist_c_rows`; described, not tested, when only the error rates
of ``metrics/robustness.json`` are known).
"""

from __future__ import annotations

import numpy as np

from mnistlab.core.constants import IDENTITY
from mnistlab.evidence.claims.roles import CLAIMED_FAMILIES, CLEAN, DROP, NEEDS, SEVERITY, model
from mnistlab.evidence.claims.rows import row
from mnistlab.evidence.sweep import N_RESAMPLES


def drop_difference(clean_a, corrupt_a, clean_b, corrupt_b, seed: int = 0, n_resamples: int = N_RESAMPLES,
                    alpha: float = 0.05) -> dict:
    """Difference in differences of two models' accuracy drops under a corruption, paired by image.

    Each test digit ``i`` is seen clean and corrupted by both models: ``d_i = (A_clean_i -
    A_corrupt_i) - (B_clean_i - B_corrupt_i)`` (each term 1 right, 0 wrong), so ``mean(d)`` is A's
    drop from clean accuracy minus B's, and ``d_i`` takes the five values -2..2. The images are
    resampled with replacement (the paired bootstrap, Efron & Tibshirani 1993): a resample is a
    multinomial draw of how many images carry each value, so the cost does not grow with the
    number of images. The interval is the percentile interval at ``1 - alpha``; p is the two-sided
    bootstrap p, ``min(1, 2 (1 + r) / (1 + n_resamples))`` with ``r`` the resamples on the other side
    of 0 from ``mean(d)`` (1 when ``mean(d)`` is 0), so that p < alpha where the interval excludes 0
    (up to the quantile's interpolation; the interval decides).

    Parameters
    ----------
    clean_a, corrupt_a, clean_b, corrupt_b : ndarray of bool, shape (N,)
        Whether A (B) classifies each test image correctly, clean and corrupted.
    seed : int
        Seed of the ``numpy.random.Generator``.
    n_resamples : int
        Bootstrap resamples (at least 2).
    alpha : float
        One minus the confidence of the interval (already divided by the family size).

    Returns
    -------
    dict
        ``diff`` (drop of A minus drop of B), ``low``, ``high``, ``p_value``, ``drop_a``, ``drop_b``,
        ``clean_a``, ``clean_b``, ``corrupt_a``, ``corrupt_b`` (accuracies), ``n``; fractions.

    Raises
    ------
    ValueError
        For arrays of different shapes, empty ones, fewer than 2 resamples or ``alpha`` outside (0, 1).
    """
    arrays = [np.asarray(x, dtype=np.int8) for x in (clean_a, corrupt_a, clean_b, corrupt_b)]
    if len({x.shape for x in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        raise ValueError(f"expected four non-empty vectors of one length, got {[x.shape for x in arrays]}")
    if n_resamples < 2 or not 0 < alpha < 1:
        raise ValueError(f"expected n_resamples >= 2 and alpha in (0, 1), got {n_resamples} and {alpha}")
    ca, xa, cb, xb = arrays
    d = (ca - xa) - (cb - xb)
    n = d.size
    values, counts = np.unique(d, return_counts=True)
    diff = float(d.mean())
    if values.size == 1:
        low = high = diff
        p = 1.0 if diff == 0 else 0.0
    else:
        rng = np.random.default_rng(seed)
        replicates = rng.multinomial(n, counts / n, size=n_resamples) @ values.astype(np.float64) / n
        low, high = (float(v) for v in np.quantile(replicates, [alpha / 2, 1 - alpha / 2]))
        if diff == 0:
            p = 1.0
        else:
            other = int(np.sum(replicates <= 0) if diff > 0 else np.sum(replicates >= 0))
            p = min(1.0, 2 * (1 + other) / (1 + n_resamples))
    return {"diff": diff, "low": low, "high": high, "p_value": p, "n": n,
            "drop_a": float((ca - xa).mean()), "drop_b": float((cb - xb).mean()),
            "clean_a": float(ca.mean()), "clean_b": float(cb.mean()),
            "corrupt_a": float(xa.mean()), "corrupt_b": float(xb.mean())}


def _severity(family: str, severity: float) -> str:
    return SEVERITY.get(family, family + " {:g}").format(severity)


def _part(family: str) -> str:
    claimed = CLAIMED_FAMILIES.get(family)
    return f"robustness to {claimed} ({family})" if claimed else f"robustness to {family} (not claimed)"


def robustness_rows(correct: dict | None, path: str = "data/evaluation/robustness_correct.npz",
                    seed: int = 0, n_resamples: int = N_RESAMPLES, note: str = "") -> list[dict]:
    """The Gabor SVM (A) against the pixel SVM (B): the drop from clean accuracy at every family and
    severity of the robustness stage (:func:`drop_difference`), claimed families first.

    Parameters
    ----------
    correct : dict or None
        :func:`read_robustness_correct`; None gives one row that needs the robustness stage (its
        verdict adds ``note``).
    """
    gabor, pixels = model("gabor_svm"), model("pixel_svm")
    if correct is None:
        return [row(_part(f), gabor, pixels, DROP, "single run", source="robustness",
                    verdict=NEEDS["robustness"].format(path=path) + note) for f in CLAIMED_FAMILIES]
    conditions = correct["conditions"]
    clean = conditions.index((CLEAN, 0.0))
    a, b = correct[gabor], correct[pixels]
    order = {f: i for i, f in enumerate(CLAIMED_FAMILIES)}
    chosen = sorted((i for i, (f, _) in enumerate(conditions) if f != CLEAN),
                    key=lambda i: (order.get(conditions[i][0], len(order)), i))
    return [_drop_row(_part(conditions[i][0]), _severity(*conditions[i]), (a[clean], a[i]), (b[clean], b[i]),
                      seed, n_resamples) for i in chosen]


def _drop_row(part: str, condition: str, a: tuple, b: tuple, seed: int, n_resamples: int) -> dict:
    """One tested row of claim g: the Gabor SVM's drop from clean accuracy (``a``: its correctness on
    the clean and the corrupted images) against the pixel SVM's (``b``), by :func:`drop_difference`."""
    first = drop_difference(*a, *b, seed, n_resamples)

    def test(level: float) -> dict:
        r = drop_difference(*a, *b, seed, n_resamples, level)
        return {"diff": r["diff"], "ci_low": r["low"], "ci_high": r["high"], "p_value": r["p_value"]}

    return row(part, model("gabor_svm"), model("pixel_svm"), DROP,
               f"single run, {first['n']:,} test images, {condition}", source="robustness",
               value_a=first["drop_a"], value_b=first["drop_b"], diff=first["diff"], test=test,
               method="paired bootstrap of the images' drop differences",
               detail=f"clean {100 * first['clean_a']:.2f} % / {100 * first['clean_b']:.2f} %, "
                      f"corrupted {100 * first['corrupt_a']:.2f} % / {100 * first['corrupt_b']:.2f} %")


def mnist_c_rows(metrics: dict | None, path: str = "metrics/robustness.json", correct: dict | None = None,
                 seed: int = 0, n_resamples: int = N_RESAMPLES) -> list[dict]:
    """The Gabor SVM (A) against the pixel SVM (B) on each MNIST-C corruption: the drop from clean
    accuracy (the ``identity`` set).

    Parameters
    ----------
    metrics : dict or None
        ``metrics/robustness.json``: the error rates, for rows described and not tested when
        ``correct`` is None.
    path : str
        The file named in a "needs" verdict.
    correct : dict or None
        The ``mnist_c`` part of :func:`read_robustness_correct`: per-image correctness, for the paired
        test of :func:`drop_difference` on every corruption.
    seed, n_resamples : int
        Of the bootstraps.
    """
    gabor, pixels = model("gabor_svm"), model("pixel_svm")
    part = "MNIST-C corruptions (not claimed)"
    if correct is not None:
        sets = correct["sets"]
        clean, a, b = sets.index(IDENTITY), correct[gabor], correct[pixels]
        return [_drop_row(part, f"MNIST-C {name.replace('_', ' ')}", (a[clean], a[i]), (b[clean], b[i]), seed,
                          n_resamples) for i, name in enumerate(sets) if i != clean]
    if metrics is None:
        return [row(part, gabor, pixels, DROP, "MNIST-C", source="robustness",
                    verdict=NEEDS["robustness"].format(path=path))]
    errors = {name: (metrics.get(name) or {}).get("mnist_c") or {} for name in (gabor, pixels)}
    names = [k for k in errors[gabor] if k in errors[pixels] and k not in (CLEAN, "mce", "relative_mce")]
    if CLEAN not in errors[gabor] or CLEAN not in errors[pixels] or not names:
        return [row(part, gabor, pixels, DROP, "MNIST-C", source="robustness",
                    detail=f"{path} has no MNIST-C error rates of {gabor} and {pixels}")]
    out = []
    for name in names:
        drop_a = errors[gabor][name] - errors[gabor][CLEAN]  # error up = accuracy down
        drop_b = errors[pixels][name] - errors[pixels][CLEAN]
        out.append(row(part, gabor, pixels, DROP, f"single run, MNIST-C {name.replace('_', ' ')}",
                       source="robustness", value_a=drop_a, value_b=drop_b, diff=drop_a - drop_b,
                       verdict="not tested: the robustness stage's file holds no MNIST-C correctness per "
                               "image (made before it was saved, or from official sets of unequal size), so "
                               "no paired test"))
    return out
