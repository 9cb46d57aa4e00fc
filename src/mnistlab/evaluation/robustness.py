"""Robustness of every trained model: graded corruption families and the MNIST-C benchmark.

Two evaluations share one stage. **Graded families** (:mod:`mnistlab.evaluation.corruptions`): each
family, at each severity, is applied to a stratified subset (``robustness.test_size``) of the *raw*
test digits (uint8 from ``data/raw/t10k-*``, scaled to [0, 1]), giving degradation curves.
**MNIST-C** (:mod:`mnistlab.evaluation.mnist_c`): the benchmark's 15 corruptions at their fixed
settings, applied to all 10,000 raw uint8 test digits as Mu and Gilmer did (or read from the
official files, ``robustness.mnist_c_dir``), scored as test error per corruption and its mean.

In both, the corrupted images then go through exactly the preprocessing the models were trained
with: scaling to [0, 1] and :func:`mnistlab.data.prepare.deskew` when the prepare stage deskewed
(``data/prepared/preprocessing.json``), as ``mnistlab predict`` would treat a user's image.
Deskewing removes shear and re-centres the digit by its centre of mass, so it undoes most of a
shear or translation before any model sees it. Every
model sees the same corrupted images. For the graded families, all (corruption, severity) copies
are stacked and each model predicts them in a few large batches, and the per-image correctness is
kept so that two models can be compared with a paired test (McNemar) on the same images
(:mod:`mnistlab.evidence.robustness_pairs`). The figures and the report of these results are
drawn by :mod:`mnistlab.reporting.robustness_figures`.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IDENTITY, MNIST_C_KEY, MNIST_C_SETS
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import save_npz
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew as deskew_images
from mnistlab.data.prepare import scale, stratified_subset
from mnistlab.evaluation.corruptions import DEFAULT_CORRUPTIONS, FAMILIES, check_corruptions, corrupt
from mnistlab.evaluation.mnist_c import CORRUPTIONS as MNIST_C_CORRUPTIONS
from mnistlab.evaluation.mnist_c import corrupt_mnist_c, load_official, official_root

#: Name and severity of the uncorrupted copy, the first condition of every result.
CLEAN = ("clean", 0.0)


def read_test_files(raw: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """All raw test digits: ``raw/t10k-{images-idx3,labels-idx1}-ubyte.gz``.

    Returns
    -------
    images : ndarray of shape (N, 28, 28), uint8
    labels : ndarray of shape (N,), uint8

    Raises
    ------
    MnistlabError
        If a file is missing or unreadable.
    """
    raw = Path(raw)
    images_path, labels_path = raw / "t10k-images-idx3-ubyte.gz", raw / "t10k-labels-idx1-ubyte.gz"
    for path in (images_path, labels_path):
        if not path.is_file():
            raise MnistlabError(f"{path}: not found; run `dvc repro download` first")
    images, labels = read_pair(images_path, labels_path)
    return np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.uint8)


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
    images, labels = read_test_files(raw)
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


def save_correct(path: str | os.PathLike, result: RobustnessResult, index: np.ndarray,
                 mnist_c: MnistCResult | None = None) -> None:
    """Write the per-image correctness as ``.npz``.

    Graded conditions: one bool array (conditions, N) per model name, with ``corruption`` (str),
    ``severity`` (float64) per condition, ``labels`` and ``test_index`` (the subset's indices into
    the test files). MNIST-C, when given: :data:`MNIST_C_SETS` (str, the set names, :data:`IDENTITY`
    first) and one bool array (sets, M) per model under ``mnist_c.<model>`` (all M test images);
    left out when the sets differ in size, as they cannot then be paired image by image.

    Raises
    ------
    MnistlabError
        If a model name clashes with one of the file's other keys.
    """
    names = np.array([name for name, _ in result.conditions])
    severities = np.array([severity for _, severity in result.conditions], dtype=np.float64)
    reserved = {"corruption", "severity", "labels", "test_index", MNIST_C_SETS} & result.correct.keys()
    if reserved:
        raise MnistlabError(f"model name {sorted(reserved)[0]!r} clashes with a key of {path}")
    extra: dict[str, np.ndarray] = {}
    lengths = {len(c) for per_set in (mnist_c.correct.values() if mnist_c else ()) for c in per_set.values()}
    if len(lengths) == 1:  # sets of unequal size (official files cut short) cannot be paired by image
        sets = list(next(iter(mnist_c.correct.values())))
        extra[MNIST_C_SETS] = np.array(sets)
        for model, per_set in mnist_c.correct.items():
            extra[MNIST_C_KEY.format(model=model)] = np.stack([np.asarray(per_set[s], dtype=bool)
                                                               for s in sets])
    save_npz(path, corruption=names, severity=severities, labels=result.labels, test_index=index,
             **result.correct, **extra)


def corruption_strip(
    image: np.ndarray, corruptions: Mapping[str, Sequence[float]], seed: int, deskew: bool = False
) -> dict[str, list[tuple[float, np.ndarray]]]:
    """One digit at every severity of every corruption, the identity severity first, for a figure.

    Parameters
    ----------
    image : ndarray of shape (28, 28), float32 in [0, 1]
        A scaled raw test digit, not deskewed.
    corruptions : mapping of str to sequence of float
        Family -> severities.
    seed : int
        Seed of the random corruptions (:func:`mnistlab.evaluation.corruptions.corrupt`).
    deskew : bool
        Deskew each corrupted digit (``prepare.deskew``): the digits as the models see them.

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
        copies = np.concatenate([corrupt(np.asarray(image)[None], name, s, seed) for s in values])
        copies = deskew_images(copies) if deskew else copies
        strip[name] = list(zip(values, copies, strict=True))
    return strip


def curve_counts(
    result: RobustnessResult, corruptions: Mapping[str, Sequence[float]]
) -> dict[str, list[dict]]:
    """Family -> rows ``{model, severity, correct, n}``, severities ascending with the identity
    (the clean images, ``clean: True``), for degradation curves with intervals.

    ``correct`` is the number of the ``n`` test images the model classified correctly: enough for a
    Wilson interval (:func:`mnistlab.evidence.compare.accuracy_interval`).
    """
    rows = {}
    n = len(result.labels)
    for family, severities in corruptions.items():
        identity = float(FAMILIES[family].identity)
        values = sorted({identity, *map(float, severities)})
        rows[family] = []
        for model, correct in result.correct.items():
            for s in values:
                key = CLEAN if s == identity else (family, s)
                rows[family].append({"model": model, "severity": s, "clean": s == identity,
                                     "correct": int(correct[result.conditions.index(key)].sum()), "n": n})
    return rows


# -- MNIST-C ------------------------------------------------------------------------------------

def mnist_c_sets(
    images: np.ndarray, labels: np.ndarray, seed: int, official: str | os.PathLike | None = None
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """The clean test set, then each MNIST-C corruption of it, made one at a time (to bound memory).

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), uint8
        All raw test digits (used for the clean set, and corrupted unless ``official`` is given).
    labels : ndarray of shape (N,), integers 0..9
    seed : int
        Seed of the generated corruptions (:func:`mnistlab.evaluation.mnist_c.corrupt_mnist_c`).
    official : path-like, optional
        ``robustness.mnist_c_dir``: a folder of the official ``.npy`` files to read instead (all
        read and checked by this call, before anything is scored); its ``identity`` folder, when
        present, is the clean set, else ``images``.

    Returns
    -------
    iterator of (str, ndarray (M, 28, 28) uint8, ndarray (M,) uint8)
        :data:`IDENTITY`, then the 15 corruptions in :data:`mnistlab.evaluation.mnist_c.CORRUPTIONS`
        order: (name, images, labels).

    Raises
    ------
    MnistlabError
        From :func:`mnistlab.evaluation.mnist_c.load_official`.
    """
    labels = np.asarray(labels, dtype=np.uint8)
    if official is None:
        made = ((name, corrupt_mnist_c(images, name, seed), labels) for name in MNIST_C_CORRUPTIONS)
        return itertools.chain([(IDENTITY, images, labels)], made)
    names = list(MNIST_C_CORRUPTIONS)
    if (official_root(official) / IDENTITY).is_dir():
        names.insert(0, IDENTITY)
    files = load_official(official, names)
    clean = files.pop(IDENTITY, (images, labels))
    return iter([(IDENTITY, *clean), *((name, *files[name]) for name in MNIST_C_CORRUPTIONS)])


@dataclass
class MnistCResult:
    """Per-image correctness of every model on the clean test set and each MNIST-C corruption.

    Attributes
    ----------
    correct : dict of str to dict of str to ndarray of shape (M,), bool
        Model -> set name (:data:`IDENTITY` first, then the corruptions) -> correctness per image.
    source : str
        ``"generated"`` (our implementation, seeded) or the folder of the official files.
    seconds : dict of str to float
        ``"corrupt"`` (making or reading the sets), ``"preprocess"``, and per model its predictions.
    """

    correct: dict[str, dict[str, np.ndarray]]
    source: str
    seconds: dict[str, float]


def _predict(predictor, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Most probable class of every image, ``batch_size`` images per ``predict_proba`` call."""
    return np.concatenate([np.asarray(predictor.predict_proba(images[i : i + batch_size])).argmax(axis=1)
                           for i in range(0, len(images), batch_size)]) if len(images) else np.zeros(0, int)


def evaluate_mnist_c(
    predictors: Mapping[str, object],
    images: np.ndarray,
    labels: np.ndarray,
    deskew: bool = True,
    seed: int = 0,
    batch_size: int = 8192,
    official: str | os.PathLike | None = None,
) -> MnistCResult:
    """Score every model on the clean test set and on each of the 15 MNIST-C corruptions.

    Each set is made (or read), scaled to [0, 1] and deskewed when ``deskew`` (the models'
    preprocessing, ``prepare.deskew``), then predicted by every model, one set at a time.

    Parameters
    ----------
    predictors : mapping of str to predictor
        Model name -> object with ``predict_proba(images (n, 28, 28) float32) -> (n, 10)``.
    images : ndarray of shape (N, 28, 28), uint8
        All raw test digits, not scaled.
    labels : ndarray of shape (N,), integers 0..9
    deskew : bool
    seed : int
        Seed of the generated corruptions.
    batch_size : int
        Images per ``predict_proba`` call.
    official : path-like, optional
        Folder of the official MNIST-C files (``robustness.mnist_c_dir``) to use instead.

    Returns
    -------
    MnistCResult

    Raises
    ------
    MnistlabError
        If the official files are missing or malformed.
    """
    correct: dict[str, dict[str, np.ndarray]] = {name: {} for name in predictors}
    seconds = {"corrupt": 0.0, "preprocess": 0.0, **{name: 0.0 for name in predictors}}
    sets = mnist_c_sets(images, labels, seed, official)
    while True:
        start = time.perf_counter()
        item = next(sets, None)
        seconds["corrupt"] += time.perf_counter() - start
        if item is None:
            break
        name, corrupted, expected = item
        start = time.perf_counter()
        x = scale(corrupted)
        x = deskew_images(x) if deskew else x
        seconds["preprocess"] += time.perf_counter() - start
        for model, predictor in predictors.items():
            start = time.perf_counter()
            correct[model][name] = _predict(predictor, x, batch_size) == expected
            seconds[model] += time.perf_counter() - start
    source = "generated" if official is None else str(official)
    return MnistCResult(correct, source, seconds)


def mnist_c_summary(result: MnistCResult) -> dict[str, dict[str, float]]:
    """Per model: test error (a fraction) on the clean set and on each corruption, ``mce`` (the mean
    corruption error: the mean test error over the corruptions, as MNIST-C reports) and
    ``relative_mce`` (``mce`` minus the clean error: the mean increase of the error), rounded to 5
    decimals, for the ``mnist_c`` entry of each model in ``metrics/robustness.json``."""
    out = {}
    for model, sets in result.correct.items():
        row = {name: float(1.0 - correct.mean()) for name, correct in sets.items()}
        corruptions = [row[name] for name in sets if name != IDENTITY]
        row["mce"] = float(np.mean(corruptions))
        row["relative_mce"] = row["mce"] - row[IDENTITY]
        out[model] = {("clean" if key == IDENTITY else key): round(value, 5) for key, value in row.items()}
    return out


def mnist_c_counts(result: MnistCResult) -> list[dict]:
    """Rows ``{model, corruption, errors, n}`` (``corruption`` is ``clean`` for the clean set), for
    figures and tables with Wilson intervals."""
    return [{"model": model, "corruption": "clean" if name == IDENTITY else name,
             "errors": int((~correct).sum()), "n": int(correct.size)}
            for model, sets in result.correct.items() for name, correct in sets.items()]


def mnist_c_strip(image: np.ndarray, seed: int, deskew: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One raw digit under each MNIST-C corruption, as made and as the models see it.

    Parameters
    ----------
    image : ndarray of shape (28, 28), uint8
    seed : int
    deskew : bool
        Deskew the model's view (``prepare.deskew``).

    Returns
    -------
    list of (str, ndarray (28, 28) float32, ndarray (28, 28) float32)
        ``clean`` then each corruption: (name, corrupted digit in [0, 1], the models' input in [0, 1]).
    """
    image = np.asarray(image, dtype=np.uint8)[None]
    made = [("clean", image)] + [(name, corrupt_mnist_c(image, name, seed)) for name in MNIST_C_CORRUPTIONS]
    unit = scale(np.concatenate([m for _, m in made]))
    seen = deskew_images(unit) if deskew else unit
    return [(name, unit[i], seen[i]) for i, (name, _) in enumerate(made)]
