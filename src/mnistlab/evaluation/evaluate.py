"""Test-set evaluation of every trained model: quality metrics, calibration, confusion, per class, speed.

Quality metrics (what ``dvc metrics diff`` shows, ``metrics/test.json``): accuracy, macro F1, log
loss and expected calibration error. Speed and size (``metrics/speed.json``, outside the default
metrics): parameters and prediction images per second. The evaluate, compare and robustness
stages are the only readers of test data.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support

from mnistlab.core.constants import N_CLASSES
from mnistlab.evaluation.calibration import expected_calibration_error
from mnistlab.models.registry import Predictor, find_models, load_model


def timed_predict_proba(predictor: Predictor, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Class probabilities (N, 10) for images (N, 28, 28), and the wall-clock seconds it took."""
    start = time.perf_counter()
    proba = np.asarray(predictor.predict_proba(images), dtype=np.float64)
    return proba, time.perf_counter() - start


def score(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Summary metrics from labels (N,) uint8 and probabilities (N, 10).

    Returns ``accuracy``, ``macro_f1``, ``log_loss`` (natural log, probabilities clipped as
    scikit-learn does) and ``ece``, the expected calibration error over 15 equal-width confidence
    bins (Guo et al. 2017, :func:`mnistlab.evaluation.calibration.expected_calibration_error`).
    """
    y_pred = proba.argmax(axis=1)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "log_loss": float(log_loss(y_true, proba, labels=np.arange(N_CLASSES))),
        "ece": float(expected_calibration_error(y_true, proba)),
    }


def per_class(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict]:
    """Rows ``{digit, precision, recall, f1, support}`` for digits 0..9 (recall = per-class accuracy)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(N_CLASSES), zero_division=0
    )
    return [
        {"digit": d, "precision": float(precision[d]), "recall": float(recall[d]),
         "f1": float(f1[d]), "support": int(support[d])}
        for d in range(N_CLASSES)
    ]


def evaluate_model(
    predictor: Predictor, images: np.ndarray, labels: np.ndarray
) -> tuple[dict, dict, np.ndarray]:
    """Score one predictor on the test images.

    Parameters
    ----------
    predictor : Predictor
        See :mod:`mnistlab.models.registry`.
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    labels : ndarray of shape (N,), uint8

    Returns
    -------
    quality : dict
        :func:`score`'s ``accuracy``, ``macro_f1``, ``log_loss``, ``ece``.
    speed : dict
        ``n_params`` and ``predict_images_per_second`` (wall clock, this machine, this load).
    proba : ndarray of shape (N, 10), float64
    """
    proba, seconds = timed_predict_proba(predictor, images)
    speed = {"n_params": int(predictor.n_params),
             "predict_images_per_second": round(len(labels) / max(seconds, 1e-9), 1)}
    return score(labels, proba), speed, proba


def evaluate_all(folder: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Evaluate every registered model found in ``folder``.

    Returns ``{name: {"quality": dict, "speed": dict, "proba": (N, 10)}}`` in report order.
    """
    results = {}
    for name, path in find_models(folder).items():
        quality, speed, proba = evaluate_model(load_model(path), images, labels)
        results[name] = {"quality": quality, "speed": speed, "proba": proba}
    return results


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict]:
    """Rows ``{actual, predicted, count}`` for all 100 pairs of digits, for the ``confusion_counts``
    plot template (``.dvc/plots/``): 100 rows per model rather than one per test image."""
    counts = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.intp), np.asarray(y_pred, dtype=np.intp)), 1)
    return [{"actual": a, "predicted": p, "count": int(counts[a, p])}
            for a in range(N_CLASSES) for p in range(N_CLASSES)]
