"""Figures of the evidence layer: the forest plot of the ``compare`` stage and the figure of
``mnistlab sweep``.

The numbers come from :mod:`mnistlab.evidence.compare` and :mod:`mnistlab.evidence.sweep`;
this module only draws them and saves a PNG atomically with
:func:`mnistlab.reporting.plots.save_figure`. The sweep modules are imported by the sweep figures
only, so the ``compare`` stage (the forest plot) does not depend on them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnistlab.reporting.palette import VERDICT_COLORS, category_color, model_color, model_marker
from mnistlab.reporting.plots import plt, save_figure

if TYPE_CHECKING:
    from mnistlab.evidence.sweep import Run

#: Markers of the groups of a sweep drawn side by side (their colours: Tol's bright scheme).
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def plot_forest(result: dict, path: str | os.PathLike) -> None:
    """Forest plot: one row per pair, A - B in points with its interval; a winner's row in colour.

    Parameters
    ----------
    result : dict
        A :func:`mnistlab.evidence.compare.compare_models` result: ``alpha``, ``family_size`` and
        ``confidence`` (the family's level) and ``pairs``, each with ``question, a, b`` and ``diff,
        ci_low, ci_high`` (fractions of the test images, the interval at ``confidence``); a row is
        coloured when its verdict names a winner: its ``better`` (1 or -1) when present, else when its
        interval excludes 0 (the same rule, :func:`mnistlab.evidence.hierarchical.direction`). The
        page's Vega template ``forest`` colours ``plots/compare.csv`` by the same rule and colours
        (:data:`~mnistlab.reporting.palette.VERDICT_COLORS`).
    path : str or path-like
        The PNG to write.
    """
    rows = result["pairs"]
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * max(len(rows), 1) + 1.4))
    for i, r in enumerate(rows):
        decided = bool(r["better"]) if r.get("better") is not None else (r["ci_low"] > 0 or r["ci_high"] < 0)
        color = VERDICT_COLORS["winner" if decided else "none"]
        y = len(rows) - 1 - i
        ax.errorbar(100 * r["diff"], y, color=color, fmt="o", capsize=3, elinewidth=2,
                    xerr=[[100 * (r["diff"] - r["ci_low"])], [100 * (r["ci_high"] - r["diff"])]])
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_yticks(range(len(rows)), [f"{r['question']}\n{r['a']} - {r['b']}" for r in rows][::-1], fontsize=8)
    m = result.get("family_size", len(rows))
    confidence = result.get("confidence", 1 - result["alpha"])
    ax.set_xlabel(f"test accuracy difference A - B, percentage points ({100 * confidence:.4g} % paired "
                  f"bootstrap interval; Bonferroni over {m} pairs)")
    ax.set_title(f"Paired model comparisons (blue: a winner, the interval excludes 0; grey: no detectable "
                 f"difference;\nthe {m} intervals hold together with probability >= "
                 f"{100 * (1 - result['alpha']):.4g} %)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path)


def plot_metric_vs_param(summary: list[dict], param: str | None, metric: str, path: str | os.PathLike,
                         log_x: bool | None = None, xlabel: str | None = None, title: str | None = None,
                         note: str | None = None) -> None:
    """Mean of a metric with its t interval against the swept param, one line per model.

    Every point says how many runs it averages: the tick labels (against a param) or the footnote
    (groups side by side) give ``n``; a point of one run is drawn hollow, without an interval (one
    run has none, and a bare dot would look precise).

    Parameters
    ----------
    summary : list of dict
        :func:`mnistlab.evidence.sweep.summarize` rows: the varying params' values,
        ``model, metric, n, mean, std, ci_low, ci_high``.
    param : str or None
        The one numeric swept param (the x axis; one line per model, in its palette colour); None:
        one point per model and group, models along x, groups side by side in the legend.
    metric : str
        The quantity drawn (rows with another ``metric`` are left out); fractions
        (:data:`~mnistlab.evidence.sweep.POINTS`) are drawn in percent.
    path : str or path-like
        The PNG to write.
    log_x : bool or None
        Log x axis; None: when the param's values are positive and span more than 10x.
    xlabel : str or None
        Label of the x axis (default: ``param``).
    title : str or None
        Figure title (default: the metric against the param, or by model).
    note : str or None
        A line under the figure (e.g. the models left out and why).
    """
    from mnistlab.evidence.sweep import POINTS, SUMMARY_FIELDS, fmt_value, group_label

    rows = [r for r in summary if r["metric"] == metric]
    scale = 100 if metric in POINTS else 1
    models = list(dict.fromkeys(r["model"] for r in rows))
    keys = [k for k in (rows[0] if rows else {}) if k not in SUMMARY_FIELDS]
    groups = list(dict.fromkeys(group_label(r, keys) for r in rows))
    fig, ax = plt.subplots(figsize=(8.5, 5.2))

    def draw(mine, x, color, marker, label, line):
        """Points with their intervals; one-run points hollow and bare."""
        y = np.array([scale * r["mean"] for r in mine])
        half = np.array([scale * (r["ci_high"] - r["mean"]) for r in mine], dtype=float)
        single = np.array([int(r["n"]) < 2 for r in mine])
        ax.errorbar(x, y, yerr=np.where(single | ~np.isfinite(half), 0.0, half), marker="none",
                    ls="-" if line else "none", capsize=3, color=color, label=None, lw=1.6)
        ax.plot(np.asarray(x)[~single], y[~single], ls="none", marker=marker, ms=6, color=color,
                label=label if (~single).any() else None)
        ax.plot(np.asarray(x)[single], y[single], ls="none", marker=marker, ms=6, color=color,
                markerfacecolor="white", label=None if (~single).any() else label)

    if param:  # one line per model along the param
        for model in models:
            mine = [r for r in rows if r["model"] == model]
            draw(mine, [float(r[param]) for r in mine], model_color(model), model_marker(model), model, True)
        xs = sorted({float(r[param]) for r in rows})
        if log_x or (log_x is None and xs and min(xs) > 0 and max(xs) / min(xs) > 10):
            ax.set_xscale("log")
        ax.set_xticks(xs, [f"{fmt_value(x)}\nn = {_n_range([r for r in rows if float(r[param]) == x])}"
                           for x in xs], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel(xlabel or param)  # the tick labels say n, the runs behind each point
        ax.legend(fontsize=7, ncol=2 if len(models) > 6 else 1)
    else:  # one marker per model and group, groups side by side
        for j, group in enumerate(groups):
            mine = [r for r in rows if group_label(r, keys) == group]
            x = [models.index(r["model"]) + 0.15 * (j - (len(groups) - 1) / 2) for r in mine]
            if len(groups) == 1:  # one group: each model in its own colour
                for r, xi in zip(mine, x, strict=True):
                    draw([r], [xi], model_color(r["model"]), model_marker(r["model"]), None, False)
            else:
                marker = GROUP_MARKERS[j % len(GROUP_MARKERS)]
                draw(mine, x, category_color(j), marker, group or "all runs", False)
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
        if len(groups) > 1:
            ax.legend(fontsize=7)
        per_group = {group: [r for r in rows if group_label(r, keys) == group] for group in groups}
        sizes = "; ".join(f"{group or 'all runs'}: {_n_range(mine)}" for group, mine in per_group.items())
        hollow = " Hollow: one run, no interval." if any(int(r["n"]) < 2 for r in rows) else ""
        note = f"Runs per point (n) - {sizes}.{hollow}" + (f"\n{note}" if note else "")
    ax.set_ylabel(f"test {metric}{' (%)' if scale == 100 else ''}: mean, 95 % t interval over seeds")
    ax.set_title(title or (f"Test {metric}" + (f" against {xlabel or param}" if param else " by model")),
                 fontsize=10.5)
    ax.grid(alpha=0.3)
    if note:
        fig.text(0.01, -0.01, note, fontsize=8, va="top", wrap=True)
    fig.tight_layout()
    save_figure(fig, path)


def _n_range(rows: list[dict]) -> str:
    """The runs behind ``rows``: ``3``, or ``2-3`` when the models differ."""
    sizes = sorted({int(r["n"]) for r in rows})
    return "?" if not sizes else str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"


def plot_sweep(runs: list[Run], summary: list[dict], metric: str, path: str | os.PathLike,
               seed_param: str = "seed", repo: str | os.PathLike | None = None) -> None:
    """The figure of ``mnistlab sweep``: :func:`plot_metric_vs_param` along the swept param, for
    the models the swept params can change.

    With one varying param (``seed_param`` aside) whose values are all numbers, the metric is drawn
    against it; a learning curve (``prepare.train_size``, given as training images) always on a
    log x axis labelled "training images". Otherwise one point per model and group. Only the models
    that dvc.yaml makes depend on a swept param are drawn
    (:func:`mnistlab.evidence.sweep.models_reached`, as the sweep's tests choose their pairs,
    :func:`mnistlab.evidence.sweep.select_family`); in a sweep of the seed alone, the models
    whose test metrics are the same in every run are left out too (one fit, repeated). The title
    says what was swept; a footnote names the models left out.

    Parameters
    ----------
    runs : list of Run
        The runs of the sweep (:mod:`mnistlab.evidence.sweep`).
    summary : list of dict
        :func:`mnistlab.evidence.sweep.summarize` of ``runs``.
    metric : str
        The quantity drawn.
    path : str or path-like
        The PNG to write.
    seed_param : str
        The param that distinguishes repeats.
    repo : str or path-like, optional
        The DVC repository whose ``dvc.yaml`` says which models each param reaches (default: the
        current folder); unreadable: every model is drawn, and the footnote says so.
    """
    from mnistlab.evidence.sweep import (
        TRAIN_SIZE,
        load_dvc_yaml,
        models_reached,
        seed_independent,
        sort_key,
        swept_params,
        varying_params,
    )

    keys = varying_params(runs, seed_param)
    swept = swept_params(runs, seed_param)
    models = list(dict.fromkeys(r["model"] for r in summary if r["metric"] == metric))
    dvc = load_dvc_yaml(Path(repo or ".") / "dvc.yaml")
    notes = []
    if dvc is None:
        kept = models
        notes.append("dvc.yaml could not be read: every model is drawn, whether or not the swept params "
                     "change it.")
    else:
        reached = models_reached(dvc, swept)
        fixed = seed_independent(runs, seed_param) if swept == [seed_param] else set()
        kept = [m for m in models if m in reached and m not in fixed]
        unreached = [m for m in models if m not in reached]
        repeated = [m for m in models if m in reached and m in fixed]
        if unreached:
            notes.append(f"Left out: {', '.join(unreached)} (by dvc.yaml, {' and '.join(swept)} cannot "
                         f"change {'them' if len(unreached) > 1 else 'it'}).")
        if repeated:
            notes.append(f"Left out: {', '.join(repeated)} (the seed does not change them: the same test "
                         "metrics in every run, one fit repeated).")
    rows = [r for r in summary if r["model"] in kept]
    numeric = len(keys) == 1 and all(sort_key(r.params.get(keys[0]))[0] == 0 for r in runs)
    learning_curve = keys == [TRAIN_SIZE]
    what = ("Learning curve" if learning_curve else f"Sweep of {' x '.join(keys)}" if keys
            else f"Repeats over {seed_param}")
    title = (f"{what}: test {metric} of the {len(kept)} model{'s' * (len(kept) != 1)} "
             f"{' and '.join(swept) if swept != [seed_param] else 'the seed'} can change\n"
             f"(mean and 95 % t interval over seeds)")
    plot_metric_vs_param(rows, keys[0] if numeric else None, metric, path,
                         log_x=True if learning_curve else None,
                         xlabel="training images" if learning_curve else None, title=title,
                         note=" ".join(notes) or None)
