"""Calibration of predicted probabilities: expected calibration error and reliability diagrams.

Following Guo, Pleiss, Sun & Weinberger (2017), "On calibration of modern neural networks"
(ICML), a prediction's confidence is its largest class probability. The confidences are sorted
into ``n_bins`` equal-width bins ``(i / n_bins, (i + 1) / n_bins]`` and

    ECE = sum over bins B of |B| / n * |accuracy(B) - mean confidence(B)|,

a fraction in [0, 1] (0 for a perfectly calibrated model). A reliability diagram plots each
non-empty bin's accuracy against its mean confidence: :func:`reliability_bins` computes its rows,
:func:`mnistlab.reporting.figures.plot_reliability` draws it.
"""

from __future__ import annotations

import numpy as np


def _confidence_correct(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or y_true.shape != (proba.shape[0],):
        raise ValueError(f"expected labels (n,) and probabilities (n, n_classes), got {y_true.shape} "
                         f"and {proba.shape}")
    return proba.max(axis=1), proba.argmax(axis=1) == y_true


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence: bin i holds ``(i / n_bins, (i + 1) / n_bins]``; 0 goes to bin 0."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> list[dict]:
    """Rows of a reliability diagram, one per non-empty confidence bin.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
        True class indices.
    proba : ndarray of float, shape (n_samples, n_classes)
        Predicted class probabilities (rows summing to 1).
    n_bins : int
        Equal-width bins over the confidence range [0, 1].

    Returns
    -------
    list of dict
        ``{bin, confidence, accuracy, count}``: the bin index (0 .. n_bins - 1), the mean
        confidence and the accuracy (fractions) of its samples, and how many there are;
        bins in increasing order of confidence.
    """
    confidence, correct = _confidence_correct(y_true, proba)
    index = _bin_index(confidence, n_bins)
    count = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=n_bins)
    return [{"bin": int(i), "confidence": float(conf_sum[i] / count[i]),
             "accuracy": float(right[i] / count[i]), "count": int(count[i])}
            for i in np.flatnonzero(count)]


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error (Guo et al. 2017) over ``n_bins`` equal-width confidence bins.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_samples,)
        True class indices.
    proba : ndarray of float, shape (n_samples, n_classes)
        Predicted class probabilities.
    n_bins : int
        Number of bins (15 as in Guo et al.).

    Returns
    -------
    float
        The count-weighted mean of |accuracy - mean confidence| over the bins, a fraction in [0, 1].
    """
    rows = reliability_bins(y_true, proba, n_bins)
    n = sum(r["count"] for r in rows)
    return float(sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / n)


def reliability_rows(rows_by_model: dict[str, list[dict]]) -> list[dict]:
    """Long-format rows ``{model, confidence, accuracy, count}`` for ``plots/reliability.csv``."""
    return [{"model": name, "confidence": r["confidence"], "accuracy": r["accuracy"], "count": r["count"]}
            for name, rows in rows_by_model.items() for r in rows]
