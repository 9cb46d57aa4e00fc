"""Statistics and written outputs of a set of experiment runs (``mnistlab sweep``).

The runs come from :mod:`mnistlab.evidence.sweep` (which this module builds on; nothing here
reads DVC); the command is :mod:`mnistlab.cli.sweep`.

For every group of runs that share the values of the params that vary (the seed param aside),
each model's quantities (:data:`mnistlab.evidence.sweep.QUANTITIES`) get the mean, the sample standard
deviation and a t interval over the runs: ``mean +- t_{1-alpha/2, n-1} * std / sqrt(n)``
(descriptive, one model at a time; not part of the family of tests).

**The family.** The pairs compared are ``compare.pairs`` of params.yaml (:func:`pair_comparisons`),
restricted to those the swept params can change (:func:`select_family`: a pair is tested only when
dvc.yaml makes one of its models depend on a swept param, :func:`mnistlab.evidence.sweep.models_reached`;
in a sweep of the seed alone, pairs of two models the seed does not change are left out too: they
are one fit, repeated). Every test of the report is one question of one family of size ``m``; each
interval is at ``1 - alpha / m`` (Bonferroni, :mod:`mnistlab.evidence.hierarchical`) and each verdict
is read off its interval, so no verdict can contradict the interval printed beside it.

**The tests** (:func:`paired_tests`), per group and compared pair:

- test accuracy, when the runs carry which test images each model gets wrong: the two-level
  bootstrap over seeds and test images (:func:`mnistlab.evidence.hierarchical.crossed_bootstrap`,
  the runs share one test set; :func:`~mnistlab.evidence.hierarchical.two_level_bootstrap` on the
  discordant counts when they do not, or when only ``metrics/compare.json``'s counts are known);
- test accuracy of two models the seed does not change (one fit per group, e.g. the SVMs over
  training-set sizes): McNemar's exact test and the paired bootstrap of that fit's test images;
- otherwise, and for the curve quantities: the paired t test over the runs (``scipy.stats.ttest_rel``;
  with five seeds the Wilcoxon signed-rank test cannot reach p < 0.05, so it is not used); for
  accuracy it sees training randomness only, and the report says so.

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

from mnistlab.core.io import atomic_path, read_json, write_csv, write_json
from mnistlab.evidence.compare import (
    family_sentence,
    format_level,
    format_p,
    holm,  # noqa: F401  (re-exported for callers that adjust over their own family)
    mcnemar_counts,
    signed,
)
from mnistlab.evidence.hierarchical import (
    bonferroni,
    crossed_bootstrap,
    direction,
    family_alpha,
    two_level_bootstrap,
)
from mnistlab.evidence.sweep import (
    CENSOR_AT,
    CURVE_MODELS,
    CURVE_QUANTITIES,
    LOWER_IS_BETTER,
    QUALITY_METRICS,
    QUANTITIES,
    TRAIN_SIZE,
    UPDATES_TO,
    Run,
    _norm,
    _reads,
    batch_size_of,
    flatten_params,
    group_runs,
    load_dvc_yaml,
    models_reached,
    portable,
    sort_key,
    training_params,
    varying_params,
)
from mnistlab.models.registry import BEST_ALIASES

#: The columns of a :func:`summarize` row besides the varying params.
SUMMARY_FIELDS = {"model", "metric", "n", "mean", "std", "ci_low", "ci_high"}
#: Quantities that are fractions, written in percent (differences in percentage points).
POINTS = ("accuracy", "best_val_error", "final_val_error", "train_val_gap", "val_accuracy",
          "train_eval_accuracy")
#: Bootstrap resamples of the accuracy comparisons (cost O(resamples x seeds), seconds in all).
N_RESAMPLES = 20000
#: The Run fields a summary records besides its values, when they are set.
EXTRA_FIELDS = ("errors", "test_images", "test_id", "pairs", "curve_spacing", "legacy_curves")
#: How each test is made, as the report's Method column writes it.
METHODS = {
    "crossed": "two-level bootstrap, seeds x shared test images",
    "nested": "two-level bootstrap, seeds / test images",
    "one_fit": "one fit: test-image bootstrap, McNemar p",
    "t_accuracy": "paired t over seeds (training noise only)",
    "t": "paired t over seeds",
}


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


def accuracy_data(members: list[Run], a: str, b: str) -> dict | None:
    """What the runs of a group hold for a test-image comparison of A and B on accuracy.

    Returns
    -------
    dict or None
        ``{"kind": "crossed", "errors_a", "errors_b", "n", "runs"}`` when every run with both
        models' wrong test images was scored on one test set (equal ``test_id``); ``{"kind":
        "nested", "b", "c", "n", "runs"}`` (per-run discordant counts and test images) when the
        runs' test sets differ or only ``metrics/compare.json``'s counts are known; None when no
        run holds either.
    """
    with_errors = [r for r in members if a in r.errors and b in r.errors and r.test_images]
    if with_errors:
        if len({r.test_id for r in with_errors}) == 1:
            return {"kind": "crossed", "errors_a": [r.errors[a] for r in with_errors],
                    "errors_b": [r.errors[b] for r in with_errors], "n": with_errors[0].test_images,
                    "runs": with_errors}
        bc = [(len(set(r.errors[b]) - set(r.errors[a])), len(set(r.errors[a]) - set(r.errors[b])))
              for r in with_errors]
        return {"kind": "nested", "b": [x for x, _ in bc], "c": [y for _, y in bc],
                "n": [r.test_images for r in with_errors], "runs": with_errors}
    counted = []
    for r in members:
        pair, flip = r.pairs.get(f"{a} vs {b}"), False
        if pair is None and f"{b} vs {a}" in r.pairs:
            pair, flip = r.pairs[f"{b} vs {a}"], True
        if pair is not None and r.test_images:
            b_count, c_count = (pair["b_only"], pair["a_only"]) if flip else (pair["a_only"], pair["b_only"])
            counted.append((b_count, c_count, r.test_images, r))
    if counted:
        return {"kind": "nested", "b": [x[0] for x in counted], "c": [x[1] for x in counted],
                "n": [x[2] for x in counted], "runs": [x[3] for x in counted]}
    return None


def _counts(data: dict) -> tuple[list[int], list[int]]:
    """Per-run discordant counts ``b, c`` of an :func:`accuracy_data` plan."""
    if data["kind"] == "nested":
        return list(data["b"]), list(data["c"])
    pairs = [(len(set(eb) - set(ea)), len(set(ea) - set(eb)))
             for ea, eb in zip(data["errors_a"], data["errors_b"], strict=True)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def paired_tests(runs: list[Run], comparisons: list[dict], seed_param: str = "seed",
                 alpha: float = 0.05, adjust: bool = True, seed: int = 0,
                 n_resamples: int = N_RESAMPLES) -> list[dict]:
    """Paired comparisons of model A against model B in each group of runs, as one family.

    Parameters
    ----------
    runs : list of Run
    comparisons : list of dict
        ``{question, a, b, quantity}``: models A and B, and a quality metric or curve quantity.
    seed_param : str
        The param that distinguishes repeats; the other varying params define the groups.
    alpha : float
        Family level: the intervals of all tested rows hold together with probability at least
        ``1 - alpha``.
    adjust : bool
        Every tested row is one question of the family (size ``m``: the tested rows), each interval
        at ``1 - alpha / m``. False: each row on its own (``m = 1``), for a caller that declares
        its own family.
    seed, n_resamples : int
        Of the bootstraps (the same seed for every row).

    Returns
    -------
    list of dict
        ``{group, question, a, b, quantity, method, n, mean_a, mean_b, diff, ci_low, ci_high,
        p_value, a_above, a_below, family_size, confidence, p_adjusted, verdict, note}``: ``diff`` is
        A - B and ``[ci_low, ci_high]`` its interval at ``confidence``; ``method`` a key of
        :data:`METHODS` (None: not tested); ``p_value`` the test matching the interval (McNemar for
        one fit) and ``p_adjusted`` Bonferroni's ``min(1, m p)``; ``verdict`` read off the interval
        (:func:`seed_verdict`); ``a_only``/``b_only`` (summed over the runs) for test-image
        comparisons. Rows are not tested (``method`` and ``p_value`` None, outside the family) with
        fewer than two runs, a difference that is the same in every run, two models that the seed
        does not change and no test images to compare them on, or roughness measured at different
        spacings.
    """
    keys = varying_params(runs, seed_param)
    fixed = seed_independent(runs, seed_param)
    rows = []
    for group, members in group_runs(runs, keys).items():
        label = group_label(dict(zip(keys, group, strict=True)), keys) or "all runs"
        for comp in comparisons:
            a, b, quantity = comp["a"], comp["b"], comp["quantity"]
            note = ""
            if quantity in CENSOR_AT:
                members_q, note = censor_updates(members, a, b, quantity)
            else:
                members_q = members
            both = [(r.values.get((a, quantity)), r.values.get((b, quantity)), r) for r in members_q]
            both = [(x, y, r) for x, y, r in both if x is not None and y is not None]
            if not both:
                continue
            values_a, values_b = np.array([x for x, _, _ in both]), np.array([y for _, y, _ in both])
            d = values_a - values_b
            row = {"group": label, "question": comp["question"], "a": a, "b": b, "quantity": quantity,
                   "n": len(both), "mean_a": float(values_a.mean()), "mean_b": float(values_b.mean()),
                   "diff": float(d.mean()), "ci_low": None, "ci_high": None, "p_value": None,
                   "a_above": int(np.sum(d > 0)), "a_below": int(np.sum(d < 0)), "method": None,
                   "reason": "", "note": note, "_data": None, "_both": both}
            data = accuracy_data([r for _, _, r in both], a, b) if quantity == "accuracy" else None
            pair_fixed = {a, b} <= fixed
            if pair_fixed:
                if data is not None:
                    row["method"], row["_data"] = "one_fit", data
                else:
                    row["reason"] = "not tested: the seed does not change either model"
            elif data is not None and len(data["runs"]) >= 2:
                row["method"], row["_data"] = data["kind"], data
            elif len(both) < 2:
                row["reason"] = f"not tested (n = {len(both)})"
            elif np.allclose(d, d[0], rtol=1e-9, atol=1e-15):  # equal up to rounding: no spread to test
                # (curve points are logged every few updates, so equal differences happen by construction)
                row["reason"] = "not tested (the same difference in every run)"
            elif quantity == "val_loss_roughness" and _unequal_spacing([r for _, _, r in both], a, b):
                row["reason"] = ("not tested: the two curves' roughness was measured at different "
                                 "spacings of training images")
            else:
                row["method"] = "t_accuracy" if quantity == "accuracy" else "t"
            rows.append(row)
    tested = [row for row in rows if row["method"]]
    m = len(tested) if adjust else 1
    level = family_alpha(alpha, m)
    for row in tested:
        _test(row, level, seed, n_resamples)
    for row, p_adjusted in zip(tested, bonferroni([row["p_value"] for row in tested]) if adjust
                               else [row["p_value"] for row in tested], strict=True):
        row["p_adjusted"] = p_adjusted
    for row in rows:
        row.pop("_data"), row.pop("_both")
        row["family_size"], row["confidence"] = (m, 1 - level) if row["method"] else (None, None)
        row.setdefault("p_adjusted", None)
        row["verdict"] = seed_verdict(row)
    return rows


def _test(row: dict, level: float, seed: int, n_resamples: int) -> None:
    """Fill ``diff, ci_low, ci_high, p_value`` (and ``a_only, b_only``) of a tested row, in place."""
    data, method = row["_data"], row["method"]
    if method in ("crossed", "nested", "one_fit"):
        b, c = _counts(data)
        if method == "one_fit":  # one fit repeated: its first run's test images
            boot = two_level_bootstrap(b[0], c[0], data["n"] if data["kind"] == "crossed" else data["n"][0],
                                       seed, n_resamples, level)
            row.update(n=1, mean_a=row["_both"][0][0], mean_b=row["_both"][0][1], a_only=b[0], b_only=c[0],
                       p_value=mcnemar_counts(b[0], c[0]))
        elif method == "crossed":
            boot = crossed_bootstrap(data["errors_a"], data["errors_b"], data["n"], seed, n_resamples, level)
            row.update(a_only=int(sum(b)), b_only=int(sum(c)), p_value=boot["p_value"], n=boot["n_seeds"])
        else:
            boot = two_level_bootstrap(b, c, data["n"], seed, n_resamples, level)
            row.update(a_only=int(sum(b)), b_only=int(sum(c)), p_value=boot["p_value"], n=boot["n_seeds"])
        row.update(diff=boot["diff"], ci_low=boot["low"], ci_high=boot["high"])
        return
    a = [x for x, _, _ in row["_both"]]
    b = [y for _, y, _ in row["_both"]]
    test = paired_difference(a, b, 1 - level)
    row.update(ci_low=test["ci_low"], ci_high=test["ci_high"], p_value=test["p_value"])


def _unequal_spacing(members: list[Run], a: str, b: str) -> bool:
    """Whether some run measured A's and B's roughness on grids of different spacing."""
    return any(r.curve_spacing.get(a) and r.curve_spacing.get(b)
               and not math.isclose(r.curve_spacing[a], r.curve_spacing[b], rel_tol=1e-6) for r in members)


def censor_updates(runs: list[Run], a: str, b: str, quantity: str) -> tuple[list[Run], str]:
    """Runs where model A or B never reached the error of a crossing quantity while the other did.

    When only one of the two models falls short (in one or more runs), its value there becomes its
    last logged point (``total_images`` for ``images_to_*``, ``total_updates`` for
    ``updates_to_*``: :data:`mnistlab.evidence.sweep.CENSOR_AT`): a lower bound, which understates
    the other model's advantage. When both fall short in different runs, those runs are left out
    (as by :func:`paired_tests`). Returns the (copied) runs and a note saying what was done ("" if
    nothing).
    """
    short = {m: [i for i, r in enumerate(runs) if (m, quantity) not in r.values and (o, quantity) in r.values]
             for m, o in ((a, b), (b, a))}
    if bool(short[a]) == bool(short[b]):
        return runs, "runs where only one model got there are left out" if short[a] else ""
    model = a if short[a] else b
    total = CENSOR_AT.get(quantity, "total_updates")
    fixed = [Run(**{**r.__dict__, "values": dict(r.values)}) for r in runs]
    for i in short[model]:
        if (model, total) in fixed[i].values:
            fixed[i].values[(model, quantity)] = fixed[i].values[(model, total)]
    last = "last logged point" if total == "total_images" else "last update"
    return fixed, f"{model} never got there in {len(short[model])} runs: counted at its {last}, a lower bound"


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
        (:data:`mnistlab.evidence.sweep.CURVE_QUANTITIES`: training images to 5, 3, 2 % validation
        error and the validation-loss roughness) for the pairs whose two models are both in
        ``curve_models``.
    """
    plain = [{key: p[key] for key in ("question", "a", "b")} for p in pairs
             if not {p["a"], p["b"]} & set(BEST_ALIASES)]
    with_curves = [p for p in plain if {p["a"], p["b"]} <= set(curve_models)]
    return ([{**p, "quantity": "accuracy"} for p in plain]
            + [{**p, "quantity": q} for p in with_curves for q in CURVE_QUANTITIES])


def swept_params(runs: list[Run], seed_param: str = "seed") -> list[str]:
    """The params a sweep varies: :func:`~mnistlab.evidence.sweep.varying_params`, or the seed
    param alone when nothing else varies (a sweep of repeats)."""
    return varying_params(runs, seed_param) or [seed_param]


def select_family(comparisons: list[dict], runs: list[Run], seed_param: str = "seed",
                  dvc: dict | None = None) -> tuple[list[dict], list[str]]:
    """The comparisons a sweep tests, and notes naming the pairs left out and why.

    A pair stays when dvc.yaml makes one of its two models depend on a swept param
    (:func:`swept_params`, :func:`mnistlab.evidence.sweep.models_reached`). In a sweep of the seed
    alone, a pair of two models whose test metrics are the same in every run
    (:func:`seed_independent`: the seed does not change them) is left out as well: repeating one
    fit is no replication (its test on the test images is the single run's, reports/comparisons.md).

    Parameters
    ----------
    comparisons : list of dict
        :func:`pair_comparisons`.
    runs : list of Run
    seed_param : str
    dvc : dict or None
        The parsed dvc.yaml; None keeps every pair (and says so).

    Returns
    -------
    (kept, notes) : tuple of list of dict and list of str
    """
    swept = swept_params(runs, seed_param)
    names = ", ".join(f"`{p}`" for p in swept)
    if dvc is None:
        return comparisons, [f"dvc.yaml could not be read: every pair is tested, whether or not {names} "
                             "can change its models."]
    reached = models_reached(dvc, swept)
    kept, unreached, fixed_out = [], [], []
    fixed = seed_independent(runs, seed_param) if swept == [seed_param] else set()
    for comp in comparisons:
        pair = f"{comp['question']} ({comp['a']} vs {comp['b']})"
        if not {comp["a"], comp["b"]} & reached:
            unreached.append(pair)
        elif {comp["a"], comp["b"]} <= fixed:
            fixed_out.append(pair)
        else:
            kept.append(comp)
    notes = []
    if unreached:
        notes.append(f"Left out of the family: {'; '.join(dict.fromkeys(unreached))}: by dvc.yaml, {names} "
                     "can change neither model (no stage that writes them, or feeds them, lists it).")
    if fixed_out:
        notes.append(f"Left out of the family: {'; '.join(dict.fromkeys(fixed_out))}: the seed does not "
                     "change either model (the same test metrics in every run), so the runs repeat one fit; "
                     "its test on the test images is the single run's (reports/comparisons.md).")
    return kept, notes


def seed_verdict(row: dict, alpha: float = 0.05, fixed: bool = False) -> str:
    """The verdict of a :func:`paired_tests` row, read off its interval (lower is better for
    losses, ECE and curve quantities); the reason when it was not tested. ``alpha`` is not used
    (the row's interval is already at its family's level); ``fixed``: two models the seed does
    not change, not tested."""
    if fixed:
        return "not tested: the seed does not change either model"
    if not row.get("method"):
        if row.get("reason"):
            return row["reason"]
        return f"not tested (n = {row['n']})"
    q = row["quantity"]
    side = direction(row["ci_low"], row["ci_high"], q in LOWER_IS_BETTER)
    if side:
        return f"{row['a'] if side > 0 else row['b']} is better"
    low, high = fmt(q, row["ci_low"], signed=True), fmt(q, row["ci_high"], True)
    return f"no detectable difference: the difference lies in [{low}, {high}] {unit(q)}".rstrip()


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


# -- where a sweep stands against today's params and the single run ----------------------------------

def common_params(runs: list[Run], seed_param: str = "seed") -> dict:
    """The params with one value in every run (the seed and the varying params aside)."""
    skip = {seed_param, *varying_params(runs, seed_param)}
    keys = sorted({k for r in runs for k in r.params} - skip)
    return {k: runs[0].params.get(k) for k in keys
            if len({repr(_norm(r.params.get(k))) for r in runs}) == 1}


def params_differences(runs: list[Run], today: dict | None, dvc: dict | None,
                       seed_param: str = "seed") -> list[str]:
    """How the params the runs' models were made with differ from ``today`` (flattened params.yaml):
    ``"key: <sweep> here, <today> today"`` for the keys of the stages that write or feed a model
    (:func:`mnistlab.evidence.sweep.training_params`), the seed and the swept params aside."""
    if today is None:
        return []
    entries = training_params(dvc) if dvc else [None]
    mine = common_params(runs, seed_param)
    skip = {seed_param, *varying_params(runs, seed_param)}
    out = []
    for key in sorted((set(mine) | set(today)) - skip):
        if not _reads(entries, key):
            continue
        here, now = mine.get(key, "absent"), today.get(key, "absent")
        if key not in mine and any(key in r.params for r in runs):
            continue  # varies between runs without being swept: not one value to compare
        if repr(_norm(portable(here))) != repr(_norm(portable(now))):
            out.append(f"`{key}`: {fmt_value(here)} here, {fmt_value(now)} today")
    return out


def baseline_group(runs: list[Run], today: dict | None, seed_param: str = "seed") -> str | None:
    """The label of the group whose swept params have today's values (that of the single run of
    ``metrics/compare.json``): ``"all runs"`` in a sweep of repeats; a null ``prepare.train_size``
    today matches the group with the most training images. None when no group matches."""
    keys = varying_params(runs, seed_param)
    if not keys:
        return "all runs"
    if today is None:
        return None
    groups = [dict(zip(keys, group, strict=True)) for group in group_runs(runs, keys)]
    for values in groups:
        def matches(key, values=values):
            want = _norm(today.get(key))
            if key == TRAIN_SIZE and want is None:
                return values[key] == max((g[key] for g in groups), key=sort_key)
            return repr(_norm(values[key])) == repr(want)

        if all(matches(key) for key in keys):
            return group_label(values, keys)
    return None


def single_run_disagreements(tests: list[dict], compare: dict | None, group: str | None) -> list[str]:
    """Notes naming the accuracy pairs whose single-run verdict (``metrics/compare.json``: ``better``
    of pair ``"<a> vs <b>"``) differs from this sweep's verdict in ``group``."""
    if not compare or group is None:
        return []
    notes = []
    pairs = compare.get("pairs") or {}
    for t in tests:
        if t["quantity"] != "accuracy" or t["group"] != group or not t["method"] or t["method"] == "one_fit":
            continue
        single, sign = pairs.get(f"{t['a']} vs {t['b']}"), 1
        if single is None and f"{t['b']} vs {t['a']}" in pairs:
            single, sign = pairs[f"{t['b']} vs {t['a']}"], -1
        if single is None or "better" not in single:
            continue
        one, many = sign * int(single["better"]), direction(t["ci_low"], t["ci_high"])
        if one != many:
            says = {1: f"{t['a']} is better", -1: f"{t['b']} is better", 0: "no detectable difference"}
            notes.append(f"Single run and sweep disagree on {t['question']} ({t['a']} vs {t['b']}): the "
                         "single run (metrics/compare.json: one seed, test-set noise only) says "
                         f"{says[one]}; "
                         f"over {t['n']} seeds this sweep says {says[many]}. Follow the sweep, which sees "
                         "training randomness as well.")
    return notes


# -- outputs -------------------------------------------------------------------------------------

def sweep_markdown(runs: list[Run], summary: list[dict], tests: list[dict], seed_param: str,
                   figure: str | None = None, notes: list[str] = (), alpha: float = 0.05) -> str:
    """The text of ``sweep.md``: the runs, the summary table and the family of paired tests."""
    keys = varying_params(runs, seed_param)
    seeds = sorted({fmt_value(r.params.get(seed_param)) for r in runs})
    confidence = format_level(1 - alpha)
    lines = ["# Sweep summary over DVC experiments", "",
             "Generated by `mnistlab sweep` from `dvc.api.exp_show`; do not edit by hand.", "",
             f"{len(runs)} runs ({', '.join(r.name for r in runs)}); `{seed_param}` values: "
             f"{', '.join(seeds)}; "
             f"grouped by {', '.join(f'`{k}`' for k in keys) or 'nothing (all runs are repeats)'}. "
             f"Each cell is the mean over a group's runs [{confidence} % t interval, this model alone] and "
             "the sample standard deviation; accuracies and validation errors in percent. Curve "
             "quantities: training images seen when the validation error first reaches 5 / 3 / 2 % "
             "(interpolated between curve points), the same in epochs, and the mean absolute second "
             "difference of the validation loss on one grid of training images for every model "
             "(roughness, nats); updates to 5 / 3 / 2 % are the first logged update, for reference."]
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    if figure:
        lines += ["", f"![metric against the swept parameter]({figure})"]
    header = keys + ["Model", "Quantity", "n", f"Mean [{confidence} % CI]", "Std"]
    lines += ["", "## Per model", "", f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    for row in summary:
        q, scale = row["metric"], 100 if row["metric"] in POINTS else 1
        cells = [fmt_value(row[k]) for k in keys] + [row["model"], q, str(row["n"])]
        cells.append(f"{fmt(q, row['mean'])} [{fmt(q, row['ci_low'])}, {fmt(q, row['ci_high'])}]")
        cells.append(f"{scale * row['std']:.4g}" if math.isfinite(row["std"]) else "n/a")
        lines.append(f"| {' | '.join(cells)} |")
    if tests:
        m = sum(1 for t in tests if t["method"])
        level = format_level(1 - family_alpha(alpha, m)) if m else format_level(1 - alpha)
        pairs = list(dict.fromkeys(f"{t['question']} ({t['a']} vs {t['b']})" for t in tests))
        order = {q: i for i, q in enumerate(QUANTITIES)}
        quantities = sorted({t["quantity"] for t in tests}, key=lambda q: (order.get(q, len(order)), q))
        used = [key for key in METHODS if any(t["method"] == key for t in tests)]
        groups = len({t["group"] for t in tests})
        questions = (f"every tested row below: {len(pairs)} pair{'s' * (len(pairs) != 1)} "
                     f"({'; '.join(pairs)}) x the quantities {', '.join(quantities)}"
                     + (f" x {groups} groups" if groups > 1 else ""))
        lines += ["", "## Paired tests over runs", "", family_sentence(m, alpha, questions), "",
                  "A - B in points for accuracy; lower is better for the curve quantities, losses and ECE. "
                  "Methods: " + " ".join(METHOD_TEXT[key] for key in used)
                  + " Rows marked not tested are outside the family.", "",
                  f"| Group | Question | A | B | Quantity | n | Mean A | Mean B | A - B [{level} % CI] "
                  "| Method | p | Bonferroni p | Verdict |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in tests:
            q = t["quantity"]
            diff = fmt(q, t["diff"], True)
            interval = (f"{diff} [{fmt(q, t['ci_low'], True)}, {fmt(q, t['ci_high'], True)}]" if t["method"]
                        else f"{diff} (not tested)")
            lines.append(f"| {t['group']} | {t['question']} | {t['a']} | {t['b']} | {q} | {t['n']} | "
                         f"{fmt(q, t['mean_a'])} | {fmt(q, t['mean_b'])} | {interval} | "
                         f"{METHODS.get(t['method'], 'none')} | {format_p(t['p_value'])} | "
                         f"{format_p(t['p_adjusted'])} | {t['verdict']} |")
        row_notes = list(dict.fromkeys(f"{t['group']}, {t['question']}, {t['quantity']}: {t['note']}"
                                       for t in tests if t.get("note")))
        if row_notes:
            lines += ["", *(f"- {note}" for note in row_notes)]
    return "\n".join(lines) + "\n"


#: What each method of :data:`METHODS` is, for the report.
METHOD_TEXT = {
    "crossed": "*Two-level bootstrap, seeds x shared test images*: each resample draws the seeds and "
               "one resample of the test images shared by every run (Davison & Hinkley 1997, section 3.8; "
               "Owen 2007, pigeonhole bootstrap); with k seeds the interval is diff +- t(k - 1) x its "
               "standard error (bootstrap variance plus the seed variance's small-sample correction), and "
               "p is the matching t test: it accounts for training randomness and test-set sampling "
               "together.",
    "nested": "*Two-level bootstrap, seeds / test images*: the same, with each run's test images "
              "resampled on their own (runs scored on different test sets, or only their counts known).",
    "one_fit": "*One fit*: the two models are the same in every run (the seed does not change them), so "
               "the group is one fit, compared on its test images: paired bootstrap interval, exact McNemar "
               "p (Dietterich 1998); the interval decides where the two disagree at the margin.",
    "t_accuracy": "*Paired t over seeds (training noise only)*: the runs carry no per-image test results, "
                  "so the interval sees training randomness but not test-set sampling; re-run the sweep "
                  "for the two-level bootstrap.",
    "t": "*Paired t over seeds*: t interval of the per-run differences (scipy.stats.ttest_rel for p).",
}


def _finite(obj):
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def sweep_json(runs: list[Run], summary: list[dict], tests: list[dict], seed_param: str,
               alpha: float = 0.05, notes: list[str] = (), params_differ: list[str] = ()) -> dict:
    """The numbers of a sweep as a JSON-ready dict.

    Keys: ``seed_param``, ``varying_params``, ``alpha``, ``notes``; ``family``: ``{size,
    confidence}`` of the tests; ``made_with``: the params every run shares (the seed and the swept
    params aside); ``params_differ``: how they differ from params.yaml when the report was written;
    ``experiments``: one dict per run, ``{name, rev, train_images, params, values}`` with every
    param (flattened keys) and ``values[model][quantity]``, and, when known, ``errors`` (model ->
    indices of the test images it gets wrong), ``test_images``, ``test_id``, ``pairs`` (discordant
    counts), ``curve_spacing``, ``legacy_curves``; ``summary``: the :func:`summarize` rows;
    ``tests``: the :func:`paired_tests` rows. Non-finite numbers become null.
    """
    experiments = []
    for run in runs:
        values: dict[str, dict] = {}
        for (model, quantity), value in run.values.items():
            values.setdefault(model, {})[quantity] = value
        extra = {key: getattr(run, key) for key in EXTRA_FIELDS if getattr(run, key)}
        experiments.append({"name": run.name, "rev": run.rev, "train_images": run.train_images,
                            "params": run.params, "values": values, **extra})
    m = sum(1 for t in tests if t.get("method"))
    return _finite({"seed_param": seed_param, "varying_params": varying_params(runs, seed_param),
                    "alpha": alpha, "notes": list(notes),
                    "family": {"size": m, "confidence": 1 - family_alpha(alpha, m) if m else None},
                    "made_with": common_params(runs, seed_param), "params_differ": list(params_differ),
                    "experiments": experiments, "summary": summary, "tests": tests})


def runs_from_json(data: dict) -> list[Run]:
    """The runs of a :func:`sweep_json` dict (nulls left out of the values).

    A summary written before crossing points were measured in training images (values
    ``updates_to_*`` without ``images_to_*``) gets ``images_to_*`` = the first logged update
    reaching the error times the model's batch size, and ``total_images`` likewise, with
    ``legacy_curves`` set: not interpolated, and in the resolution of each model's logging
    interval. Its roughness spacing is ``mlp.log_every`` (updates) times the batch size when the
    params name it.
    """
    runs = []
    for e in data["experiments"]:
        run = Run(e["name"], e["rev"], {key: portable(value) for key, value in e["params"].items()},
                  {(m, q): float(v) for m, qs in e["values"].items() for q, v in qs.items() if v is not None},
                  e.get("train_images"), errors=e.get("errors") or {}, test_images=e.get("test_images"),
                  test_id=e.get("test_id"), pairs=e.get("pairs") or {},
                  curve_spacing=e.get("curve_spacing") or {}, legacy_curves=bool(e.get("legacy_curves")))
        _legacy_images(run)
        runs.append(run)
    return runs


def _legacy_images(run: Run) -> None:
    """Crossing points in training images from a legacy summary's update counts (see
    :func:`runs_from_json`), in place."""
    models = {m for m, q in run.values if q in UPDATES_TO or q == "total_updates"}
    for model in models:
        if any((model, q) in run.values for q in (*CURVE_QUANTITIES[:3], "total_images")):
            continue
        size = batch_size_of(model, run.params)
        if not size:
            continue
        for old, new in zip((*UPDATES_TO, "total_updates"), (*CURVE_QUANTITIES[:3], "total_images"),
                            strict=True):
            if (model, old) in run.values:
                run.values[(model, new)] = run.values[(model, old)] * size
                run.legacy_curves = True
        every = _norm(run.params.get("mlp.log_every"))
        if isinstance(every, float) and (model, "val_loss_roughness") in run.values:
            run.curve_spacing.setdefault(model, every * size)


def sweep_notes(runs: list[Run], seed_param: str, dropped: list[str] = ()) -> list[str]:
    """The notes of a sweep's report: the repeats left out, what a swept training size means, and
    crossing points recorded before they were interpolated."""
    notes = [f"Left out as repeats of an experiment with the same params: {', '.join(dropped)}."
             ] if dropped else []
    if varying_params(runs, seed_param) == [TRAIN_SIZE]:
        notes.append(f"`{TRAIN_SIZE}` is given as the number of training images each run used.")
    if any(r.legacy_curves for r in runs):
        notes.append("These runs were recorded before crossing points were measured in training images: "
                     "`images_to_*` is the first logged update reaching the error times the model's batch "
                     "size (not interpolated, so only as fine as each model's logging interval), and "
                     "roughness is compared only between curves logged at the same spacing of training "
                     "images. Re-run the sweep for interpolated crossings on one grid.")
    if not any(r.errors or r.pairs for r in runs):
        notes.append("The runs carry no per-image test results, so accuracy differences over seeds are "
                     "tested with the paired t over seeds (training randomness only) and models that the "
                     "seed does not change are not tested per group; re-run the sweep for the two-level "
                     "bootstrap over seeds and test images.")
    return notes


def local_path(value, repo: Path):
    """A params value that names a folder or file of ``repo`` (``data/mnist``) as a summary records
    it (:func:`mnistlab.evidence.sweep.portable` of its resolved path, links followed); other values
    as they are."""
    if isinstance(value, str) and "/" in value and "://" not in value:
        path = repo / value
        if path.exists():
            return portable(str(path.resolve()))
    return value


def write_outputs(runs: list[Run], summary: list[dict], comparisons: list[dict], paths: dict,
                  seed_param: str = "seed", dropped: list[str] = (), alpha: float = 0.05,
                  repo: str | os.PathLike | None = None) -> list[dict]:
    """Write the summary rows, the markdown report and the JSON of a sweep.

    Parameters
    ----------
    runs : list of Run
    summary : list of dict
        :func:`summarize` of ``runs`` (at confidence ``1 - alpha``).
    comparisons : list of dict
        ``{question, a, b, quantity}`` to test (:func:`pair_comparisons`); those the swept params
        cannot change are left out (:func:`select_family`).
    paths : dict
        ``csv``, ``report`` (markdown), ``json`` and ``figure``: the first three are written; the
        report links to the figure, which the caller draws
        (:func:`mnistlab.reporting.evidence_figures.plot_sweep`).
    seed_param : str
        The param that distinguishes repeats.
    dropped : list of str
        Experiments left out as repeats, for the notes.
    alpha : float
        Family level of the tests and verdicts.
    repo : str or path-like, optional
        The DVC repository (default: the current folder): its ``dvc.yaml`` says which models each
        param reaches, its ``params.yaml`` whether the sweep was made with today's params, and its
        ``metrics/compare.json`` the single run's verdicts (each skipped when missing).

    Returns
    -------
    list of dict
        The :func:`paired_tests` rows.
    """
    import yaml

    repo = Path(repo or ".")
    dvc = load_dvc_yaml(repo / "dvc.yaml")
    comparisons, family_notes = select_family(comparisons, runs, seed_param, dvc)
    tests = paired_tests(runs, comparisons, seed_param, alpha)
    try:
        today = {key: local_path(value, repo) for key, value in
                 flatten_params(yaml.safe_load((repo / "params.yaml").read_text()) or {}).items()}
    except (OSError, yaml.YAMLError, AttributeError):
        today = None
    differ = params_differences(runs, today, dvc, seed_param)
    notes = sweep_notes(runs, seed_param, dropped) + family_notes
    if differ:
        notes.append("Made with other params than today's params.yaml, so these verdicts describe that "
                     f"recipe, not what the pipeline trains now; re-run the sweep: {'; '.join(differ)}.")
    else:
        compare_path = repo / "metrics" / "compare.json"
        compare = read_json(compare_path, "compare metrics") if compare_path.is_file() else None
        notes += single_run_disagreements(tests, compare, baseline_group(runs, today, seed_param))
    write_csv(paths["csv"], summary)
    figure = os.path.relpath(paths["figure"], Path(paths["report"]).parent)
    with atomic_path(paths["report"]) as tmp:
        tmp.write_text(sweep_markdown(runs, summary, tests, seed_param, figure, notes, alpha))
    write_json(paths["json"], sweep_json(runs, summary, tests, seed_param, alpha, notes, differ))
    return tests
