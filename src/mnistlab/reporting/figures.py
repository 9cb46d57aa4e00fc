"""Figures of results: the leaderboard, confusion matrices, training curves, embeddings and
calibration (the robustness figures are in :mod:`mnistlab.reporting.robustness_figures`).

The rule between the two drawing modules: :mod:`mnistlab.reporting.plots` holds the drawing
primitives (:func:`~mnistlab.reporting.plots.save_figure`, confusion cells, the image grid) and the
figures of images and of the data; this module holds every figure of what the models did. Every
drawing function takes arrays or rows, draws one figure and saves it with
:func:`mnistlab.reporting.plots.save_figure`; :func:`read_curves` is the one reader of files here
(the DVCLive TSVs of :mod:`mnistlab.core.curves`).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mnistlab.evidence.compare import accuracy_interval
from mnistlab.reporting.palette import COLORS, VERDICT_COLORS, model_color, model_marker
from mnistlab.reporting.plots import (
    DIGITS,
    confusion_counts,
    draw_confusion,
    error_norm,
    plt,
    save_figure,
)

#: The curves drawn by :func:`plot_curve_overlay`: DVCLive name -> axis label.
VAL_CURVES = {"val/error": "validation error, %", "val/loss": "validation loss (cross-entropy), nats"}
#: Factor applied to each curve's values before drawing (fractions to percent).
CURVE_SCALE = {"val/error": 100.0}
#: Reliability bins with fewer images are not drawn: their accuracy is mostly noise (the 95 % Wilson
#: interval of a bin of 20 images is about 40 points wide at 50 % accuracy). The Vega template
#: .dvc/plots/reliability.json uses the same number.
MIN_BIN_COUNT = 20

#: What each model family is, for the leaderboard's labels.
FAMILY_LABELS = {"svm": "SVM, scikit-learn", "numpy": "NumPy, from scratch", "torch": "PyTorch"}
#: Palette colours too pale for text on white (a label in one of them is written in black).
LIGHT = {"#DDCC77", "#88CCEE"}

Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # curve name -> (x: updates or images, values)


def read_curves(folder: str | os.PathLike, model: str, names=tuple(VAL_CURVES)) -> Curves:
    """One model's DVCLive curves: ``<folder>/<model>/plots/metrics/<name>.tsv`` (columns step, value).

    Parameters
    ----------
    folder : path-like
        ``plots/curves``.
    model : str
        Model name (a sub-folder).
    names : sequence of str
        Curve names, e.g. ``val/error``; missing files are left out of the result.

    Returns
    -------
    dict of str to (ndarray of shape (P,) int64, ndarray of shape (P,) float64)
        Steps (updates) and values, per curve found.
    """
    curves = {}
    for name in names:
        path = Path(folder) / model / "plots" / "metrics" / f"{name}.tsv"
        if not path.is_file():
            continue
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))[1:]
        rows = [row for row in rows if len(row) >= 2]
        curves[name] = (np.array([int(float(r[0])) for r in rows], dtype=np.int64),
                        np.array([float(r[1]) for r in rows], dtype=np.float64))
    return curves


def plot_curve_overlay(curves: dict[str, Curves], path: str | os.PathLike, title: str,
                       x_label: str = "updates (optimizer steps)",
                       images_per_epoch: int | None = None) -> None:
    """Validation error and validation loss of several models, one colour and marker per model.

    The x values are what ``curves`` holds: training images (:func:`mnistlab.reporting.report.images_seen`),
    so that models trained with different batch sizes share one axis, or updates. The y axes are
    logarithmic when every value is positive (errors fall by orders of magnitude).

    Parameters
    ----------
    curves : dict of str to dict
        Model name (the legend) -> :func:`read_curves` result with ``val/error`` and/or ``val/loss``,
        its x values converted to ``x_label``'s unit.
    path : path-like
        PNG to write.
    title : str
        What is compared; the figure says the split and the axis.
    x_label : str
        The unit of the x values.
    images_per_epoch : int or None
        Training images per epoch (the x values being training images): epochs on a second x axis.
    """
    fig, axes = plt.subplots(1, len(VAL_CURVES), figsize=(13, 5.0))
    for ax, (name, label) in zip(axes, VAL_CURVES.items(), strict=True):
        values = []
        for model, model_curves in curves.items():
            if name in model_curves:
                steps, ys = model_curves[name]
                ys = ys * CURVE_SCALE.get(name, 1.0)
                ax.plot(steps, ys, color=model_color(model), lw=1.8, marker=model_marker(model),
                        markevery=max(1, len(steps) // 12), ms=5, label=model)
                values.append(ys)
        if values and min(float(v.min()) for v in values) > 0:
            ax.set_yscale("log")
            _log_ticks(ax.yaxis)
        ax.set_xlabel(x_label)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.set_ylabel(label + (" (log scale)" if ax.get_yscale() == "log" else ""))
        ax.set_title(label[0].upper() + label[1:].split(",")[0])
        ax.grid(alpha=0.3, which="both")
        if images_per_epoch:
            top = ax.secondary_xaxis("top", functions=(lambda x: x / images_per_epoch,
                                                       lambda e: e * images_per_epoch))
            top.set_xlabel(f"epochs ({images_per_epoch:,} training images each)", fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    against = x_label.split(" (")[0]
    fig.suptitle(f"{title}: validation split, against {against}", fontsize=12)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False, title="model")
    save_figure(fig, path)


def _text_color(model: str) -> str:
    """A model's colour for text on white: its palette colour, or black for the pale ones."""
    color = model_color(model)
    return "black" if color in LIGHT else color


def _plain(value: float, _pos=None) -> str:
    """A tick label without powers of ten: 0.06, 0.3, 2, 15."""
    return f"{value:.2g}" if value < 1 else f"{value:.3g}"


def comparison_lines(compare: dict | None) -> list[str]:
    """One line per paired test of ``metrics/compare.json``: the difference in points, its
    simultaneous interval (the level of the family, which decides the verdict) and the
    Bonferroni-adjusted McNemar p."""
    compare = compare or {}
    level = compare.get("confidence")
    lines = []
    for pair, r in (compare.get("pairs") or {}).items():
        names = pair.split(" vs ")
        try:
            better = {1: names[0], -1: names[-1]}.get(r.get("better"))
            verdict = f"{better} more accurate" if better else "no detectable difference"
            where = f" ({100 * level:.2f}% interval)" if level else ""
            lines.append(f"{pair}: A - B = {100 * r['diff']:+.2f} points [{100 * r['ci_low']:+.2f}, "
                         f"{100 * r['ci_high']:+.2f}]{where}, adjusted McNemar p = {r['p_adjusted']:.2g}: "
                         f"{verdict}")
        except (KeyError, TypeError):
            continue
    return lines


def _log_ticks(axis) -> None:
    """Label a log axis at 1, 2, 3, 5 times powers of ten in plain numbers; unlabelled minor ticks."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(1, 10) * 1.0))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def plot_leaderboard(rows: list[dict], n_images: int, path: str | os.PathLike,
                     comparisons: list[str] | None = None) -> None:
    """Test error rate (%) of every model with its 95 % Wilson interval, best at the top.

    The x axis is logarithmic, so differences of a tenth of a point between the best models stay
    visible next to models ten times worse (linear from 0 when a model makes no error); each point
    is labelled with its rate and interval.

    Parameters
    ----------
    rows : list of dict
        :func:`mnistlab.reporting.report.leaderboard_rows` (best first): ``model``, ``family``,
        ``error_rate``, ``ci_low``, ``ci_high`` (accuracy bounds, fractions).
    n_images : int
        Test images behind every rate.
    path : path-like
        PNG to write.
    comparisons : list of str, optional
        Lines printed under the chart (the paired tests of the compare stage).
    """
    comparisons = comparisons or []
    height = 0.42 * max(len(rows), 1) + 1.8
    fig, ax = plt.subplots(figsize=(10, height))
    errors = np.array([100 * r["error_rate"] for r in rows])
    low = np.array([100 * (1 - r["ci_high"]) for r in rows])
    high = np.array([100 * (1 - r["ci_low"]) for r in rows])
    y = np.arange(len(rows))[::-1]
    for i, r in enumerate(rows):
        color = model_color(r["model"])
        ax.errorbar(errors[i], y[i], xerr=[[errors[i] - low[i]], [high[i] - errors[i]]],
                    fmt=model_marker(r["model"]), ms=7, color=color, ecolor=color, elinewidth=2, capsize=4)
        ax.annotate(f"{errors[i]:.2f} % [{low[i]:.2f}, {high[i]:.2f}]", (high[i], y[i]), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8.5)
    log = len(rows) > 0 and errors.min() > 0  # a model without errors has no place on a log axis
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low.min() / 1.25, high.max() * 2.2)  # room for the labels on the right
        _log_ticks(ax.xaxis)
    elif len(rows):
        ax.set_xlim(0, high.max() * 1.45)
    ax.set_yticks(y, [f"{r['model']}  ({FAMILY_LABELS.get(r['family'], r['family'])})" for r in rows])
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        tick.set_color(_text_color(r["model"]))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"test error rate, % ({'log' if log else 'linear'} scale; bars: 95 % Wilson interval)")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_title(f"Test error rate per model (test set, N = {n_images:,} images), best first", fontsize=12)
    if comparisons:
        fig.text(0.01, 0.0, "Paired tests (compare stage; overlapping intervals are not a test):\n"
                 + "\n".join(comparisons), fontsize=8, va="top", family="monospace")
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion_grid(y_true: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike,
                        ncols: int = 4) -> None:
    """Confusion matrices of several models in one grid: correct predictions grey, errors on one
    log colour scale shared by every panel (the same colour is the same count), counts in the cells.

    Parameters
    ----------
    y_true : ndarray of shape (N,), integers 0..9
    predictions : dict of str to ndarray of shape (N,)
        Model name (the panel title) -> predicted digits, in report order.
    path : path-like
        PNG to write.
    ncols : int
        Panels per row.
    """
    counts = {name: confusion_counts(y_true, pred) for name, pred in predictions.items()}
    ncols = max(1, min(ncols, len(counts)))
    nrows = -(-max(len(counts), 1) // ncols)
    norm = error_norm(*counts.values())
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + 1.0, 4.9 * nrows + 0.9), squeeze=False)
    image = None
    for ax in axes.flat[len(counts):]:
        ax.set_axis_off()
    for ax, (name, cm) in zip(axes.flat, counts.items(), strict=False):
        image = draw_confusion(ax, cm, norm, fontsize=8.5)
        errors = int(cm.sum() - np.trace(cm))
        ax.set_title(f"{name}\naccuracy {np.trace(cm) / max(cm.sum(), 1):.2%}, {errors:,} errors",
                     fontsize=11, color=_text_color(name), fontweight="bold")
        ax.set_xticks(DIGITS, DIGITS, fontsize=9)
        ax.set_yticks(DIGITS, DIGITS, fontsize=9)
    fig.suptitle(f"Confusion matrices on the test set ({len(y_true):,} images): rows true digit, columns "
                 "predicted; correct in grey, errors coloured on one scale for every model", fontsize=13)
    fig.tight_layout(rect=(0, 0, 0.93, 0.97))
    if image is not None:
        cax = fig.add_axes((0.945, 0.25, 0.012, 0.5))
        _log_ticks(fig.colorbar(image, cax=cax, label="errors in the cell (log scale, shared)").ax.yaxis)
    save_figure(fig, path)


# -- confusion matrices and embeddings -------------------------------------------------------------

def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, path: str | os.PathLike, title: str = "Confusion matrix"
) -> None:
    """Confusion counts (rows true digit, columns predicted) with every cell annotated: correct
    predictions grey, errors on a logarithmic colour scale (so that a few errors stay visible),
    empty cells white.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (N,), integers 0..9
    path : path-like
        PNG to write.
    title : str
        The model's name belongs here; the accuracy is appended.
    """
    counts = confusion_counts(y_true, y_pred)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    fig, ax = plt.subplots(figsize=(7.6, 6.4))
    image = draw_confusion(ax, counts, error_norm(counts), fontsize=9.5)
    ax.set_title(f"{title} (accuracy {accuracy:.2%}, {counts.sum():,} images)")
    _log_ticks(fig.colorbar(image, ax=ax, label="errors in the cell (log scale)").ax.yaxis)
    fig.tight_layout()
    save_figure(fig, path)


def plot_embedding(
    points: np.ndarray, labels: np.ndarray, path: str | os.PathLike, title: str,
    axis_labels: tuple[str, str] = ("dimension 1", "dimension 2"),
) -> None:
    """Scatter of a 2-D embedding coloured by class, with a legend and each class's median marked.

    Parameters
    ----------
    points : ndarray of shape (N, 2)
        E.g. t-SNE or the first two principal components of hidden activations.
    labels : ndarray of shape (N,), integers 0..9
    path : path-like
        PNG to write.
    title : str
    axis_labels : tuple of str
    """
    fig, ax = plt.subplots(figsize=(8.4, 7))
    def cmap(digit):  # ten digits: the palette's first ten colours (Tol's muted nine, then orange)
        return COLORS[digit % len(COLORS)]

    for digit in DIGITS:
        members = points[labels == digit]
        if len(members) == 0:
            continue
        ax.scatter(members[:, 0], members[:, 1], s=7, alpha=0.6, color=cmap(digit), label=str(digit),
                   edgecolors="none")
        centre = np.median(members, axis=0)
        ax.text(centre[0], centre[1], str(digit), fontsize=15, weight="bold", ha="center", va="center",
                color=cmap(digit), bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": cmap(digit),
                                         "alpha": 0.85})
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(f"{title} ({len(points):,} test images)")
    ax.legend(title="digit", markerscale=3, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion_pair(
    cm_a: np.ndarray, cm_b: np.ndarray, title_a: str, title_b: str, path: str | os.PathLike
) -> None:
    """Two confusion matrices side by side, their errors on one shared (logarithmic) colour scale,
    correct predictions grey, counts in the cells.

    Parameters
    ----------
    cm_a, cm_b : ndarray of shape (10, 10), int
        Counts, rows true digit, columns predicted (e.g. :func:`confusion_counts`).
    title_a, title_b : str
        Panel titles (the model names); each panel's accuracy is appended.
    path : path-like
        PNG to write.
    """
    norm = error_norm(np.asarray(cm_a), np.asarray(cm_b))
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 6.4))
    for ax, counts, title in zip(axes, (cm_a, cm_b), (title_a, title_b), strict=True):
        counts = np.asarray(counts)
        image = draw_confusion(ax, counts, norm, fontsize=9.5)
        errors = counts.sum() - np.trace(counts)
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{title}\naccuracy {accuracy:.2%}, {errors:,} errors of {counts.sum():,}")
    bar = fig.colorbar(image, ax=axes, label="errors in the cell (log scale, shared)", shrink=0.85)
    _log_ticks(bar.ax.yaxis)
    save_figure(fig, path)


def plot_per_class_gain(
    cm_a: np.ndarray, cm_b: np.ndarray, title_a: str, title_b: str, path: str | os.PathLike,
    intervals: np.ndarray | None = None, level: float = 0.95,
) -> None:
    """The per-class accuracy (recall) gain of model b over model a, in percentage points, with
    each digit's interval and its number of test images.

    A digit is coloured (:data:`~mnistlab.reporting.palette.VERDICT_COLORS`) when its interval
    excludes 0. The intervals are each at ``level``, one digit at a time: ten of them are not a family
    (the overall difference is the compare stage's test), so one of ten may miss by chance.

    Parameters
    ----------
    cm_a, cm_b : ndarray of shape (10, 10), int
        Confusion counts of the two models on the same images, rows true digit.
    title_a, title_b : str
        Model names; the bars show ``title_b`` minus ``title_a``.
    path : path-like
        PNG to write.
    intervals : ndarray of shape (10, 2) or None
        Each digit's interval of the gain (fractions), e.g. the paired bootstrap of
        :func:`mnistlab.reporting.report.svm_gain_intervals`; None draws the gains alone.
    level : float
        The intervals' confidence level, for the labels.
    """
    cm_a, cm_b = np.asarray(cm_a, dtype=float), np.asarray(cm_b, dtype=float)
    n = cm_a.sum(axis=1)
    recall_a = np.diag(cm_a) / np.maximum(n, 1)
    recall_b = np.diag(cm_b) / np.maximum(cm_b.sum(axis=1), 1)
    gain = 100 * (recall_b - recall_a)
    overall = 100 * (np.trace(cm_b) / max(cm_b.sum(), 1) - np.trace(cm_a) / max(cm_a.sum(), 1))
    fig, ax = plt.subplots(figsize=(9, 4.8))
    if intervals is not None:
        low, high = 100 * np.asarray(intervals, dtype=float).T
        decided = (low > 0) | (high < 0)
        colors = [VERDICT_COLORS["winner"] if d else VERDICT_COLORS["none"] for d in decided]
        ax.bar(DIGITS, gain, color=colors, alpha=0.35, width=0.6)
        for digit, color in zip(DIGITS, colors, strict=True):
            below, above = max(0.0, gain[digit] - low[digit]), max(0.0, high[digit] - gain[digit])
            ax.errorbar(digit, gain[digit], yerr=[[below], [above]],
                        fmt="o", color=color, ms=5, elinewidth=2, capsize=5)
        top = high
        for key, label in (("winner", "interval excludes 0"), ("none", "interval includes 0")):
            ax.errorbar([], [], yerr=[], fmt="o", color=VERDICT_COLORS[key], elinewidth=2, label=label)
    else:
        ax.bar(DIGITS, gain, width=0.6,
               color=[VERDICT_COLORS["winner"] if g >= 0 else VERDICT_COLORS["none"] for g in gain])
        top = np.maximum(gain, 0)
    for digit, value, y in zip(DIGITS, gain, top, strict=True):
        ax.annotate(f"{value:+.2f}", (digit, y), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 3), textcoords="offset points")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(overall, color="gray", linestyle="--", linewidth=0.8, label=f"all digits {overall:+.2f}")
    ax.set_xticks(DIGITS, [f"{d}\nn = {int(k):,}" for d, k in zip(DIGITS, n, strict=True)])
    ax.set_xlabel("true digit (n: its test images)")
    where = ""
    if intervals is not None:
        where = f"\nwhiskers: {100 * level:.4g} % paired bootstrap interval per digit"
    ax.set_ylabel("accuracy gain (percentage points)")
    ax.set_title(f"Per-class accuracy: {title_b} minus {title_a}{where}", fontsize=11)
    if intervals is not None:
        fig.text(0.01, -0.02, f"Each interval is for one digit alone ({100 * level:.4g} %); ten of them are "
                 "not a family, so about one in twenty misses by chance. The overall difference is tested by "
                 "the compare stage.", fontsize=8, va="top")
    ax.margins(y=0.2)
    ax.legend(frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


# -- calibration -----------------------------------------------------------------------------------

def plot_reliability(rows_by_model: dict[str, list[dict]], path: str | os.PathLike, ncols: int = 4,
                     min_count: int = MIN_BIN_COUNT) -> None:
    """Reliability diagrams as small multiples: one panel per model, titled with its ECE.

    Each panel draws accuracy against mean confidence for the bins of at least ``min_count`` images,
    with their 95 % Wilson intervals and the diagonal of perfect calibration; grey bars at the bottom
    (right axis, log scale) count the images of every bin, those not drawn included, so the reader
    sees that nearly every image falls in the top bin. The ECE is computed from the same rows (the
    count-weighted mean of |accuracy - confidence|, :mod:`mnistlab.evaluation.calibration`).

    Parameters
    ----------
    rows_by_model : dict of str to list of dict
        Model name (the panel) -> rows ``{bin, confidence, accuracy, count}`` of
        :func:`mnistlab.evaluation.calibration.reliability_bins` (fractions, counts).
    path : path-like
        PNG to write.
    ncols : int
        Panels per row.
    min_count : int
        Bins with fewer images are left out of the curve (they stay in the counts).
    """
    names = list(rows_by_model)
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-max(len(names), 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.7 * nrows + 0.9), squeeze=False,
                             sharex=True, sharey=True)
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    largest = max([r["count"] for rows in rows_by_model.values() for r in rows] + [10])
    for ax, name in zip(axes.flat, names, strict=False):
        rows = rows_by_model[name]
        color = model_color(name)
        total = sum(r["count"] for r in rows)
        ece = sum(r["count"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / max(total, 1)
        counts = ax.twinx()
        counts.bar([r["confidence"] for r in rows], [r["count"] for r in rows], width=0.045, color="0.8",
                   zorder=0)
        counts.set_yscale("log")
        counts.set_ylim(0.8, largest ** 3.5)  # the bars keep to the bottom third of the panel
        counts.set_yticks([1, 100, 10_000][: 1 + int(np.log10(largest) // 2)])
        counts.tick_params(labelsize=7, colors="0.45")
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        shown = [r for r in rows if r["count"] >= min_count]
        if shown:
            conf = np.array([r["confidence"] for r in shown])
            acc = np.array([r["accuracy"] for r in shown])
            bounds = np.array([accuracy_interval(round(r["accuracy"] * r["count"]), r["count"])
                               for r in shown])
            yerr = np.maximum(0.0, [acc - bounds[:, 0], bounds[:, 1] - acc])  # no rounding below 0
            ax.errorbar(conf, acc, yerr=yerr, color=color, lw=1.6,
                        marker=model_marker(name), ms=4.5, elinewidth=1.2, capsize=2)
        hidden = [r for r in rows if r["count"] < min_count]
        if hidden:
            ax.text(0.03, 0.97, f"{len(hidden)} bin{'s' * (len(hidden) > 1)} under {min_count} images\n"
                    f"not drawn ({sum(r['count'] for r in hidden)} images)", transform=ax.transAxes,
                    fontsize=7.5, va="top", color="0.35")
        ax.set_title(f"{name}: ECE {100 * ece:.2f} %", fontsize=10.5, color=_text_color(name),
                     fontweight="bold")
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("mean confidence in the bin")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy in the bin")
    fig.suptitle("Reliability on the test set, one panel per model (dashed: perfect calibration; bars: "
                 f"95 % Wilson interval; bins under {min_count} images not drawn;\ngrey: images per bin, "
                 "right axis, log scale; ECE: count-weighted mean of |accuracy - confidence| over the bins)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save_figure(fig, path)
