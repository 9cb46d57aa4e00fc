"""Claim f, "dropout and L2 regularisation prevent overfitting": the rows of the ablation sweep.

Each dropout / weight-decay arm is compared with the arm with neither, paired by seed, per model
(:func:`ablation_rows`), on the eval-mode gaps between training and validation (:data:`GAPS`,
:func:`gap_value`) and on the validation-loss rise. A sweep that cannot overfit (shifted images, a
decaying learning rate, too few seeds per arm, no eval-mode gap; :func:`overfit_problems`) judges
nothing: its rows need the sweep of :data:`OVERFIT_COMMANDS`.
"""

from __future__ import annotations

import numpy as np

from mnistlab.evidence.claims.roles import (
    ABLATION,
    GAPS,
    LOWER_IS_BETTER,
    NEEDS,
    OVERFIT,
    OVERFIT_SEEDS,
    ablation_models,
)
from mnistlab.evidence.claims.rows import row
from mnistlab.evidence.sweep import METHODS, paired_difference, runs_from_json


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def gap_value(values: dict, name: str, quantity: str) -> float | None:
    """``quantity`` of model ``name`` in a run's values: as recorded, or an eval-mode gap of
    :data:`GAPS` from its two parts."""
    if (name, quantity) in values:
        return values[(name, quantity)]
    if quantity in GAPS:
        first, second = (values.get((name, key)) for key in GAPS[quantity])
        if first is not None and second is not None:
            return first - second
    return None


def overfit_problems(data: dict) -> list[str]:
    """Why an ablation sweep cannot judge claim f ([] when it can): training images shifted or a
    decaying learning rate in some run (:data:`OVERFIT`), an arm of dropout and weight decay
    missing or with fewer than :data:`OVERFIT_SEEDS` seeds, or no eval-mode gap recorded."""
    runs, problems = runs_from_json(data), []
    for key, want in OVERFIT.items():
        if key == "mlp.epochs":
            continue
        found = sorted({_number(r.params.get(key)) for r in runs}, key=lambda v: (v is None, v or 0))
        if found != [float(want)]:
            problems.append(f"`{key}` = {', '.join('absent' if v is None else f'{v:g}' for v in found)} "
                            f"(the baseline must have {want:g}: "
                            + ("no shifted training images)" if key == "mlp.max_shift" else
                               "no learning-rate decay)"))
    arms: dict[tuple, int] = {}
    for r in runs:
        arm = tuple(_number(r.params.get(k)) for k in ABLATION)
        arms[arm] = arms.get(arm, 0) + 1
    if (0.0, 0.0) not in arms:
        problems.append(f"no arm with {' = 0 and '.join(ABLATION)} = 0")
    for i, key in enumerate(ABLATION):
        if not any(arm[i] for arm in arms):
            problems.append(f"no arm with `{key}` switched on")
    few = [f"dropout {a:g}, weight decay {b:g}: {n} seed{'s' * (n != 1)}"
           for (a, b), n in sorted(arms.items(), key=lambda item: tuple(v or 0 for v in item[0]))
           if a is not None and b is not None and n < OVERFIT_SEEDS]
    if few:
        problems.append(f"fewer than {OVERFIT_SEEDS} seeds per arm ({'; '.join(few)})")
    if not any(gap_value(r.values, m, "eval_gap_loss") is not None for r in runs for m in ablation_models()):
        problems.append("no eval-mode training loss or accuracy recorded (its train/validation gap was "
                        "measured in training mode, with dropout on, which narrows the gap by itself)")
    return problems


def ablation_rows(data: dict | None, part: str, quantity: str) -> list[dict]:
    """Each dropout / weight-decay arm against the arm with neither, paired by seed, per model
    (paired t over seeds, :func:`mnistlab.evidence.sweep.paired_difference`)."""
    if data is None:
        return [row(part, "with dropout / L2", "without", quantity, "ablation sweep", source="ablation",
                    verdict=NEEDS["ablation"])]
    runs, seed = runs_from_json(data), data["seed_param"]
    setting = {r.name: tuple(_number(r.params.get(k)) for k in ABLATION) for r in runs}
    match = {r.name: (r.params.get(seed), tuple(sorted((k, repr(v)) for k, v in r.params.items()
                                                         if k not in (*ABLATION, seed)))) for r in runs}
    none = [r for r in runs if setting[r.name] == (0.0, 0.0)]
    if not none or None in {x for s in setting.values() for x in s}:
        return [row(part, "with dropout / L2", "without", quantity, "ablation sweep", source="ablation",
                    detail=f"needs runs with {' = 0 and '.join(ABLATION)} = 0 and both params set")]
    out, models = [], ablation_models()
    for name in [m for m in models if any(gap_value(r.values, m, quantity) is not None for r in runs)]:
        base = {match[r.name]: gap_value(r.values, name, quantity) for r in none}
        for s in sorted(set(setting.values()) - {(0.0, 0.0)}):
            pairs = [(gap_value(r.values, name, quantity), base.get(match[r.name])) for r in runs
                     if setting[r.name] == s]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if not pairs:
                continue
            first = paired_difference(*zip(*pairs, strict=True))
            wins = first["a_below" if quantity in LOWER_IS_BETTER else "a_above"]
            fields = {"value_a": first["mean_a"], "value_b": first["mean_b"], "diff": first["diff"],
                      "source": "ablation", "detail": f"A better in {wins} of {first['n']} seeds"}
            a, b = f"{name}, dropout {s[0]:g}, weight decay {s[1]:g}", f"{name}, neither"
            evidence = f"ablation sweep, {first['n']} seeds"
            if first["p_value"] is None:
                out.append(row(part, a, b, quantity, evidence, verdict=f"not tested (n = {first['n']})"
                               if first["n"] < 2 else "not tested (the same difference in every seed)",
                               **fields))
                continue

            def test(level: float, pairs=pairs) -> dict:
                t = paired_difference(*zip(*pairs, strict=True), confidence=1 - level)
                return {key: t[key] for key in ("diff", "ci_low", "ci_high", "p_value")}

            out.append(row(part, a, b, quantity, evidence, test=test, method=METHODS["t"], **fields))
    return out or [row(part, "with dropout / L2", "without", quantity, "ablation sweep", source="ablation",
                       detail=f"no {quantity} of {' or '.join(models)} paired by seed")]


def _neither_rise(data: dict) -> str:
    """How far the validation loss of the arm with neither rose after its minimum, per model (mean
    over its seeds), as a sentence ("" when the sweep does not say)."""
    runs = runs_from_json(data)
    none = [r for r in runs if tuple(_number(r.params.get(k)) for k in ABLATION) == (0.0, 0.0)]
    parts = []
    for name in ablation_models():
        rises = [v for r in none if (v := r.values.get((name, "val_loss_rise"))) is not None]
        if rises:
            parts.append(f"{name} {np.mean(rises):.4f} nats ({len(rises)} seeds)")
    return (" In its arm with neither, the validation loss rose after its minimum by " + ", ".join(parts)
            + " on average: that baseline hardly overfits, so there was little to prevent.") if parts else ""


def baseline_overfits(data: dict) -> str:
    """A sentence on whether the arm with neither dropout nor weight decay overfits: per model, its
    mean eval-mode loss gap over seeds with a 95 % t interval."""
    runs = runs_from_json(data)
    none = [r for r in runs if tuple(_number(r.params.get(k)) for k in ABLATION) == (0.0, 0.0)]
    parts, flat = [], []
    for name in ablation_models():
        gaps = [g for r in none if (g := gap_value(r.values, name, "eval_gap_loss")) is not None]
        if len(gaps) >= 2:
            t = paired_difference(gaps, [0.0] * len(gaps))
            side = "overfits" if t["ci_low"] > 0 else "no detectable overfitting"
            parts.append(f"{name} {t['diff']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] nats ({side})")
            if t["ci_low"] <= 0:
                flat.append(name)
    if not parts:
        return ""
    return ("The arm with neither (validation - training loss in evaluation mode, mean over seeds [95 % t "
            "interval]): " + "; ".join(parts) + "."
            + (f" Without overfitting there is nothing to prevent: the rows of {', '.join(flat)} say little."
               if flat else " Every model of it overfits, so the rows below can tell whether the "
                            "regularisers narrow the gap."))


def _claim_f(ablation: dict | None, path: str, notes: list[str]) -> list[dict]:
    """The rows of claim f: the eval-mode gaps and the validation-loss rise of each arm against
    neither, when the ablation sweep can overfit; else one row that needs the sweep."""
    parts = (("narrows the loss gap", "eval_gap_loss"), ("narrows the accuracy gap", "eval_gap_accuracy"),
             ("stops the validation loss rising", "val_loss_rise"))
    problems = None if ablation is None else overfit_problems(ablation)
    if ablation is None or problems:
        if problems:
            notes.append(f"The committed ablation ({path}) cannot judge this claim, so its verdicts are not "
                         f"kept: {'; '.join(problems)}. Re-run it with the commands in the rows."
                         + _neither_rise(ablation))
        return [row(part, "with dropout / L2", "neither", q, "ablation sweep", source="ablation",
                    verdict=NEEDS["ablation"]) for part, q in parts]
    sentence = baseline_overfits(ablation)
    if sentence:
        notes.append(sentence)
    return [r for part, q in parts for r in ablation_rows(ablation, part, q)]
