"""Statistics and written outputs of a set of experiment runs (``mnistlab sweep``).

The runs come from :mod:`mnistlab.evidence.sweep` (which this module builds on; nothing here
reads DVC); the command is :mod:`mnistlab.cli.sweep`.

For every group of runs that share the values of the params that vary (the seed param aside),
each model's quantities (:data:`mnistlab.evidence.sweep.QUANTITIES`) get the mean, the sample standard
deviation and a t interval over the runs: ``mean +- t_{1-alpha/2, n-1} * std / sqrt(n)``.

Two models of the same runs are compared with a paired t test over the runs
(``scipy.stats.ttest_rel``; with five seeds the Wilcoxon signed-rank test cannot reach p < 0.05,
so it is not used), Holm-adjusted over every test of the report. Two models whose test metrics
are the same in every run (the seed does not change them, as for a deterministic SVM) are not
tested over the runs. The pairs compared are ``compare.pairs`` of params.yaml
(:func:`pair_comparisons`).

Outputs (:func:`write_outputs`): the summary rows (CSV), a markdown report and a JSON file
(:func:`sweep_json`) that ``mnistlab claims`` reads back with :func:`runs_from_json`. The figure of
one metric against the swept param is :func:`mnistlab.reporting.evidence_figures.plot_sweep`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from scipy import stats

from mnistlab.core.io import atomic_path, write_csv, write_json
from mnistlab.evidence.compare import format_p, holm
from mnistlab.evidence.sweep import (
    CURVE_MODELS,
    CURVE_QUANTITIES,
    LOWER_IS_BETTER,
    QUALITY_METRICS,
    QUANTITIES,
    TRAIN_SIZE,
    Run,
    group_runs,
    portable,
    varying_params,
)
from mnistlab.models.registry import BEST_ALIASES

#: The columns of a :func:`summarize` row besides the varying params.
SUMMARY_FIELDS = {"model", "metric", "n", "mean", "std", "ci_low", "ci_high"}
#: Quantities that are fractions, written in percent (differences in percentage points).
POINTS = ("accuracy", "best_val_error", "final_val_error", "train_val_gap")


def group_label(values: dict, keys: list[str]) -> str:
    """``"k1=v1, k2=v2"`` with whole numbers written without ``.0``."""
    return ", ".join(f"{k}={fmt_value(values[k])}" for k in keys)


def fmt_value(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def t_summary(values, confidence: float = 0.95) -> dict:
    """``n, mean, std, ci_low, ci_high``: sample std (ddof 1) and t interval; nan where n < 2."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def summarize(runs: list[Run], seed_param: str = "seed", confidence: float = 0.95) -> list[dict]:
    """One row per group x model x quantity: the varying params' values, ``model, metric`` and
    :func:`t_summary` of the quantity over the group's runs (seeds)."""
    keys = varying_params(runs, seed_param)
    rows = []
    for group, members in group_runs(runs, keys).items():
        quantities = sorted({q for run in members for q in run.values},
                            key=lambda mq: (mq[0], QUANTITIES.index(mq[1])))
        for model, metric in quantities:
            summary = t_summary([run.values.get((model, metric)) for run in members], confidence)
            rows.append({**dict(zip(keys, group, strict=True)), "model": model, "metric": metric, **summary})
    return rows


def paired_difference(a, b, confidence: float = 0.95) -> dict:
    """Paired t test of ``a`` against ``b`` (same length, one pair per run).

    Returns ``n, mean_a, mean_b, diff`` (mean of A - B) with its t interval ``ci_low, ci_high``,
    ``p_value`` (two-sided ``scipy.stats.ttest_rel``; 1 for all-zero differences; None, not
    testable, for equal non-zero ones (equal to nine digits) and with fewer than two pairs) and
    ``a_above``/``a_below``, the runs where A is greater/smaller than B.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    summary = t_summary(d, confidence)
    if len(d) < 2:
        p = None
    elif np.allclose(d, d[0], rtol=1e-9, atol=1e-15):  # equal up to rounding: no spread to test
        # (curve points are logged every few updates, so equal differences happen by construction)
        p = 1.0 if np.allclose(d, 0.0, rtol=0.0, atol=1e-15) else None
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    return {"n": len(d), "mean_a": float(a.mean()), "mean_b": float(b.mean()), "diff": summary["mean"],
            "ci_low": summary["ci_low"], "ci_high": summary["ci_high"], "p_value": p,
            "a_above": int(np.sum(d > 0)), "a_below": int(np.sum(d < 0))}


def seed_independent(runs: list[Run], seed_param: str = "seed") -> set[str]:
    """Models whose test metrics are the same (to 9 significant digits: thread counts may change the
    rounding of a deterministic model's sums) in every run of every group of two or more runs."""
    models = {model for run in runs for model, q in run.values if q in QUALITY_METRICS}
    groups = [m for m in group_runs(runs, varying_params(runs, seed_param)).values() if len(m) > 1]

    def rounded(value):
        return None if value is None else float(f"{value:.9g}")

    return {model for model in models if groups and all(
        len({tuple(rounded(r.values.get((model, q))) for q in QUALITY_METRICS) for r in members}) == 1
        for members in groups)}


def paired_tests(runs: list[Run], comparisons: list[dict], seed_param: str = "seed",
                 alpha: float = 0.05, adjust: bool = True) -> list[dict]:
    """Paired t tests of model A against model B over the runs of each group (same run = same seed).

    Parameters
    ----------
    runs : list of Run
    comparisons : list of dict
        ``{question, a, b, quantity}``: models A and B, and a quality metric or curve quantity.
    seed_param : str
        The param that distinguishes repeats; the other varying params define the groups.
    alpha : float
        Level of the intervals and verdicts.
    adjust : bool
        Holm-adjust over the table (False: ``p_holm`` is the raw p, for a caller that adjusts
        over its own family).

    Returns
    -------
    list of dict
        ``{group, question, a, b, quantity}`` and the fields of :func:`paired_difference`, then
        ``p_holm, verdict``; ``diff`` is A - B. Runs missing either value are left out; two models
        that the seed does not change (:func:`seed_independent`) get no test (p None). Holm adjusts
        over every test of the table.
    """
    keys = varying_params(runs, seed_param)
    fixed = seed_independent(runs, seed_param)
    rows = []
    for group, members in group_runs(runs, keys).items():
        label = group_label(dict(zip(keys, group, strict=True)), keys) or "all runs"
        for comp in comparisons:
            quantity = comp["quantity"]
            both = [(r.values.get((comp["a"], quantity)), r.values.get((comp["b"], quantity)))
                    for r in members]
            both = [(a, b) for a, b in both if a is not None and b is not None]
            if not both:
                continue
            test = paired_difference(*zip(*both, strict=True), 1 - alpha)
            if {comp["a"], comp["b"]} <= fixed:
                test["p_value"] = None
            rows.append({"group": label, "question": comp["question"], "a": comp["a"], "b": comp["b"],
                         "quantity": quantity, **test})
    tested = [row for row in rows if row["p_value"] is not None]
    ps = [row["p_value"] for row in tested]
    adjusted = dict(zip(map(id, tested), holm(ps) if adjust else ps, strict=True))
    for row in rows:
        row["p_holm"] = adjusted.get(id(row))
        row["verdict"] = seed_verdict(row, alpha, {row["a"], row["b"]} <= fixed)
    return rows


def censor_updates(runs: list[Run], a: str, b: str, quantity: str) -> tuple[list[Run], str]:
    """Runs where model A or B never reached the error of ``updates_to_*`` while the other did.

    When only one of the two models falls short (in one or more runs), its value there becomes its
    last logged update (``total_updates``): a lower bound, which understates the other model's
    advantage. When both fall short in different runs, those runs are left out (as by
    :func:`paired_tests`). Returns the (copied) runs and a note saying what was done ("" if nothing).
    """
    short = {m: [i for i, r in enumerate(runs) if (m, quantity) not in r.values and (o, quantity) in r.values]
             for m, o in ((a, b), (b, a))}
    if bool(short[a]) == bool(short[b]):
        return runs, "runs where only one model got there are left out" if short[a] else ""
    model = a if short[a] else b
    fixed = [Run(r.name, r.rev, r.params, dict(r.values), r.train_images) for r in runs]
    for i in short[model]:
        if (model, "total_updates") in fixed[i].values:
            fixed[i].values[(model, quantity)] = fixed[i].values[(model, "total_updates")]
    return fixed, (f"{model} never got there in {len(short[model])} runs: counted at its last update, "
                   "a lower bound")


def pair_comparisons(pairs: list[dict], curve_models=CURVE_MODELS) -> list[dict]:
    """The comparisons of a sweep, from the pairs of ``compare.pairs``.

    Parameters
    ----------
    pairs : list of dict
        ``{question, a, b}`` (``compare.pairs`` in params.yaml). Pairs naming an alias of
        :data:`mnistlab.models.registry.BEST_ALIASES` are left out: the best model may differ
        from run to run.
    curve_models : collection of str
        Models with curve quantities (:data:`mnistlab.evidence.sweep.CURVE_MODELS`).

    Returns
    -------
    list of dict
        ``{question, a, b, quantity}``: test accuracy for every pair, then every curve quantity
        for the pairs whose two models are both in ``curve_models``.
    """
    plain = [{key: p[key] for key in ("question", "a", "b")} for p in pairs
             if not {p["a"], p["b"]} & set(BEST_ALIASES)]
    with_curves = [p for p in plain if {p["a"], p["b"]} <= set(curve_models)]
    return ([{**p, "quantity": "accuracy"} for p in plain]
            + [{**p, "quantity": q} for p in with_curves for q in CURVE_QUANTITIES])


def seed_verdict(row: dict, alpha: float = 0.05, fixed: bool = False) -> str:
    """The better model when Holm p < alpha (lower is better for losses, ECE and curve quantities)."""
    if fixed:
        return "not tested: the seed does not change either model"
    if row["p_holm"] is None:
        if row["n"] > 1:  # every run differs by the same amount: no spread to test
            return "not tested (the same difference in every run)"
        return f"not tested (n = {row['n']})"
    if row["p_holm"] < alpha and row["diff"] != 0:
        a_better = (row["diff"] > 0) != (row["quantity"] in LOWER_IS_BETTER)
        return f"{row['a'] if a_better else row['b']} is better"
    low, high = fmt(row["quantity"], row["ci_low"], signed=True), fmt(row["quantity"], row["ci_high"], True)
    return f"no detectable difference: the difference lies in [{low}, {high}] {unit(row['quantity'])}"


def unit(quantity: str) -> str:
    """Unit of a difference of ``quantity`` as :func:`fmt` writes it."""
    if quantity in POINTS:
        return "points"
    return "updates" if "updates" in quantity else "nats" if "loss" in quantity else ""


def fmt(quantity: str, value, signed: bool = False) -> str:
    """A value of ``quantity``: fractions as percent, update counts whole, others to 4 decimals."""
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if signed else ""
    if unit(quantity) == "points":
        return f"{100 * value:{sign}.2f}"
    return f"{value:{sign},.0f}" if "updates" in quantity else f"{value:{sign}.4f}"



# -- outputs -------------------------------------------------------------------------------------

def sweep_markdown(runs: list[Run], summary: list[dict], tests: list[dict], seed_param: str,
                   figure: str | None = None, notes: list[str] = ()) -> str:
    """The text of ``sweep.md``: the runs, the summary table and the paired tests."""
    keys = varying_params(runs, seed_param)
    seeds = sorted({fmt_value(r.params.get(seed_param)) for r in runs})
    lines = ["# Sweep summary over DVC experiments", "",
             "Generated by `mnistlab sweep` from `dvc.api.exp_show`; do not edit by hand.", "",
             f"{len(runs)} runs ({', '.join(r.name for r in runs)}); `{seed_param}` values: "
             f"{', '.join(seeds)}; "
             f"grouped by {', '.join(f'`{k}`' for k in keys) or 'nothing (all runs are repeats)'}. "
             "Each cell is the mean over a group's runs [95 % t interval] and the sample standard "
             "deviation; accuracies and validation errors in percent. Curve quantities: first logged "
             "update with validation error at most 5 / 3 / 2 %, and the mean absolute second "
             "difference of the validation loss (roughness, nats)."]
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    if figure:
        lines += ["", f"![metric against the swept parameter]({figure})"]
    header = keys + ["Model", "Quantity", "n", "Mean [95 % CI]", "Std"]
    lines += ["", "## Per model", "", f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    for row in summary:
        q, scale = row["metric"], 100 if row["metric"] in POINTS else 1
        cells = [fmt_value(row[k]) for k in keys] + [row["model"], q, str(row["n"])]
        cells.append(f"{fmt(q, row['mean'])} [{fmt(q, row['ci_low'])}, {fmt(q, row['ci_high'])}]")
        cells.append(f"{scale * row['std']:.4g}" if math.isfinite(row["std"]) else "n/a")
        lines.append(f"| {' | '.join(cells)} |")
    if tests:
        lines += ["", "## Paired tests over runs", "",
                  "Paired t test of A against B over the runs of a group (each run gives both models "
                  "the same seed and data); Holm adjusts over every test of this table, and the "
                  "verdict follows the adjusted p, while the intervals are not adjusted (one can "
                  "exclude 0 with no detectable difference). A - B in points for accuracy.", "",
                  "| Group | Question | A | B | Quantity | n | Mean A | Mean B | A - B [95 % CI] | p "
                  "| Holm p | Verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in tests:
            q = t["quantity"]
            lines.append(f"| {t['group']} | {t['question']} | {t['a']} | {t['b']} | {q} | {t['n']} | "
                         f"{fmt(q, t['mean_a'])} | {fmt(q, t['mean_b'])} | {fmt(q, t['diff'], True)} "
                         f"[{fmt(q, t['ci_low'], True)}, {fmt(q, t['ci_high'], True)}] | "
                         f"{format_p(t['p_value'])} | {format_p(t['p_holm'])} | {t['verdict']} |")
    return "\n".join(lines) + "\n"


def _finite(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def sweep_json(runs: list[Run], summary: list[dict], tests: list[dict], seed_param: str,
               alpha: float = 0.05, notes: list[str] = ()) -> dict:
    """The numbers of a sweep as a JSON-ready dict.

    Keys: ``seed_param``, ``varying_params``, ``alpha``, ``notes``; ``experiments``: one dict per
    run, ``{name, rev, train_images, params, values}`` with every param (flattened keys) and
    ``values[model][quantity]``; ``summary``: the :func:`summarize` rows; ``tests``: the
    :func:`paired_tests` rows. Non-finite numbers become null.
    """
    experiments = []
    for run in runs:
        values: dict[str, dict] = {}
        for (model, quantity), value in run.values.items():
            values.setdefault(model, {})[quantity] = value
        experiments.append({"name": run.name, "rev": run.rev, "train_images": run.train_images,
                            "params": run.params, "values": values})
    return _finite({"seed_param": seed_param, "varying_params": varying_params(runs, seed_param),
                    "alpha": alpha, "notes": list(notes), "experiments": experiments,
                    "summary": summary, "tests": tests})


def runs_from_json(data: dict) -> list[Run]:
    """The runs of a :func:`sweep_json` dict (nulls left out of the values)."""
    return [Run(e["name"], e["rev"], {key: portable(value) for key, value in e["params"].items()},
                {(m, q): float(v) for m, qs in e["values"].items() for q, v in qs.items() if v is not None},
                e.get("train_images")) for e in data["experiments"]]


def sweep_notes(runs: list[Run], seed_param: str, dropped: list[str] = ()) -> list[str]:
    """The notes of a sweep's report: the repeats left out, and what a swept training size means."""
    notes = [f"Left out as repeats of an experiment with the same params: {', '.join(dropped)}."
             ] if dropped else []
    if varying_params(runs, seed_param) == [TRAIN_SIZE]:
        notes.append(f"`{TRAIN_SIZE}` is given as the number of training images each run used.")
    return notes


def write_outputs(runs: list[Run], summary: list[dict], comparisons: list[dict], paths: dict,
                  seed_param: str = "seed", dropped: list[str] = (), alpha: float = 0.05) -> list[dict]:
    """Write the summary rows, the markdown report and the JSON of a sweep.

    Parameters
    ----------
    runs : list of Run
    summary : list of dict
        :func:`summarize` of ``runs`` (at confidence ``1 - alpha``).
    comparisons : list of dict
        ``{question, a, b, quantity}`` to test (:func:`pair_comparisons`).
    paths : dict
        ``csv``, ``report`` (markdown), ``json`` and ``figure``: the first three are written; the
        report links to the figure, which the caller draws
        (:func:`mnistlab.reporting.evidence_figures.plot_sweep`).
    seed_param : str
        The param that distinguishes repeats.
    dropped : list of str
        Experiments left out as repeats, for the notes.
    alpha : float
        Level of the tests and verdicts.

    Returns
    -------
    list of dict
        The :func:`paired_tests` rows.
    """
    tests = paired_tests(runs, comparisons, seed_param, alpha)
    notes = sweep_notes(runs, seed_param, dropped)
    write_csv(paths["csv"], summary)
    figure = os.path.relpath(paths["figure"], Path(paths["report"]).parent)
    with atomic_path(paths["report"]) as tmp:
        tmp.write_text(sweep_markdown(runs, summary, tests, seed_param, figure, notes))
    write_json(paths["json"], sweep_json(runs, summary, tests, seed_param, alpha, notes))
    return tests
