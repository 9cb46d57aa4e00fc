"""The family of a sweep: which pairs of models it compares, and on which quantities.

The pairs compared are ``compare.pairs`` of params.yaml (:func:`pair_comparisons`: test accuracy for
every pair, the curve quantities for pairs of two curve models), restricted to those the swept
params can change (:func:`select_family`: a pair is tested only when dvc.yaml makes one of its
models depend on a swept param, :func:`mnistlab.evidence.sweep.models_reached`; in a sweep of the
seed alone, pairs of two models the seed does not change are left out too: they are one fit,
repeated). The tests: :mod:`mnistlab.evidence.sweep.paired`.
"""

from __future__ import annotations

from mnistlab.evidence.sweep.paired import seed_independent
from mnistlab.evidence.sweep.pipeline import models_reached
from mnistlab.evidence.sweep.runs import CURVE_MODELS, CURVE_QUANTITIES, Run, varying_params
from mnistlab.models.registry import BEST_ALIASES


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
