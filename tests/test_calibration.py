"""Expected calibration error and reliability bins on constructed cases (the diagram itself:
tests/test_report.py)."""

import numpy as np
import pytest

from mnistlab.evaluation.calibration import (
    expected_calibration_error,
    reliability_bins,
    reliability_rows,
)


def two_class(confidence, correct):
    """Labels and 2-class probabilities whose top probability is ``confidence`` on class 0."""
    confidence = np.asarray(confidence, dtype=float)
    proba = np.stack([confidence, 1 - confidence], axis=1)
    y = np.where(np.asarray(correct), 0, 1)
    return y, proba


def test_perfectly_calibrated_has_zero_ece():
    # 10 predictions at confidence 0.8 of which 8 are right, 20 at 0.55 of which 11 are right
    y1, p1 = two_class([0.8] * 10, [True] * 8 + [False] * 2)
    y2, p2 = two_class([0.55] * 20, [True] * 11 + [False] * 9)
    y, proba = np.concatenate([y1, y2]), np.concatenate([p1, p2])
    assert expected_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-12)


def test_known_example():
    # n_bins = 10: bin (0.8, 0.9] holds 0.85 right and 0.85 wrong (accuracy 0.5, gap 0.35);
    # bin (0.6, 0.7] holds 0.65 right (gap 0.35 -> 1 - 0.65); ECE = 2/3 * 0.35 + 1/3 * 0.35 = 0.35
    y, proba = two_class([0.85, 0.85, 0.65], [True, False, True])
    assert expected_calibration_error(y, proba, n_bins=10) == pytest.approx(0.35)
    # overconfident: all at 0.95, half right -> ECE 0.45
    y, proba = two_class([0.95] * 4, [True, False, True, False])
    assert expected_calibration_error(y, proba, n_bins=15) == pytest.approx(0.45)


def test_matches_a_direct_loop():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(10) * 0.3, size=500)
    y = rng.integers(0, 10, 500)
    conf, right = proba.max(1), proba.argmax(1) == y
    expected = 0.0
    for lo, hi in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            expected += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    assert expected_calibration_error(y, proba, n_bins=15) == pytest.approx(expected)


def test_reliability_bins_and_rows():
    y, proba = two_class([0.85, 0.85, 0.65, 1.0], [True, False, True, True])
    rows = reliability_bins(y, proba, n_bins=10)
    assert [r["bin"] for r in rows] == [6, 8, 9]  # confidence 1.0 falls in the last bin
    assert [r["count"] for r in rows] == [1, 2, 1]
    assert rows[1] == {"bin": 8, "confidence": pytest.approx(0.85), "accuracy": 0.5, "count": 2}
    long = reliability_rows({"a": rows, "b": rows[:1]})
    assert len(long) == 4 and list(long[0]) == ["model", "confidence", "accuracy", "count"]


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        expected_calibration_error(np.zeros(3, int), np.full((4, 10), 0.1))
