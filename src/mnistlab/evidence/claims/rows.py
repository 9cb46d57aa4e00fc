"""Evidence rows and the family of a claim: one row per comparison, judged together.

:func:`row` makes one evidence row (A, the side the claim says is better, against B);
:func:`judge` tests the rows of one claim as one family, each interval at ``1 - alpha / m``
(Bonferroni), and reads each verdict off its interval. The rows of the single run
(:func:`compare_rows`, from ``metrics/compare.json``) and of the sweeps over seeds
(:func:`sweep_rows`, through :class:`Sweeps`) are made here; claim f's are in
:mod:`mnistlab.evidence.claims.ablation`, claim g's in :mod:`mnistlab.evidence.claims.robustness`.
"""

from __future__ import annotations

from collections.abc import Callable

from mnistlab.evidence.claims.roles import LOWER_IS_BETTER, NEEDS, SOURCES
from mnistlab.evidence.compare import mcnemar_counts
from mnistlab.evidence.hierarchical import direction, family_alpha, two_level_bootstrap
from mnistlab.evidence.sweep import METHODS, N_RESAMPLES, paired_tests, runs_from_json

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


# -- the single run and the sweeps -------------------------------------------------------------------

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
