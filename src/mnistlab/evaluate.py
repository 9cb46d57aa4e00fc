"""Test-set evaluation of every trained model: accuracy, macro F1, per-class metrics, log loss,
confusion matrices and prediction speed.

The evaluate stage is the only place that reads the test split.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_recall_fscore_support

from mnistlab.predictors import Predictor, load_predictor

N_CLASSES = 10

#: Every model the pipeline can train, in report order, and its file suffix under models/.
MODEL_FILES = {
    "svm_pixels": ".joblib",
    "svm_gabor": ".joblib",
    "mlp_sgd-random": ".npz",
    "mlp_sgd-he": ".npz",
    "mlp_adam-random": ".npz",
    "mlp_adam-he": ".npz",
    "torch_logreg": ".pt",
    "torch_fnn": ".pt",
    "torch_cnn": ".pt",
    "torch_patchnet": ".pt",
    "torch_mlp": ".pt",
}


def find_models(folder: str | os.PathLike = "models") -> dict[str, Path]:
    """Model name -> file, for every known model present in ``folder``, in report order."""
    paths = {name: Path(folder) / f"{name}{suffix}" for name, suffix in MODEL_FILES.items()}
    return {name: path for name, path in paths.items() if path.is_file()}


def timed_predict_proba(predictor: Predictor, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Class probabilities (N, 10) for images (N, 28, 28), and the wall-clock seconds it took."""
    start = time.perf_counter()
    proba = np.asarray(predictor.predict_proba(images), dtype=np.float64)
    return proba, time.perf_counter() - start


def score(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Summary metrics from labels (N,) uint8 and probabilities (N, 10).

    Returns ``accuracy``, ``macro_f1`` and ``log_loss`` (natural log, probabilities clipped as
    scikit-learn does).
    """
    y_pred = proba.argmax(axis=1)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
        "log_loss": float(log_loss(y_true, proba, labels=np.arange(N_CLASSES))),
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


def evaluate_model(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    """Score one predictor on the test images.

    Parameters
    ----------
    predictor : Predictor
        See :mod:`mnistlab.predictors`.
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    labels : ndarray of shape (N,), uint8

    Returns
    -------
    metrics : dict
        ``accuracy``, ``macro_f1``, ``log_loss``, ``n_params``, ``predict_images_per_second``.
    proba : ndarray of shape (N, 10), float64
    """
    proba, seconds = timed_predict_proba(predictor, images)
    metrics = score(labels, proba)
    metrics["n_params"] = int(predictor.n_params)
    metrics["predict_images_per_second"] = round(len(labels) / max(seconds, 1e-9), 1)
    return metrics, proba


def evaluate_all(models: dict[str, Path], images: np.ndarray, labels: np.ndarray) -> dict[str, dict]:
    """Evaluate every model file; returns ``{name: {"metrics": dict, "proba": (N, 10)}}``."""
    results = {}
    for name, path in models.items():
        metrics, proba = evaluate_model(load_predictor(path), images, labels)
        results[name] = {"metrics": metrics, "proba": proba}
    return results


def confusion_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict]:
    """One ``{actual, predicted}`` row per test image, for DVC's ``confusion`` plot template."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, y_pred, strict=True)]


def leaderboard(test_metrics: dict[str, dict], train_metrics: dict[str, dict]) -> list[dict]:
    """Rows ``{model, accuracy, train_seconds}`` sorted by test accuracy, best first."""
    rows = [
        {"model": name, "accuracy": round(m["accuracy"], 4),
         "train_seconds": train_metrics.get(name, {}).get("train_seconds")}
        for name, m in test_metrics.items()
    ]
    return sorted(rows, key=lambda row: -row["accuracy"])


def per_class_gain(y_true: np.ndarray, predictions: dict[str, np.ndarray]) -> list[dict]:
    """Per-digit accuracy (recall) of two models' predictions and the gain of the second over the first.

    Parameters
    ----------
    y_true : ndarray of shape (N,)
    predictions : dict
        Exactly two ``{model name: predicted labels (N,)}``, baseline first.

    Returns
    -------
    list of dict
        Rows ``{"digit", <name a>, <name b>, "gain"}``, accuracies in [0, 1], gain = b - a.
    """
    (name_a, pred_a), (name_b, pred_b) = predictions.items()
    recall_a = [row["recall"] for row in per_class(y_true, pred_a)]
    recall_b = [row["recall"] for row in per_class(y_true, pred_b)]
    return [
        {"digit": d, name_a: round(a, 4), name_b: round(b, 4), "gain": round(b - a, 4)}
        for d, (a, b) in enumerate(zip(recall_a, recall_b, strict=True))
    ]
