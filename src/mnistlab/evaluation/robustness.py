"""Robustness of every trained model to MNIST-C-style corruptions of the test digits.

Each corruption of :mod:`mnistlab.evaluation.corruptions` is applied, at each severity, to the *raw* test
digits (uint8 from ``data/raw/t10k-*``, scaled to [0, 1]); the corrupted images then go through
exactly the preprocessing the models were trained with (:func:`mnistlab.data.prepare.deskew` when
``prepare.deskew`` is true), as ``mnistlab predict`` would treat a user's image. Every model sees the
same corrupted images: all (corruption, severity) copies are stacked and each model predicts them
in a few large batches. The per-image correctness is kept so that two models can be compared with
a paired test (McNemar) on the same images (:mod:`mnistlab.evidence.robustness_pairs`). The
figures of these results are drawn by :mod:`mnistlab.reporting`.
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


def corruption_strip(
    image: np.ndarray, corruptions: Mapping[str, Sequence[float]], seed: int
) -> dict[str, list[tuple[float, np.ndarray]]]:
    """One digit at every severity of every corruption, the identity severity first, for a figure.

    Parameters
    ----------
    image : ndarray of shape (28, 28), float32 in [0, 1]
        A scaled raw test digit; corrupted, not deskewed.
    corruptions : mapping of str to sequence of float
        Family -> severities.
    seed : int
        Seed of the random corruptions (:func:`mnistlab.evaluation.corruptions.corrupt`).

    Returns
    -------
    dict of str to list of (float, ndarray of shape (28, 28) float32 in [0, 1])
        Family -> (severity, corrupted digit), severities ascending with the family's identity.

    Raises
    ------
    MnistlabError
        If a family is unknown or a severity out of its range.
    """
    check_corruptions(corruptions)
    strip = {}
    for name, severities in corruptions.items():
        values = sorted({float(FAMILIES[name].identity), *map(float, severities)})
        strip[name] = [(s, corrupt(np.asarray(image)[None], name, s, seed)[0]) for s in values]
    return strip
