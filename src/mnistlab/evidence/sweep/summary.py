"""Summaries of a sweep per group of runs, and how a value of each quantity is written.

For every group of runs that share the values of the params that vary (the seed param aside),
each model's quantities (:data:`mnistlab.evidence.sweep.QUANTITIES`) get the mean, the sample
standard deviation and a t interval over the runs: ``mean +- t_{1-alpha/2, n-1} * std / sqrt(n)``
(:func:`summarize`, :func:`t_summary`; descriptive, one model at a time; not part of the family of
tests). :func:`fmt` and :func:`unit` write a value or a difference of a quantity as the report and
the verdicts give it: fractions in percent (:data:`POINTS`), differences in points.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mnistlab.evidence.compare import signed
from mnistlab.evidence.sweep.runs import QUANTITIES, Run, group_runs, varying_params

#: The columns of a :func:`summarize` row besides the varying params.
SUMMARY_FIELDS = {"model", "metric", "n", "mean", "std", "ci_low", "ci_high"}
#: Quantities that are fractions, written in percent (differences in percentage points).
POINTS = ("accuracy", "best_val_error", "final_val_error", "train_val_gap", "val_accuracy",
          "train_eval_accuracy")


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


def unit(quantity: str) -> str:
    """Unit of a difference of ``quantity`` as :func:`fmt` writes it."""
    if quantity in POINTS:
        return "points"
    for word in ("images", "epochs", "updates"):
        if word in quantity:
            return word
    return "nats" if "loss" in quantity else ""


def fmt(quantity: str, value, signed: bool = False) -> str:
    """A value of ``quantity``: fractions as percent, image and update counts whole, epochs to 2
    decimals, others to 4; ``signed``: with its sign, never rounded to a zero that hides which side
    of 0 it lies on (:func:`mnistlab.evidence.compare.signed`)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    u = unit(quantity)
    scale, places = (100, 2) if u == "points" else (1, 0) if u in ("images", "updates") else \
        (1, 2) if u == "epochs" else (1, 4)
    if signed:
        return _signed(scale * value, places, thousands=u in ("images", "updates"))
    return f"{scale * value:,.{places}f}" if u in ("images", "updates") else f"{scale * value:.{places}f}"


_signed = signed  # the module-level helper; fmt's argument of the same name shadows it
