"""Our test errors beside the published errors of the same methods: ``reports/anchors.md``.

:data:`ANCHORS` is the one table of published figures: each row a method as its authors ran it,
its test error on the official 10,000 test images, the training images it saw and the source. A
model of the registry is matched to rows by its ``anchor`` attribute
(:class:`mnistlab.models.registry.ModelSpec`: ``"linear"``, ``"svm"``, ``"mlp"``, ``"lenet5"``,
``"cnn"``), never by name. Which benchmark's rows apply is decided from the test labels
(:func:`mnistlab.data.benchmark.identify_benchmark`): the official MNIST and Fashion-MNIST test
sets are recognised by a SHA-256 of their 10,000 labels in file order.

Sources (checked against):

- LeCun, Cortes and Burges, "The MNIST database of handwritten digits", yann.lecun.com/exdb/mnist,
  the table of results by classifier (test error %, preprocessing);
- LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to document recognition",
  Proc. IEEE 86(11):2278-2324 (the table's "LeCun et al. 1998" rows);
- Simard, Steinkraus and Platt 2003, "Best practices for convolutional neural networks applied to
  visual document analysis", ICDAR 2003 (its rows in the same table);
- DeCoste and Schoelkopf 2002, "Training invariant support vector machines", Machine Learning
  46:161-190 (the virtual SVM row);
- Xiao, Rasul and Vollgraf 2017, "Fashion-MNIST: a novel image dataset for benchmarking machine
  learning algorithms", arXiv:1708.07747, Table 3 (scikit-learn classifiers, mean test accuracy
  of 5 runs with shuffled training data);
- the Fashion-MNIST README's table of submitted benchmarks (github.com/zalandoresearch/fashion-mnist,
  "Benchmark"; the maintainers state they have not tested these results).

Every anchor was trained on the full 60,000 training images of its dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistlab.core.io import atomic_path
from mnistlab.data.benchmark import BENCHMARK_TITLES, describe_test_set
from mnistlab.models.registry import MODELS

#: Training images of every published anchor: the whole official training set.
ANCHOR_TRAIN_IMAGES = 60_000


LECUN_TABLE = "MNIST page table (yann.lecun.com/exdb/mnist)"
LECUN_1998 = f"LeCun et al. 1998, Proc. IEEE 86(11):2278-2324; {LECUN_TABLE}"
SIMARD_2003 = f"Simard, Steinkraus and Platt 2003, ICDAR; {LECUN_TABLE}"
DECOSTE_2002 = f"DeCoste and Schoelkopf 2002, Machine Learning 46; {LECUN_TABLE}"
XIAO_2017 = "Xiao, Rasul and Vollgraf 2017, arXiv:1708.07747, Table 3 (mean of 5 runs)"
FASHION_README = ("Fashion-MNIST README, submitted benchmarks (github.com/zalandoresearch/fashion-mnist; "
                  "not tested by the maintainers)")


@dataclass(frozen=True)
class Anchor:
    """One published result.

    Attributes
    ----------
    method : str
        The ``anchor`` attribute of the registry models it is set beside.
    benchmark : {"mnist", "fashion-mnist"}
    published : str
        The method as its source names it.
    conditions : str
        Preprocessing and training distortions as published ("none": raw images, no distortions).
    error : float
        Test error on the 10,000 official test images, a fraction.
    source : str
    same_method : bool
        False for a row shown as the best of its kind in the source, a different method from ours
        (the virtual SVM: a polynomial kernel trained on jittered copies).
    train_images : int
        Training images the published model saw (the distorted copies of "distortions" rows aside).
    """

    method: str
    benchmark: str
    published: str
    conditions: str
    error: float
    source: str
    same_method: bool = True
    train_images: int = ANCHOR_TRAIN_IMAGES


#: Every published figure the report sets our models beside (errors as fractions; the MNIST
#: table gives percentages, Xiao et al. and the README accuracies).
ANCHORS: tuple[Anchor, ...] = (
    Anchor("linear", "mnist", "linear classifier (1-layer NN)", "none", 0.120, LECUN_1998),
    Anchor("linear", "mnist", "linear classifier (1-layer NN)", "deskewing", 0.084, LECUN_1998),
    Anchor("svm", "mnist", "SVM, Gaussian kernel", "none", 0.014, f"{LECUN_TABLE}, no reference given"),
    Anchor("svm", "mnist", "Virtual SVM, deg-9 poly, 2-pixel jittered", "deskewing", 0.0056, DECOSTE_2002,
           same_method=False),
    Anchor("mlp", "mnist", "2-layer NN, 300 hidden units, mean square error", "none", 0.047, LECUN_1998),
    Anchor("mlp", "mnist", "2-layer NN, 300 HU", "deskewing", 0.016, LECUN_1998),
    Anchor("mlp", "mnist", "2-layer NN, 800 HU, cross-entropy", "none", 0.016, SIMARD_2003),
    Anchor("mlp", "mnist", "2-layer NN, 800 HU, cross-entropy", "elastic distortions", 0.007, SIMARD_2003),
    Anchor("lenet5", "mnist", "Convolutional net LeNet-5", "none (no distortions)", 0.0095, LECUN_1998),
    Anchor("lenet5", "mnist", "Convolutional net LeNet-5", "distortions (random affine)", 0.008, LECUN_1998),
    Anchor("cnn", "mnist", "Convolutional net, cross-entropy", "affine distortions", 0.006, SIMARD_2003),
    Anchor("cnn", "mnist", "Convolutional net, cross-entropy", "elastic distortions", 0.004, SIMARD_2003),
    Anchor("svm", "fashion-mnist", "SVC, C=10, kernel=rbf", "none", round(1 - 0.897, 4), XIAO_2017),
    Anchor("svm", "fashion-mnist", "HOG+SVM", "HOG features", round(1 - 0.926, 4), FASHION_README),
    Anchor("mlp", "fashion-mnist", "MLPClassifier, activation=relu, hidden_layer_sizes=[100, 10]", "none",
           round(1 - 0.870, 4), XIAO_2017),
    Anchor("cnn", "fashion-mnist", "2 Conv, <100K parameters", "none", round(1 - 0.925, 4), FASHION_README),
    Anchor("cnn", "fashion-mnist", "2 Conv, ~113K parameters", "normalization", round(1 - 0.922, 4),
           FASHION_README),
)

COLUMNS = ("model", "our_error", "ci_low", "ci_high", "published", "conditions", "published_error",
           "published_train_images", "source")


def _our_error(row: dict) -> tuple[float, float, float]:
    """Test error and its 95 % Wilson bounds (fractions) of a leaderboard row."""
    return row["error_rate"], round(1 - row["ci_high"], 6), round(1 - row["ci_low"], 6)


def anchor_rows(leaderboard: list[dict], benchmark: str | None) -> list[dict]:
    """One row per (model, published anchor of its method), models in registry order.

    Parameters
    ----------
    leaderboard : list of dict
        Rows of :func:`mnistlab.reporting.report.leaderboard_rows`: ``model``, ``error_rate``,
        ``ci_low`` and ``ci_high`` (Wilson 95 % bounds of the accuracy), fractions.
    benchmark : str or None
        From :func:`identify_benchmark`; None gives no rows.

    Returns
    -------
    list of dict
        Keys :data:`COLUMNS`; ``our_error`` with its interval ``ci_low``..``ci_high`` (error bounds,
        ``1 - accuracy`` bounds), fractions.
    """
    ours = {row["model"]: row for row in leaderboard}
    rows = []
    for name, spec in MODELS.items():
        if name not in ours or spec.anchor is None:
            continue
        row = ours[name]
        for anchor in ANCHORS:
            if anchor.method != spec.anchor or anchor.benchmark != benchmark:
                continue
            error, low, high = _our_error(row)
            rows.append({
                "model": name, "our_error": error, "ci_low": low, "ci_high": high,
                "published": anchor.published + ("" if anchor.same_method else " (not the same method)"),
                "conditions": anchor.conditions, "published_error": anchor.error,
                "published_train_images": anchor.train_images, "source": anchor.source,
            })
    return rows


#: Section title of each ``anchor`` method, in the order of the report.
METHOD_TITLES = {
    "linear": "Linear classifiers",
    "svm": "Support vector machines",
    "mlp": "Fully connected networks",
    "lenet5": "LeNet-5",
    "cnn": "Other convolutional networks",
}


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def anchors_markdown(leaderboard: list[dict], y_test: np.ndarray, benchmark: str | None, n_train: int,
                     n_val: int, deskew: bool) -> str:
    """The text of ``reports/anchors.md``: per method, the published rows, then ours.

    Parameters
    ----------
    leaderboard : list of dict
        :func:`mnistlab.reporting.report.leaderboard_rows` of this run.
    y_test : ndarray of shape (N,)
        The prepared test labels (whether they are the whole official test set).
    benchmark : {"mnist", "fashion-mnist"} or None
        The benchmark the prepare stage recorded (:func:`mnistlab.data.benchmark.read_preprocessing`),
        whose published rows apply; None: none apply.
    n_train, n_val : int
        Images of the prepared training and validation splits.
    deskew : bool
        Every image of this run deskewed (the table's "deskewing"): the prepare stage's decision
        (:func:`mnistlab.data.benchmark.read_deskew`).
    """
    how = describe_test_set(y_test, benchmark)
    lines = ["# Our test errors beside the published ones", "",
             "Generated by the report stage (`mnistlab.reporting.anchors`); do not edit by hand.", ""]
    if benchmark is None:
        return "\n".join([*lines, f"No published figures apply: {how}.", ""])
    total = n_train + n_val
    fewer = total < ANCHOR_TRAIN_IMAGES
    lines += [
        f"Benchmark: **{BENCHMARK_TITLES[benchmark]}**; {how}.",
        "",
        f"**The training sets differ.** Every published model below was trained on "
        f"{ANCHOR_TRAIN_IMAGES:,} images (distorted copies aside); ours on **{n_train:,}** "
        f"({n_val:,} more held out for validation, {total:,} in all)"
        + (", so our errors are expected to be higher for the same method." if fewer else "."),
        "",
        "Published errors are on the official 10,000 test images. Ours: one run, one seed, with its "
        "95 % Wilson interval; preprocessing "
        + ("deskewing" if deskew else "none") + " (`prepare.deskew`, as the prepare stage decided it)"
        + ", training distortions as set in `params.yaml` (`torch.augment`, `mlp.max_shift`).",
    ]
    ours = {row["model"]: row for row in leaderboard}
    rows = anchor_rows(leaderboard, benchmark)
    for method, title in METHOD_TITLES.items():
        anchors = [a for a in ANCHORS if a.method == method and a.benchmark == benchmark]
        models = [name for name, spec in MODELS.items() if spec.anchor == method and name in ours]
        if not anchors or not models:
            continue
        lines += ["", f"## {title}", "",
                  "| | test error | training images | preprocessing / distortions | source |",
                  "| --- | --- | --- | --- | --- |"]
        for a in anchors:
            name = a.published + ("" if a.same_method else " (the source's best SVM; not the same method)")
            lines.append(f"| published: {name} | {_percent(a.error)} | {a.train_images:,} | {a.conditions} | "
                         f"{a.source} |")
        for name in models:
            error, low, high = _our_error(ours[name])
            lines.append(f"| ours: `{name}` ({MODELS[name].title}) | {_percent(error)} [{_percent(low)}, "
                         f"{_percent(high)}] | {n_train:,} | {'deskewing' if deskew else 'none'} "
                         "| this run |")
    matched = {row["model"] for row in rows}
    unmatched = [name for name in MODELS if name in ours and name not in matched]
    unmatched += [name for name in ours if name not in MODELS]
    if unmatched:
        lines += ["", "No published figure of the same method on this benchmark: "
                  + ", ".join(f"`{name}`" for name in unmatched) + "."]
    lines.append("")
    return "\n".join(lines)


def write_anchors(path: str | os.PathLike, leaderboard: list[dict], y_test: np.ndarray, benchmark: str | None,
                  n_train: int, n_val: int, deskew: bool) -> Path:
    """Write :func:`anchors_markdown` to ``path`` atomically; returns the path."""
    text = anchors_markdown(leaderboard, y_test, benchmark, n_train, n_val, deskew)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
