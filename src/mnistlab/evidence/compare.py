"""Evidence behind every comparison of two classifiers scored on the same test images.

For one model: the accuracy and its Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001).
For two models on the same images (Dietterich 1998, "Approximate statistical tests for comparing
supervised classification learning algorithms"):

- the exact McNemar test on the discordant images (``b``: A right and B wrong, ``c``: A wrong and
  B right), a two-sided binomial test of ``b`` against Binomial(b + c, 1/2);
- a paired percentile bootstrap interval of the accuracy difference A - B (Efron & Tibshirani 1993),
  drawn from the discordant counts (:func:`mnistlab.evidence.hierarchical.two_level_bootstrap`
  with one seed: resampling the images is a multinomial draw of ``b`` and ``c``);
- one family per report: the ``m`` pairs of ``compare.pairs``. Every interval is at confidence
  ``1 - alpha / m``, so the ``m`` intervals hold together with probability at least ``1 - alpha``
  (Bonferroni; simultaneous intervals, Dunn 1961), and McNemar's p is adjusted to the same level,
  ``min(1, m p)``;
- a verdict read off the interval (:func:`verdict`): a winner only when the whole interval lies on
  one side of 0. The bootstrap interval and McNemar's test can disagree at the margin; the interval
  decides, and the report names the pairs where they disagree.

Accuracies, differences and intervals are fractions of the test images (0.01 = 1 percentage
point) in the returned dicts; the markdown report and the CSV rows give them in points.
Every function here takes arrays; the only file writers are :func:`write_comparisons_md` and
:func:`write_compare_rows` (the forest plot is :func:`mnistlab.reporting.evidence_figures.plot_forest`).
Models are named by the caller (``compare.pairs`` in params.yaml) and classified by the model
registry (:mod:`mnistlab.models.registry`) only.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from mnistlab.core.io import atomic_path, write_csv
from mnistlab.evidence.hierarchical import bonferroni, direction, family_alpha, two_level_bootstrap
from mnistlab.models.registry import BEST_ALIASES, MODELS

BOOTSTRAP_METHOD = "percentile"
#: The family of the compare stage's report, as the report states it.
FAMILY = "the pairs of `compare.pairs` in params.yaml"
_BATCH = 250  # resamples drawn at once: 250 x n_images int64 indices, 20 MB at 10,000 images


def model_family(name: str) -> str | None:
    """``"svm"``, ``"numpy"`` or ``"torch"``: the family of ``name`` in the model registry; None for a
    name the registry does not know."""
    model = MODELS.get(name)
    return None if model is None else model.family


def accuracy_interval(correct: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of an accuracy ``correct / n``.

    Parameters
    ----------
    correct, n : int
        Correctly classified and total test images, ``0 <= correct <= n``, ``n >= 1``.
    alpha : float
        One minus the coverage (0.05: a 95 % interval).

    Returns
    -------
    (low, high) : tuple of float
        Bounds in [0, 1] (``statsmodels.stats.proportion.proportion_confint(method="wilson")``).
    """
    low, high = proportion_confint(int(correct), int(n), alpha=alpha, method="wilson")
    return float(low), float(high)


def discordant_counts(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """``(b, c)``: images that A gets right and B wrong, and images that A gets wrong and B right."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two boolean vectors of one length, got shapes {a.shape} and {b.shape}")
    return int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """Exact (binomial) McNemar test of two classifiers on the same images.

    Parameters
    ----------
    correct_a, correct_b : ndarray of bool, shape (n_images,)
        Whether each model classified each test image correctly.

    Returns
    -------
    dict
        ``b`` (A right, B wrong), ``c`` (A wrong, B right) and the two-sided ``p_value`` of
        ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``; 1.0 when the
        models never disagree (``b = c = 0``: no evidence either way).
    """
    b, c = discordant_counts(correct_a, correct_b)
    if b + c == 0:
        return {"b": 0, "c": 0, "p_value": 1.0}
    both = int(np.count_nonzero(np.asarray(correct_a, bool) & np.asarray(correct_b, bool)))
    table = [[both, b], [c, len(correct_a) - both - b - c]]
    p_value = float(mcnemar(table, exact=True).pvalue)
    return {"b": b, "c": c, "p_value": min(p_value, 1.0)}


def mcnemar_counts(b: int, c: int) -> float:
    """Two-sided exact McNemar p from the discordant counts alone: ``min(1, 2 P(X <= min(b, c)))``,
    ``X ~ Binomial(b + c, 1/2)``, as :func:`mcnemar_exact` (statsmodels) computes it; 1.0 when
    ``b = c = 0``."""
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(b, c), b + c, 0.5)))


def paired_bootstrap_diff(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    seed: int,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Accuracy difference A - B and its paired percentile bootstrap interval.

    Each resample draws ``n_images`` test images with replacement and keeps both models' results
    on every drawn image (a paired bootstrap). Because the statistic ``mean(a) - mean(b)`` equals
    ``mean(a - b)``, it is computed as ``scipy.stats.bootstrap`` of the per-image differences
    ``d = a - b`` in {-1, 0, 1}: the same resamples and the same interval as
    ``scipy.stats.bootstrap((a, b), ..., paired=True)`` with one gather instead of two.

    The percentile method is used rather than BCa: the statistic is a mean of bounded values over
    thousands of images, so its bootstrap distribution is close to symmetric and BCa's bias and
    skewness corrections are negligible, while BCa's jackknife costs ``n_images`` further
    evaluations per pair (several seconds at 10,000 images).

    Parameters
    ----------
    correct_a, correct_b : ndarray of bool, shape (n_images,)
        Whether each model classified each test image correctly.
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the resamples.
    n_resamples : int
        Bootstrap resamples; at 2,000 the Monte Carlo error of the 2.5 % and 97.5 % quantiles
        is about 0.01 points for 10,000 images.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    (diff, low, high) : tuple of float
        In accuracy units (fractions). When the models never disagree the bootstrap distribution
        is a single point and the interval is ``[diff, diff]`` (scipy would warn and return nan
        for BCa).
    """
    a = np.asarray(correct_a, dtype=np.int8)
    b = np.asarray(correct_b, dtype=np.int8)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"expected two non-empty vectors of one length, got shapes {a.shape} and {b.shape}")
    d = a - b
    diff = float(d.mean())
    if np.all(d == d[0]):
        return diff, diff, diff
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (d,), np.mean, vectorized=True, n_resamples=n_resamples, confidence_level=confidence,
            method=BOOTSTRAP_METHOD, random_state=np.random.default_rng(seed), batch=_BATCH,
        )
    low, high = (float(v) for v in result.confidence_interval)
    if not (np.isfinite(low) and np.isfinite(high)):
        return diff, diff, diff
    return diff, low, high


def holm(p_values) -> list[float]:
    """Holm-adjusted p-values (``statsmodels.stats.multitest.multipletests(method="holm")``), same order."""
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return []
    return [float(v) for v in multipletests(p, method="holm")[1]]


def verdict(name_a: str, name_b: str, low: float, high: float, unit: str = "points",
            lower_is_better: bool = False, scale: float = 100.0, decimals: int = 2) -> str:
    """One sentence read off the interval ``[low, high]`` of A - B
    (:func:`~mnistlab.evidence.hierarchical.direction`).

    ``"<A> is better"`` when the whole interval lies above 0 (below 0 when ``lower_is_better``),
    ``"<B> is better"`` when it lies on the other side, else ``"no detectable difference: the
    difference lies in [low, high] <unit>"`` with the bounds times ``scale`` (100: fractions as
    percentage points) written by :func:`signed`. The interval must be at the level the report's
    family uses, so that the verdict and the interval beside it cannot disagree.
    """
    side = direction(low, high, lower_is_better)
    if side:
        return f"{name_a if side > 0 else name_b} is better"
    return (f"no detectable difference: the difference lies in [{signed(scale * low, decimals)}, "
            f"{signed(scale * high, decimals)}] {unit}").rstrip()


def signed(value: float, decimals: int = 2, thousands: bool = False) -> str:
    """``value`` with its sign, to ``decimals`` places, with more places (up to 6, then 2 significant
    digits in e-notation) when it would otherwise round to 0: a printed bound never hides which
    side of 0 it lies on. ``thousands``: a comma between thousands."""
    if value is None or not math.isfinite(value):
        return "n/a"
    comma = "," if thousands else ""
    value = 0.0 if value == 0 else value  # no "-0.00"
    for places in range(decimals, 7):
        text = f"{value:+{comma}.{places}f}"
        if value == 0 or float(text.replace(",", "")) != 0:
            return text
    return f"{value:+.1e}"


def resolve_best(names_accuracy: dict[str, float], alias: str) -> str | None:
    """The model with the highest accuracy among the families of ``alias`` (first in order on ties)."""
    families = BEST_ALIASES[alias]
    candidates = [name for name in names_accuracy if model_family(name) in families]
    return max(candidates, key=lambda name: names_accuracy[name], default=None)


def compare_models(
    y_true: np.ndarray,
    proba: dict[str, np.ndarray],
    pairs: list[dict],
    seed: int = 0,
    alpha: float = 0.05,
    n_resamples: int = 2000,
) -> dict:
    """Per-model accuracies with Wilson intervals and the paired comparisons of ``pairs``.

    Parameters
    ----------
    y_true : ndarray of int, shape (n_images,)
        Test labels 0..9.
    proba : dict of str to ndarray of shape (n_images, 10)
        Each model's class probabilities (or scores: only the argmax is used), in report order.
    pairs : list of dict
        ``{"question", "a", "b"}`` (``compare.pairs`` in params.yaml); ``a``/``b`` name models or
        an alias of :data:`mnistlab.models.registry.BEST_ALIASES` (``best_neural``: the numpy and
        torch families, ``best_classic``: svm), resolved by test accuracy.
    seed : int
        Bootstrap seed, the same for every pair so a pair's interval depends on the others only
        through the family size.
    alpha : float
        Family level: the ``m`` compared pairs' intervals hold together with probability at least
        ``1 - alpha`` (each at ``1 - alpha / m``); also the level of the Wilson intervals.
    n_resamples : int
        Bootstrap resamples per pair (the cost does not grow with the number of images; the tails
        of a ``1 - alpha / m`` interval hold ``n_resamples * alpha / (2 m)`` resamples each).

    Returns
    -------
    dict
        ``n_images``, ``seed``, ``alpha``, ``n_resamples``, ``bootstrap_method``, ``family``
        (what the family is), ``family_size`` (m, the compared pairs), ``confidence``
        (``1 - alpha / m``, each interval's);
        ``models``: name -> ``{accuracy, ci_low, ci_high, correct, n}``;
        ``pairs``: one dict per compared pair, ``question, a, b, accuracy_a, accuracy_b, diff,
        ci_low, ci_high, a_only, b_only, p_value, p_adjusted, better, mcnemar_agrees, verdict``,
        where ``a_only`` and ``b_only`` are McNemar's discordant counts b and c (images only A,
        only B gets right), ``p_adjusted`` is Bonferroni's ``min(1, m p)``, ``better`` is 1 / -1 / 0
        as read off the interval (A, B, neither), and ``mcnemar_agrees`` whether McNemar at the
        same level (``p_adjusted < alpha``) finds a difference exactly when the interval does;
        ``skipped``: ``{question, a, b, reason}`` for pairs naming an absent model;
        ``notes``: how each alias was resolved.
    """
    y_true = np.asarray(y_true)
    n = int(y_true.shape[0])
    correct = {name: np.asarray(p).argmax(axis=1) == y_true for name, p in proba.items()}
    models = {}
    for name, right in correct.items():
        k = int(right.sum())
        low, high = accuracy_interval(k, n, alpha)
        models[name] = {"accuracy": k / n, "ci_low": low, "ci_high": high, "correct": k, "n": n}

    accuracy = {name: m["accuracy"] for name, m in models.items()}
    notes, skipped, rows = [], [], []
    for alias, families in BEST_ALIASES.items():
        if any(alias in (pair["a"], pair["b"]) for pair in pairs):
            best = resolve_best(accuracy, alias)
            if best is not None:
                notes.append(f"{alias} = {best} (highest test accuracy among the {'/'.join(families)} "
                             "models; chosen on this test set, so its comparison is optimistic)")
    for pair in pairs:
        question, names = pair["question"], [pair["a"], pair["b"]]
        resolved = [resolve_best(accuracy, x) if x in BEST_ALIASES else x for x in names]
        missing = [want for want, got in zip(names, resolved, strict=True) if got not in correct]
        if missing:
            skipped.append({"question": question, "a": names[0], "b": names[1],
                            "reason": f"no test predictions for {', '.join(missing)}"})
            continue
        a, b = resolved
        if a == b:
            skipped.append({"question": question, "a": names[0], "b": names[1],
                            "reason": f"both sides are {a}"})
            continue
        test = mcnemar_exact(correct[a], correct[b])
        rows.append({"question": question, "a": a, "b": b, "accuracy_a": accuracy[a],
                     "accuracy_b": accuracy[b], "a_only": test["b"], "b_only": test["c"],
                     "p_value": test["p_value"]})
    m = len(rows)
    level = family_alpha(alpha, m)
    for row, p_adjusted in zip(rows, bonferroni(row["p_value"] for row in rows), strict=True):
        boot = two_level_bootstrap(row["a_only"], row["b_only"], n, seed, n_resamples, level)
        row.update(diff=boot["diff"], ci_low=boot["low"], ci_high=boot["high"], p_adjusted=p_adjusted)
        row["better"] = direction(row["ci_low"], row["ci_high"])
        row["mcnemar_agrees"] = (p_adjusted < alpha) == (row["better"] != 0)
        row["verdict"] = verdict(row["a"], row["b"], row["ci_low"], row["ci_high"])
    return {"n_images": n, "seed": seed, "alpha": alpha, "n_resamples": n_resamples,
            "bootstrap_method": BOOTSTRAP_METHOD, "family": FAMILY, "family_size": m,
            "confidence": 1 - level, "models": models, "pairs": rows, "skipped": skipped, "notes": notes}


# -- outputs ---------------------------------------------------------------------------------------

def _points(x: float) -> str:
    return signed(100 * x)


def format_p(p: float | None) -> str:
    """A p-value for a table: two significant digits (``0.034``), ``1.2e-05`` below 1e-4, ``n/a``
    for None (no test)."""
    if p is None:
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def format_level(confidence: float) -> str:
    """A confidence as a percentage with the digits it needs: 0.95 -> ``95``, 0.99375 -> ``99.375``,
    1 - 0.05/23 -> ``99.78``."""
    percent = 100 * confidence
    for places in range(0, 4):
        text = f"{percent:.{places}f}"
        if abs(float(text) - percent) < 1e-9 or places == 3 or (places >= 2 and float(text) < 100):
            return text
    return f"{percent:.3f}"


def family_sentence(m: int, alpha: float, questions: str) -> str:
    """The sentence of a report that declares its family: its questions, its size ``m`` and the
    level of each interval."""
    if m == 0:
        return f"Family: {questions}; no test, so no interval."
    level = format_level(1 - family_alpha(alpha, m))
    if m == 1:
        return (f"Family: {questions}, m = 1 test; its interval is at {level} %, and the verdict is read "
                "off it.")
    return (f"Family: {questions}, m = {m} tests. Each interval is at 1 - {alpha:g}/{m} = {level} % "
            f"(Bonferroni; simultaneous intervals, Dunn 1961), so all {m} hold together with "
            f"probability at least {format_level(1 - alpha)} %; each verdict is read off its interval: "
            "A (or B) is better when the whole interval of A - B lies on its side of 0, otherwise there "
            "is no detectable difference.")


def comparisons_markdown(result: dict) -> str:
    """The text of ``reports/comparisons.md`` for a :func:`compare_models` result."""
    m, alpha = result.get("family_size", len(result["pairs"])), result["alpha"]
    level = format_level(result.get("confidence", 1 - family_alpha(alpha, m)))
    lines = [
        "# Model comparisons on the test set",
        "",
        "Generated by the `compare` stage (`stages/compare.py`, `mnistlab.evidence.compare`); "
        "do not edit by hand.",
        "",
        family_sentence(m, alpha, f"{result.get('family', FAMILY)} (the rows of the table below)"),
        "",
        f"All models are scored on the same {result['n_images']:,} test images, by one training run "
        f"each. For each pair, the difference A - B of accuracies is given in percentage points with "
        f"a paired {result['bootstrap_method']} bootstrap interval of the test images at {level} % "
        f"({result['n_resamples']:,} resamples, seed {result['seed']}); b counts the images only A gets "
        "right, c those only B gets right; p is the exact McNemar test on b and c (Dietterich 1998) "
        f"and Bonferroni p = min(1, {m} p) the same test at the family's level. The verdict follows "
        "the interval; the bootstrap and McNemar's test can disagree at the margin, and where they do "
        "the interval decides (such rows are listed below the table). These intervals see test-set "
        "sampling only: whether a difference survives training randomness is for the seed sweep "
        "(reports/seeds/sweep.md) to say, and where the two disagree the sweep is the one to follow.",
        "",
        f"| Question | A | B | Accuracy A | Accuracy B | A - B, points [{level} % CI] | b / c | p "
        "| Bonferroni p | Verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["pairs"]:
        lines.append(
            f"| {r['question']} | {r['a']} | {r['b']} | {100 * r['accuracy_a']:.2f} % | "
            f"{100 * r['accuracy_b']:.2f} % | {_points(r['diff'])} [{_points(r['ci_low'])}, "
            f"{_points(r['ci_high'])}] | {r['a_only']} / {r['b_only']} | {format_p(r['p_value'])} | "
            f"{format_p(r['p_adjusted'])} | {r['verdict']} |"
        )
    disagree = [f"{r['question']} ({r['a']} vs {r['b']}): McNemar's Bonferroni p = "
                f"{format_p(r['p_adjusted'])} {'<' if r['p_adjusted'] < alpha else '>='} {alpha:g} while the "
                f"interval {'excludes' if r['better'] else 'contains'} 0; the interval decides."
                for r in result["pairs"] if not r.get("mcnemar_agrees", True)]
    skipped = [f"Skipped \"{s['question']}\" ({s['a']} vs {s['b']}): {s['reason']}."
               for s in result["skipped"]]
    notes = disagree + result["notes"] + skipped
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    wilson = format_level(1 - alpha)
    lines += [
        "",
        f"## Test accuracy of each model [Wilson {wilson} % interval]",
        "",
        "Each model's own interval, not part of the family above.",
        "",
        "| Model | Accuracy | Interval | Correct / images |",
        "|---|---|---|---|",
    ]
    for name, m_ in result["models"].items():
        lines.append(f"| {name} | {100 * m_['accuracy']:.2f} % | [{100 * m_['ci_low']:.2f}, "
                     f"{100 * m_['ci_high']:.2f}] % | {m_['correct']:,} / {m_['n']:,} |")
    return "\n".join(lines) + "\n"


def write_comparisons_md(result: dict, path: str | os.PathLike) -> None:
    """Write :func:`comparisons_markdown` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(comparisons_markdown(result))


def metrics_summary(result: dict) -> dict:
    """The numbers of a :func:`compare_models` result as nested dicts, for ``metrics/compare.json``.

    Pairs are keyed ``"<a> vs <b>"`` and the long texts (questions, verdicts, notes) left out, so
    ``dvc metrics show`` and ``dvc exp show`` get one numeric column per value: ``diff, ci_low,
    ci_high`` (the interval at the family level ``confidence``), ``a_only, b_only`` (McNemar's b
    and c), ``p_value`` (exact McNemar), ``p_adjusted`` (Bonferroni over the ``family_size``
    pairs) and ``better``: 1 when the interval says A wins, -1 when it says B wins, 0 otherwise.
    """
    pairs = {}
    for r in result["pairs"]:
        pairs[f"{r['a']} vs {r['b']}"] = {
            **{key: r[key] for key in ("diff", "ci_low", "ci_high", "a_only", "b_only", "p_value",
                                       "p_adjusted")},
            "better": int(r["better"]),
        }
    models = {name: {key: m[key] for key in ("accuracy", "ci_low", "ci_high")}
              for name, m in result["models"].items()}
    return {"n_images": result["n_images"], "alpha": result["alpha"], "family_size": result["family_size"],
            "confidence": result["confidence"], "n_resamples": result["n_resamples"],
            "bootstrap_seed": result["seed"], "models": models, "pairs": pairs}


def compare_rows(result: dict) -> list[dict]:
    """Rows ``{question, diff, ci_low, ci_high, verdict}`` for the ``forest`` plot template: the
    accuracy difference A - B and its interval (at the family level) as fractions (the template
    shows signed %)."""
    return [{"question": r["question"], "diff": round(r["diff"], 6), "ci_low": round(r["ci_low"], 6),
             "ci_high": round(r["ci_high"], 6), "verdict": r["verdict"]} for r in result["pairs"]]


def write_compare_rows(result: dict, path: str | os.PathLike) -> None:
    """Write :func:`compare_rows` as CSV to ``path`` (``plots/compare.csv``)."""
    write_csv(path, compare_rows(result))
