"""Claims made by other MNIST projects, checked against this project's measurements (``mnistlab claims``).

Reads files only (no DVC calls): ``metrics/compare.json`` (the ``compare`` stage: exact McNemar and
paired bootstrap on one run's test images), the robustness stage's paired tests of the pixel SVM
against the Gabor SVM (CSV, one row per corruption and severity), and the JSON of up to three
``mnistlab sweep`` runs (seeds, the dropout / L2 ablation, the learning curve), whose per-run values
are compared with paired t tests over seeds (:func:`mnistlab.evidence.sweep_report.paired_difference`).

The models a claim is about are chosen by their attributes in the model registry
(:data:`ROLES`, :func:`numpy_net`, :func:`ablation_models`), never by name; the command is
:mod:`mnistlab.cli.claims`.

Every evidence row compares A, the side the claim says is better, with B: ``diff = A - B`` and its
interval. Within one claim the p-values of all its rows are Holm-adjusted together (Holm 1979);
a row is *supported* when the adjusted p is below ``alpha`` and A is better, *contradicted* when
it is below ``alpha`` and B is better, *not supported* otherwise (no detectable difference; the
interval says how large a difference the data allow). A missing input gives *needs a sweep* or
*needs `dvc repro`* with the command that produces it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path, read_json
from mnistlab.evidence.compare import format_p, holm
from mnistlab.evidence.sweep import LOWER_IS_BETTER
from mnistlab.evidence.sweep_report import (
    censor_updates,
    fmt,
    paired_difference,
    paired_tests,
    runs_from_json,
    unit,
)
from mnistlab.models.registry import select, select_one

SWEEP = "needs a sweep: `dvc exp run --queue {sets} -S 'seed=range(0,5)'`, `dvc queue start`, then `mnistlab sweep {vary} --out-dir reports/{folder}`"  # noqa: E501
NEEDS = {
    "compare": "needs `dvc repro` (stage compare writes {path})",
    "robustness": "needs `dvc repro` (stage robustness writes {path})",
    "seeds": SWEEP.format(sets="", vary="--vary seed", folder="seeds").replace("  ", " "),
    "ablation": SWEEP.format(sets="-S 'mlp.dropout=0,0.3' -S 'mlp.weight_decay=0,0.0005'",
                             vary="--vary mlp.dropout --vary mlp.weight_decay", folder="ablation"),
    "learning_curve": SWEEP.format(sets="-S 'prepare.train_size=500,1000,2000,5000,10000'",
                                   vary="--vary prepare.train_size", folder="learning_curve"),
}
LABELS = {"accuracy": "test accuracy",
          **{f"updates_to_{e}pct": f"updates to {e} % validation error" for e in (5, 3, 2)},
          "val_loss_roughness": "validation-loss roughness", "best_val_error": "lowest validation error",
          "final_val_error": "final validation error", "train_val_gap": "train - validation accuracy",
          "val_loss_rise": "validation-loss rise after its minimum"}
ABLATION = ("mlp.dropout", "mlp.weight_decay")
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
ROBUSTNESS_CSV = "reports/robustness_svm_pairs.csv"
VERDICTS = ("supported", "not supported", "contradicted", "not tested")
SOURCES = {"seeds": "seed sweep", "learning_curve": "learning-curve sweep"}
SEVERITY = {"rotation": "rotation {:g} degrees", "scale": "scale x{:g}"}  # robustness.corruptions


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


def row(part: str, a: str, b: str, quantity: str, evidence: str, **fields) -> dict:
    """One evidence row: A (claimed better) against B on ``quantity``; verdict None until judged."""
    base = {"part": part, "a": a, "b": b, "quantity": quantity, "evidence": evidence, "value_a": None,
            "value_b": None, "diff": None, "ci_low": None, "ci_high": None, "test": "", "p_value": None,
            "p_holm": None, "verdict": None, "detail": ""}
    return base | fields


def judge(rows: list[dict], alpha: float = 0.05) -> list[dict]:
    """Holm-adjust the rows' p-values together and give each tested row its verdict, in place."""
    tested = [r for r in rows if r["verdict"] is None and r["p_value"] is not None]
    for r, p in zip(tested, holm(r["p_value"] for r in tested), strict=True):
        lower = r["quantity"] in LOWER_IS_BETTER
        r["p_holm"] = p
        if p < alpha and r["diff"] != 0:
            r["verdict"] = "supported" if (r["diff"] < 0) == lower else "contradicted"
        else:
            r["verdict"] = "not supported"
    for r in rows:
        r["verdict"] = r["verdict"] or "not tested"
    return rows


# -- evidence from each source -----------------------------------------------------------------------

def compare_rows(compare: dict | None, part: str, a: str, b: str, path: str = "metrics/compare.json") -> list:
    """The single-run test-accuracy comparison of A and B from ``metrics/compare.json``."""
    if compare is None:
        return [row(part, a, b, "accuracy", "single run", verdict=NEEDS["compare"].format(path=path))]
    pairs, models = compare.get("pairs", {}), compare.get("models", {})
    flip = f"{a} vs {b}" not in pairs and f"{b} vs {a}" in pairs  # the pair is stored as B vs A
    pair = pairs.get(f"{b} vs {a}" if flip else f"{a} vs {b}")
    if pair is None:
        return [row(part, a, b, "accuracy", "single run", detail=f"{path} has no pair of {a} and {b} "
                    "(compare.pairs in params.yaml)")]
    s = -1 if flip else 1
    low, high = sorted((s * pair["ci_low"], s * pair["ci_high"]))
    return [row(part, a, b, "accuracy", f"single run, {compare['n_images']:,} test images",
                value_a=models.get(a, {}).get("accuracy"), value_b=models.get(b, {}).get("accuracy"),
                diff=s * pair["diff"], ci_low=low, ci_high=high, p_value=pair["p_value"],
                test="exact McNemar, paired bootstrap interval",
                detail=f"{pair['b_only' if flip else 'a_only']} images only A gets right, "
                       f"{pair['a_only' if flip else 'b_only']} only B")]


def sweep_rows(data: dict | None, source: str, part: str, a: str, b: str, quantity: str) -> list[dict]:
    """Paired t tests of A against B over the seeds of each group of a sweep (``sweep.json``)."""
    if data is None:
        return [row(part, a, b, quantity, SOURCES[source], verdict=NEEDS[source])]
    runs, note = runs_from_json(data), ""
    if quantity.startswith("updates_to"):
        runs, note = censor_updates(runs, a, b, quantity)
    comparison = {"question": part, "a": a, "b": b, "quantity": quantity}
    tests = paired_tests(runs, [comparison], data["seed_param"], adjust=False)  # judge() adjusts
    if not tests:
        return [row(part, a, b, quantity, SOURCES[source], detail=f"no run has {quantity} for both")]
    out = []
    for t in tests:
        group = t["group"].replace("prepare.train_size=", "training images ")
        wins = t["a_below" if quantity in LOWER_IS_BETTER else "a_above"]
        detail = "; ".join(filter(None, [f"A better in {wins} of {t['n']} seeds", note]))
        out.append(row(part, a, b, quantity, f"{SOURCES[source]}, {t['n']} seeds"
                       + ("" if group == "all runs" else f", {group}"), value_a=t["mean_a"],
                       value_b=t["mean_b"], diff=t["diff"], ci_low=t["ci_low"], ci_high=t["ci_high"],
                       p_value=t["p_value"], test="paired t over seeds", detail=detail,
                       verdict=None if t["p_value"] is not None else t["verdict"]))
    return out


def ablation_rows(data: dict | None, part: str, quantity: str) -> list[dict]:
    """Each dropout / weight-decay setting against the runs with neither, paired by seed, per model."""
    if data is None:
        return [row(part, "with dropout / L2", "without", quantity, "ablation sweep",
                    verdict=NEEDS["ablation"])]
    runs, seed = runs_from_json(data), data["seed_param"]
    setting = {r.name: tuple(_number(r.params.get(k)) for k in ABLATION) for r in runs}
    match = {r.name: (r.params.get(seed), tuple(sorted((k, repr(v)) for k, v in r.params.items()
                                                         if k not in (*ABLATION, seed)))) for r in runs}
    none = [r for r in runs if setting[r.name] == (0.0, 0.0)]
    if not none or None in {x for s in setting.values() for x in s}:
        return [row(part, "with dropout / L2", "without", quantity, "ablation sweep",
                    detail=f"needs runs with {' = 0 and '.join(ABLATION)} = 0 and both params set")]
    out, models = [], ablation_models()
    for name in [m for m in models if any((m, quantity) in r.values for r in runs)]:
        for s in sorted(set(setting.values()) - {(0.0, 0.0)}):
            base = {match[r.name]: r.values.get((name, quantity)) for r in none}
            pairs = [(r.values.get((name, quantity)), base.get(match[r.name])) for r in runs
                     if setting[r.name] == s]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if not pairs:
                continue
            t = paired_difference(*zip(*pairs, strict=True))
            wins = t["a_below" if quantity in LOWER_IS_BETTER else "a_above"]
            out.append(row(part, f"{name}, dropout {s[0]:g}, weight decay {s[1]:g}", f"{name}, neither",
                           quantity, f"ablation sweep, {t['n']} seeds", value_a=t["mean_a"],
                           value_b=t["mean_b"], diff=t["diff"], ci_low=t["ci_low"], ci_high=t["ci_high"],
                           p_value=t["p_value"], test="paired t over seeds",
                           detail=f"A better in {wins} of {t['n']} seeds"))
    return out or [row(part, "with dropout / L2", "without", quantity, "ablation sweep",
                       detail=f"no {quantity} of {' or '.join(models)} paired by seed")]


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def robustness_rows(pairs: list[dict] | None, family: str, part: str,
                    path: str = ROBUSTNESS_CSV) -> list[dict]:
    """The Gabor SVM (A) against the pixel SVM (B) at each severity of ``family``, from the rows of
    the robustness CSV, which compare the pixel SVM (its ``a``) with the Gabor SVM (its ``b``)."""
    gabor, pixels = model("gabor_svm"), model("pixel_svm")
    if pairs is None:
        return [row(part, gabor, pixels, "accuracy", "single run",
                    verdict=NEEDS["robustness"].format(path=path))]
    clean = next((r for r in pairs if r["corruption"] == "clean"), None)
    out = []
    for r in (r for r in pairs if r["corruption"] == family):
        detail = "" if clean is None else (
            f"clean images: A - B = {-100 * clean['diff']:+.2f} points, so the gap changes by "
            f"{100 * (clean['diff'] - r['diff']):+.2f} points; {pixels} {100 * clean['accuracy_a']:.2f} % "
            f"clean -> {100 * r['accuracy_a']:.2f} %")
        n = f"{int(r['n']):,} test images" if r.get("n") else "the robustness test subset"
        out.append(row(part, gabor, pixels, "accuracy",
                       f"single run, {n}, {SEVERITY[family].format(r['severity'])}",
                       value_a=r["accuracy_b"], value_b=r["accuracy_a"], diff=-r["diff"], ci_low=-r["high"],
                       ci_high=-r["low"], p_value=r["p_value"], detail=detail,
                       test="exact McNemar, paired bootstrap interval"))
    return out or [row(part, gabor, pixels, "accuracy", "single run",
                       detail=f"{path} has no {family} rows")]


# -- the claims --------------------------------------------------------------------------------------

def evaluate_claims(compare=None, robustness=None, seeds=None, ablation=None, learning_curve=None,
                    alpha: float = 0.05, paths: dict | None = None) -> list[dict]:
    """Every claim with its judged evidence rows; a None input gives its rows a "needs" verdict.

    Parameters
    ----------
    compare : dict or None
        ``metrics/compare.json`` (:func:`mnistlab.evidence.compare.metrics_summary`).
    robustness : list of dict or None
        Rows of the robustness stage's paired-test CSV, numbers as floats.
    seeds, ablation, learning_curve : dict or None
        ``sweep.json`` of each sweep (:func:`mnistlab.evidence.sweep_report.sweep_json`).
    alpha : float
        Level of the verdicts (Holm-adjusted within each claim).
    paths : dict, optional
        ``compare``/``robustness`` -> the file names the "needs" verdicts give.

    Returns
    -------
    list of dict
        ``{key, title, statement, rows, notes}`` per claim, in order a..g; ``rows`` as :func:`row`.

    Raises
    ------
    MnistlabError
        If the model registry lacks a model of a claim (:data:`ROLES`, :func:`numpy_net`).
    """
    paths = paths or {}

    def single(part, a, b):
        return compare_rows(compare, part, a, b, paths.get("compare", "metrics/compare.json"))

    def seeded(part, a, b, quantity="accuracy"):
        return sweep_rows(seeds, "seeds", part, a, b, quantity)

    def accuracy(part, a, b):  # one run, the seeds, and each training-set size of the learning curve
        return single(part, a, b) + seeded(part, a, b) + sweep_rows(learning_curve, "learning_curve", part,
                                                                    a, b, "accuracy")

    # He against naive random initialisation, per optimizer: (label, He net, random net)
    mlps = [(label, numpy_net(opt, "he"), numpy_net(opt, "random")) for opt, label in OPTIMIZERS.items()]
    twin, twin_of = model("twin"), model("twin_of")
    parts = {key: [] for key in CLAIMS}
    parts["a"] = accuracy("Gabor SVM more accurate", model("gabor_svm"), model("pixel_svm"))
    for opt, he, rnd in mlps:
        for q in ("updates_to_5pct", "updates_to_3pct", "updates_to_2pct"):
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
    for part, q in (("raises test accuracy", "accuracy"), ("narrows the train/val gap", "train_val_gap"),
                    ("stops the validation loss rising", "val_loss_rise")):
        parts["f"] += ablation_rows(ablation, part, q)
    for family, part in (("rotation", "orientation (rotation)"), ("scale", "frequency (scale)")):
        parts["g"] += robustness_rows(robustness, family, f"robustness to {part}",
                                      paths.get("robustness", ROBUSTNESS_CSV))
    return [{"key": key, "title": title, "statement": statement, "rows": judge(parts[key], alpha),
             "notes": [note.format(spacing=_spacing(seeds))] if note else []}
            for key, (title, statement, note) in CLAIMS.items()]


CLAIMS = {  # key: (title, the claim as quoted, what a reader needs to weigh the evidence)
    "a": ("Gabor features vs raw pixels (SVM)", "Gabor features improve SVM accuracy over raw pixels.", ""),
    "b": ("He vs naive random initialisation", "He initialisation converges faster, gives a smoother loss "
          "curve and consistently outperforms naive random initialisation.",
          "Updates to an error are counted at the logged points{spacing}; a model that never gets "
          "there, when the other does, is counted at its last update."),
    "c": ("Adam vs SGD", "Adam gives a smooth, stable descent.",
          "Roughness is the mean absolute second difference of the validation loss over its logged "
          "points{spacing}; a curve sampled more densely has smaller second differences for the same "
          "trend, so it compares fairly only when both curves are sampled at the same numbers of "
          "images."),
    "d": ("The NumPy network vs its PyTorch twin", "The PyTorch version trains more stably and reaches a "
          "lower validation error than the NumPy version of the same network.", ""),
    "e": ("CNN, feed-forward network, logistic regression",
          "CNN beats the feed-forward net, which beats logistic regression.", ""),
    "f": ("Dropout and L2 regularisation", "Dropout and L2 regularisation prevent overfitting.",
          "Training accuracy is measured in training mode (dropout on, shifted images), so dropout narrows "
          "the measured gap by itself; the rise of the validation loss after its minimum does not depend "
          "on that."),
    "g": ("Gabor features and invariances (SVM)", "Raw-pixel SVMs struggled with invariances "
          "(rotation/scale); Gabor features added robustness to orientation and frequency.",
          "A is better than B under a corruption when the Gabor SVM wins on the corrupted images; added "
          "robustness in the narrow sense (a smaller drop from clean accuracy) shows as a gap larger than on "
          "clean images (the Notes column gives that change, untested)."),
}


def _spacing(seeds: dict | None) -> str:
    """How far apart the logged points are, from a sweep's params: ``mlp.log_every_images``, or
    the ``mlp.log_every`` updates of sweeps made before it (so a different number of images for
    SGD and Adam); ``""`` when the params do not say."""
    p = seeds["experiments"][0]["params"] if seeds and seeds.get("experiments") else {}
    images = _number(p.get("mlp.log_every_images"))
    if images:
        return f" (every {images:,.0f} training images, for both optimizers)"
    every, sgd, adam = (_number(p.get(f"mlp.{k}")) for k in ("log_every", "sgd.batch_size",
                                                             "adam.batch_size"))
    return (f" (every `mlp.log_every` = {every:,.0f} updates: {every * sgd:,.0f} images between SGD "
            f"points, {every * adam:,.0f} between Adam points)") if every and sgd and adam else ""


# -- writer and readers ----------------------------------------------------------------------------

def _value(quantity: str, value) -> str:
    return "n/a" if value is None else fmt(quantity, value) + (" %" if unit(quantity) == "points" else "")


def claims_markdown(claims: list[dict], sources: dict[str, tuple[str, bool]], alpha: float = 0.05) -> str:
    """The text of ``reports/claims.md``; ``sources``: input name -> (path, found)."""
    lines = ["# Claims from other MNIST projects, checked here", "",
             "Generated by `mnistlab claims` from the files below; do not edit by hand.", "",
             "Each claim is quoted as made by other MNIST projects this one is compared with. Every row "
             "compares A, the side the claim says is better, with B. Within a claim, Holm adjusts the "
             f"p-values of all its rows together. **supported**: Holm p < {alpha} with A better; "
             f"**contradicted**: Holm p < {alpha} with B better; **not supported**: no detectable "
             "difference (the interval of A - B says how large a difference the data allow); **not "
             "tested**: no test is possible (one seed, or the seed does not change either model); "
             "**needs ...**: the input is missing and the command that makes it is given.", "",
             *[f"- {name}: `{path}`{'' if ok else ' (missing)'}" for name, (path, ok) in sources.items()],
             "", "| Claim | Supported | Not supported | Contradicted | Other |", "|---|---|---|---|---|"]
    for c in claims:
        counts = [sum(r["verdict"] == v for r in c["rows"]) for v in VERDICTS[:3]]
        lines.append(f"| {c['key']}. {c['title']} | " + " | ".join(map(str, counts))
                     + f" | {len(c['rows']) - sum(counts)} |")
    for c in claims:
        lines += ["", f"## {c['key']}. {c['title']}", "", f"> \"{c['statement']}\"", "",
                  "Made by other MNIST projects this one is compared with.", ""]
        for part in dict.fromkeys(r["part"] for r in c["rows"]):
            mine = [r["verdict"] for r in c["rows"] if r["part"] == part]
            mine = [v.split(":")[0].split(" (")[0] for v in mine]  # "needs ..." without its command
            order = sorted(set(mine), key=lambda v: (VERDICTS + (v,)).index(v))
            lines.append(f"- **{part}**: " + ", ".join(f"{v} {mine.count(v)}" for v in order))
        lines += ["", "| Part | Measured | Evidence | A vs B | A / B | A - B [95 % CI] | Test | p | Holm p "
                  "| Verdict | Notes |", "|" + "---|" * 11]
        for r in c["rows"]:
            q = r["quantity"]
            diff = "n/a" if r["diff"] is None else (f"{fmt(q, r['diff'], True)} [{fmt(q, r['ci_low'], True)}"
                                                    f", {fmt(q, r['ci_high'], True)}] {unit(q)}")
            lines.append(f"| {r['part']} | {LABELS.get(q, q)} | {r['evidence']} | {r['a']} vs {r['b']} | "
                         f"{_value(q, r['value_a'])} / {_value(q, r['value_b'])} | {diff} | {r['test']} | "
                         f"{format_p(r['p_value'])} | {format_p(r['p_holm'])} | {r['verdict']} | "
                         f"{r['detail']} |")
        lines += [""] + [f"Note: {note}" for note in c["notes"]] if c["notes"] else []
    return "\n".join(lines) + "\n"


def write_claims_md(claims: list[dict], sources: dict[str, tuple[str, bool]], path: str | os.PathLike,
                    alpha: float = 0.05) -> None:
    """Write :func:`claims_markdown` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(claims_markdown(claims, sources, alpha))


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


def read_robustness_pairs(path: str | os.PathLike) -> list[dict] | None:
    """The robustness stage's paired-test CSV, numbers as floats; None when it does not exist.

    Returns
    -------
    list of dict or None
        One row per corruption and severity: ``corruption`` (text), ``severity, accuracy_a,
        accuracy_b, diff, low, high, p_value`` and any other column as float (None where empty).

    Raises
    ------
    MnistlabError
        One line naming the file: no rows, a missing column, sides other than the pixel SVM (``a``)
        against the Gabor SVM (``b``), or text in a number column.
    """
    if not Path(path).is_file():
        return None
    pixels, gabor = model("pixel_svm"), model("gabor_svm")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"corruption", "severity", "accuracy_a", "accuracy_b", "diff", "low", "high", "p_value"}
    sides = {(r.get("a", pixels), r.get("b", gabor)) for r in rows}
    if not rows or need - set(rows[0]) or sides != {(pixels, gabor)}:
        raise MnistlabError(f"{path}: expected {pixels} (a) against {gabor} (b) with the columns "
                            f"{', '.join(sorted(need))}")
    try:
        return [{k: v if k in ("corruption", "a", "b") else (float(v) if v not in ("", None) else None)
                 for k, v in r.items()} for r in rows]
    except ValueError as err:
        raise MnistlabError(f"{path}: a number column holds text ({err})") from None
