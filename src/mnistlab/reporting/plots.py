"""Drawing primitives, and figures of images and of the data (PNG, written atomically).

The rule between the two drawing modules: this one holds the primitives every figure uses
(:func:`save_figure`, the Agg backend, confusion counts and cells, the image grid) and figures
whose content is images or the data itself (sample digits, label distribution, galleries of test
digits, the Gabor filter bank; a digit under every corruption is drawn by
:mod:`mnistlab.reporting.robustness_figures`); :mod:`mnistlab.reporting.figures`
holds the figures of results (metrics, confusion matrices, curves, embeddings,
calibration). Every drawing function takes arrays, draws one figure and saves it with
:func:`save_figure`; none reads params or files, so each can be tested on small synthetic inputs.
Importing this module selects matplotlib's Agg backend (no display on servers and CI).
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from mnistlab.core.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save ``fig`` as PNG to ``path`` atomically, then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


# -- primitives and image grids ---------------------------------------------------------------------

DIGITS = np.arange(10)


def _image_grid(
    images: np.ndarray, captions: list[str], title: str, ncols: int = 6, colors: list[str] | None = None
) -> plt.Figure:
    """A grid of 28x28 images (dark ink on white) with a caption above each one."""
    n = max(len(images), 1)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.45 * ncols, 1.6 * nrows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(captions[i], fontsize=8.5, color=(colors[i] if colors else "black"))
    if len(images) == 0:
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=12)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return fig


def plot_samples_per_class(
    images: np.ndarray, labels: np.ndarray, path: str | os.PathLike, per_class: int = 10, seed: int = 0,
    title: str = "Sample training images per class",
) -> None:
    """One row per digit 0..9 of ``per_class`` randomly chosen images of that class.

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    labels : ndarray of shape (N,), integers 0..9
    path : path-like
        PNG to write.
    per_class : int
        Images per row; classes with fewer images leave blanks.
    seed : int
        Seed of the choice (``np.random.default_rng``).
    """
    rng = np.random.default_rng(seed)
    side, gap = images.shape[-1], 3
    cell = side + gap
    mosaic = np.zeros((10 * cell - gap, per_class * cell - gap), dtype=np.float32)  # one image: fast to draw
    for digit in DIGITS:
        members = np.flatnonzero(labels == digit)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for j, index in enumerate(chosen):
            mosaic[digit * cell : digit * cell + side, j * cell : j * cell + side] = images[index]
    fig, ax = plt.subplots(figsize=(0.9 * per_class + 0.9, 9.6))
    ax.imshow(mosaic, cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(DIGITS * cell + side / 2 - 0.5, [str(d) for d in DIGITS], fontsize=13)
    ax.tick_params(axis="y", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.supylabel("digit (class)", fontsize=11)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    save_figure(fig, path)


def plot_label_distribution(counts: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """Grouped bars of the number of images per digit in each split, and of each digit's share.

    Parameters
    ----------
    counts : dict of str to ndarray of shape (10,)
        Split name (``train``, ``val``, ``test``) -> images per digit 0..9.
    path : path-like
        PNG to write.
    """
    from mnistlab.reporting.palette import category_color  # here: the gabor stage imports this module

    fig, (ax_n, ax_share) = plt.subplots(1, 2, figsize=(12, 4.6))
    width = 0.8 / max(len(counts), 1)
    for k, (name, values) in enumerate(counts.items()):
        values = np.asarray(values, dtype=float)
        x = DIGITS + (k - (len(counts) - 1) / 2) * width
        label = f"{name} ({int(values.sum()):,} images)"
        ax_n.bar(x, values, width, label=label, color=category_color(k))
        ax_share.bar(x, 100 * values / max(values.sum(), 1), width, color=category_color(k))
    ax_share.axhline(10, color="grey", linestyle="--", linewidth=1, label="uniform (10 %)")
    for ax, ylabel, title in ((ax_n, "images", "Images per digit"),
                              (ax_share, "share of the split (%)", "Share of each digit per split")):
        ax.set_xticks(DIGITS)
        ax.set_xlabel("digit")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    fig.suptitle("Label distribution of the train / validation / test splits", fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(loc="lower center", ncol=len(counts) + 1, frameon=False)
    save_figure(fig, path)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Confusion matrix, ndarray of shape (n_classes, n_classes), int64: rows true, columns predicted."""
    index = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


#: Caption colour of a wrong prediction (Paul Tol's vibrant red, as in mnistlab.reporting.palette;
#: distinct from black for colour-blind readers too).
WRONG_COLOR = "#CC3311"
#: Colour map of the error cells (single-hue sequential, readable for colour-blind readers; the
#: Vega template confusion_counts uses Vega's "orangered", the same ramp) and of the diagonal.
ERROR_CMAP = "OrRd"
DIAGONAL_COLOR = "#d9d9d9"


def error_norm(*counts: np.ndarray) -> LogNorm:
    """One log colour scale for the errors (off-diagonal cells) of every matrix given: 1 to the
    largest error count among them (at least 2)."""
    largest = max([int(np.max(c - np.diag(np.diag(c)))) for c in counts] + [2])
    return LogNorm(vmin=1, vmax=largest)


def draw_confusion(ax: plt.Axes, counts: np.ndarray, norm: LogNorm, fontsize: float = 8):
    """Draw confusion counts (10, 10) on ``ax``, as the page's ``confusion_counts`` template does:
    the correct predictions (the diagonal) grey with bold counts, the errors coloured on ``norm``
    (a log scale, shared by the matrices of one figure: :func:`error_norm`), empty cells white.

    Returns the image of the errors, for a colour bar.
    """
    counts = np.asarray(counts)
    diagonal = np.eye(len(counts), dtype=bool)
    ax.imshow(np.ma.masked_where(~diagonal, np.ones(counts.shape)), cmap=matplotlib.colors.ListedColormap(
        [DIAGONAL_COLOR]), vmin=0, vmax=1)
    image = ax.imshow(np.ma.masked_where(diagonal | (counts == 0), counts), cmap=ERROR_CMAP, norm=norm)
    dark = norm.vmin * (norm.vmax / norm.vmin) ** 0.6  # white text 60 % up the log scale
    for (i, j), value in np.ndenumerate(counts):
        if value:
            ax.text(j, i, str(value), ha="center", va="center", fontsize=fontsize,
                    fontweight="bold" if i == j else "normal",
                    color="white" if i != j and value >= dark else "black")
    ax.set_xticks(DIGITS)
    ax.set_yticks(DIGITS)
    ax.set_xticks(DIGITS[:-1] + 0.5, minor=True)
    ax.set_yticks(DIGITS[:-1] + 0.5, minor=True)
    ax.grid(which="minor", color="#e0e0e0", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    return image


def plot_misclassified(
    images: np.ndarray, y_true: np.ndarray, proba: np.ndarray, path: str | os.PathLike, n: int = 36,
    title: str = "Misclassified test digits",
) -> None:
    """Gallery of the ``n`` misclassified images predicted with the highest confidence.

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    y_true : ndarray of shape (N,), integers 0..9
    proba : ndarray of shape (N, 10)
        Class probabilities; the prediction is the arg max, the confidence its probability.
    path : path-like
        PNG to write.
    n : int
        Most images shown.
    """
    y_pred = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    shown = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]
    captions = [f"true {y_true[i]} → pred {y_pred[i]}\nconf. {confidence[i]:.2f}" for i in shown]
    heading = f"{title}: {len(shown)} of {len(wrong):,} errors, most confident first"
    save_figure(_image_grid(images[shown], captions, heading, colors=[WRONG_COLOR] * len(shown)), path)


def plot_predictions(
    images: np.ndarray, y_true: np.ndarray, proba: np.ndarray, path: str | os.PathLike, n: int = 36,
    seed: int = 0, title: str = "Random test predictions",
) -> None:
    """Grid of ``n`` randomly chosen images with the predicted digit and its probability.

    Correct predictions are captioned in black, wrong ones in red (:data:`WRONG_COLOR`) with the true
    digit on a second line, so colour is not the only cue.

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    y_true : ndarray of shape (N,), integers 0..9
    proba : ndarray of shape (N, 10)
    path : path-like
        PNG to write.
    n : int
        Images shown (at most N).
    seed : int
        Seed of the choice.
    """
    chosen = np.sort(np.random.default_rng(seed).choice(len(y_true), size=min(n, len(y_true)), replace=False))
    y_pred = proba.argmax(axis=1)
    captions, colors = [], []
    for i in chosen:
        right = y_pred[i] == y_true[i]
        caption = f"pred {y_pred[i]} ({proba[i, y_pred[i]]:.2f})"
        captions.append(caption if right else f"{caption}\ntrue {y_true[i]}")
        colors.append("black" if right else WRONG_COLOR)
    n_right = int(np.sum(y_pred[chosen] == y_true[chosen]))
    heading = f"{title}: {n_right} of {len(chosen)} right (wrong ones in red, with the true digit)"
    save_figure(_image_grid(images[chosen], captions, heading, colors=colors), path)


# -- filters --------------------------------------------------------------------------------------


def plot_filter_bank(
    kernels: np.ndarray, thetas: np.ndarray, frequencies: np.ndarray, path: str | os.PathLike,
    sigmas: np.ndarray | None = None, title: str = "Gabor filter bank",
) -> None:
    """Grid of complex Gabor kernels: a column per orientation, two rows (real, imaginary) per frequency.

    Each kernel is drawn on its own symmetric colour scale (red positive, blue negative), since the
    envelope's peak ``1 / (2 pi sigma**2)`` differs between frequencies.

    Parameters
    ----------
    kernels : ndarray of shape (F, k, k), complex
    thetas : ndarray of shape (F,)
        Orientation of each kernel, radians.
    frequencies : ndarray of shape (F,)
        Frequency of each kernel, cycles per pixel.
    path : path-like
        PNG to write.
    sigmas : ndarray of shape (F,) or None
        Envelope standard deviations in pixels, shown in the row labels.
    title : str
        Figure title.
    """
    orientations = np.unique(np.round(thetas, 9))
    freqs = np.unique(np.round(frequencies, 9))
    nrows, ncols = 2 * len(freqs), len(orientations)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.25 * ncols + 1.6, 1.25 * nrows + 0.9), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for index, kernel in enumerate(kernels):
        row = 2 * int(np.searchsorted(freqs, round(float(frequencies[index]), 9)))
        col = int(np.searchsorted(orientations, round(float(thetas[index]), 9)))
        limit = max(float(np.abs(kernel).max()), 1e-12)
        for part, values in enumerate((kernel.real, kernel.imag)):
            axes[row + part, col].imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit,
                                         interpolation="nearest")
    for col, theta in enumerate(orientations):
        axes[0, col].set_title(f"θ = {np.degrees(theta):.0f}°", fontsize=9)
    for i, frequency in enumerate(freqs):
        sigma = ""
        if sigmas is not None:
            sigma = f"\nσ = {float(sigmas[np.argmin(np.abs(frequencies - frequency))]):.2g} px"
        for part, name in enumerate(("real (even)", "imag. (odd)")):
            axes[2 * i + part, 0].set_ylabel(f"f = {frequency:.3g} c/px{sigma}\n{name}", fontsize=8,
                                             rotation=0, ha="right", va="center", labelpad=6)
    size = kernels.shape[-1]
    fig.suptitle(f"{title}: {len(kernels)} complex filters, {size}x{size} px (columns: orientation; rows: "
                 "frequency, real/imaginary part)\nθ: direction of the carrier's wave vector, clockwise "
                 "from +x (image rows point down)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
