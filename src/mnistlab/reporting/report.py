"""The visual report: tables and PNG figures drawn from what the evaluate, compare, robustness and
training stages wrote, so a reader sees the results without running DVC.

:func:`make_report` is the report stage: it reads every input (:class:`ReportFiles`) with the
readers of :mod:`mnistlab.core.io`, writes the two tables and draws every figure.
:func:`leaderboard_rows` and :func:`svm_gain_rows` compute the tables (``plots/leaderboard.csv``,
``plots/svm_gain.csv``) and :func:`write_report` draws the figures from arrays and dicts (no file
reading, so it can be tested on small synthetic inputs). The figures of what the networks learned
are drawn by :mod:`mnistlab.reporting.representations`.

No model is named here: the models of a figure are chosen by their attributes in
:data:`mnistlab.models.registry.MODELS` (family, ``features``, ``role``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import Split, atomic_path, read_json, read_probabilities, read_split
from mnistlab.core.params import Params
from mnistlab.data.benchmark import read_preprocessing
from mnistlab.data.prepare import label_counts
from mnistlab.evaluation.calibration import reliability_bins
from mnistlab.evidence.compare import accuracy_interval, paired_bootstrap_diff
from mnistlab.features.gabor import make_bank
from mnistlab.models.registry import MODELS, load_model, model_file, select
from mnistlab.models.torch_models.settings import settings_from_params
from mnistlab.reporting import figures, plots
from mnistlab.reporting.anchors import write_anchors
from mnistlab.reporting.representations import write_representation_figures


def _the_one(**attributes: object) -> str | None:
    """The one registry model with these attributes, or None when there is none (or several)."""
    names = select(**attributes)
    return names[0] if len(names) == 1 else None


#: The PyTorch twin drawn against the NumPy MLP, and the CNN of the filter figures (registry ``role``).
TWIN_MODEL = _the_one(role="report_twin")
CNN_MODEL = _the_one(role="report_convnet")
#: What each SVM of the pair reads (registry ``features``), for the figure titles.
FEATURE_LABELS = {"pixels": "raw pixels", "gabor": "Gabor features"}


def _svm_pair() -> tuple[str, ...]:
    """The registry's SVM on each of :data:`FEATURE_LABELS`, in that order; empty when one lacks."""
    names = tuple(_the_one(family="svm", features=features) for features in FEATURE_LABELS)
    return names if all(names) else ()


#: The pair of the per-class SVM gain, features b minus features a (see :func:`_svm_pair`).
SVM_PAIR = _svm_pair()
#: Dimensions kept by PCA before t-SNE (the usual speed-up; van der Maaten and Hinton 2008, sec. 5).
TSNE_PCA_DIMS = 50
#: Up to this many points t-SNE computes exact gradients (faster than Barnes-Hut for small N).
TSNE_EXACT_MAX = 500

#: File names under the output folder.
FIGURES = {
    "samples": "sample_images.png",
    "labels": "label_distribution.png",
    "leaderboard": "leaderboard.png",
    "confusion": "confusion_best.png",
    "confusion_all": "confusion_matrices.png",
    "misclassified": "misclassified.png",
    "predictions": "predictions.png",
    "reliability": "reliability.png",
    "curves_numpy": "curves_numpy_mlps.png",
    "curves_twin": f"curves_numpy_vs_{TWIN_MODEL or 'twin'}.png",
    "curves_torch": "curves_torch.png",
    "svm_pair": "svm_confusion_pixels_vs_gabor.png",
    "svm_gain": "svm_per_class_gain.png",
    "tsne": "embedding_tsne.png",
    "pca": "embedding_pca.png",
}
LEADERBOARD_COLUMNS = ("model", "title", "family", "accuracy", "ci_low", "ci_high", "error_rate", "ece",
                       "macro_f1", "log_loss", "mean_corruption_accuracy", "n_params", "train_seconds",
                       "predict_images_per_second")
SVM_GAIN_COLUMNS = ("digit", *SVM_PAIR, "gain")


# -- inputs ------------------------------------------------------------------------------------------

def read_train_metrics(folder: str | os.PathLike) -> dict[str, dict]:
    """Model name -> ``<folder>/<model>.json`` (the training stages' metrics) for every model present.

    Raises
    ------
    MnistlabError
        If a present file is not a JSON object (:func:`mnistlab.core.io.read_json`).
    """
    paths = {name: Path(folder) / f"{name}.json" for name in MODELS}
    return {name: read_json(path, f"the training metrics of {name} (run `dvc repro`)")
            for name, path in paths.items() if path.is_file()}


def label_count_table(splits: dict[str, Split]) -> dict[str, np.ndarray]:
    """Split name -> images per digit 0..9, ndarray of shape (10,), from the loaded splits."""
    rows = label_counts(splits)
    return {name: np.array([row[name] for row in rows]) for name in splits}


# -- tables ------------------------------------------------------------------------------------------

def _get(table: dict | None, model: str, key: str):
    value = (table or {}).get(model, {})
    return value.get(key) if isinstance(value, dict) else None


def _rounded(value, digits: int = 6):
    return round(value, digits) if isinstance(value, float) else value


def leaderboard_rows(
    y_test: np.ndarray,
    test_proba: dict[str, np.ndarray],
    test_metrics: dict[str, dict],
    speed: dict | None = None,
    train_metrics: dict[str, dict] | None = None,
    robustness: dict | None = None,
) -> list[dict]:
    """One row per evaluated model, best test accuracy first (registry order among equals).

    Parameters
    ----------
    y_test : ndarray of shape (N,)
        Test labels.
    test_proba : dict of str to ndarray of shape (N, 10)
        Test probabilities; the accuracy and its Wilson 95 % interval count the arg max hits.
    test_metrics : dict
        ``metrics/test.json``: model -> ``ece``, ``macro_f1``, ``log_loss``.
    speed : dict, optional
        ``metrics/speed.json``: model -> ``n_params``, ``predict_images_per_second``.
    train_metrics : dict, optional
        Model -> ``metrics/train/<model>.json`` (``train_seconds``).
    robustness : dict, optional
        ``metrics/robustness.json``: model -> ``mean_corruption_accuracy``.

    Returns
    -------
    list of dict
        Keys :data:`LEADERBOARD_COLUMNS`; fractions for accuracy, bounds and error rate; None where
        an input lacks the value. Models of ``test_proba`` absent from ``test_metrics`` are left out.
    """
    y_test = np.asarray(y_test)
    n = len(y_test)
    order = [name for name in MODELS if name in test_proba]
    order += [name for name in test_proba if name not in MODELS]
    rows = []
    for name in order:
        if name not in test_metrics:
            continue
        correct = int(np.count_nonzero(np.asarray(test_proba[name]).argmax(axis=1) == y_test))
        low, high = accuracy_interval(correct, n)
        spec = MODELS.get(name)
        rows.append({
            "model": name, "title": spec.title if spec else "", "family": spec.family if spec else "",
            "accuracy": round(correct / n, 6), "ci_low": round(low, 6), "ci_high": round(high, 6),
            "error_rate": round(1 - correct / n, 6),
            **{key: _rounded(_get(test_metrics, name, key)) for key in ("ece", "macro_f1", "log_loss")},
            "mean_corruption_accuracy": _rounded(_get(robustness, name, "mean_corruption_accuracy")),
            "n_params": _get(speed, name, "n_params"),
            "train_seconds": _get(train_metrics, name, "train_seconds"),
            "predict_images_per_second": _get(speed, name, "predict_images_per_second"),
        })
    return sorted(rows, key=lambda row: -row["accuracy"])  # stable: registry order among equals


def svm_gain_rows(y_test: np.ndarray, test_proba: dict[str, np.ndarray]) -> list[dict]:
    """Per-digit test accuracy (recall) of the two SVMs of :data:`SVM_PAIR` and the gain b - a.

    Parameters
    ----------
    y_test : ndarray of shape (N,), integers 0..9
    test_proba : dict of str to ndarray of shape (N, 10)
        Model name -> test probabilities.

    Returns
    -------
    list of dict
        Ten rows with the keys :data:`SVM_GAIN_COLUMNS`, ``{digit, <SVM a>, <SVM b>, gain}``
        (fractions), or none when either SVM has no probabilities.
    """
    if not SVM_PAIR or not set(SVM_PAIR) <= test_proba.keys():
        return []
    a, b = SVM_PAIR
    recall = {}
    for name in SVM_PAIR:
        counts = plots.confusion_counts(y_test, np.asarray(test_proba[name]).argmax(axis=1))
        recall[name] = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    return [{"digit": d, a: round(float(recall[a][d]), 6), b: round(float(recall[b][d]), 6),
             "gain": round(float(recall[b][d] - recall[a][d]), 6)} for d in range(10)]


def svm_gain_intervals(y_test: np.ndarray, test_proba: dict[str, np.ndarray], seed: int = 0,
                       n_resamples: int = 2000, level: float = 0.95) -> np.ndarray | None:
    """Each digit's paired percentile bootstrap interval of the SVM gain of :func:`svm_gain_rows`.

    The gain of digit d is ``recall_b(d) - recall_a(d)`` on the same test images of that digit, so
    each resample draws those images with replacement and keeps both SVMs' results on each
    (:func:`mnistlab.evidence.compare.paired_bootstrap_diff`, B minus A). The intervals are for one
    digit at a time (descriptive; the overall difference is the compare stage's test).

    Parameters
    ----------
    y_test : ndarray of shape (N,), integers 0..9
    test_proba : dict of str to ndarray of shape (N, 10)
    seed : int
        Seed of the resamples (digit d uses ``seed + d``).
    n_resamples : int
    level : float
        Confidence level of each interval.

    Returns
    -------
    ndarray of shape (10, 2), float64, or None
        ``[low, high]`` per digit (fractions); NaN for a digit without test images; None when either
        SVM of :data:`SVM_PAIR` has no probabilities.
    """
    if not SVM_PAIR or not set(SVM_PAIR) <= test_proba.keys():
        return None
    y_test = np.asarray(y_test)
    a, b = (np.asarray(test_proba[name]).argmax(axis=1) == y_test for name in SVM_PAIR)
    bounds = np.full((10, 2), np.nan)
    for digit in range(10):
        members = y_test == digit
        if members.any():
            _, low, high = paired_bootstrap_diff(b[members], a[members], seed + digit, n_resamples, level)
            bounds[digit] = low, high
    return bounds


def write_table(path: str | os.PathLike, rows: list[dict], columns: tuple[str, ...]) -> None:
    """Write ``rows`` as CSV with the header ``columns`` (also when there are no rows), atomically."""
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


# -- embeddings --------------------------------------------------------------------------------------

def best_model(test_metrics: dict[str, dict], available) -> str:
    """Name of the model with the highest test ``accuracy`` among ``available`` names.

    Raises
    ------
    MnistlabError
        If no model of ``test_metrics`` is available.
    """
    candidates = [name for name in test_metrics if name in available]
    if not candidates:
        raise MnistlabError(
            "metrics/test.json: no evaluated model has test probabilities; run `dvc repro evaluate`"
        )
    return max(candidates, key=lambda name: test_metrics[name]["accuracy"])  # first of equals wins


def embedding_sample(n_images: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(size, n_images)`` images chosen without replacement with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_images, size=min(size, n_images), replace=False))


def embedding_2d(features: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    """Embed feature vectors in 2-D by PCA or t-SNE (scikit-learn).

    t-SNE (van der Maaten and Hinton 2008, JMLR 9) runs on the first ``TSNE_PCA_DIMS`` principal
    components, PCA-initialised, perplexity 30 (less for fewer than 91 points), with the Barnes-Hut
    approximation above ``TSNE_EXACT_MAX`` points and exact gradients below.

    Parameters
    ----------
    features : ndarray of shape (N, D)
        E.g. hidden-layer activations of the test images.
    method : {"pca", "tsne"}
    seed : int

    Returns
    -------
    points : ndarray of shape (N, 2), float64
    axis_labels : tuple of str
        For PCA, the components with their share of the variance.
    """
    features = np.asarray(features, dtype=np.float64)
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(features)
        share = pca.explained_variance_ratio_
        return points, (f"PC 1 ({share[0]:.1%} of variance)", f"PC 2 ({share[1]:.1%} of variance)")
    if method == "tsne":
        dims = min(TSNE_PCA_DIMS, *features.shape)
        reduced = PCA(n_components=dims, random_state=seed).fit_transform(features)
        perplexity = min(30.0, (len(features) - 1) / 3)
        method = "exact" if len(features) <= TSNE_EXACT_MAX else "barnes_hut"
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", method=method, random_state=seed)
        return tsne.fit_transform(reduced), ("t-SNE 1", "t-SNE 2")
    raise ValueError(f"unknown embedding method {method!r}, expected 'pca' or 'tsne'")


# -- the figures -------------------------------------------------------------------------------------

@dataclass
class ReportInputs:
    """Everything :func:`write_report` draws from (see ``stages/report.py`` for the files).

    Attributes
    ----------
    train, test : Split
        Prepared images (N, 28, 28) float32 in [0, 1] and labels (N,) uint8.
    label_counts : dict of str to ndarray of shape (10,)
        :func:`label_count_table` of the train, val and test splits.
    test_metrics : dict
        ``metrics/test.json``: model -> ``accuracy`` ...
    test_proba : dict of str to ndarray of shape (N_test, 10)
        :func:`mnistlab.core.io.read_probabilities`.
    leaderboard : list of dict
        :func:`leaderboard_rows`.
    curves : dict
        Model -> :func:`mnistlab.reporting.figures.read_curves` (models without curves left out).
    compare : dict or None
        ``metrics/compare.json``.
    hidden : callable or None
        ``images (n, 28, 28) -> activations (n, H)`` of a NumPy MLP; None skips the embeddings.
    embedding_model : str
        That MLP's model name (the figure titles), also the NumPy side of the twin curves.
    batch_sizes : dict of str to int
        Model -> images per update (:func:`batch_sizes`): the curves of a group whose models all
        have one are drawn against training images (:func:`images_seen`), else against updates.
    """

    train: Split
    test: Split
    label_counts: dict[str, np.ndarray]
    test_metrics: dict[str, dict]
    test_proba: dict[str, np.ndarray]
    leaderboard: list[dict] = field(default_factory=list)
    curves: dict[str, dict] = field(default_factory=dict)
    compare: dict | None = None
    hidden: Callable[[np.ndarray], np.ndarray] | None = None
    embedding_model: str = ""
    batch_sizes: dict[str, int] = field(default_factory=dict)


def batch_sizes(params: Params) -> dict[str, int]:
    """Images per update of every neural model of the registry, as its training stage reads them:
    the NumPy networks ``mlp.<optimizer>.batch_size``, the PyTorch models their resolved settings
    (:func:`mnistlab.models.torch_models.settings.settings_from_params`: ``mlp.adam.batch_size`` for
    the twins, ``torch.models.<variant>.batch_size`` or ``torch.batch_size`` for the others)."""
    sizes = {}
    for name, spec in MODELS.items():
        if spec.family == "numpy":
            sizes[name] = getattr(params.mlp, spec.optimizer).batch_size
        elif spec.family == "torch":
            sizes[name] = settings_from_params(params, name).batch_size
    return sizes


def images_seen(updates: np.ndarray, batch_size: int, n_train: int) -> np.ndarray:
    """Training images seen after each number of updates, when every epoch shows the ``n_train``
    images once in batches of ``batch_size``, the last one partial (as both training loops do).

    Parameters
    ----------
    updates : ndarray of int, shape (P,)
        Updates done (a curve's ``step``).
    batch_size, n_train : int
        Images per update and per epoch (positive).

    Returns
    -------
    ndarray of shape (P,), int64
        ``epochs * n_train + rest * batch_size`` with ``epochs, rest = divmod(updates,
        ceil(n_train / batch_size))``: exact at the end of every epoch.
    """
    per_epoch = -(-int(n_train) // int(batch_size))
    epochs, rest = np.divmod(np.asarray(updates, dtype=np.int64), per_epoch)
    return epochs * int(n_train) + rest * int(batch_size)


def curve_groups(embedding_model: str) -> dict[str, tuple[str, list[str]]]:
    """The overlay figures: key of :data:`FIGURES` -> (title, model names in legend order).

    ``{n}`` in a title stands for the number of models drawn (those with curves).
    """
    numpy_models = list(select(family="numpy"))
    torch_models = list(select(family="torch"))
    twin_title = MODELS[TWIN_MODEL].title if TWIN_MODEL in MODELS else "PyTorch"
    return {
        "curves_numpy": ("{n} NumPy MLPs (from scratch; optimizer and initialisation)", numpy_models),
        "curves_twin": (f"{embedding_model} (NumPy, from scratch) vs {TWIN_MODEL} ({twin_title})",
                        [embedding_model, TWIN_MODEL or ""]),
        "curves_torch": ("{n} PyTorch models", torch_models),
    }


def write_report(folder: str | os.PathLike, inputs: ReportInputs, gallery_size: int = 36,
                 embedding_samples: int = 2000, seed: int = 0) -> tuple[list[Path], list[str]]:
    """Draw every report figure into ``folder`` (file names in :data:`FIGURES`).

    Always: sample images per class, label distribution, and the confusion matrix, misclassified
    gallery and random prediction grid of the best model by test accuracy; every model's confusion
    matrix in one grid; the reliability diagrams. With leaderboard rows: the error-rate chart. For
    each curve group with curves: its overlay, against training images when every model of it has a
    batch size in ``inputs.batch_sizes`` (else against updates). When both SVMs of :data:`SVM_PAIR`
    have probabilities: their confusion matrices side by side and the per-class gain with each
    digit's interval (:func:`svm_gain_intervals`, seeded by ``seed``). With ``hidden``:
    t-SNE and PCA of its activations on ``embedding_samples`` seeded test images.

    Returns
    -------
    written : list of Path
        The files written.
    notes : list of str
        What was skipped and why.
    """
    folder = Path(folder)
    out = {key: folder / name for key, name in FIGURES.items()}
    x_test, y_test = inputs.test
    proba = inputs.test_proba
    name = best_model(inputs.test_metrics, proba)
    best = proba[name]
    plots.plot_samples_per_class(*inputs.train, out["samples"], seed=seed)
    plots.plot_label_distribution(inputs.label_counts, out["labels"])
    figures.plot_confusion_matrix(y_test, best.argmax(axis=1), out["confusion"],
                                  title=f"Best model on the test set: {name}")
    plots.plot_misclassified(x_test, y_test, best, out["misclassified"], n=gallery_size,
                             title=f"Misclassified by {name}")
    plots.plot_predictions(x_test, y_test, best, out["predictions"], n=gallery_size, seed=seed,
                           title=f"Random test predictions of {name}")
    written = [out[key] for key in ("samples", "labels", "confusion", "misclassified", "predictions")]
    notes = []
    if inputs.leaderboard:
        figures.plot_leaderboard(inputs.leaderboard, len(y_test), out["leaderboard"],
                                 figures.comparison_lines(inputs.compare))
        written.append(out["leaderboard"])
    figures.plot_confusion_grid(y_test, {m: p.argmax(axis=1) for m, p in proba.items()}, out["confusion_all"])
    written.append(out["confusion_all"])
    figures.plot_reliability({m: reliability_bins(y_test, p) for m, p in proba.items()}, out["reliability"])
    written.append(out["reliability"])
    n_train = int(np.sum(inputs.label_counts.get("train", 0)))
    for key, (title, models) in curve_groups(inputs.embedding_model).items():
        present = {m: inputs.curves[m] for m in models if inputs.curves.get(m)}
        title = title.replace("{n}", str(len(present)))
        if present and n_train > 0 and set(present) <= inputs.batch_sizes.keys():
            drawn = {m: {name: (images_seen(steps, inputs.batch_sizes[m], n_train), values)
                         for name, (steps, values) in curves.items()} for m, curves in present.items()}
            figures.plot_curve_overlay(drawn, out[key], title, x_label="training images",
                                       images_per_epoch=n_train)
            written.append(out[key])
        elif present:
            figures.plot_curve_overlay(present, out[key], title)
            written.append(out[key])
        else:
            notes.append(f"no curves of {', '.join(filter(None, models))}; skipping {out[key].name}")
    if SVM_PAIR and set(SVM_PAIR) <= proba.keys():
        pixels, gabor = (plots.confusion_counts(y_test, proba[key].argmax(axis=1)) for key in SVM_PAIR)
        titles = [f"{key} ({FEATURE_LABELS[MODELS[key].features]})" for key in SVM_PAIR]
        figures.plot_confusion_pair(pixels, gabor, *titles, out["svm_pair"])
        figures.plot_per_class_gain(pixels, gabor, *titles, out["svm_gain"],
                                    intervals=svm_gain_intervals(y_test, proba, seed))
        written += [out["svm_pair"], out["svm_gain"]]
    else:
        missing = " or ".join(SVM_PAIR) or "an SVM on each of " + " and ".join(FEATURE_LABELS.values())
        notes.append(f"{missing} not evaluated; skipping the SVM pair figures")
    if inputs.hidden is not None:
        chosen = embedding_sample(len(y_test), embedding_samples, seed)
        features = inputs.hidden(x_test[chosen])
        for method, label in (("tsne", "t-SNE"), ("pca", "PCA")):
            points, axes = embedding_2d(features, method, seed)
            figures.plot_embedding(points, y_test[chosen], out[method], axis_labels=axes,
                                   title=f"{label} of the {inputs.embedding_model} hidden layer")
            written.append(out[method])
    return written, notes


# -- the report stage --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportFiles:
    """The report stage's inputs and outputs (``stages/report.py`` options, dvc.yaml).

    Attributes
    ----------
    train, val, test : Path
        Prepared splits (:func:`mnistlab.core.io.read_split`).
    metrics, speed : Path
        ``metrics/test.json`` (required) and ``metrics/speed.json`` (optional) of the evaluate stage.
    train_metrics : Path
        Folder of the training stages' ``<model>.json``.
    compare, robustness : Path
        ``metrics/compare.json`` and ``metrics/robustness.json``; a missing one skips what needs it.
    proba : Path
        ``data/evaluation/test_proba.npz`` (:func:`mnistlab.core.io.read_probabilities`).
    models : Path
        Folder of the trained models (the twin and the CNN of the representation figures).
    curves : Path
        Folder of the DVCLive curves, one sub-folder per model.
    images : Path
        Output folder of the PNGs.
    leaderboard, svm_gain : Path
        Output CSVs.
    embedding_model : Path
        The NumPy MLP (``.npz``) of the embeddings and first-layer weights.
    preprocessing : Path
        ``data/prepared/preprocessing.json``: whether the images were deskewed
        (:func:`mnistlab.data.benchmark.read_deskew`).
    anchors : Path or None
        Output Markdown of our test errors beside the published ones
        (:func:`mnistlab.reporting.anchors.write_anchors`); None: not written.
    """

    train: Path
    val: Path
    test: Path
    metrics: Path
    speed: Path
    train_metrics: Path
    compare: Path
    robustness: Path
    proba: Path
    models: Path
    curves: Path
    preprocessing: Path
    images: Path
    leaderboard: Path
    svm_gain: Path
    embedding_model: Path
    anchors: Path | None = None


def hidden_layer(path: Path, notes: list[str]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The MLP's ``hidden`` function, or None (with a note) when the file is absent or not a NumPy net.

    Raises
    ------
    MnistlabError
        If the file exists but is not a readable model (:func:`mnistlab.models.registry.load_model`).
    """
    if not path.is_file():
        notes.append(f"{path}: not found; skipping the t-SNE and PCA embedding figures")
        return None
    network = load_model(path)
    if not hasattr(network, "hidden"):
        notes.append(f"{path}: not a NumPy network; skipping the t-SNE and PCA embedding figures")
        return None
    return network.hidden


def make_report(files: ReportFiles, params: Params) -> tuple[list[Path], list[str]]:
    """Read every input of :class:`ReportFiles`, write the two tables and draw every figure.

    Parameters
    ----------
    files : ReportFiles
    params : Params
        ``report`` (gallery size, embedding samples, seed) and ``gabor`` (the bank drawn beside
        the CNN's filters).

    Returns
    -------
    written : list of Path
        The tables, then the figures written.
    notes : list of str
        What was skipped and why (missing optional inputs or models).

    Raises
    ------
    MnistlabError
        One line naming the file: a split, ``metrics/test.json`` or the probabilities missing or
        malformed, or probabilities whose labels are not those of the test split.
    """
    splits = {name: read_split(getattr(files, name)) for name in ("train", "val", "test")}
    test, notes = splits["test"], []
    metrics = read_json(files.metrics, "the evaluate stage's test metrics (run `dvc repro evaluate` first)")
    y_proba, proba = read_probabilities(files.proba)
    if not np.array_equal(y_proba, test.y):
        raise MnistlabError(f"{files.proba}: its {len(y_proba)} labels are not those of {files.test} "
                            f"({len(test.y)} images); run `dvc repro evaluate` again")
    optional = {key: read_json(getattr(files, key), f"the {key} stage's metrics (dvc repro {key})",
                               required=False) for key in ("compare", "robustness")}
    notes += [f"{getattr(files, key)}: not found; drawing without it"
              for key, value in optional.items() if value is None]
    speed = read_json(files.speed, "the evaluate stage's speeds (dvc repro evaluate)", required=False) or {}
    rows = leaderboard_rows(test.y, proba, metrics, speed, read_train_metrics(files.train_metrics),
                            optional["robustness"])
    write_table(files.leaderboard, rows, LEADERBOARD_COLUMNS)
    write_table(files.svm_gain, svm_gain_rows(test.y, proba), SVM_GAIN_COLUMNS)
    tables = [Path(files.leaderboard), Path(files.svm_gain)]
    if files.anchors is not None:
        record = read_preprocessing(files.preprocessing)
        tables.append(write_anchors(files.anchors, rows, test.y, record["benchmark"], len(splits["train"].y),
                                    len(splits["val"].y), record["deskew"]))

    embedding = Path(files.embedding_model)
    inputs = ReportInputs(
        train=splits["train"], test=test, label_counts=label_count_table(splits), test_metrics=metrics,
        test_proba=proba, leaderboard=rows, compare=optional["compare"],
        curves={name: figures.read_curves(files.curves, name) for name in MODELS},
        hidden=hidden_layer(embedding, notes), embedding_model=embedding.stem,
        batch_sizes=batch_sizes(params),
    )
    section = params.report
    written, skipped = write_report(files.images, inputs, section.gallery_size, section.embedding_samples,
                                    section.seed)
    g = params.gabor
    bank = make_bank(g.orientations, g.frequencies, g.kernel_size, g.sigma, g.bandwidth)
    index = int(np.random.default_rng(section.seed).integers(len(test.y)))
    twin, cnn = (model_file(name, files.models) if name else None for name in (TWIN_MODEL, CNN_MODEL))
    more, skipped_more = write_representation_figures(
        files.images, embedding, twin, cnn, bank, g.resolution, test.x[index],
        f"test image {index}, label {test.y[index]}")
    return [*tables, *written, *more], notes + skipped + skipped_more
