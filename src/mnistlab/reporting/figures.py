"""Figures of results: the leaderboard, confusion matrices, training curves, embeddings,
calibration and robustness.

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
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mnistlab.reporting.plots import DIGITS, confusion_counts, draw_confusion, plt, save_figure

#: Colour of each model family (mnistlab.models.registry) in the leaderboard.
FAMILY_COLORS = {"svm": "tab:orange", "numpy": "tab:blue", "torch": "tab:red"}
FAMILY_LABELS = {"svm": "SVM (scikit-learn)", "numpy": "NumPy network (from scratch)", "torch": "PyTorch"}
#: The curves drawn by :func:`plot_curve_overlay`: DVCLive name -> axis label.
VAL_CURVES = {"val/error": "validation error, %", "val/loss": "validation loss (cross-entropy), nats"}
#: Factor applied to each curve's values before drawing (fractions to percent).
CURVE_SCALE = {"val/error": 100.0}

Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # curve name -> (steps (updates), values)


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


def plot_curve_overlay(curves: dict[str, Curves], path: str | os.PathLike, title: str) -> None:
    """Validation error and validation loss of several models against updates, one colour per model.

    The y axes are logarithmic when every value is positive (errors fall by orders of magnitude).

    Parameters
    ----------
    curves : dict of str to dict
        Model name (the legend) -> :func:`read_curves` result with ``val/error`` and/or ``val/loss``.
    path : path-like
        PNG to write.
    title : str
        What is compared; the figure says the split and the axis.
    """
    fig, axes = plt.subplots(1, len(VAL_CURVES), figsize=(13, 4.8))
    cmap = plt.get_cmap("tab10")
    for ax, (name, label) in zip(axes, VAL_CURVES.items(), strict=True):
        values = []
        for k, (model, model_curves) in enumerate(curves.items()):
            if name in model_curves:
                steps, ys = model_curves[name]
                ys = ys * CURVE_SCALE.get(name, 1.0)
                ax.plot(steps, ys, color=cmap(k % 10), lw=1.4, marker="o" if len(steps) < 30 else None,
                        ms=3, label=model)
                values.append(ys)
        if values and min(float(v.min()) for v in values) > 0:
            ax.set_yscale("log")
            _log_ticks(ax.yaxis)
        ax.set_xlabel("updates (optimizer steps)")
        ax.set_ylabel(label + (" (log scale)" if ax.get_yscale() == "log" else ""))
        ax.set_title(label[0].upper() + label[1:].split(",")[0])
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    fig.suptitle(f"{title}: validation split, against updates", fontsize=12)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False, title="model")
    save_figure(fig, path)


def _plain(value: float, _pos=None) -> str:
    """A tick label without powers of ten: 0.06, 0.3, 2, 15."""
    return f"{value:.2g}" if value < 1 else f"{value:.3g}"


def comparison_lines(compare: dict | None) -> list[str]:
    """One line per paired test of ``metrics/compare.json`` (difference in points, interval, Holm p)."""
    lines = []
    for pair, r in ((compare or {}).get("pairs") or {}).items():
        names = pair.split(" vs ")
        try:
            better = {1: names[0], -1: names[-1]}.get(r.get("better"))
            verdict = f"{better} more accurate" if better else "no detectable difference"
            lines.append(f"{pair}: A - B = {100 * r['diff']:+.2f} points [{100 * r['ci_low']:+.2f}, "
                         f"{100 * r['ci_high']:+.2f}], Holm p = {r['p_holm']:.2g}: {verdict}")
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
        color = FAMILY_COLORS.get(r["family"], "0.4")
        ax.errorbar(errors[i], y[i], xerr=[[errors[i] - low[i]], [high[i] - errors[i]]], fmt="o", ms=6,
                    color=color, ecolor=color, elinewidth=2, capsize=4)
        ax.annotate(f"{errors[i]:.2f} % [{low[i]:.2f}, {high[i]:.2f}]", (high[i], y[i]), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8.5)
    log = len(rows) > 0 and errors.min() > 0  # a model without errors has no place on a log axis
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low.min() / 1.25, high.max() * 2.2)  # room for the labels on the right
        _log_ticks(ax.xaxis)
    elif len(rows):
        ax.set_xlim(0, high.max() * 1.45)
    ax.set_yticks(y, [r["model"] for r in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"test error rate, % ({'log' if log else 'linear'} scale; bars: 95 % Wilson interval)")
    ax.grid(axis="x", which="both", alpha=0.3)
    for family, color in FAMILY_COLORS.items():
        if any(r["family"] == family for r in rows):
            ax.plot([], [], "o", color=color, label=FAMILY_LABELS[family])
    ax.legend(loc="upper right", fontsize=8.5, frameon=True)
    ax.set_title(f"Test error rate per model (test set, N = {n_images:,} images), best first", fontsize=12)
    if comparisons:
        fig.text(0.01, 0.0, "Paired tests (compare stage; overlapping intervals are not a test):\n"
                 + "\n".join(comparisons), fontsize=8, va="top", family="monospace")
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion_grid(y_true: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike,
                        ncols: int = 4) -> None:
    """Confusion matrices of several models in one grid, counts in the cells, one log colour scale.

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
    vmax = max([int(c.max()) for c in counts.values()] + [2])
    norm = LogNorm(vmin=1, vmax=vmax)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.9 * ncols + 1.0, 3.9 * nrows + 0.8), squeeze=False)
    image = None
    for ax in axes.flat[len(counts):]:
        ax.set_axis_off()
    for ax, (name, cm) in zip(axes.flat, counts.items(), strict=False):
        image = draw_confusion(ax, cm, norm, fontsize=6.5)
        errors = int(cm.sum() - np.trace(cm))
        ax.set_title(f"{name}\naccuracy {np.trace(cm) / max(cm.sum(), 1):.2%}, {errors:,} errors",
                     fontsize=9.5)
        ax.set_xticks(DIGITS, DIGITS, fontsize=7)
        ax.set_yticks(DIGITS, DIGITS, fontsize=7)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
    fig.suptitle(f"Confusion matrices on the test set ({len(y_true):,} images): rows true digit, "
                 "columns predicted; counts in the cells, empty cells white", fontsize=12)
    fig.tight_layout(rect=(0, 0, 0.93, 0.97))
    if image is not None:
        cax = fig.add_axes((0.945, 0.25, 0.012, 0.5))
        fig.colorbar(image, cax=cax, label="images (log scale, shared)")
    save_figure(fig, path)


# -- confusion matrices and embeddings -------------------------------------------------------------

def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, path: str | os.PathLike, title: str = "Confusion matrix"
) -> None:
    """Heatmap of confusion counts (rows true digit, columns predicted), each cell annotated.

    The colour scale is logarithmic so that the few errors off the diagonal stay visible next to
    the large diagonal counts; empty cells are white.

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
    image = draw_confusion(ax, counts, LogNorm(vmin=1, vmax=max(int(counts.max()), 2)))
    ax.set_title(f"{title} (accuracy {accuracy:.2%}, {counts.sum():,} images)")
    fig.colorbar(image, ax=ax, label="images (log scale)")
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
    cmap = plt.get_cmap("tab10")
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
    """Two confusion matrices side by side on one shared (logarithmic) colour scale, counts in cells.

    Parameters
    ----------
    cm_a, cm_b : ndarray of shape (10, 10), int
        Counts, rows true digit, columns predicted (e.g. :func:`confusion_counts`).
    title_a, title_b : str
        Panel titles (the model names); each panel's accuracy is appended.
    path : path-like
        PNG to write.
    """
    norm = LogNorm(vmin=1, vmax=max(int(cm_a.max()), int(cm_b.max()), 2))
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 6.4))
    for ax, counts, title in zip(axes, (cm_a, cm_b), (title_a, title_b), strict=True):
        counts = np.asarray(counts)
        image = draw_confusion(ax, counts, norm)
        errors = counts.sum() - np.trace(counts)
        accuracy = np.trace(counts) / max(counts.sum(), 1)
        ax.set_title(f"{title}\naccuracy {accuracy:.2%}, {errors:,} errors of {counts.sum():,}")
    fig.colorbar(image, ax=axes, label="images (log scale, shared)", shrink=0.85)
    save_figure(fig, path)


def plot_per_class_gain(
    cm_a: np.ndarray, cm_b: np.ndarray, title_a: str, title_b: str, path: str | os.PathLike
) -> None:
    """Bars of the per-class accuracy (recall) gain of model b over model a, in percentage points.

    Parameters
    ----------
    cm_a, cm_b : ndarray of shape (10, 10), int
        Confusion counts of the two models on the same images, rows true digit.
    title_a, title_b : str
        Model names; the bars show ``title_b`` minus ``title_a``.
    path : path-like
        PNG to write.
    """
    cm_a, cm_b = np.asarray(cm_a, dtype=float), np.asarray(cm_b, dtype=float)
    recall_a = np.diag(cm_a) / np.maximum(cm_a.sum(axis=1), 1)
    recall_b = np.diag(cm_b) / np.maximum(cm_b.sum(axis=1), 1)
    gain = 100 * (recall_b - recall_a)
    overall = 100 * (np.trace(cm_b) / max(cm_b.sum(), 1) - np.trace(cm_a) / max(cm_a.sum(), 1))
    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    ax.bar(DIGITS, gain, color=np.where(gain >= 0, "tab:green", "tab:red"))
    for digit, value in zip(DIGITS, gain, strict=True):
        ax.annotate(f"{value:+.2f}", (digit, value), ha="center", va="bottom" if value >= 0 else "top",
                    fontsize=8, xytext=(0, 2 if value >= 0 else -2), textcoords="offset points")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(overall, color="gray", linestyle="--", linewidth=0.8, label=f"overall {overall:+.2f}")
    ax.set_xticks(DIGITS)
    ax.set_xlabel("true digit")
    ax.set_ylabel("accuracy gain (percentage points)")
    ax.set_title(f"Per-class accuracy: {title_b} minus {title_a}")
    ax.margins(y=0.2)
    ax.legend(frameon=False)
    fig.tight_layout()
    save_figure(fig, path)


# -- calibration and robustness --------------------------------------------------------------------

def plot_reliability(rows_by_model: dict[str, list[dict]], path: str | os.PathLike) -> None:
    """Reliability diagram of several models, saved as PNG.

    Left: accuracy against mean confidence per bin, with the diagonal of perfect calibration.
    Right: how many test images fall in each bin (log scale), since most fall in the top bin.

    Parameters
    ----------
    rows_by_model : dict of str to list of dict
        Model name (the legend) -> rows ``{bin, confidence, accuracy, count}`` of
        :func:`mnistlab.evaluation.calibration.reliability_bins` (fractions, counts).
    path : path-like
        PNG to write.
    """
    fig, (ax, ax_count) = plt.subplots(1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfect calibration")
    for name, rows in rows_by_model.items():
        conf = [r["confidence"] for r in rows]
        line, = ax.plot(conf, [r["accuracy"] for r in rows], marker="o", ms=3, lw=1.2, label=name)
        ax_count.plot(conf, [r["count"] for r in rows], marker="o", ms=3, lw=1, color=line.get_color())
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence in bin (largest class probability)",
           ylabel="accuracy in bin", title="Reliability diagram on the test set")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    ax_count.set(yscale="log", xlim=(0, 1), xlabel="mean confidence in bin", ylabel="test images in bin",
                 title="Images per confidence bin")
    ax_count.grid(alpha=0.3)
    save_figure(fig, path)


def plot_robustness_heatmap(table: Mapping[str, Mapping[str, float]], path: str | os.PathLike) -> None:
    """Accuracy heatmap, models (rows) x clean, each corruption family and the mean (columns), annotated.

    Parameters
    ----------
    table : mapping of str to mapping of str to float
        Model -> column -> accuracy (a fraction), every model with the same columns:
        :func:`mnistlab.evaluation.robustness.summary` (``metrics/robustness.json``).
    path : path-like
        PNG to write.
    """
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
