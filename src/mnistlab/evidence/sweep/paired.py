"""Paired comparisons of two models over the runs of a sweep, as one family, and their verdicts.

Every test of the report is one question of one family of size ``m`` (which pairs:
:mod:`mnistlab.evidence.sweep.family`); each interval is at ``1 - alpha / m`` (Bonferroni,
:mod:`mnistlab.evidence.hierarchical`) and each verdict is read off its interval
(:func:`seed_verdict`), so no verdict can contradict the interval printed beside it.

**The tests** (:func:`paired_tests`), per group and compared pair; :data:`METHODS` names them:

- test accuracy, when the runs carry which test images each model gets wrong: the two-level
  bootstrap over seeds and test images (:func:`mnistlab.evidence.hierarchical.crossed_bootstrap`,
  the runs share one test set; :func:`~mnistlab.evidence.hierarchical.two_level_bootstrap` on the
  discordant counts when they do not, or when only ``metrics/compare.json``'s counts are known);
- test accuracy of two models the seed does not change (one fit per group, e.g. the SVMs over
  training-set sizes): McNemar's exact test and the paired bootstrap of that fit's test images;
- otherwise, and for the curve quantities: the paired t test over the runs (``scipy.stats.ttest_rel``,
  :func:`paired_difference`; with five seeds the Wilcoxon signed-rank test cannot reach p < 0.05, so
  it is not used); for accuracy it sees training randomness only, and the report says so.

A crossing quantity that one model of the pair never reached in a run is counted at its last
logged point (:func:`censor_updates`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mnistlab.evidence.compare import (
    holm,  # noqa: F401  (re-exported for callers that adjust over their own family)
    mcnemar_counts,
)
from mnistlab.evidence.hierarchical import (
    bonferroni,
    crossed_bootstrap,
    direction,
    family_alpha,
    two_level_bootstrap,
)
from mnistlab.evidence.sweep.runs import (
    CENSOR_AT,
    LOWER_IS_BETTER,
    QUALITY_METRICS,
    Run,
    group_runs,
    varying_params,
)
from mnistlab.evidence.sweep.summary import fmt, group_label, t_summary, unit

#: Bootstrap resamples of the accuracy comparisons (cost O(resamples x seeds), seconds in all).
N_RESAMPLES = 20000
#: How each test is made, as the report's Method column writes it.
METHODS = {
    "crossed": "two-level bootstrap, seeds x shared test images",
    "nested": "two-level bootstrap, seeds / test images",
    "one_fit": "one fit: test-image bootstrap, McNemar p",
    "t_accuracy": "paired t over seeds (training noise only)",
    "t": "paired t over seeds",
}


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
    """Models whose test metrics are the same (to 6 significant digits: thread counts change the
    rounding of a deterministic model's sums, seen up to the 10th digit of its log loss, while a seed
    moves a trained model's accuracy by whole test images) in every run of every group of two or more
    runs."""
    models = {model for run in runs for model, q in run.values if q in QUALITY_METRICS}
    groups = [m for m in group_runs(runs, varying_params(runs, seed_param)).values() if len(m) > 1]

    def rounded(value):
        return None if value is None else float(f"{value:.6g}")

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
