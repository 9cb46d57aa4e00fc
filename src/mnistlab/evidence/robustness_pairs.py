"""Paired tests of two models on the clean and corrupted test digits of the robustness stage.

Every model of :func:`mnistlab.evaluation.robustness.evaluate_robustness` saw the same corrupted
images, so two models can be compared image by image at each (corruption, severity): the exact
McNemar test and the paired bootstrap interval of :mod:`mnistlab.evidence.compare`. The rows of one
table are one family: each interval is at confidence ``1 - alpha / m`` over its ``m`` rows
(Bonferroni, :func:`mnistlab.evidence.hierarchical.family_alpha`), so a verdict read off an interval
(:func:`mnistlab.evidence.hierarchical.direction`) holds for the whole table; ``p_holm`` is Holm's
adjustment of McNemar's p over the same rows, for reference only. The pipeline's table compares
the two SVMs of :func:`svm_pair` (the same classifier on raw pixels and on Gabor features).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mnistlab.core.errors import MnistlabError
from mnistlab.evaluation.robustness import CLEAN, RobustnessResult
from mnistlab.evidence.compare import holm, mcnemar_exact, paired_bootstrap_diff
from mnistlab.evidence.hierarchical import family_alpha
from mnistlab.models.registry import select_one

#: Corruption families of the pipeline's paired table, besides the clean images.
PAIRED_FAMILIES = ("rotation", "scale")
#: Header of :func:`paired_tests`'s rows.
PAIRED_COLUMNS = ("corruption", "severity", "accuracy_a", "accuracy_b", "diff", "low", "high", "a_only",
                  "b_only", "p_value", "p_holm")


def svm_pair() -> tuple[str, str]:
    """Names of the registry's SVM on raw pixels (A) and SVM on Gabor features (B).

    Raises
    ------
    MnistlabError
        If the registry does not hold exactly one SVM with each of these ``features``.
    """
    return select_one(family="svm", features="pixels"), select_one(family="svm", features="gabor")


def paired_tests(
    result: RobustnessResult, model_a: str, model_b: str, families: Sequence[str] = PAIRED_FAMILIES,
    seed: int = 0, alpha: float = 0.05,
) -> list[dict]:
    """Paired comparison of ``model_a`` and ``model_b`` on the clean images and each severity of ``families``.

    Parameters
    ----------
    result : RobustnessResult
        Per-image correctness, bool (conditions, N) per model.
    model_a, model_b : str
        Two models of ``result``.
    families : sequence of str
        Corruption families whose severities get a row (the clean images always do).
    seed : int
        Seed of the paired bootstrap.
    alpha : float
        Family level: the ``m`` rows' intervals hold together with probability at least
        ``1 - alpha`` (each at ``1 - alpha / m``).

    Returns
    -------
    list of dict
        Rows with the keys :data:`PAIRED_COLUMNS`, in the order of ``result.conditions``:
        ``corruption``, ``severity``, ``accuracy_a``, ``accuracy_b``, ``diff`` (accuracy A - B) with
        its bootstrap interval ``low``, ``high`` at ``1 - alpha / m``, ``a_only`` and ``b_only``
        (images only A, only B gets right), ``p_value`` (exact McNemar, two-sided) and ``p_holm``
        (Holm-adjusted over the rows). Accuracies and differences are fractions rounded to 5 decimals.

    Raises
    ------
    MnistlabError
        If either model was not evaluated.
    """
    missing = [name for name in (model_a, model_b) if name not in result.correct]
    if missing:
        raise MnistlabError(f"paired test: model {missing[0]} was not evaluated (no trained model file)")
    chosen = [(i, name, severity) for i, (name, severity) in enumerate(result.conditions)
              if name in families or name == CLEAN[0]]
    level = family_alpha(alpha, len(chosen))
    resamples = max(2000, math.ceil(50 / level))  # >= 25 resamples in each tail of the interval
    rows = []
    for i, name, severity in chosen:
        a, b = result.correct[model_a][i], result.correct[model_b][i]
        test = mcnemar_exact(a, b)
        diff, low, high = paired_bootstrap_diff(a, b, seed=seed, n_resamples=resamples, confidence=1 - level)
        rows.append({"corruption": name, "severity": severity, "accuracy_a": round(float(a.mean()), 5),
                     "accuracy_b": round(float(b.mean()), 5), "diff": round(diff, 5), "low": round(low, 5),
                     "high": round(high, 5), "a_only": test["b"], "b_only": test["c"],
                     "p_value": test["p_value"]})
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows]), strict=True):
        row["p_holm"] = adjusted
    return rows
