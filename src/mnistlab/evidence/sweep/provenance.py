"""Where a sweep stands against today's params and against the single run.

:func:`params_differences`: how the params the sweep's models were made with differ from today's
params.yaml, on the keys of the stages that make the models
(:func:`mnistlab.evidence.sweep.training_params`), so that a sweep made with other params says so;
:func:`common_params`: the params every run shares. :func:`baseline_group`: the group whose swept
params have today's values, that of the single run of ``metrics/compare.json``;
:func:`single_run_disagreements`: the accuracy pairs whose single-run verdict differs from the
sweep's in that group.
"""

from __future__ import annotations

from mnistlab.evidence.hierarchical import direction
from mnistlab.evidence.sweep.pipeline import _reads, training_params
from mnistlab.evidence.sweep.runs import (
    TRAIN_SIZE,
    Run,
    _norm,
    group_runs,
    portable,
    sort_key,
    varying_params,
)
from mnistlab.evidence.sweep.summary import fmt_value, group_label


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
