"""Figures and the generated report of the robustness stage: degradation curves of the graded
corruption families, MNIST-C test errors, and the digits as the models see them.

Every figure takes plain arrays and rows (no params, no files read) and is written atomically with
:func:`mnistlab.reporting.plots.save_figure`. Intervals are 95 % Wilson score intervals of a
proportion (:func:`mnistlab.evidence.compare.accuracy_interval`), computed from the counts of
correct (or wrong) images: the test images of one condition are a sample, and the interval says
how far another sample of the same size could move the figure.

Colours: :func:`model_styles` gives each model its colour and marker of the project's one
colour-blind-safe palette (:mod:`mnistlab.reporting.palette`), the same in every figure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from mnistlab.evidence.compare import accuracy_interval
from mnistlab.reporting.palette import model_color, model_marker
from mnistlab.reporting.plots import plt, save_figure


def model_styles(models: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Model -> (colour, marker) of :mod:`mnistlab.reporting.palette`."""
    return {model: (model_color(model), model_marker(model)) for model in models}


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95 % Wilson interval of ``successes / n`` (a fraction); (nan, nan) when ``n`` is 0."""
    return accuracy_interval(successes, n) if n else (float("nan"), float("nan"))


def _frame(ax, colour: str = "0.6") -> None:
    """No ticks, a thin frame: the 28 x 28 extent of an image stays visible on any background."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(colour)
        spine.set_linewidth(0.6)


# -- graded families ----------------------------------------------------------------------------

def plot_robustness_curves(
    counts: Mapping[str, Sequence[Mapping]],
    units: Mapping[str, str],
    path: str | os.PathLike,
    preprocessing: str,
) -> None:
    """Degradation curves: test accuracy against severity, one panel per corruption family.

    Each model is a line with its 95 % Wilson band; the clean test set (the family's identity
    severity) is marked by a dotted vertical line and hollow markers.

    Parameters
    ----------
    counts : mapping of str to sequence of mapping
        Family -> rows ``{model, severity, clean, correct, n}``
        (:func:`mnistlab.evaluation.robustness.curve_counts`).
    units : mapping of str to str
        Family -> what a severity measures (axis label).
    path : path-like
        PNG to write.
    preprocessing : str
        What the models do to a corrupted digit before seeing it, for the title.
    """
    families = list(counts)
    models = list(dict.fromkeys(row["model"] for rows in counts.values() for row in rows))
    styles = model_styles(models)
    ncols = min(4, max(len(families), 1))
    nrows = max(1, -(-len(families) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows + 1.2), squeeze=False)
    n_images = {row["n"] for rows in counts.values() for row in rows}
    for ax in axes.flat[len(families):]:
        ax.set_axis_off()
    for ax, family in zip(axes.flat, families, strict=False):
        rows = counts[family]
        for model in models:
            mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["severity"])
            if not mine:
                continue
            x = np.array([r["severity"] for r in mine])
            y = np.array([r["correct"] / r["n"] for r in mine])
            band = np.array([wilson(r["correct"], r["n"]) for r in mine])
            colour, marker = styles[model]
            ax.fill_between(x, band[:, 0], band[:, 1], color=colour, alpha=0.13, lw=0)
            ax.plot(x, y, color=colour, marker=marker, ms=4, lw=1.3, label=model)
            clean = np.array([bool(r["clean"]) for r in mine])
            ax.plot(x[clean], y[clean], ls="none", marker=marker, ms=8, mfc="white", mec=colour, mew=1.4)
        lowest = min((wilson(r["correct"], r["n"])[0] for r in rows if r["n"]), default=0.0)
        bottom = max(0.0, np.floor((lowest - 0.02) * 20) / 20)  # the next 0.05 below the lowest band
        identity = [r["severity"] for r in rows if r["clean"]]
        if identity:
            ax.axvline(identity[0], color="0.3", ls=":", lw=1)
            ax.annotate("clean", (identity[0], 0.02), xycoords=("data", "axes fraction"), fontsize=7,
                        color="0.3", ha="left", va="bottom", xytext=(2, 0), textcoords="offset points")
        ax.set(title=family, xlabel=units.get(family, "severity"), ylabel="test accuracy",
               ylim=(bottom, 1.0 + (1.0 - bottom) * 0.02))
        ax.grid(alpha=0.3)
    handles, labels = next(((ax.get_legend_handles_labels()) for ax in axes.flat
                            if ax.get_legend_handles_labels()[0]), ([], []))
    n_text = ", ".join(f"{n:,}" for n in sorted(n_images)) or "0"
    fig.suptitle(f"Test accuracy against corruption severity ({n_text} test images per point; bands: 95% "
                 f"Wilson intervals; hollow marker and dotted line: the clean test set; each panel's y axis "
                 f"spans its own range)\nModels see the corrupted digits after {preprocessing}", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False, fontsize=8)
    save_figure(fig, path)


def plot_corruption_strip(
    strip: dict[str, list[tuple[float, np.ndarray]]], path: str | os.PathLike, label: int | None = None,
    view: str = "before deskewing",
) -> None:
    """One digit at every severity of every corruption: a row per family, severities left to right.

    Parameters
    ----------
    strip : dict of str to list of (float, ndarray of shape (28, 28))
        Family -> (severity, digit in [0, 1]), as
        :func:`mnistlab.evaluation.robustness.corruption_strip` returns.
    path : path-like
        PNG to write.
    label : int, optional
        The digit's label, for the title.
    view : str
        What the images are, for the title: ``"before deskewing"`` or ``"as the models see them
        (after deskewing)"``.
    """
    ncols = max((len(row) for row in strip.values()), default=1)
    nrows = max(len(strip), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols + 1.6, 1.45 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, (name, row) in enumerate(strip.items()):
        for c, (severity, image) in enumerate(row):
            ax = axes[r, c]
            ax.set_axis_on()
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            _frame(ax)
            ax.set_title(f"{severity:g}", fontsize=8)
        axes[r, 0].text(-4, 14, name, ha="right", va="center", fontsize=9)
    digit = "" if label is None else f" (a {label})"
    fig.suptitle(f"One test digit{digit} under every corruption and severity, {view}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


# -- MNIST-C ------------------------------------------------------------------------------------

def plot_mnist_c_errors(
    rows: Sequence[Mapping],
    path: str | os.PathLike,
    published: Mapping[str, Mapping[str, float]] | None = None,
    source: str = "generated",
) -> None:
    """MNIST-C test error of every model on every corruption, with 95 % Wilson intervals.

    One row per corruption (the clean test set first, then by the mean error over the models,
    worst at the bottom), models side by side within a row; log x axis (errors span 0.5 % to 90 %).
    Published figures, when given, are black crosses.

    Parameters
    ----------
    rows : sequence of mapping
        ``{model, corruption, errors, n}`` (:func:`mnistlab.evaluation.robustness.mnist_c_counts`).
    path : path-like
        PNG to write.
    published : mapping, optional
        Paper model -> corruption -> error (a fraction).
    source : str
        ``generated`` or the folder of the official files, for the title.
    """
    models = list(dict.fromkeys(r["model"] for r in rows))
    styles = model_styles(models)
    by = {(r["model"], r["corruption"]): r for r in rows}
    corruptions = list(dict.fromkeys(r["corruption"] for r in rows if r["corruption"] != "clean"))
    mean_error = {c: np.mean([by[m, c]["errors"] / max(by[m, c]["n"], 1) for m in models if (m, c) in by])
                  for c in corruptions}
    order = ["clean", *sorted(corruptions, key=mean_error.get)]
    fig, ax = plt.subplots(figsize=(9.5, 0.3 * len(order) * max(1, len(models) / 6) + 2.0))
    height = 0.8
    offsets = (np.arange(len(models)) - (len(models) - 1) / 2) * (height / max(len(models), 1))
    floor = 1e-4
    for k, model in enumerate(models):
        colour, marker = styles[model]
        ys, xs, lows, highs = [], [], [], []
        for i, corruption in enumerate(order):
            row = by.get((model, corruption))
            if row is None or not row["n"]:
                continue
            error = row["errors"] / row["n"]
            low, high = wilson(row["errors"], row["n"])
            ys.append(i + offsets[k])
            xs.append(max(error, floor))
            lows.append(max(0.0, max(error, floor) - max(low, floor)))  # >= 0 despite rounding at 0 and 1
            highs.append(max(0.0, max(high, floor) - max(error, floor)))
        errors = [by[model, c]["errors"] / by[model, c]["n"] for c in corruptions if (model, c) in by]
        mce = f" (MCE {100 * np.mean(errors):.1f}%)" if len(errors) == len(corruptions) and errors else ""
        ax.errorbar(xs, ys, xerr=[lows, highs], fmt=marker, color=colour, ms=4, lw=0.9, capsize=0,
                    label=model + mce)
    for paper_model, errors in (published or {}).items():
        points = [(errors[c], i) for i, c in enumerate(order) if c in errors]
        if points:
            ax.plot(*zip(*points, strict=True), "x", color="black", ms=7, label=f"published: {paper_model}")
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    for i in range(len(order) - 1):
        ax.axhline(i + 0.5, color="0.85", lw=0.6)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{100 * v:g}%"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("test error (log scale; bars: 95% Wilson intervals; rows: clean, then by mean error)")
    n = sorted({r["n"] for r in rows})
    origin = "generated here from the raw test digits" if source == "generated" else "the official files"
    ax.set_title(f"MNIST-C: test error per corruption ({', '.join(f'{v:,}' for v in n)} images each, "
                 f"{origin})", fontsize=10)
    ax.grid(alpha=0.3, axis="x", which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    save_figure(fig, path)


def plot_mnist_c_strip(
    strip: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | os.PathLike, label: int | None = None,
    view: str = "after deskewing",
) -> None:
    """One test digit under each MNIST-C corruption: as made (top) and as the models see it (bottom).

    Parameters
    ----------
    strip : sequence of (str, ndarray (28, 28), ndarray (28, 28))
        (name, corrupted digit in [0, 1], the models' input in [0, 1])
        (:func:`mnistlab.evaluation.robustness.mnist_c_strip`).
    path : path-like
        PNG to write.
    label : int, optional
        The digit's label, for the title.
    view : str
        The models' preprocessing, for the second row's label.
    """
    ncols = max(len(strip), 1)
    fig, axes = plt.subplots(2, ncols, figsize=(1.15 * ncols + 1.4, 3.0), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for c, (name, made, seen) in enumerate(strip):
        for r, image in enumerate((made, seen)):
            axes[r, c].set_axis_on()
            axes[r, c].imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            _frame(axes[r, c])
        axes[0, c].set_title(name.replace("_", " "), fontsize=7.5)
    axes[0, 0].text(-4, 14, "corrupted", ha="right", va="center", fontsize=8)
    axes[1, 0].text(-4, 14, "model input", ha="right", va="center", fontsize=8)
    digit = "" if label is None else f" (a {label})"
    fig.suptitle(f"MNIST-C: one test digit{digit} under each corruption (shown as in the MNIST-C paper, "
                 f"white ink on black); bottom row: the models' input, {view}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


# -- the generated report ----------------------------------------------------------------------

def _percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{100 * value:.{digits}f}"


def robustness_report(
    mnist_c: Mapping[str, Mapping[str, float]],
    mnist_c_rows: Sequence[Mapping],
    graded: Mapping[str, Sequence[Mapping]],
    settings: Mapping[str, str],
    units: Mapping[str, str],
    preprocessing: str,
    source: str,
    published: Mapping[str, Mapping[str, float]],
    published_source: str,
    figures: Mapping[str, str],
) -> str:
    """``reports/robustness.md``: MNIST-C errors beside the published figures, and the graded curves.

    Parameters
    ----------
    mnist_c : mapping
        Model -> {``clean``, corruption..., ``mce``, ``relative_mce``} test errors
        (:func:`mnistlab.evaluation.robustness.mnist_c_summary`).
    mnist_c_rows : sequence of mapping
        ``{model, corruption, errors, n}`` for the intervals.
    graded : mapping
        Family -> rows ``{model, severity, clean, correct, n}``.
    settings : mapping of str to str
        Corruption -> its fixed MNIST-C setting, for the table.
    units : mapping of str to str
        Family -> what a severity measures.
    preprocessing : str
        What the models do to a digit before seeing it.
    source : str
        ``generated`` or the folder of the official MNIST-C files.
    published, published_source
        :data:`mnistlab.evaluation.mnist_c.PUBLISHED` and where it comes from.
    figures : mapping of str to str
        Caption -> path of a figure, relative to the report.

    Returns
    -------
    str
        Markdown.
    """
    models = list(mnist_c)
    counts = {(r["model"], r["corruption"]): r for r in mnist_c_rows}
    n = sorted({r["n"] for r in mnist_c_rows})
    origin = ("generated by mnistlab from the raw test digits with the definitions and fixed settings of "
              "google-research/mnist-c `corruptions.py` (seeded by `robustness.seed`; not the official "
              "images pixel for pixel)" if source == "generated"
              else f"the official MNIST-C files in `{source}` (`robustness.mnist_c_dir`)")
    lines = [
        "# Robustness of every model: MNIST-C and graded corruptions",
        "",
        "Generated by the `robustness` stage (`stages/robustness.py`); edits here are overwritten. "
        "Numbers: `metrics/robustness.json`. The corruptions are described in `docs/robustness.md`.",
        "",
        "## What the models see",
        "",
        f"Every corrupted digit goes through the models' own preprocessing before any model sees it: "
        f"{preprocessing}. Deskewing shears each digit so that its principal axis is vertical and moves "
        "its centre of mass to the centre, so it undoes most of a shear or a translation: those "
        "corruptions (graded `shear`, `translation`; MNIST-C `shear`, `translate`) cost the models little, "
        "which says more about the preprocessing than about the classifiers. The strips show the digits "
        "after this step.",
        "",
        "## MNIST-C (Mu & Gilmer 2019, arXiv:1906.02337)",
        "",
        f"Images: {origin}; {', '.join(f'{v:,}' for v in n)} test images per corruption. Test error in %; "
        "MCE is the mean test error over the 15 corruptions, as MNIST-C reports it; the increase is "
        "MCE minus the clean error. Intervals (95% Wilson) are drawn in the figure; at 10,000 images an "
        "error of 1% is known to about ±0.2 points, one of 10% to about ±0.6.",
        "",
    ]
    published_models = list(published)
    header = ["corruption", "setting", *models, *(f"published: {m}" for m in published_models)]
    rule = "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"
    lines += ["| " + " | ".join(header) + " |", rule]
    corruptions = [key for key in (next(iter(mnist_c.values())) if models else {})
                   if key not in ("clean", "mce", "relative_mce")]
    for corruption in ["clean", *corruptions]:
        cells = [f"`{corruption}`", settings.get(corruption, "no corruption")]
        cells += [_percent(mnist_c[m].get(corruption)) for m in models]
        cells += [_percent(published[p].get(corruption)) for p in published_models]
        lines.append("| " + " | ".join(cells) + " |")
    for key, name in (("mce", "**MCE** (mean of the 15)"), ("relative_mce", "increase over clean")):
        cells = [name, ""] + [f"**{_percent(mnist_c[m].get(key))}**" if key == "mce" else
                              _percent(mnist_c[m].get(key)) for m in models]
        cells += [_percent(published[p].get(key)) for p in published_models]
        lines.append("| " + " | ".join(cells) + " |")
    ranked = sorted(models, key=lambda m: mnist_c[m]["mce"])
    if ranked:
        best, worst = ranked[0], ranked[-1]
        lines += ["", f"Lowest MCE: `{best}` ({_percent(mnist_c[best]['mce'])}%, clean "
                  f"{_percent(mnist_c[best]['clean'])}%); highest: `{worst}` "
                  f"({_percent(mnist_c[worst]['mce'])}%)."]
        mean_error = {c: np.mean([mnist_c[m][c] for m in models]) for c in corruptions}
        hardest = max(corruptions, key=mean_error.get) if corruptions else None
        if hardest:
            row = counts.get((best, hardest))
            interval = wilson(row["errors"], row["n"]) if row else (float("nan"),) * 2
            lines.append(f"Hardest corruption on average: `{hardest}` (`{best}`: "
                         f"{_percent(mnist_c[best][hardest])}%, "
                         f"95% interval {_percent(interval[0])}–{_percent(interval[1])}%).")
    lines += ["", "### Published figures", ""]
    if published:
        lines.append(f"Source: {published_source}. Same corruptions, but other models, training and "
                     "(for generated images) other random draws: compare orders of magnitude and rankings "
                     "of corruptions, not the last digit.")
    else:
        lines.append(f"None shown: {published_source}. We did not copy numbers from secondary summaries; "
                     "`PUBLISHED` in `src/mnistlab/evaluation/mnist_c.py` takes them, with their table, "
                     "once someone has the paper's tables at hand.")
    lines += ["", "## Graded families (our own severities)", "",
              "Accuracy on the stratified test subset at each severity; the clean value is the family's "
              "identity severity. Curves with 95% Wilson bands are in the figures at the end.", ""]
    models_graded = list(dict.fromkeys(r["model"] for rows in graded.values() for r in rows))
    for family, rows in graded.items():
        severities = sorted({r["severity"] for r in rows})
        by = {(r["model"], r["severity"]): r for r in rows}
        n_family = sorted({r["n"] for r in rows})
        lines += [f"**{family}**: severity in {units.get(family, 'its unit')}; "
                  f"{', '.join(f'{v:,}' for v in n_family)} images; accuracy in %", ""]
        clean = {r["severity"] for r in rows if r["clean"]}
        head = ["model", *(f"{s:g}" + (" (clean)" if s in clean else "") for s in severities)]
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(severities)]
        for model in models_graded:
            cells = [f"`{model}`"] + [_percent(by[model, s]["correct"] / by[model, s]["n"], 1)
                                      if (model, s) in by else "–" for s in severities]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Figures", ""]
    for caption, target in figures.items():
        lines += [f"**{caption[0].upper() + caption[1:]}**", "", f"![{caption}]({target})", ""]
    return "\n".join(lines) + "\n"
