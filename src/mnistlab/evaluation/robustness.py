"""Robustness of every trained model to MNIST-C-style corruptions of the test digits.

Each corruption of :mod:`mnistlab.evaluation.corruptions` is applied, at each severity, to the *raw* test
digits (uint8 from ``data/raw/t10k-*``, scaled to [0, 1]); the corrupted images then go through
exactly the preprocessing the models were trained with (:func:`mnistlab.data.prepare.deskew` when
``prepare.deskew`` is true), as ``mnistlab predict`` would treat a user's image. Every model sees the
same corrupted images: all (corruption, severity) copies are stacked and each model predicts them
in a few large batches. The per-image correctness is kept so that two models can be compared with
a paired test (McNemar) on the same images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import save_npz
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew as deskew_images
from mnistlab.data.prepare import scale, stratified_subset
from mnistlab.evaluation.corruptions import DEFAULT_CORRUPTIONS, FAMILIES, check_corruptions, corrupt

#: Name and severity of the uncorrupted copy, the first condition of every result.
CLEAN = ("clean", 0.0)


def load_test_subset(
    raw: str | os.PathLike, test_size: int | float | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``raw/t10k-{images-idx3,labels-idx1}-ubyte.gz`` and keep a stratified, seeded subset.

    Returns
    -------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1] (scaled, not deskewed)
    labels : ndarray of shape (N,), uint8
    index : ndarray of shape (N,), int64
        Positions of the kept images in the test files.

    Raises
    ------
    MnistlabError
        If a file is missing or unreadable, or ``robustness.test_size`` exceeds the test images.
    """
    raw = Path(raw)
    images_path, labels_path = raw / "t10k-images-idx3-ubyte.gz", raw / "t10k-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise MnistlabError(f"{path}: not found; run `dvc repro download` first")
    images, labels = read_pair(images_path, labels_path)
    index, labels = stratified_subset(np.arange(len(labels)), labels, test_size, seed, "robustness.test_size")
    return scale(images[index]), labels.astype(np.uint8), index.astype(np.int64)


def conditions(corruptions: Mapping[str, Sequence[float]]) -> list[tuple[str, float]]:
    """``CLEAN`` then every (family, severity) in the given order, identity severities left out
    (they are the clean images)."""
    out = [CLEAN]
    for name, severities in corruptions.items():
        out += [(name, float(s)) for s in severities if s != FAMILIES[name].identity]
    return out


def corrupted_sets(
    images: np.ndarray, corruptions: Mapping[str, Sequence[float]], deskew: bool, seed: int
) -> tuple[list[tuple[str, float]], np.ndarray]:
    """Every corrupted copy of ``images``, preprocessed as the models' training images.

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
        Scaled raw digits (not deskewed).
    corruptions : mapping of str to sequence of float
        Family -> severities.
    deskew : bool
        Deskew each copy after corrupting it (``prepare.deskew``).
    seed : int

    Returns
    -------
    conds : list of (str, float)
        :func:`conditions` of ``corruptions``.
    stack : ndarray of shape (len(conds), N, 28, 28), float32 in [0, 1]
    """
    check_corruptions(corruptions)
    conds = conditions(corruptions)
    stack = np.empty((len(conds), *images.shape), dtype=np.float32)
    for i, (name, severity) in enumerate(conds):
        copy = images if name == CLEAN[0] else corrupt(images, name, severity, seed)
        stack[i] = deskew_images(copy) if deskew else copy
    return conds, stack


@dataclass
class RobustnessResult:
    """Per-image correctness of every model on every (corruption, severity).

    Attributes
    ----------
    conditions : list of (str, float)
        ``CLEAN`` first, then (family, severity).
    labels : ndarray of shape (N,), uint8
    correct : dict of str to ndarray of shape (len(conditions), N), bool
        Model name -> whether its most probable class is the label.
    seconds : dict of str to float
        Model name -> wall-clock seconds of its predictions.
    """

    conditions: list[tuple[str, float]]
    labels: np.ndarray
    correct: dict[str, np.ndarray]
    seconds: dict[str, float]

    def accuracy(self, model: str, name: str, severity: float) -> float:
        """Accuracy of ``model`` on one condition; the family's identity severity is ``CLEAN``."""
        key = CLEAN if name != CLEAN[0] and severity == FAMILIES[name].identity else (name, float(severity))
        return float(self.correct[model][self.conditions.index(key)].mean())


def evaluate_robustness(
    predictors: Mapping[str, object],
    images: np.ndarray,
    labels: np.ndarray,
    corruptions: Mapping[str, Sequence[float]] = DEFAULT_CORRUPTIONS,
    deskew: bool = True,
    seed: int = 0,
    batch_size: int = 8192,
) -> RobustnessResult:
    """Score every model on every corrupted copy of the images.

    Parameters
    ----------
    predictors : mapping of str to predictor
        Model name -> object with ``predict_proba(images (n, 28, 28) float32) -> (n, 10)``.
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
        Scaled raw test digits, not deskewed.
    labels : ndarray of shape (N,), integers 0..9
    corruptions : mapping of str to sequence of float
        Family -> severities (default :data:`mnistlab.evaluation.corruptions.DEFAULT_CORRUPTIONS`).
    deskew : bool
        Preprocess each corrupted copy with :func:`mnistlab.data.prepare.deskew`.
    seed : int
        Seed of the random corruptions.
    batch_size : int
        Images per ``predict_proba`` call (the copies are predicted as one long stack).

    Returns
    -------
    RobustnessResult
    """
    conds, stack = corrupted_sets(images, corruptions, deskew, seed)
    flat = stack.reshape(-1, *images.shape[1:])
    expected = np.tile(np.asarray(labels), len(conds))
    correct, seconds = {}, {}
    for name, predictor in predictors.items():
        start = time.perf_counter()
        pred = np.concatenate([np.asarray(predictor.predict_proba(flat[i : i + batch_size])).argmax(axis=1)
                               for i in range(0, len(flat), batch_size)])
        seconds[name] = time.perf_counter() - start
        correct[name] = (pred == expected).reshape(len(conds), len(labels))
    return RobustnessResult(conds, np.asarray(labels, dtype=np.uint8), correct, seconds)


def summary(result: RobustnessResult) -> dict[str, dict[str, float]]:
    """Per model: ``clean`` accuracy, each family's accuracy averaged over its severities, and
    ``mean_corruption_accuracy`` (the mean over families), for ``metrics/robustness.json``."""
    families = list(dict.fromkeys(name for name, _ in result.conditions[1:]))
    out = {}
    for model, correct in result.correct.items():
        accuracy = correct.mean(axis=1)
        row = {"clean": float(accuracy[0])}
        for family in families:
            pairs = zip(result.conditions, accuracy, strict=True)
            row[family] = float(np.mean([a for (name, _), a in pairs if name == family]))
        row["mean_corruption_accuracy"] = float(np.mean([row[f] for f in families] or [row["clean"]]))
        out[model] = {key: round(value, 5) for key, value in row.items()}
    return out


def curve_rows(result: RobustnessResult, corruptions: Mapping[str, Sequence[float]]) -> dict[str, list[dict]]:
    """Family -> long-format rows ``{model, severity, accuracy}`` for one overlay plot per family,
    the identity severity (the clean accuracy) included, severities ascending."""
    rows = {}
    for family, severities in corruptions.items():
        values = sorted({float(FAMILIES[family].identity), *map(float, severities)})
        rows[family] = [{"model": model, "severity": s,
                         "accuracy": round(result.accuracy(model, family, s), 5)}
                        for model in result.correct for s in values]
    return rows


def save_correct(path: str | os.PathLike, result: RobustnessResult, index: np.ndarray) -> None:
    """Write the per-image correctness as ``.npz``: one bool array (conditions, N) per model name,
    with ``corruption`` (str), ``severity`` (float64) per condition, ``labels`` and ``test_index``."""
    names = np.array([name for name, _ in result.conditions])
    severities = np.array([severity for _, severity in result.conditions], dtype=np.float64)
    reserved = {"corruption", "severity", "labels", "test_index"} & result.correct.keys()
    if reserved:
        raise MnistlabError(f"model name {sorted(reserved)[0]!r} clashes with a key of {path}")
    save_npz(path, corruption=names, severity=severities, labels=result.labels, test_index=index,
             **result.correct)


def paired_tests(
    result: RobustnessResult, model_a: str, model_b: str, families: Sequence[str] = ("rotation", "scale"),
    seed: int = 0,
) -> list[dict]:
    """Paired comparison of ``model_a`` and ``model_b`` on the clean images and each severity of ``families``.

    Both models saw the same corrupted images, so each row uses the exact McNemar test and the
    paired bootstrap of :mod:`mnistlab.evidence.compare`. Rows: ``corruption, severity, accuracy_a,
    accuracy_b, diff`` (accuracy A - B) with its 95% bootstrap interval ``low, high``, ``a_only``
    and ``b_only`` (images only A, only B gets right), ``p_value`` (two-sided) and ``p_holm``
    (Holm-adjusted over the rows). Accuracies and differences are fractions.

    Raises
    ------
    MnistlabError
        If either model was not evaluated.
    """
    from mnistlab.evidence.compare import (  # lazy: only this table needs them
        holm,
        mcnemar_exact,
        paired_bootstrap_diff,
    )

    missing = [name for name in (model_a, model_b) if name not in result.correct]
    if missing:
        raise MnistlabError(f"paired test: model {missing[0]} was not evaluated (no trained model file)")
    rows = []
    for i, (name, severity) in enumerate(result.conditions):
        if name not in families and name != CLEAN[0]:
            continue
        a, b = result.correct[model_a][i], result.correct[model_b][i]
        test = mcnemar_exact(a, b)
        diff, low, high = paired_bootstrap_diff(a, b, seed=seed)
        rows.append({"corruption": name, "severity": severity, "accuracy_a": round(float(a.mean()), 5),
                     "accuracy_b": round(float(b.mean()), 5), "diff": round(diff, 5), "low": round(low, 5),
                     "high": round(high, 5), "a_only": test["b"], "b_only": test["c"],
                     "p_value": test["p_value"]})
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows


def plot_heatmap(table: Mapping[str, Mapping[str, float]], path: str | os.PathLike) -> None:
    """Accuracy heatmap, models (rows) x clean, each family and the mean (columns), annotated.

    ``table`` is :func:`summary`'s output; writes a PNG to ``path``.
    """
    import matplotlib.pyplot as plt

    from mnistlab.reporting.plots import save_figure  # selects the Agg backend first

    models = list(table)
    columns = list(next(iter(table.values()))) if models else []
    values = np.array([[table[m][c] for c in columns] for m in models]).reshape(len(models), len(columns))
    fig, ax = plt.subplots(figsize=(1.0 * len(columns) + 2.6, 0.45 * len(models) + 1.6))
    image = ax.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        ax.text(c, r, f"{value:.3f}", ha="center", va="center", fontsize=8,
                color="white" if value < 0.25 or value > 0.85 else "black")
    ax.set_xticks(range(len(columns)), [c.replace("mean_corruption_accuracy", "mean") for c in columns],
                  rotation=35, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.set_title("Test accuracy under corruptions (mean over severities)")
    fig.colorbar(image, ax=ax, fraction=0.03, label="accuracy")
    fig.tight_layout()
    save_figure(fig, path)


def plot_strip(
    image: np.ndarray, corruptions: Mapping[str, Sequence[float]], seed: int, path: str | os.PathLike,
    label: int | None = None,
) -> None:
    """One digit at every severity of every corruption: a row per family, the identity first.

    Parameters
    ----------
    image : ndarray of shape (28, 28), float32 in [0, 1]
        A scaled raw test digit; shown as corrupted, before any deskewing.
    corruptions : mapping of str to sequence of float
    seed : int
        Seed of the random corruptions (:func:`mnistlab.evaluation.corruptions.corrupt`).
    path : path-like
        PNG to write.
    label : int, optional
        The digit's label, for the title.
    """
    import matplotlib.pyplot as plt

    from mnistlab.reporting.plots import save_figure  # selects the Agg backend first

    rows = {name: sorted({float(FAMILIES[name].identity), *map(float, severities)})
            for name, severities in corruptions.items()}
    ncols = max((len(v) for v in rows.values()), default=1)
    fig, axes = plt.subplots(max(len(rows), 1), ncols, figsize=(1.3 * ncols + 1.6, 1.45 * max(len(rows), 1)),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, (name, severities) in enumerate(rows.items()):
        for c, severity in enumerate(severities):
            ax = axes[r, c]
            ax.imshow(corrupt(image[None], name, severity, seed)[0], cmap="gray_r", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(f"{severity:g}", fontsize=8)
        axes[r, 0].text(-4, 14, name, ha="right", va="center", fontsize=9)
    digit = "" if label is None else f" (a {label})"
    fig.suptitle(f"One test digit{digit} under every corruption and severity (before deskewing)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
