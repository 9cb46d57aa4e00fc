"""The visual report: the PNG figures under ``plots/images/`` drawn from the evaluate stage's outputs.

:func:`write_report` takes arrays and dicts (no file reading), so it can be tested on small
synthetic inputs; ``stages/report.py`` reads the files and calls it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from mnistlab import plots
from mnistlab.errors import MnistlabError

#: The NumPy MLP whose last hidden layer is embedded in 2-D.
EMBEDDING_MODEL = "mlp_adam-he"
#: Dimensions kept by PCA before t-SNE (the usual speed-up; van der Maaten and Hinton 2008, sec. 5).
TSNE_PCA_DIMS = 50
#: Up to this many points t-SNE computes exact gradients (faster than Barnes-Hut for small N).
TSNE_EXACT_MAX = 500

#: File names under the output folder.
FIGURES = {
    "samples": "sample_images.png",
    "labels": "label_distribution.png",
    "confusion": "confusion_best.png",
    "misclassified": "misclassified.png",
    "predictions": "predictions.png",
    "tsne": "embedding_tsne.png",
    "pca": "embedding_pca.png",
    "svm_pair": "svm_confusion_pixels_vs_gabor.png",
    "svm_gain": "svm_per_class_gain.png",
}


def read_label_counts(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``plots/label_counts.csv`` (columns ``digit`` and one per split) as split -> counts (10,).

    Raises
    ------
    MnistlabError
        If the file is missing or has no ``digit`` column.
    """
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise MnistlabError(f"{path}: not found; run `dvc repro prepare` first") from None
    if not rows or "digit" not in rows[0]:
        raise MnistlabError(f"{path}: expected a CSV with columns digit,train,val,test")
    rows.sort(key=lambda row: int(row["digit"]))
    splits = [key for key in rows[0] if key != "digit"]
    return {split: np.array([int(row[split]) for row in rows]) for split in splits}


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


def write_report(
    folder: str | os.PathLike,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    label_counts: dict[str, np.ndarray],
    test_metrics: dict[str, dict],
    test_proba: dict[str, np.ndarray],
    hidden=None,
    gallery_size: int = 36,
    embedding_samples: int = 2000,
    seed: int = 0,
) -> list[Path]:
    """Draw every report figure into ``folder``.

    Always: sample images per class, label distribution, and the confusion matrix, misclassified
    gallery and random prediction grid of the best model by test accuracy. With ``hidden``: t-SNE
    and PCA of the hidden activations of ``embedding_samples`` seeded test images. When both
    ``svm_pixels`` and ``svm_gabor`` have probabilities: their confusion matrices side by side.

    Parameters
    ----------
    folder : path-like
        Output folder (``plots/images``); file names in ``FIGURES``.
    train, test : tuple of (ndarray of shape (N, 28, 28) float32 in [0, 1], ndarray of shape (N,) uint8)
        Prepared images and labels.
    label_counts : dict of str to ndarray of shape (10,)
        See :func:`read_label_counts`.
    test_metrics : dict
        ``metrics/test.json``: model name -> metrics with ``accuracy``.
    test_proba : dict of str to ndarray of shape (N_test, 10)
        Each model's test probabilities (``data/evaluation/test_proba.npz``).
    hidden : callable or None
        ``images (n, 28, 28) -> activations (n, H)`` of the NumPy MLP; None skips the embeddings.
    gallery_size, embedding_samples, seed : int
        ``evaluate.gallery_size``, ``evaluate.embedding_samples``, ``evaluate.seed``.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    out = {key: folder / name for key, name in FIGURES.items()}
    x_test, y_test = test
    name = best_model(test_metrics, test_proba)
    proba = np.asarray(test_proba[name], dtype=np.float64)
    if proba.shape != (len(y_test), 10):
        raise MnistlabError(f"data/evaluation/test_proba.npz: {name} has shape {proba.shape}, "
                            f"expected ({len(y_test)}, 10); run `dvc repro evaluate` again")
    plots.plot_samples_per_class(*train, out["samples"], seed=seed)
    plots.plot_label_distribution(label_counts, out["labels"])
    plots.plot_confusion_matrix(y_test, proba.argmax(axis=1), out["confusion"],
                                title=f"Best model on the test set: {name}")
    plots.plot_misclassified(x_test, y_test, proba, out["misclassified"], n=gallery_size,
                             title=f"Misclassified by {name}")
    plots.plot_predictions(x_test, y_test, proba, out["predictions"], n=gallery_size, seed=seed,
                           title=f"Random test predictions of {name}")
    written = [out[key] for key in ("samples", "labels", "confusion", "misclassified", "predictions")]
    if {"svm_pixels", "svm_gabor"} <= test_proba.keys():
        pixels, gabor = (plots.confusion_counts(y_test, np.asarray(test_proba[key]).argmax(axis=1))
                         for key in ("svm_pixels", "svm_gabor"))
        titles = ("svm_pixels (raw pixels)", "svm_gabor (Gabor features)")
        plots.plot_confusion_pair(pixels, gabor, *titles, out["svm_pair"])
        plots.plot_per_class_gain(pixels, gabor, *titles, out["svm_gain"])
        written += [out["svm_pair"], out["svm_gain"]]
    if hidden is not None:
        chosen = embedding_sample(len(y_test), embedding_samples, seed)
        features = hidden(x_test[chosen])
        for method, label in (("tsne", "t-SNE"), ("pca", "PCA")):
            points, axes = embedding_2d(features, method, seed)
            plots.plot_embedding(points, y_test[chosen], out[method], axis_labels=axes,
                                 title=f"{label} of the {EMBEDDING_MODEL} hidden layer")
            written.append(out[method])
    return written
