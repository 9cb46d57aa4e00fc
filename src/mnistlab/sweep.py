"""Summaries of DVC experiments: repeats over seeds and sweeps of a parameter (`mnistlab sweep`).

Runs come from ``dvc.api.exp_show``, which returns one flat dict per row: the columns
``Experiment`` (name), ``rev`` (7-digit commit or branch), ``typ`` (``baseline``, ``branch_base``,
``branch_commit``), ``State``..., then every metric and param flattened with dots (``seed``,
``prepare.train_size``, ``torch_cnn.accuracy``), prefixed by the file (``metrics/test.json:``) when
a name occurs in two files. Numbers arrive as floats, lists as strings, nulls as ``None``.

For every group of runs that share the values of the params that vary (the ``seed`` param aside),
each model's test metrics (``accuracy, macro_f1, log_loss, ece`` in metrics/test.json) and curve
quantities get the mean, the sample standard deviation and a t interval over the runs:
``mean +- t_{1-alpha/2, n-1} * std / sqrt(n)``. The curve quantities, read from each run's DVCLive
validation curves (``plots/curves/<model>/plots/metrics/val/{error,loss}.tsv``):

- ``updates_to_5pct``, ``_3pct``, ``_2pct``: the first logged update count at which the
  validation error is at most 5 %, 3 %, 2 % (missing when the run never gets there);
- ``val_loss_roughness``: the mean absolute second difference of the validation loss,
  ``mean_t |L[t+1] - 2 L[t] + L[t-1]|`` over the logged points (nats; the points are
  ``log_every`` updates apart): 0 for a straight line, large for a jagged curve. It is the
  absolute-value form of the second-difference roughness penalty of Whittaker (1923) and
  Hodrick & Prescott (1997).

Two models of the same runs are compared with a paired t test over the runs
(``scipy.stats.ttest_rel``; with five seeds the Wilcoxon signed-rank test cannot reach p < 0.05,
so it is not used), Holm-adjusted over every test of the report.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from mnistlab.compare import DEFAULT_PAIRS, holm
from mnistlab.errors import MnistlabError
from mnistlab.io import atomic_path, write_csv

QUALITY_METRICS = ("accuracy", "macro_f1", "log_loss", "ece")
THRESHOLDS = (0.05, 0.03, 0.02)
CURVE_QUANTITIES = tuple(f"updates_to_{round(100 * t)}pct" for t in THRESHOLDS) + ("val_loss_roughness",)
LOWER_IS_BETTER = {"log_loss", "ece", *CURVE_QUANTITIES}
SUMMARY_FIELDS = {"model", "metric", "n", "mean", "std", "ci_low", "ci_high"}
META_COLUMNS = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
CURVE_PAIRS = [
    {"question": "He vs naive random init (SGD)", "a": "mlp_sgd-he", "b": "mlp_sgd-random"},
    {"question": "He vs naive random init (Adam)", "a": "mlp_adam-he", "b": "mlp_adam-random"},
    {"question": "Adam vs SGD (He init)", "a": "mlp_adam-he", "b": "mlp_sgd-he"},
]
CURVE_FILES = "plots/curves/{model}/plots/metrics/val/{kind}.tsv"


@dataclass
class Run:
    """One experiment: its name, commit, params (flattened keys) and ``(model, quantity) -> value``."""

    name: str
    rev: str
    params: dict
    values: dict = field(default_factory=dict)


# -- exp_show rows -> runs ---------------------------------------------------------------------------

def flatten_params(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat.update(flatten_params(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return flat


def metric_column(column: str) -> tuple[str, str] | None:
    """``(model, metric)`` for a quality-metric column of metrics/test.json, else None."""
    path, _, name = column.rpartition(":")
    if path and not path.endswith("test.json"):
        return None
    model, _, metric = name.rpartition(".")
    return (model, metric) if model and "." not in model and metric in QUALITY_METRICS else None


def _matches(row: dict, rev: str) -> bool:
    name, short = row.get("Experiment") or "", str(row.get("rev") or "")
    return rev in (name, short) or (len(rev) >= 7 and len(short) >= 7 and
                                     (rev.startswith(short) or short.startswith(rev)))


def select_rows(rows: list[dict], revs: list[str] | None = None, prefix: str | None = None,
                include_baseline: bool = False) -> list[dict]:
    """The finished experiments among ``exp_show`` rows.

    Default: every experiment (``typ`` branch_base/branch_commit); ``include_baseline`` adds the
    baseline commits; ``revs`` keeps the rows whose name or commit matches one of them;
    ``prefix`` keeps the experiments whose name starts with it. Rows without a test metric
    (queued, running, failed) are dropped.
    """
    kept = []
    for row in rows:
        if row.get("rev") == "workspace" or not any(metric_column(c) and row[c] is not None for c in row):
            continue
        if revs:
            if not any(_matches(row, rev) for rev in revs):
                continue
        elif row.get("typ") == "baseline" and not include_baseline:
            continue
        if prefix and not (row.get("Experiment") or "").startswith(prefix):
            continue
        kept.append(row)
    return kept


def runs_from_rows(rows: list[dict], param_keys: set[str] | None = None) -> list[Run]:
    """A :class:`Run` per row; params are the columns in ``param_keys`` (``params.yaml:`` stripped),
    or, when None, every column that is neither metadata, a quality metric nor a file hash."""
    runs = []
    for row in rows:
        params, values = {}, {}
        for column, value in row.items():
            parsed = metric_column(column)
            if parsed:
                if value is not None:
                    values[parsed] = float(value)
                continue
            key = column.removeprefix("params.yaml:")
            if column in META_COLUMNS:
                continue
            if param_keys is not None and key not in param_keys:
                continue
            if param_keys is None and (":" in key or "/" in key or _is_hash(value)):
                continue
            params[key] = value
        runs.append(Run(row.get("Experiment") or str(row.get("rev")), str(row.get("rev")), params, values))
    return runs


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value.removesuffix(".dir")) == 32 and all(
        ch in "0123456789abcdef" for ch in value.removesuffix(".dir"))


# -- summaries ---------------------------------------------------------------------------------------

def varying_params(runs: list[Run], seed_param: str = "seed") -> list[str]:
    """Params (other than ``seed_param``) whose value is not the same in every run, sorted."""
    keys = sorted({key for run in runs for key in run.params} - {seed_param})
    return [key for key in keys if len({repr(run.params.get(key)) for run in runs}) > 1]


def _order(value):
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, repr(value))


def group_runs(runs: list[Run], keys: list[str]) -> dict[tuple, list[Run]]:
    """Runs grouped by their values of ``keys``, groups in increasing (numeric, then text) order."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.params.get(key) for key in keys), []).append(run)
    return dict(sorted(groups.items(), key=lambda item: [_order(v) for v in item[0]]))


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
                            key=lambda mq: (mq[0], (QUALITY_METRICS + CURVE_QUANTITIES).index(mq[1])))
        for model, metric in quantities:
            summary = t_summary([run.values.get((model, metric)) for run in members], confidence)
            rows.append({**dict(zip(keys, group, strict=True)), "model": model, "metric": metric, **summary})
    return rows


def paired_tests(runs: list[Run], comparisons: list[dict], seed_param: str = "seed",
                 alpha: float = 0.05) -> list[dict]:
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

    Returns
    -------
    list of dict
        ``{group, question, a, b, quantity, n, mean_a, mean_b, diff, ci_low, ci_high, p_value,
        p_holm, verdict}``; ``diff`` is A - B and its t interval. Runs missing either value are
        left out. Constant differences give p = 1 (all zero) or 0 (equal and non-zero); fewer than
        two runs give no test (p None). Holm adjusts over every test of the table.
    """
    keys = varying_params(runs, seed_param)
    rows = []
    for group, members in group_runs(runs, keys).items():
        label = _group_label(dict(zip(keys, group, strict=True)), keys) or "all runs"
        for comp in comparisons:
            quantity = comp["quantity"]
            both = [(r.values.get((comp["a"], quantity)), r.values.get((comp["b"], quantity)))
                    for r in members]
            both = [(a, b) for a, b in both if a is not None and b is not None]
            if not both:
                continue
            a, b = (np.array(v, dtype=float) for v in zip(*both, strict=True))
            d = a - b
            summary = t_summary(d, 1 - alpha)
            if len(d) < 2:
                p = None
            elif np.all(d == d[0]):
                p = 1.0 if d[0] == 0 else 0.0
            else:
                p = float(stats.ttest_rel(a, b).pvalue)
            rows.append({"group": label, "question": comp["question"], "a": comp["a"], "b": comp["b"],
                         "quantity": quantity, "n": len(d), "mean_a": float(a.mean()),
                         "mean_b": float(b.mean()), "diff": summary["mean"],
                         "ci_low": summary["ci_low"], "ci_high": summary["ci_high"], "p_value": p})
    tested = [row for row in rows if row["p_value"] is not None]
    adjusted = dict(zip(map(id, tested), holm(row["p_value"] for row in tested), strict=True))
    for row in rows:
        row["p_holm"] = adjusted.get(id(row))
        row["verdict"] = seed_verdict(row, alpha)
    return rows


def default_comparisons() -> list[dict]:
    """Test accuracy for the default compare pairs (aliases aside) and every curve quantity for
    :data:`CURVE_PAIRS`."""
    aliases = {"best_neural", "best_classic"}
    return ([{**p, "quantity": "accuracy"} for p in DEFAULT_PAIRS if not {p["a"], p["b"]} & aliases]
            + [{**p, "quantity": q} for p in CURVE_PAIRS for q in CURVE_QUANTITIES])


def seed_verdict(row: dict, alpha: float = 0.05) -> str:
    """The better model when Holm p < alpha (lower is better for losses, ECE and curve quantities)."""
    if row["p_holm"] is None:
        return f"not tested (n = {row['n']})"
    if row["p_holm"] < alpha and row["diff"] != 0:
        a_better = (row["diff"] > 0) != (row["quantity"] in LOWER_IS_BETTER)
        return f"{row['a'] if a_better else row['b']} is better"
    low, high = _fmt(row["quantity"], row["ci_low"], signed=True), _fmt(row["quantity"], row["ci_high"], True)
    return f"no detectable difference: the difference lies in [{low}, {high}] {_unit(row['quantity'])}"


def parse_tsv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A DVCLive step file (``step<TAB>value`` with a header) -> steps, values."""
    lines = [line.split("\t") for line in text.strip().splitlines()[1:] if line.strip()]
    return (np.array([float(s) for s, *_ in lines]), np.array([float(v) for _, v, *_ in lines]))


def updates_to_reach(steps: np.ndarray, error: np.ndarray, threshold: float) -> float | None:
    """First logged step with validation error <= ``threshold``; None if never."""
    hit = np.flatnonzero(np.asarray(error) <= threshold)
    return float(steps[hit[0]]) if hit.size else None


def roughness(loss: np.ndarray) -> float | None:
    """Mean absolute second difference of a curve (None with fewer than 3 points)."""
    loss = np.asarray(loss, dtype=float)
    return float(np.abs(np.diff(loss, n=2)).mean()) if loss.size >= 3 else None


def curve_quantities(error_curve, loss_curve) -> dict:
    """``updates_to_*pct`` from ``(steps, error)`` and ``val_loss_roughness`` from ``(steps, loss)``."""
    out = {}
    if error_curve is not None:
        for threshold, name in zip(THRESHOLDS, CURVE_QUANTITIES, strict=False):
            out[name] = updates_to_reach(*error_curve, threshold)
    if loss_curve is not None:
        out["val_loss_roughness"] = roughness(loss_curve[1])
    return {k: v for k, v in out.items() if v is not None}


# -- outputs -------------------------------------------------------------------------------------

def _unit(quantity: str) -> str:
    return "points" if quantity == "accuracy" else "updates" if quantity.startswith("updates") else ""


def _fmt(quantity: str, value, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    sign = "+" if signed else ""
    if quantity == "accuracy":
        return f"{100 * value:{sign}.2f}"
    return f"{value:{sign},.0f}" if quantity.startswith("updates") else f"{value:{sign}.4f}"


def _fmt_value(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def sweep_markdown(runs: list[Run], summary: list[dict], tests: list[dict], seed_param: str,
                   figure: str | None = None) -> str:
    """The text of ``reports/sweep.md``."""
    keys = varying_params(runs, seed_param)
    seeds = sorted({_fmt_value(r.params.get(seed_param)) for r in runs})
    lines = ["# Sweep summary over DVC experiments", "",
             "Generated by `mnistlab sweep` from `dvc.api.exp_show`; do not edit by hand.", "",
             f"{len(runs)} runs ({', '.join(r.name for r in runs)}); `{seed_param}` values: "
             f"{', '.join(seeds)}; "
             f"grouped by {', '.join(f'`{k}`' for k in keys) or 'nothing (all runs are repeats)'}. "
             "Each cell is the mean over a group's runs [95 % t interval] and the sample standard "
             "deviation; accuracy in percent. Curve quantities: first logged update with validation "
             "error at most 5 / 3 / 2 %, and the mean absolute second difference of the validation "
             "loss (roughness, nats)."]
    if figure:
        lines += ["", f"![metric against the swept parameter]({figure})"]
    header = keys + ["Model", "Quantity", "n", "Mean [95 % CI]", "Std"]
    lines += ["", "## Per model", "", f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    for row in summary:
        q, scale = row["metric"], 100 if row["metric"] == "accuracy" else 1
        cells = [_fmt_value(row[k]) for k in keys] + [row["model"], q, str(row["n"])]
        cells.append(f"{_fmt(q, row['mean'])} [{_fmt(q, row['ci_low'])}, {_fmt(q, row['ci_high'])}]")
        cells.append(f"{scale * row['std']:.4g}" if math.isfinite(row["std"]) else "n/a")
        lines.append(f"| {' | '.join(cells)} |")
    if tests:
        lines += ["", "## Paired tests over runs", "",
                  "Paired t test of A against B over the runs of a group (each run gives both models "
                  "the same seed and data); Holm adjusts over every test of this table. "
                  "A - B in points for accuracy.", "",
                  "| Group | Question | A | B | Quantity | n | Mean A | Mean B | A - B [95 % CI] | p "
                  "| Holm p | Verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in tests:
            q = t["quantity"]
            p = "n/a" if t["p_value"] is None else f"{t['p_value']:.2g}"
            ph = "n/a" if t["p_holm"] is None else f"{t['p_holm']:.2g}"
            lines.append(f"| {t['group']} | {t['question']} | {t['a']} | {t['b']} | {q} | {t['n']} | "
                         f"{_fmt(q, t['mean_a'])} | {_fmt(q, t['mean_b'])} | {_fmt(q, t['diff'], True)} "
                         f"[{_fmt(q, t['ci_low'], True)}, {_fmt(q, t['ci_high'], True)}] | {p} | {ph} | "
                         f"{t['verdict']} |")
    return "\n".join(lines) + "\n"


def plot_metric_vs_param(summary: list[dict], param: str | None, metric: str, path) -> None:
    """Mean metric with its t interval against the one numeric swept param, one line per model
    (log x when the values span more than 10x); without such a param, one point per model and group."""
    from mnistlab.plots import plt, save_figure

    rows = [r for r in summary if r["metric"] == metric]
    scale = 100 if metric == "accuracy" else 1
    models = list(dict.fromkeys(r["model"] for r in rows))
    keys = [k for k in (rows[0] if rows else {}) if k not in SUMMARY_FIELDS]
    groups = list(dict.fromkeys(_group_label(r, keys) for r in rows))
    if param:  # one line per model along the param
        series = [(model, [r for r in rows if r["model"] == model], 0.0) for model in models]
    else:  # one marker per model and group, groups side by side
        series = [(group or "all runs", [r for r in rows if _group_label(r, keys) == group],
                   0.15 * (j - (len(groups) - 1) / 2)) for j, group in enumerate(groups)]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, mine, offset in series:
        x = [float(r[param]) for r in mine] if param else [models.index(r["model"]) + offset for r in mine]
        half = np.nan_to_num([scale * (r["ci_high"] - r["mean"]) for r in mine])
        ax.errorbar(x, [scale * r["mean"] for r in mine], yerr=half, marker="o", ms=4, capsize=3,
                    label=label, ls="-" if param else "none")
    if param:
        xs = [float(r[param]) for r in rows]
        if xs and min(xs) > 0 and max(xs) / min(xs) > 10:
            ax.set_xscale("log")
        ax.set_xlabel(param)
    else:
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_ylabel(f"test {metric}{' (%)' if scale == 100 else ''}, mean and 95 % t interval over seeds")
    ax.set_title(f"Test {metric}" + (f" against {param}" if param else " by model"))
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def _group_label(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={_fmt_value(row[k])}" for k in keys)


# -- DVC -----------------------------------------------------------------------------------------

def read_runs(repo: str = ".", revs=None, prefix=None, include_baseline=False, num: int = 1,
              curves: bool = True) -> list[Run]:
    """Runs from ``dvc.api.exp_show(repo, num=num)``, selected by :func:`select_rows`, with the curve
    quantities of the models in :data:`CURVE_PAIRS` read at each run's commit."""
    import dvc.api
    import yaml

    rows = select_rows(dvc.api.exp_show(repo=repo, num=num), revs, prefix, include_baseline)
    if not rows:
        raise MnistlabError(f"{repo}: no finished experiments match the selection (see `dvc exp show`)")
    param_file = Path(repo) / "params.yaml"
    keys = set(flatten_params(yaml.safe_load(param_file.read_text()) or {})) if param_file.is_file() else None
    runs = runs_from_rows(rows, keys)
    models = sorted({p[side] for p in CURVE_PAIRS for side in ("a", "b")})
    for run in runs if curves else []:
        fs = dvc.api.DVCFileSystem(repo, rev=run.name if run.name != run.rev else run.rev)
        for model in models:
            curve = {}
            for kind in ("error", "loss"):
                try:
                    curve[kind] = parse_tsv(fs.read_text(CURVE_FILES.format(model=model, kind=kind)))
                except (FileNotFoundError, ValueError, IndexError):
                    curve[kind] = None
            for name, value in curve_quantities(curve["error"], curve["loss"]).items():
                run.values[(model, name)] = value
    return runs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", default=".", help="DVC repository (default: the current folder)")
    parser.add_argument("--rev", action="append", help="experiment name or commit to include (repeatable); "
                        "default: every experiment of the current baseline")
    parser.add_argument("--name-prefix", help="only experiments whose name starts with this")
    parser.add_argument("--include-baseline", action="store_true", help="count the baseline commit as a run")
    parser.add_argument("--num", type=int, default=1, help="baselines to list (dvc exp show -n)")
    parser.add_argument("--seed-param", default="seed", help="the param that distinguishes repeats")
    parser.add_argument("--metric", default="accuracy", choices=QUALITY_METRICS, help="metric of the figure")
    parser.add_argument("--no-curves", action="store_true", help="skip reading the validation curves")
    parser.add_argument("--csv", default="reports/sweep.csv")
    parser.add_argument("--figure", default="reports/sweep.png")
    parser.add_argument("--report", default="reports/sweep.md")


def run(args: argparse.Namespace) -> int:
    runs = read_runs(args.repo, args.rev, args.name_prefix, args.include_baseline, args.num,
                     not args.no_curves)
    summary = summarize(runs, args.seed_param)
    tests = paired_tests(runs, default_comparisons(), args.seed_param)
    keys = varying_params(runs, args.seed_param)
    numeric = len(keys) == 1 and all(_order(r.params.get(keys[0]))[0] == 0 for r in runs)
    write_csv(args.csv, summary)
    plot_metric_vs_param(summary, keys[0] if numeric else None, args.metric, args.figure)
    figure = os.path.relpath(args.figure, Path(args.report).parent)
    with atomic_path(args.report) as tmp:
        tmp.write_text(sweep_markdown(runs, summary, tests, args.seed_param, figure))
    print(f"{len(runs)} runs summarised: {args.report}, {args.csv}, {args.figure}")
    return 0

