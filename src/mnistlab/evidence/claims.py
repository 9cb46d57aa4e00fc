"""Claims made by other MNIST projects, checked against this project's measurements.

Written by the ``claims`` stage of dvc.yaml (``stages/claims.py``) and by ``mnistlab claims``
(:mod:`mnistlab.cli.claims`), the same code: :func:`evaluate_claims` judges, :func:`write_claims_md`
writes ``reports/claims.md``. Files only are read, no DVC call:

- ``metrics/compare.json`` (the compare stage): the discordant counts ``b`` and ``c`` of each pair on
  one run's test images. A single-run row's interval is the paired bootstrap of those counts
  (:func:`mnistlab.evidence.hierarchical.two_level_bootstrap` with one seed), its p exact McNemar;
- ``data/evaluation/robustness_correct.npz`` (the robustness stage): which test digits the two SVMs
  classify correctly, clean and under each corruption and severity, for claim g's difference in
  differences (:func:`drop_difference`); ``metrics/robustness.json`` for the MNIST-C error rates,
  described but not tested (the stage saves no per-image MNIST-C results);
- the JSON of the three committed ``mnistlab sweep`` runs (``reports/{seeds,ablation,learning_curve}
  /sweep.json``): comparisons over seeds by :func:`mnistlab.evidence.sweep_report.paired_tests`
  (two-level bootstrap over seeds and test images when the runs hold per-image results, McNemar for
  a fit the seed does not change, the paired t over seeds otherwise) and, for the ablation, the
  paired t of each dropout / weight-decay arm against the arm with neither;
- ``params.yaml``: whether each sweep was made with the current params, compared on the sections of the
  stages that make the models (:func:`training_sections`, read from dvc.yaml by the command and
  written on the stage's command line, since DVC takes no dvc.yaml as a dependency;
  :func:`mnistlab.evidence.sweep_report.params_differences`); a claim resting on a sweep made with
  other params says which keys differ.

**One claim, one family.** Every row compares A, the side the claim says is better, with B
(``diff = A - B``). A claim's ``m`` tested rows are its family: each interval is at ``1 - alpha /
m`` (Bonferroni; simultaneous intervals, Dunn 1961; :mod:`mnistlab.evidence.hierarchical`), so all
``m`` hold together with probability at least ``1 - alpha``, and each verdict is read off its
interval (:func:`mnistlab.evidence.hierarchical.direction`): *supported* when the whole interval
lies on A's side of 0, *contradicted* when it lies on B's side, *not supported* when it contains 0.
The p beside it is the test matching the interval and ``min(1, m p)`` its Bonferroni adjustment,
for reference; where the two disagree at the margin the interval decides. *not tested*: no test is
possible (its reason, and the re-run that would make one); *needs ...*: the input is missing, or
cannot answer the claim, and the commands that make it are given.

The models of a claim are chosen by registry attributes (:data:`ROLES`, :func:`numpy_net`,
:func:`ablation_models`), never by name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IDENTITY, MNIST_C_KEY, MNIST_C_SETS
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path, read_json
from mnistlab.evidence.compare import family_sentence, format_level, format_p, mcnemar_counts
from mnistlab.evidence.hierarchical import direction, family_alpha, two_level_bootstrap
from mnistlab.evidence.sweep import LOWER_IS_BETTER as SWEEP_LOWER_IS_BETTER
from mnistlab.evidence.sweep import Run, flatten_params, training_params
from mnistlab.evidence.sweep_report import (
    METHODS,
    N_RESAMPLES,
    fmt,
    local_path,
    paired_difference,
    paired_tests,
    params_differences,
    runs_from_json,
    unit,
)
from mnistlab.models.registry import select, select_one

# -- quantities ----------------------------------------------------------------------------------------

#: Claim g: accuracy on clean images minus accuracy under a corruption (fractions), per model.
DROP = "accuracy_drop"
#: Claim f: overfitting at the kept weights in evaluation mode (dropout off, no shifts):
#: training accuracy minus validation accuracy (fractions), validation loss minus training loss
#: (nats); the training figures are ``train_eval_accuracy`` / ``train_eval_loss`` of
#: ``metrics/train/<model>.json`` (a fixed subset of the training split, ``mnistlab.nn.train``).
GAPS = {"eval_gap_accuracy": ("train_eval_accuracy", "val_accuracy"),
        "eval_gap_loss": ("val_loss", "train_eval_loss")}
LOWER_IS_BETTER = SWEEP_LOWER_IS_BETTER | {DROP, *GAPS}
#: Quantities written in percent (differences in percentage points) besides the sweep's.
_POINTS = {DROP, "eval_gap_accuracy"}
LABELS = {"accuracy": "test accuracy",
          **{f"images_to_{e}pct": f"training images to {e} % validation error" for e in (5, 3, 2)},
          "val_loss_roughness": "validation-loss roughness", "best_val_error": "lowest validation error",
          "final_val_error": "final validation error",
          "val_loss_rise": "validation-loss rise after its minimum",
          DROP: "drop from clean accuracy", "eval_gap_accuracy": "train - validation accuracy (eval mode)",
          "eval_gap_loss": "validation - train loss (eval mode)"}

# -- models --------------------------------------------------------------------------------------------

#: The models of the claims, by role: registry attributes that select exactly one model
#: (:func:`mnistlab.models.registry.select_one`).
ROLES: dict[str, dict[str, object]] = {
    "pixel_svm": {"family": "svm", "features": "pixels"},
    "gabor_svm": {"family": "svm", "features": "gabor"},
    "cnn": {"family": "torch", "builder": "cnn"},
    "fnn": {"family": "torch", "builder": "fnn"},
    "logreg": {"family": "torch", "builder": "logreg"},
    "twin": {"twin": True, "builder": "mlp"},  # the PyTorch twin of the NumPy MLP (no patch embedding)
    "twin_of": {"family": "numpy", "optimizer": "adam", "init": "he"},  # the NumPy net it mirrors
}
#: The NumPy networks' optimizers and initialisations (registry attributes), as the claims write them.
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
INITS = {"he": "He", "random": "random"}
#: The models of the ablation claim: registry attributes, each selecting any number of models.
ABLATION_SELECTION: tuple[dict[str, object], ...] = ({"family": "numpy", "init": "he"}, ROLES["twin"])
ABLATION = ("mlp.dropout", "mlp.weight_decay")

# -- what a missing or unfit input needs ----------------------------------------------------------------

#: The ablation that can overfit (claim f): no shifted training images, no learning-rate decay and
#: long enough for the validation loss to turn up (40 epochs: on the committed subset the NumPy
#: Adam net without dropout then fits its training images exactly, training loss 1e-4 against a
#: validation loss of 0.087), each of dropout and weight decay on and off, :data:`OVERFIT_SEEDS`
#: seeds per arm. The PyTorch twin reads the same ``mlp`` keys and is part of it.
OVERFIT = {"mlp.max_shift": 0, "mlp.lr_decay": 1, "mlp.epochs": 40}
OVERFIT_ARMS = {"mlp.dropout": (0, 0.3), "mlp.weight_decay": (0, 0.0005)}
OVERFIT_SEEDS = 3
OVERFIT_COMMANDS = (
    "dvc exp run --queue -n overfit " + " ".join(f"-S '{k}={v:g}'" for k, v in OVERFIT.items()) + " "
    + " ".join(f"-S '{k}={','.join(f'{v:g}' for v in values)}'" for k, values in OVERFIT_ARMS.items())
    + f" -S 'seed=range(0,{OVERFIT_SEEDS})'",
    "MNISTLAB_THREADS=1 dvc queue start -j 2",
    "mnistlab sweep --name-prefix overfit " + " ".join(f"--vary {k}" for k in (*OVERFIT_ARMS, *OVERFIT))
    + " --out-dir reports/ablation",
)
SWEEP = ("needs a sweep: `dvc exp run --queue {sets} -S 'seed=range(0,5)'`, `dvc queue start`, then "
         "`mnistlab sweep {vary} --out-dir reports/{folder}`")
NEEDS = {
    "compare": "needs `dvc repro` (stage compare writes {path})",
    "robustness": "needs `dvc repro` (stage robustness writes {path})",
    "seeds": SWEEP.format(sets="", vary="--vary seed", folder="seeds").replace("  ", " "),
    "ablation": "needs the sweep: `{}`, `{}`, then `{}`".format(*OVERFIT_COMMANDS),
    "learning_curve": SWEEP.format(sets="-S 'prepare.train_size=500,1000,2000,5000,10000'",
                                   vary="--vary prepare.train_size", folder="learning_curve"),
}
VERDICTS = ("supported", "not supported", "contradicted", "not tested")
SOURCES = {"compare": "single run", "seeds": "seed sweep", "learning_curve": "learning-curve sweep",
           "ablation": "ablation sweep", "robustness": "robustness"}
#: How a severity of each graded corruption family is written (robustness.corruptions in params.yaml).
SEVERITY = {"rotation": "rotation {:g} degrees", "translation": "translation {:g} pixels",
            "scale": "scale x{:g}", "shear": "shear {:g}", "noise": "noise std {:g}",
            "blur": "blur sigma {:g}", "stroke": "stroke {:+g} pixels", "occlusion": "occlusion {:g} pixels"}
#: The corruption families claim g names, and what it calls the invariance each tests.
CLAIMED_FAMILIES = {"rotation": "orientation", "scale": "frequency"}
CLEAN = "clean"


def model(role: str) -> str:
    """The registry name of the model of ``role`` (:data:`ROLES`).

    Raises
    ------
    MnistlabError
        If the registry has no model, or more than one, with the role's attributes.
    """
    return select_one(**ROLES[role])


def numpy_net(optimizer: str, init: str) -> str:
    """The registry name of the NumPy network trained with ``optimizer`` from ``init``.

    Raises
    ------
    MnistlabError
        If the registry has no such network, or more than one.
    """
    return select_one(family="numpy", optimizer=optimizer, init=init)


def ablation_models() -> tuple[str, ...]:
    """The models of the ablation claim, in :data:`ABLATION_SELECTION` order (the He-initialised
    NumPy networks, then the PyTorch twin of the NumPy MLP)."""
    return tuple(dict.fromkeys(name for attributes in ABLATION_SELECTION for name in select(**attributes)))


# -- rows and the family of a claim -------------------------------------------------------------------

#: A row's test: the family's per-interval level (alpha / m) -> ``diff, ci_low, ci_high, p_value``
#: and any other field to update.
Test = Callable[[float], dict]


def row(part: str, a: str, b: str, quantity: str, evidence: str, **fields) -> dict:
    """One evidence row: A (claimed better) against B on ``quantity``; ``test`` (a :data:`Test`)
    when it can be tested, else a ``verdict`` saying why not."""
    base = {"part": part, "a": a, "b": b, "quantity": quantity, "evidence": evidence, "source": None,
            "value_a": None, "value_b": None, "diff": None, "ci_low": None, "ci_high": None, "test": None,
            "method": "", "p_value": None, "p_adjusted": None, "verdict": None, "detail": ""}
    return base | fields


def judge(rows: list[dict], alpha: float = 0.05) -> dict:
    """Test the rows of one claim as one family and read each verdict off its interval, in place.

    The ``m`` rows with a ``test`` are the family: each is called with ``alpha / m``
    (:func:`mnistlab.evidence.hierarchical.family_alpha`), its interval sets the verdict
    (:func:`mnistlab.evidence.hierarchical.direction`; lower is better for the quantities of
    :data:`LOWER_IS_BETTER`) and ``p_adjusted`` is ``min(1, m p)``. Rows without a test keep their
    verdict, or get ``"not tested"``.

    Returns
    -------
    dict
        ``{"size": m, "confidence": 1 - alpha / m}`` (confidence None when ``m`` is 0).
    """
    tested = [r for r in rows if r["verdict"] is None and r["test"] is not None]
    m = len(tested)
    level = family_alpha(alpha, m)
    for r in tested:
        r.update(r["test"](level))
        side = direction(r["ci_low"], r["ci_high"], r["quantity"] in LOWER_IS_BETTER)
        r["verdict"] = {1: "supported", -1: "contradicted", 0: "not supported"}[side]
        r["p_adjusted"] = None if r["p_value"] is None else min(1.0, m * r["p_value"])
    for r in rows:
        r["verdict"] = r["verdict"] or "not tested"
    return {"size": m, "confidence": 1 - level if m else None}


# -- evidence from each source -----------------------------------------------------------------------

def compare_rows(compare: dict | None, part: str, a: str, b: str, path: str = "metrics/compare.json",
                 seed: int = 0, n_resamples: int = N_RESAMPLES) -> list[dict]:
    """The single-run test-accuracy comparison of A and B, from the discordant counts of
    ``metrics/compare.json`` (the paired bootstrap of the test images at the claim's level, exact
    McNemar p)."""
    if compare is None:
        return [row(part, a, b, "accuracy", "single run", source="compare",
                    verdict=NEEDS["compare"].format(path=path))]
    pairs, models = compare.get("pairs", {}), compare.get("models", {})
    flip = f"{a} vs {b}" not in pairs and f"{b} vs {a}" in pairs  # the pair is stored as B vs A
    pair = pairs.get(f"{b} vs {a}" if flip else f"{a} vs {b}")
    if pair is None:
        return [row(part, a, b, "accuracy", "single run", source="compare",
                    detail=f"{path} has no pair of {a} and {b} (compare.pairs in params.yaml)")]
    only_a, only_b = (pair["b_only"], pair["a_only"]) if flip else (pair["a_only"], pair["b_only"])
    n = int(compare["n_images"])

    def test(level: float) -> dict:
        boot = two_level_bootstrap(only_a, only_b, n, seed, n_resamples, level)
        return {"diff": boot["diff"], "ci_low": boot["low"], "ci_high": boot["high"],
                "p_value": mcnemar_counts(only_a, only_b)}

    return [row(part, a, b, "accuracy", f"single run, {n:,} test images", source="compare",
                value_a=models.get(a, {}).get("accuracy"), value_b=models.get(b, {}).get("accuracy"),
                diff=(only_a - only_b) / n, test=test, method="paired bootstrap of the test images, exact "
                "McNemar p", detail=f"{only_a} images only A gets right, {only_b} only B")]


class Sweeps:
    """The sweeps of the claims, read back as runs, with their paired tests at any level (cached).

    Parameters
    ----------
    data : dict
        Source (``"seeds"``, ``"ablation"``, ``"learning_curve"``) -> the :func:`sweep_json`
        dict of that sweep, or None when missing.
    seed, n_resamples : int
        Of the bootstraps.
    """

    def __init__(self, data: dict[str, dict | None], seed: int = 0, n_resamples: int = N_RESAMPLES):
        self.data, self.seed, self.n_resamples = data, seed, n_resamples
        self._runs: dict[str, list] = {}
        self._tests: dict[tuple, list[dict]] = {}

    def get(self, source: str) -> dict | None:
        return self.data.get(source)

    def runs(self, source: str) -> list:
        if source not in self._runs:
            self._runs[source] = runs_from_json(self.data[source])
        return self._runs[source]

    def tests(self, source: str, comparison: dict, alpha: float) -> list[dict]:
        """:func:`paired_tests` of one comparison in each group of the sweep, every interval at
        ``1 - alpha`` (one row, not adjusted: the claim's family is adjusted by :func:`judge`)."""
        key = (source, comparison["a"], comparison["b"], comparison["quantity"], alpha)
        if key not in self._tests:
            self._tests[key] = paired_tests(self.runs(source), [comparison], self.data[source]["seed_param"],
                                            alpha=alpha, adjust=False, seed=self.seed,
                                            n_resamples=self.n_resamples)
        return self._tests[key]


def sweep_rows(sweeps: Sweeps, source: str, part: str, a: str, b: str, quantity: str) -> list[dict]:
    """A against B on ``quantity`` in each group of a sweep (:func:`paired_tests`)."""
    if sweeps.get(source) is None:
        return [row(part, a, b, quantity, SOURCES[source], source=source, verdict=NEEDS[source])]
    comparison = {"question": part, "a": a, "b": b, "quantity": quantity}
    found = sweeps.tests(source, comparison, 0.05)  # the rows and whether each can be tested
    if not found:
        return [row(part, a, b, quantity, SOURCES[source], source=source,
                    detail=f"no run has {quantity} for both")]
    out = []
    for t in found:
        group = t["group"].replace("prepare.train_size=", "training images ")
        evidence = f"{SOURCES[source]}, {t['n']} seeds" + ("" if group == "all runs" else f", {group}")
        wins = t["a_below" if quantity in LOWER_IS_BETTER else "a_above"]
        detail = "; ".join(filter(None, [f"A better in {wins} of {t['n']} seeds", t.get("note")]))
        fields = {"value_a": t["mean_a"], "value_b": t["mean_b"], "diff": t["diff"], "source": source,
                  "detail": detail}
        if not t["method"]:
            reason = t["verdict"]
            if "different spacings" in reason or "does not change either model" in reason:
                reason += f"; re-run the sweep ({NEEDS[source].split(': ', 1)[1]})"
            out.append(row(part, a, b, quantity, evidence, verdict=reason, **fields))
            continue

        def test(level: float, group=t["group"]) -> dict:
            again = next(x for x in sweeps.tests(source, comparison, level) if x["group"] == group)
            got = {key: again[key] for key in ("diff", "ci_low", "ci_high", "p_value")}
            got["value_a"], got["value_b"] = again["mean_a"], again["mean_b"]
            if again.get("a_only") is not None:
                got["detail"] = (f"{again['a_only']} images only A gets right, {again['b_only']} only B"
                                 + ("" if again["method"] == "one_fit" else f" (summed over {again['n']} "
                                    "seeds)"))
            return got

        if t["method"] == "one_fit":
            evidence = f"{SOURCES[source]}, one fit" + ("" if group == "all runs" else f", {group}")
        out.append(row(part, a, b, quantity, evidence, test=test, method=METHODS[t["method"]], **fields))
    return out


# -- claim f: the ablation ---------------------------------------------------------------------------

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
    (paired t over seeds, :func:`mnistlab.evidence.sweep_report.paired_difference`)."""
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
    parts = []
    for name in ablation_models():
        gaps = [g for r in none if (g := gap_value(r.values, name, "eval_gap_loss")) is not None]
        if len(gaps) >= 2:
            t = paired_difference(gaps, [0.0] * len(gaps))
            side = "overfits" if t["ci_low"] > 0 else "no detectable overfitting"
            parts.append(f"{name} {t['diff']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] nats ({side})")
    if not parts:
        return ""
    return ("The arm with neither (validation - training loss in evaluation mode, mean over seeds [95 % t "
            "interval]): " + "; ".join(parts) + ". Without overfitting in that arm there is nothing to "
            "prevent, and the rows below say little.")


# -- claim g: robustness as the drop from clean --------------------------------------------------------

def drop_difference(clean_a, corrupt_a, clean_b, corrupt_b, seed: int = 0, n_resamples: int = N_RESAMPLES,
                    alpha: float = 0.05) -> dict:
    """Difference in differences of two models' accuracy drops under a corruption, paired by image.

    Each test digit ``i`` is seen clean and corrupted by both models: ``d_i = (A_clean_i -
    A_corrupt_i) - (B_clean_i - B_corrupt_i)`` (each term 1 right, 0 wrong), so ``mean(d)`` is A's
    drop from clean accuracy minus B's, and ``d_i`` takes the five values -2..2. The images are
    resampled with replacement (the paired bootstrap, Efron & Tibshirani 1993): a resample is a
    multinomial draw of how many images carry each value, so the cost does not grow with the
    number of images. The interval is the percentile interval at ``1 - alpha``; p is the two-sided
    bootstrap p, ``min(1, 2 (1 + r) / (1 + n_resamples))`` with ``r`` the resamples on the other side
    of 0 from ``mean(d)`` (1 when ``mean(d)`` is 0), so that p < alpha where the interval excludes 0
    (up to the quantile's interpolation; the interval decides).

    Parameters
    ----------
    clean_a, corrupt_a, clean_b, corrupt_b : ndarray of bool, shape (N,)
        Whether A (B) classifies each test image correctly, clean and corrupted.
    seed : int
        Seed of the ``numpy.random.Generator``.
    n_resamples : int
        Bootstrap resamples (at least 2).
    alpha : float
        One minus the confidence of the interval (already divided by the family size).

    Returns
    -------
    dict
        ``diff`` (drop of A minus drop of B), ``low``, ``high``, ``p_value``, ``drop_a``, ``drop_b``,
        ``clean_a``, ``clean_b``, ``corrupt_a``, ``corrupt_b`` (accuracies), ``n``; fractions.

    Raises
    ------
    ValueError
        For arrays of different shapes, empty ones, fewer than 2 resamples or ``alpha`` outside (0, 1).
    """
    arrays = [np.asarray(x, dtype=np.int8) for x in (clean_a, corrupt_a, clean_b, corrupt_b)]
    if len({x.shape for x in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        raise ValueError(f"expected four non-empty vectors of one length, got {[x.shape for x in arrays]}")
    if n_resamples < 2 or not 0 < alpha < 1:
        raise ValueError(f"expected n_resamples >= 2 and alpha in (0, 1), got {n_resamples} and {alpha}")
    ca, xa, cb, xb = arrays
    d = (ca - xa) - (cb - xb)
    n = d.size
    values, counts = np.unique(d, return_counts=True)
    diff = float(d.mean())
    if values.size == 1:
        low = high = diff
        p = 1.0 if diff == 0 else 0.0
    else:
        rng = np.random.default_rng(seed)
        replicates = rng.multinomial(n, counts / n, size=n_resamples) @ values.astype(np.float64) / n
        low, high = (float(v) for v in np.quantile(replicates, [alpha / 2, 1 - alpha / 2]))
        if diff == 0:
            p = 1.0
        else:
            other = int(np.sum(replicates <= 0) if diff > 0 else np.sum(replicates >= 0))
            p = min(1.0, 2 * (1 + other) / (1 + n_resamples))
    return {"diff": diff, "low": low, "high": high, "p_value": p, "n": n,
            "drop_a": float((ca - xa).mean()), "drop_b": float((cb - xb).mean()),
            "clean_a": float(ca.mean()), "clean_b": float(cb.mean()),
            "corrupt_a": float(xa.mean()), "corrupt_b": float(xb.mean())}


def _severity(family: str, severity: float) -> str:
    return SEVERITY.get(family, family + " {:g}").format(severity)


def _part(family: str) -> str:
    claimed = CLAIMED_FAMILIES.get(family)
    return f"robustness to {claimed} ({family})" if claimed else f"robustness to {family} (not claimed)"


def robustness_rows(correct: dict | None, path: str = "data/evaluation/robustness_correct.npz",
                    seed: int = 0, n_resamples: int = N_RESAMPLES, note: str = "") -> list[dict]:
    """The Gabor SVM (A) against the pixel SVM (B): the drop from clean accuracy at every family and
    severity of the robustness stage (:func:`drop_difference`), claimed families first.

    Parameters
    ----------
    correct : dict or None
        :func:`read_robustness_correct`; None gives one row that needs the robustness stage (its
        verdict adds ``note``).
    """
    gabor, pixels = model("gabor_svm"), model("pixel_svm")
    if correct is None:
        return [row(_part(f), gabor, pixels, DROP, "single run", source="robustness",
                    verdict=NEEDS["robustness"].format(path=path) + note) for f in CLAIMED_FAMILIES]
    conditions = correct["conditions"]
    clean = conditions.index((CLEAN, 0.0))
    a, b = correct[gabor], correct[pixels]
    order = {f: i for i, f in enumerate(CLAIMED_FAMILIES)}
    chosen = sorted((i for i, (f, _) in enumerate(conditions) if f != CLEAN),
                    key=lambda i: (order.get(conditions[i][0], len(order)), i))
    out = []
    for i in chosen:
        family, severity = conditions[i]
        first = drop_difference(a[clean], a[i], b[clean], b[i], seed, n_resamples)

        def test(level: float, i=i) -> dict:
            r = drop_difference(a[clean], a[i], b[clean], b[i], seed, n_resamples, level)
            return {"diff": r["diff"], "ci_low": r["low"], "ci_high": r["high"], "p_value": r["p_value"]}

        out.append(row(_part(family), gabor, pixels, DROP,
                       f"single run, {first['n']:,} test images, {_severity(family, severity)}",
                       source="robustness", value_a=first["drop_a"], value_b=first["drop_b"],
                       diff=first["diff"], test=test,
                       method="paired bootstrap of the images' drop differences",
                       detail=f"clean {100 * first['clean_a']:.2f} % / {100 * first['clean_b']:.2f} %, "
                              f"corrupted {100 * first['corrupt_a']:.2f} % / "
                              f"{100 * first['corrupt_b']:.2f} %"))
    return out


def mnist_c_rows(metrics: dict | None, path: str = "metrics/robustness.json", correct: dict | None = None,
                 seed: int = 0, n_resamples: int = N_RESAMPLES) -> list[dict]:
    """The Gabor SVM (A) against the pixel SVM (B) on each MNIST-C corruption: the drop from clean
    accuracy (the ``identity`` set).

    Parameters
    ----------
    metrics : dict or None
        ``metrics/robustness.json``: the error rates, for rows described and not tested when
        ``correct`` is None.
    path : str
        The file named in a "needs" verdict.
    correct : dict or None
        The ``mnist_c`` part of :func:`read_robustness_correct`: per-image correctness, for the paired
        test of :func:`drop_difference` on every corruption.
    seed, n_resamples : int
        Of the bootstraps.
    """
    gabor, pixels = model("gabor_svm"), model("pixel_svm")
    part = "MNIST-C corruptions (not claimed)"
    if correct is not None:
        sets = correct["sets"]
        clean, a, b = sets.index(IDENTITY), correct[gabor], correct[pixels]
        out = []
        for i, name in enumerate(sets):
            if i == clean:
                continue
            first = drop_difference(a[clean], a[i], b[clean], b[i], seed, n_resamples)

            def test(level: float, i=i) -> dict:
                r = drop_difference(a[clean], a[i], b[clean], b[i], seed, n_resamples, level)
                return {"diff": r["diff"], "ci_low": r["low"], "ci_high": r["high"], "p_value": r["p_value"]}

            out.append(row(part, gabor, pixels, DROP,
                           f"single run, {first['n']:,} test images, MNIST-C {name.replace('_', ' ')}",
                           source="robustness", value_a=first["drop_a"], value_b=first["drop_b"],
                           diff=first["diff"], test=test,
                           method="paired bootstrap of the images' drop differences",
                           detail=f"clean {100 * first['clean_a']:.2f} % / {100 * first['clean_b']:.2f} %, "
                                  f"corrupted {100 * first['corrupt_a']:.2f} % / "
                                  f"{100 * first['corrupt_b']:.2f} %"))
        return out
    if metrics is None:
        return [row(part, gabor, pixels, DROP, "MNIST-C", source="robustness",
                    verdict=NEEDS["robustness"].format(path=path))]
    errors = {name: (metrics.get(name) or {}).get("mnist_c") or {} for name in (gabor, pixels)}
    names = [k for k in errors[gabor] if k in errors[pixels] and k not in (CLEAN, "mce", "relative_mce")]
    if CLEAN not in errors[gabor] or CLEAN not in errors[pixels] or not names:
        return [row(part, gabor, pixels, DROP, "MNIST-C", source="robustness",
                    detail=f"{path} has no MNIST-C error rates of {gabor} and {pixels}")]
    out = []
    for name in names:
        drop_a = errors[gabor][name] - errors[gabor][CLEAN]  # error up = accuracy down
        drop_b = errors[pixels][name] - errors[pixels][CLEAN]
        out.append(row(part, gabor, pixels, DROP, f"single run, MNIST-C {name.replace('_', ' ')}",
                       source="robustness", value_a=drop_a, value_b=drop_b, diff=drop_a - drop_b,
                       verdict="not tested: the robustness stage's file holds no MNIST-C correctness per image "
                               "(made before it was saved, or from official sets of unequal size), so no "
                               "paired test"))
    return out


# -- the claims --------------------------------------------------------------------------------------

CLAIMS = {  # key: (title, the claim as quoted, the kind of project that makes it)
    "a": ("Gabor features vs raw pixels (SVM)", "Gabor features improve SVM accuracy over raw pixels.",
          "the README of a classic computer-vision MNIST project (a Gabor filter bank in front of an SVM)"),
    "b": ("He vs naive random initialisation", "He initialisation converges faster, gives a smoother loss "
          "curve and consistently outperforms naive random initialisation.",
          "the README of a from-scratch NumPy MNIST network"),
    "c": ("Adam vs SGD", "Adam gives a smooth, stable descent.",
          "the README of a from-scratch NumPy MNIST network"),
    "d": ("The NumPy network vs its PyTorch twin", "The PyTorch version trains more stably and reaches a "
          "lower validation error than the NumPy version of the same network.",
          "the README of a from-scratch NumPy MNIST network that also ships a PyTorch port"),
    "e": ("CNN, feed-forward network, logistic regression",
          "CNN beats the feed-forward net, which beats logistic regression.",
          "PyTorch MNIST tutorials and their READMEs comparing model families"),
    "f": ("Dropout and L2 regularisation", "Dropout and L2 regularisation prevent overfitting.",
          "the README of a from-scratch NumPy MNIST network"),
    "g": ("Gabor features and invariances (SVM)", "Raw-pixel SVMs struggled with invariances "
          "(rotation/scale); Gabor features added robustness to orientation and frequency.",
          "the README of a classic computer-vision MNIST project (a Gabor filter bank in front of an SVM)"),
}
#: What a reader needs to weigh the evidence of a claim (formatted with the models of its roles).
NOTES = {
    "b": ["Convergence is counted in training images seen when the validation error first reaches 5 / 3 "
          "/ 2 % (both nets of a row use the same optimizer and batch size); a net that never gets there, "
          "when the other does, is counted at its last logged point (a lower bound)."],
    "c": ["Roughness is the mean absolute second difference of the validation loss, which shrinks when "
          "a curve is sampled more densely: it is compared only on one grid of training images for both "
          "optimizers. A sweep whose SGD and Adam curves were logged at different spacings cannot judge "
          "this claim; re-run it (the rows give the commands) and the roughness is measured on one grid."],
    "d": ["Checkpoint rule of the committed runs: {twin} keeps the weights of its best validation point, "
          "{twin_of} its last weights, so their test accuracies are of differently chosen weights; the "
          "lowest and final validation errors are read from the curves and do not depend on that."],
    "f": ["Overfitting is the gap between training and validation loss and accuracy with the kept weights "
          "in evaluation mode (dropout off, no shifted images; the training figures on a fixed subset of "
          "2,000 training images), measured on a baseline that can overfit: no shifts, no learning-rate "
          "decay, 40 epochs, at least 3 seeds per arm, weight decay included."],
    "g": ["Added robustness is a smaller drop from clean accuracy: each row tests the Gabor SVM's drop "
          "minus the pixel SVM's, image by image on the same test digits (a difference in differences), "
          "not the accuracy under corruption, which also carries the clean-accuracy gap. Every family "
          "of the robustness stage is reported, the ones the claim does not name too."],
}


def today_params(params_path: str | os.PathLike | None,
                 repo: str | os.PathLike | None = None) -> dict | None:
    """Today's params: ``params.yaml`` flattened (``mlp.adam.lr``), local paths as sweep summaries
    record them (:func:`mnistlab.evidence.sweep_report.local_path`, relative to ``repo``, by default
    the file's folder); None for a file that is missing or not a YAML mapping."""
    import yaml

    if params_path is None:
        return None
    try:
        data = yaml.safe_load(Path(params_path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    repo = Path(repo) if repo is not None else Path(params_path).parent
    return {key: local_path(value, repo) for key, value in flatten_params(data).items()}


def training_sections(dvc: dict | None) -> list[str] | None:
    """The sections of params.yaml (top-level keys) that the stages making the models read, and the
    stages upstream of them (:func:`mnistlab.evidence.sweep.training_params` of a parsed dvc.yaml);
    None without a pipeline."""
    entries = training_params(dvc) if dvc else [None]
    if None in entries:  # no pipeline, or a stage that reads the whole file
        return None
    return sorted({str(entry).split(".")[0] for entry in entries})


def sweep_differences(data: dict | None, today: dict | None, training: list[str] | None) -> list[str] | None:
    """How a sweep's params differ from today's, for the keys under ``training`` (keys or sections
    of params.yaml; None: every key) and the seed and swept params aside
    (:func:`mnistlab.evidence.sweep_report.params_differences`): ``"`key`: <sweep> here, <today>
    today"``. None when the sweep or today's params are unknown."""
    if data is None or today is None:
        return None
    runs = runs_from_json(data)
    if training is not None:
        def kept(key: str) -> bool:
            return any(key == entry or key.startswith(f"{entry}.") for entry in training)

        runs = [Run(**{**r.__dict__, "params": {k: v for k, v in r.params.items()
                                                 if kept(k) or k == data["seed_param"]}}) for r in runs]
        today = {k: v for k, v in today.items() if kept(k)}
    return params_differences(runs, today, None, data["seed_param"])


def evaluate_claims(compare=None, robustness=None, seeds=None, ablation=None, learning_curve=None,
                    alpha: float = 0.05, paths: dict | None = None, mnist_c: dict | None = None,
                    today: dict | None = None, training: list[str] | None = None, seed: int = 0,
                    n_resamples: int = N_RESAMPLES, robustness_note: str = "") -> list[dict]:
    """Every claim with its judged evidence rows; a None input gives its rows a "needs" verdict.

    Parameters
    ----------
    compare : dict or None
        ``metrics/compare.json`` (:func:`mnistlab.evidence.compare.metrics_summary`).
    robustness : dict or None
        Per-image correctness of the robustness stage (:func:`read_robustness_correct`).
    seeds, ablation, learning_curve : dict or None
        ``sweep.json`` of each sweep (:func:`mnistlab.evidence.sweep_report.sweep_json`).
    alpha : float
        Family level of each claim: its ``m`` tested rows' intervals are at ``1 - alpha / m``.
    paths : dict, optional
        Input name (``compare``, ``robustness``, ``mnist_c``, ``seeds``, ``ablation``,
        ``learning_curve``) -> the file named in the report.
    mnist_c : dict or None
        ``metrics/robustness.json``, for the MNIST-C rows of claim g when ``robustness`` holds no
        MNIST-C correctness (then described, not tested).
    today : dict or None
        Today's flattened params.yaml (:func:`today_params`): a claim resting on a sweep made with
        other params says which keys differ; None: not compared.
    training : list of str or None
        The keys or sections of params.yaml that make the models (:func:`training_sections`), the
        only ones compared; None: every key.
    seed, n_resamples : int
        Of the bootstraps.
    robustness_note : str
        Added to the verdict of claim g's rows when ``robustness`` is None.

    Returns
    -------
    list of dict
        ``{key, title, statement, source, rows, family, notes}`` per claim, in order a..g; ``rows`` as
        :func:`row`, ``family`` as :func:`judge` returns it.

    Raises
    ------
    MnistlabError
        If the model registry lacks a model of a claim (:data:`ROLES`, :func:`numpy_net`).
    """
    paths = {"compare": "metrics/compare.json", "robustness": "data/evaluation/robustness_correct.npz",
             "mnist_c": "metrics/robustness.json", "seeds": "reports/seeds/sweep.json",
             "ablation": "reports/ablation/sweep.json", "learning_curve": "reports/learning_curve/sweep.json",
             **(paths or {})}
    sweeps = Sweeps({"seeds": seeds, "ablation": ablation, "learning_curve": learning_curve}, seed,
                    n_resamples)

    def single(part, a, b):
        return compare_rows(compare, part, a, b, paths["compare"], seed, n_resamples)

    def seeded(part, a, b, quantity="accuracy"):
        return sweep_rows(sweeps, "seeds", part, a, b, quantity)

    def accuracy(part, a, b):  # one run, the seeds, and each training-set size of the learning curve
        return single(part, a, b) + seeded(part, a, b) + sweep_rows(sweeps, "learning_curve", part, a, b,
                                                                    "accuracy")

    # He against naive random initialisation, per optimizer: (label, He net, random net)
    mlps = [(label, numpy_net(opt, "he"), numpy_net(opt, "random")) for opt, label in OPTIMIZERS.items()]
    twin, twin_of = model("twin"), model("twin_of")
    parts: dict[str, list[dict]] = {key: [] for key in CLAIMS}
    notes: dict[str, list[str]] = {key: [n.format(twin=twin, twin_of=twin_of) for n in NOTES.get(key, [])]
                                   for key in CLAIMS}
    parts["a"] = accuracy("Gabor SVM more accurate", model("gabor_svm"), model("pixel_svm"))
    for opt, he, rnd in mlps:
        for q in ("images_to_5pct", "images_to_3pct", "images_to_2pct"):
            parts["b"] += seeded(f"converges faster ({opt})", he, rnd, q)
    for opt, he, rnd in mlps:
        parts["b"] += seeded(f"smoother loss curve ({opt})", he, rnd, "val_loss_roughness")
    for opt, he, rnd in mlps:
        parts["b"] += single(f"outperforms ({opt})", he, rnd) + seeded(f"outperforms ({opt})", he, rnd)
    for init, name in INITS.items():
        parts["c"] += seeded(f"smoother descent ({name} init)", numpy_net("adam", init),
                             numpy_net("sgd", init), "val_loss_roughness")
    parts["d"] = seeded("trains more stably", twin, twin_of, "val_loss_roughness")
    for q in ("best_val_error", "final_val_error", "accuracy"):
        parts["d"] += seeded("reaches a lower validation error", twin, twin_of, q)
    parts["d"] += single("reaches a lower validation error", twin, twin_of)
    for a, b in ((model("cnn"), model("fnn")), (model("fnn"), model("logreg"))):
        parts["e"] += accuracy(f"{a} beats {b}", a, b)
    parts["f"] = _claim_f(ablation, paths["ablation"], notes["f"])
    parts["g"] = (robustness_rows(robustness, paths["robustness"], seed, n_resamples, robustness_note)
                  + mnist_c_rows(mnist_c, paths["mnist_c"], (robustness or {}).get("mnist_c"), seed,
                                 n_resamples))
    out = []
    for key, (title, statement, source) in CLAIMS.items():
        family = judge(parts[key], alpha)
        notes[key] += _made_with(parts[key], sweeps, today, training, paths, key == "f")
        notes[key] += _single_and_sweep(parts[key])
        if key == "c" and any("different spacings" in r["verdict"] for r in parts[key]):
            notes[key].insert(0, "This claim cannot be judged from the committed seed sweep: its SGD and "
                                 "Adam curves were logged at different spacings of training images.")
        out.append({"key": key, "title": title, "statement": statement, "source": source,
                    "rows": parts[key], "family": family, "notes": notes[key]})
    return out


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


def _keys(differ: list[str]) -> str:
    """The keys of :func:`params_differences` lines (``"`key`: x here, y today"``)."""
    return ", ".join(d.split(":", 1)[0] for d in differ)


def _made_with(rows: list[dict], sweeps: Sweeps, today: dict | None, training: list[str] | None,
               paths: dict, ablation: bool) -> list[str]:
    """Notes on the sweeps a claim's evidence comes from: made with the current params or not (which
    keys differ; their values are in :func:`describe_sweeps`), and how to re-run them."""
    out = []
    for source in dict.fromkeys(r["source"] for r in rows if r["source"] in ("seeds", "learning_curve",
                                                                            "ablation")):
        data = sweeps.get(source)
        if data is None or all(r["verdict"].startswith("needs") for r in rows if r["source"] == source):
            continue
        differ = sweep_differences(data, today, training)
        name = f"the {SOURCES[source]} (`{paths[source]}`)"
        if differ is None:
            out.append(f"Rests on {name}; today's params.yaml was not read, so whether it describes what the "
                       "pipeline trains now is not known.")
            continue
        if ablation:  # the overfitting recipe differs from the defaults on purpose
            recipe = [d for d in differ if any(d.startswith(f"`{k}`") for k in OVERFIT)]
            differ = [d for d in differ if d not in recipe]
            if recipe:
                out.append(f"Rests on {name}, made with the overfitting recipe on purpose: "
                           f"{'; '.join(recipe)}.")
        if differ:
            out.append(f"Rests on {name}, made with other params than today's params.yaml ({_keys(differ)}; "
                       "values under *The sweeps* above), so its rows describe that recipe, not what the "
                       f"pipeline trains now. Re-run it: {NEEDS[source].split(': ', 1)[1]}.")
        else:
            out.append(f"Rests on {name}, made with the current params (the keys of the stages that make the "
                       "models).")
    return out


def describe_sweeps(data: dict[str, dict | None], today: dict | None, training: list[str] | None,
                    paths: dict | None = None) -> list[str]:
    """One paragraph per sweep for the report: its runs and seeds, whether it was made with the current
    params (each key that differs, with both values) and the notes its own report gives."""
    paths = {"seeds": "reports/seeds/sweep.json", "ablation": "reports/ablation/sweep.json",
             "learning_curve": "reports/learning_curve/sweep.json", **(paths or {})}
    out = []
    for source, sweep in data.items():
        if sweep is None:
            out.append(f"- **{SOURCES[source]}** (`{paths[source]}`): missing; {NEEDS[source]}.")
            continue
        runs = runs_from_json(sweep)
        seeds = sorted({fmt_seed(r.params.get(sweep["seed_param"])) for r in runs})
        varying = ", ".join(f"`{k}`" for k in sweep.get("varying_params") or []) or "the seed only"
        differ = sweep_differences(sweep, today, training)
        made = ("today's params.yaml was not read" if differ is None else "made with the current params"
                if not differ else f"made with other params than today's params.yaml: {'; '.join(differ)}")
        own = [n for n in sweep.get("notes") or [] if not n.startswith("Made with other params")]
        out.append(f"- **{SOURCES[source]}** (`{paths[source]}`): {len(runs)} runs, seeds "
                   f"{', '.join(seeds)}, varying {varying}; {made}." + "".join(f" {n}" for n in own))
    return out


def fmt_seed(value) -> str:
    number = _number(value)
    return str(value) if number is None else f"{number:g}"


def _single_and_sweep(rows: list[dict]) -> list[str]:
    """Notes naming the parts whose single-run and seed-sweep accuracy verdicts disagree: the sweep
    (training randomness as well as test-set sampling, or training randomness alone) is the one to
    follow."""
    out = []
    for part in dict.fromkeys(r["part"] for r in rows):
        mine = [r for r in rows if r["part"] == part and r["quantity"] == "accuracy"
                and r["verdict"] in VERDICTS[:3]]
        single = [r for r in mine if r["source"] == "compare" and r["test"] is not None]
        swept = [r for r in mine if r["source"] == "seeds"]
        if single and swept and single[0]["verdict"] != swept[0]["verdict"]:
            out.append(f"{part}: the single run says {single[0]['verdict']}, the seed sweep "
                       f"{swept[0]['verdict']}. Follow the sweep, which sees training randomness; when it "
                       "was made with other params (above), re-run it before following either.")
    return out


# -- writer and readers ----------------------------------------------------------------------------

def _fmt(quantity: str, value, signed: bool = False) -> str:
    if quantity in _POINTS:
        return fmt("accuracy", value, signed)
    if quantity == "eval_gap_loss":
        return fmt("val_loss_rise", value, signed)
    return fmt(quantity, value, signed)


def _unit(quantity: str) -> str:
    return "points" if quantity in _POINTS else "nats" if quantity == "eval_gap_loss" else unit(quantity)


def _value(quantity: str, value) -> str:
    return "n/a" if value is None else _fmt(quantity, value) + (" %" if _unit(quantity) == "points" else "")


def _cell(text) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def claims_markdown(claims: list[dict], sources: dict[str, tuple[str, bool]], alpha: float = 0.05,
                    sweeps: list[str] = ()) -> str:
    """The text of ``reports/claims.md``; ``sources``: input name -> (path, found); ``sweeps``: the
    paragraphs of :func:`describe_sweeps`."""
    lines = ["# Claims from other MNIST projects, checked here", "",
             "Generated by the `claims` stage of dvc.yaml (`mnistlab claims`, `mnistlab.evidence.claims`) "
             "from the files below, which are its dependencies: `dvc repro` rewrites it whenever one of "
             "them changes. Do not edit by hand.", "",
             "Each claim is quoted with the kind of project that makes it. Every row compares A, the side "
             "the claim says is better, with B. **Each claim is one family**: its m tested rows, each "
             f"interval at 1 - {alpha:g}/m (Bonferroni; simultaneous intervals, Dunn 1961), so that all m "
             f"hold together with probability at least {format_level(1 - alpha)} %, and every verdict is "
             "read off its interval: **supported** when the whole interval of A - B lies on A's side of 0, "
             "**contradicted** when it lies on B's side, **not supported** when it contains 0 (no "
             "detectable difference; the interval says how large a difference the data allow). p is the "
             "test that matches the interval, Bonferroni p = min(1, m p); where they disagree at the margin "
             "the interval decides. **not tested**: no test is possible (the reason, and the re-run that "
             "would make one); **needs ...**: the input is missing or cannot answer the claim, and the "
             "commands that make it are given. Where the single run and a sweep over seeds disagree, "
             "follow the sweep.", "",
             *[f"- {name}: `{path}`{'' if ok else ' (missing)'}" for name, (path, ok) in sources.items()],
             *(["", "## The sweeps", "", *sweeps] if sweeps else []),
             "", "## Verdicts", "", "| Claim | Supported | Not supported | Contradicted | Other |",
             "|---|---|---|---|---|"]
    for c in claims:
        counts = [sum(r["verdict"] == v for r in c["rows"]) for v in VERDICTS[:3]]
        lines.append(f"| {c['key']}. {c['title']} | " + " | ".join(map(str, counts))
                     + f" | {len(c['rows']) - sum(counts)} |")
    for c in claims:
        m = c["family"]["size"]
        level = format_level(c["family"]["confidence"] or 1 - alpha)
        lines += ["", f"## {c['key']}. {c['title']}", "", f"> \"{c['statement']}\"", "",
                  f"Claimed in {c['source']}.", "",
                  family_sentence(m, alpha, "the tested rows of this claim"), ""]
        for part in dict.fromkeys(r["part"] for r in c["rows"]):
            mine = [r["verdict"] for r in c["rows"] if r["part"] == part]
            mine = [v.split(":")[0].split(" (")[0] for v in mine]  # "needs ..." without its command
            order = sorted(set(mine), key=lambda v: (VERDICTS + (v,)).index(v))
            lines.append(f"- **{part}**: " + ", ".join(f"{v} {mine.count(v)}" for v in order))
        lines += ["", f"| Part | Measured | Evidence | A vs B | A / B | A - B [{level} % CI] | Test | p "
                  "| Bonferroni p | Verdict | Notes |", "|" + "---|" * 11]
        for r in c["rows"]:
            q = r["quantity"]
            if r["diff"] is None:
                diff = "n/a"
            elif r["ci_low"] is None or r["test"] is None:
                diff = f"{_fmt(q, r['diff'], True)} {_unit(q)} (not tested)".replace("  ", " ")
            else:
                diff = (f"{_fmt(q, r['diff'], True)} [{_fmt(q, r['ci_low'], True)}, "
                        f"{_fmt(q, r['ci_high'], True)}] {_unit(q)}").rstrip()
            cells = [r["part"], LABELS.get(q, q), r["evidence"], f"{r['a']} vs {r['b']}",
                     f"{_value(q, r['value_a'])} / {_value(q, r['value_b'])}", diff, r["method"] or "none",
                     format_p(r["p_value"]), format_p(r["p_adjusted"]), r["verdict"], r["detail"]]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        if c["notes"]:
            lines += ["", *(f"- {note}" for note in c["notes"])]
    return "\n".join(lines) + "\n"


def write_claims_md(claims: list[dict], sources: dict[str, tuple[str, bool]], path: str | os.PathLike,
                    alpha: float = 0.05, sweeps: list[str] = ()) -> None:
    """Write :func:`claims_markdown` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(claims_markdown(claims, sources, alpha, sweeps))


def read_compare(path: str | os.PathLike) -> dict | None:
    """``metrics/compare.json`` (:func:`mnistlab.evidence.compare.metrics_summary`); None when missing.

    Raises
    ------
    MnistlabError
        One line naming the file: not a JSON object, or one without ``pairs`` and ``models``.
    """
    data = read_json(path, "the compare stage's metrics (`dvc repro compare`)", required=False)
    if data is not None and not ("pairs" in data and "models" in data):
        raise MnistlabError(f"{path}: not the compare stage's metrics (no pairs or models)")
    return data


def read_sweep(path: str | os.PathLike) -> dict | None:
    """The JSON of ``mnistlab sweep`` (:func:`mnistlab.evidence.sweep_report.sweep_json`); None
    when missing.

    Raises
    ------
    MnistlabError
        One line naming the file: not a JSON object, or one without ``experiments`` and
        ``seed_param``.
    """
    data = read_json(path, "the JSON of `mnistlab sweep`", required=False)
    if data is not None and not ("experiments" in data and "seed_param" in data):
        raise MnistlabError(f"{path}: not the JSON of `mnistlab sweep` (no experiments or seed_param)")
    return data


def read_robustness_metrics(path: str | os.PathLike) -> dict | None:
    """``metrics/robustness.json`` (the robustness stage's accuracies and MNIST-C error rates); None
    when missing.

    Raises
    ------
    MnistlabError
        One line naming the file when it is not a JSON object.
    """
    return read_json(path, "the robustness stage's metrics (`dvc repro robustness`)", required=False)


def read_robustness_correct(path: str | os.PathLike) -> dict | None:
    """The per-image correctness of the two SVMs, clean and corrupted (the robustness stage's
    ``--correct`` file, :func:`mnistlab.evaluation.robustness.save_correct`); None when missing.

    Returns
    -------
    dict or None
        ``conditions``: list of ``(family, severity)``, the clean images ``("clean", 0.0)`` among
        them; for the pixel and the Gabor SVM of the registry, ndarray of bool, shape
        (conditions, N); ``mnist_c``: their correctness on the MNIST-C sets
        (:func:`_read_mnist_c_correct`), or None.

    Raises
    ------
    MnistlabError
        One line naming the file: not a readable ``.npz`` without pickles, no ``corruption`` or
        ``severity`` array, no clean condition, a missing SVM, or arrays of the wrong shape.
    """
    import zipfile

    if not Path(path).is_file():
        return None
    names = (model("pixel_svm"), model("gabor_svm"))
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"corruption", "severity", *names} <= set(data.files):
                missing = sorted({"corruption", "severity", *names} - set(data.files))
                raise MnistlabError(f"{path}: expected per-image correctness with {', '.join(missing)} "
                                    "(the robustness stage's --correct file)")
            corruption, severity = data["corruption"], data["severity"]
            arrays = {name: data[name] for name in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MnistlabError(f"{path}: not a readable .npz of the robustness stage ({err})") from None
    k = len(corruption)
    if corruption.ndim != 1 or severity.shape != (k,) or not all(
            a.ndim == 2 and a.shape[0] == k and a.shape[1] > 0 and a.dtype == np.bool_
            for a in arrays.values()):
        raise MnistlabError(f"{path}: expected bool arrays of shape (conditions, images), one row per "
                            "corruption and severity")
    conditions = [(str(c), float(s)) for c, s in zip(corruption, severity, strict=True)]
    if (CLEAN, 0.0) not in conditions or len({a.shape for a in arrays.values()}) != 1:
        raise MnistlabError(f"{path}: expected the clean images (corruption 'clean', severity 0) and both "
                            "SVMs on the same images")
    if any(not math.isfinite(s) for _, s in conditions):
        raise MnistlabError(f"{path}: a severity is not a finite number")
    return {"conditions": conditions, **arrays, "mnist_c": _read_mnist_c_correct(path, names)}


def _read_mnist_c_correct(path, names: tuple[str, str]) -> dict | None:
    """The MNIST-C part of the robustness stage's ``--correct`` file: ``{"sets": [...], <svm>:
    ndarray of bool, shape (sets, M)}`` for the two SVMs, or None when the file has none (written
    before MNIST-C correctness was saved).

    Raises
    ------
    MnistlabError
        One line naming the file when the MNIST-C arrays are malformed.
    """
    keys = {name: MNIST_C_KEY.format(model=name) for name in names}
    with np.load(path, allow_pickle=False) as data:
        if MNIST_C_SETS not in data.files or not set(keys.values()) <= set(data.files):
            return None
        sets, arrays = data[MNIST_C_SETS], {name: data[key] for name, key in keys.items()}
    k = len(sets)
    if sets.ndim != 1 or IDENTITY not in sets.tolist() or not all(
            a.ndim == 2 and a.shape[0] == k and a.shape[1] > 0 and a.dtype == np.bool_ for a in arrays.values()) \
            or len({a.shape for a in arrays.values()}) != 1:
        raise MnistlabError(f"{path}: expected MNIST-C set names with '{IDENTITY}' among them and bool arrays "
                            "of shape (sets, images) for both SVMs")
    return {"sets": [str(x) for x in sets], **arrays}
