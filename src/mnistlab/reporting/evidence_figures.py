"""Figures of the evidence layer: the forest plot of the ``compare`` stage and the figure of
``mnistlab sweep``.

The numbers come from :mod:`mnistlab.evidence.compare` and :mod:`mnistlab.evidence.sweep_report`;
this module only draws them and saves a PNG atomically with
:func:`mnistlab.reporting.plots.save_figure`. The sweep modules are imported by the sweep figures
only, so the ``compare`` stage (the forest plot) does not depend on them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from mnistlab.reporting.plots import plt, save_figure

if TYPE_CHECKING:
    from mnistlab.evidence.sweep import Run


def plot_forest(result: dict, path: str | os.PathLike) -> None:
    """Forest plot: one row per pair, A - B in points with its interval; a winner's row in colour.

    Parameters
    ----------
    result : dict
        A :func:`mnistlab.evidence.compare.compare_models` result: ``alpha`` and ``pairs``, each
        with ``question, a, b`` and ``diff, ci_low, ci_high`` (fractions of the test images) and
        ``p_holm``; a row is coloured when ``p_holm < alpha``.
    path : str or path-like
        The PNG to write.
    """
    rows = result["pairs"]
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * max(len(rows), 1) + 1.4))
    for i, r in enumerate(rows):
        decided = r["p_holm"] < result["alpha"]
        color = "tab:blue" if decided else "0.45"
        y = len(rows) - 1 - i
        ax.errorbar(100 * r["diff"], y, color=color, fmt="o", capsize=3,
                    xerr=[[100 * (r["diff"] - r["ci_low"])], [100 * (r["ci_high"] - r["diff"])]])
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [f"{r['question']}\n{r['a']} - {r['b']}" for r in rows][::-1], fontsize=8)
    level = round(100 * (1 - result["alpha"]))
    ax.set_xlabel(f"test accuracy difference A - B, percentage points ({level} % paired bootstrap interval)")
    ax.set_title("Paired model comparisons (blue: Holm-adjusted McNemar p < "
                 f"{result['alpha']})", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def plot_metric_vs_param(summary: list[dict], param: str | None, metric: str, path: str | os.PathLike,
                         log_x: bool | None = None, xlabel: str | None = None) -> None:
    """Mean of a metric with its t interval against the swept param, one line per model.

    Parameters
    ----------
    summary : list of dict
        :func:`mnistlab.evidence.sweep_report.summarize` rows: the varying params' values,
        ``model, metric, n, mean, std, ci_low, ci_high``.
    param : str or None
        The one numeric swept param (the x axis); None: one point per model and group, groups
        side by side.
    metric : str
        The quantity drawn (rows with another ``metric`` are left out); fractions
        (:data:`~mnistlab.evidence.sweep_report.POINTS`) are drawn in percent.
    path : str or path-like
        The PNG to write.
    log_x : bool or None
        Log x axis; None: when the param's values are positive and span more than 10x.
    xlabel : str or None
        Label of the x axis (default: ``param``).
    """
    from mnistlab.evidence.sweep_report import POINTS, SUMMARY_FIELDS, group_label

    rows = [r for r in summary if r["metric"] == metric]
    scale = 100 if metric in POINTS else 1
    models = list(dict.fromkeys(r["model"] for r in rows))
    keys = [k for k in (rows[0] if rows else {}) if k not in SUMMARY_FIELDS]
    groups = list(dict.fromkeys(group_label(r, keys) for r in rows))
    if param:  # one line per model along the param
        series = [(model, [r for r in rows if r["model"] == model], 0.0) for model in models]
    else:  # one marker per model and group, groups side by side
        series = [(group or "all runs", [r for r in rows if group_label(r, keys) == group],
                   0.15 * (j - (len(groups) - 1) / 2)) for j, group in enumerate(groups)]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = plt.get_cmap("tab20" if len(series) > 10 else "tab10").colors  # one colour per line
    for (label, mine, offset), colour in zip(series, colours[::2] + colours[1::2] if len(series) > 10
                                             else colours, strict=False):
        x = [float(r[param]) for r in mine] if param else [models.index(r["model"]) + offset for r in mine]
        half = np.nan_to_num([scale * (r["ci_high"] - r["mean"]) for r in mine])
        ax.errorbar(x, [scale * r["mean"] for r in mine], yerr=half, marker="o", ms=4, capsize=3,
                    label=label, ls="-" if param else "none", color=colour)
    if param:
        xs = [float(r[param]) for r in rows]
        if log_x or (log_x is None and xs and min(xs) > 0 and max(xs) / min(xs) > 10):
            ax.set_xscale("log")
        ax.set_xlabel(xlabel or param)
    else:
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_ylabel(f"test {metric}{' (%)' if scale == 100 else ''}, mean and 95 % t interval over seeds")
    ax.set_title(f"Test {metric}" + (f" against {xlabel or param}" if param else " by model"))
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_sweep(runs: list[Run], summary: list[dict], metric: str, path: str | os.PathLike,
               seed_param: str = "seed") -> None:
    """The figure of ``mnistlab sweep``: :func:`plot_metric_vs_param` along the swept param.

    With one varying param (``seed_param`` aside) whose values are all numbers, the metric is drawn
    against it; a learning curve (``prepare.train_size``, given as training images) always on a
    log x axis labelled "training images". Otherwise one point per model and group.

    Parameters
    ----------
    runs : list of Run
        The runs of the sweep (:mod:`mnistlab.evidence.sweep`).
    summary : list of dict
        :func:`mnistlab.evidence.sweep_report.summarize` of ``runs``.
    metric : str
        The quantity drawn.
    path : str or path-like
        The PNG to write.
    seed_param : str
        The param that distinguishes repeats.
    """
    from mnistlab.evidence.sweep import TRAIN_SIZE, sort_key, varying_params

    keys = varying_params(runs, seed_param)
    numeric = len(keys) == 1 and all(sort_key(r.params.get(keys[0]))[0] == 0 for r in runs)
    learning_curve = keys == [TRAIN_SIZE]
    plot_metric_vs_param(summary, keys[0] if numeric else None, metric, path,
                         log_x=True if learning_curve else None,
                         xlabel="training images" if learning_curve else None)
