"""Verdicts never contradict the interval printed beside them, in any generated report.

:func:`scan` reads every markdown table that has a verdict column and an interval column
(``[low, high]`` of A - B) and names each row whose verdict disagrees with its interval: a winner
named while the interval contains 0, "no detectable difference" while it excludes 0, the wrong side
named (A better with an interval below 0, or above 0 for a quantity where lower is better), or a
verdict that quotes another interval than the table's. It runs on every report under reports/
(``reports/*.md`` and ``reports/*/*.md``), on constructed tables with known answers, and on the
reports the generators write for constructed data.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from support.paths import REPO

from mnistlab.evidence.compare import compare_models, comparisons_markdown
from mnistlab.evidence.sweep import LOWER_IS_BETTER, Run, paired_tests, summarize, sweep_markdown

REPORTS = sorted([*REPO.glob("reports/*.md"), *REPO.glob("reports/*/*.md")])
#: Reports written by code that does not yet read its verdicts off intervals at its family's level.
PENDING: dict[str, str] = {}
BOUNDS = re.compile(r"\[(\S+), (\S+)\]")
QUOTED = re.compile(r"lies in \[(\S+), (\S+)\]")


def number(text: str) -> float | None:
    """A printed bound (``+0.15``, ``-28,941``, ``99.1 %``) as a float; None for ``n/a``."""
    text = text.strip().rstrip("%").replace(",", "").strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def tables(text: str):
    """``(header, rows)`` of every markdown table of ``text``; each row a list of cells."""
    lines = text.splitlines()
    i = 0
    while i < len(lines) - 1:
        if lines[i].lstrip().startswith("|") and re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", lines[i + 1]):
            header, body, i = cells(lines[i]), [], i + 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                body.append(cells(lines[i]))
                i += 1
            yield header, body
        else:
            i += 1


def claim(verdict: str) -> int | None:
    """What a verdict says: 1 a winner, 0 no detectable difference, None nothing to check."""
    v = verdict.lower()
    if not v or v.startswith(("not tested", "needs", "n/a")):
        return None
    if v.startswith("no detectable difference") or v == "not supported":
        return 0
    if v.endswith(" is better") or v in ("supported", "contradicted"):
        return 1
    return None


def scan(text: str) -> list[str]:
    """Every row of ``text`` whose verdict contradicts its interval, as ``"<row>: <why>"``."""
    problems = []
    for header, rows in tables(text):
        names = [h.lower() for h in header]
        if "verdict" not in names:
            continue
        verdict_at = names.index("verdict")
        interval_at = next((i for i, h in enumerate(header) if "CI" in h or "interval" in h.lower()
                            or h.startswith("A - B")), None)
        if interval_at is None:
            problems.append(f"table {header}: a verdict column but no interval column")
            continue
        quantity_at = names.index("quantity") if "quantity" in names else None
        a_at = names.index("a") if "a" in names else None
        for row in rows:
            if len(row) != len(header):
                problems.append(f"{row}: {len(row)} cells under a header of {len(header)}")
                continue
            verdict, says = row[verdict_at], claim(row[verdict_at])
            found = BOUNDS.search(row[interval_at])
            if says is None or not found:
                continue
            low, high = number(found.group(1)), number(found.group(2))
            if low is None or high is None:
                continue
            where = f"{' | '.join(row[:verdict_at])} | {verdict}"
            printed = f"[{found.group(1)}, {found.group(2)}]"
            if says == 1 and low <= 0 <= high:
                problems.append(f"{where}: a winner, yet {printed} contains 0")
            if says == 0 and (low > 0 or high < 0):
                problems.append(f"{where}: no difference, yet {printed} excludes 0")
            if says == 1 and a_at is not None and verdict.endswith(" is better"):
                a_wins = verdict.removesuffix(" is better") == row[a_at]
                lower = quantity_at is not None and row[quantity_at] in LOWER_IS_BETTER
                if (low > 0) != (high < 0) and ((low > 0) != lower) != a_wins:
                    problems.append(f"{where}: names the side the interval is against")
            quoted = QUOTED.search(verdict)
            if quoted and (number(quoted.group(1)), number(quoted.group(2))) != (low, high):
                problems.append(f"{where}: quotes [{quoted.group(1)}, {quoted.group(2)}], "
                                f"the table {printed}")
    return problems


def verdict_rows(text: str) -> int:
    """Rows with a verdict that :func:`scan` checks."""
    return sum(1 for header, rows in tables(text) if "Verdict" in header for row in rows
               if len(row) == len(header) and claim(row[header.index("Verdict")]) is not None)


# -- the reports under reports/ ----------------------------------------------------------------------

def test_there_are_reports_to_read():
    names = {p.relative_to(REPO).as_posix() for p in REPORTS}
    assert {"reports/comparisons.md", "reports/seeds/sweep.md"} <= names


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(reason=PENDING[p.relative_to(REPO).as_posix()], strict=True))
    if p.relative_to(REPO).as_posix() in PENDING else p
    for p in REPORTS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_report_has_a_verdict_against_its_interval(path: Path):
    text = path.read_text()
    problems = scan(text)
    assert not problems, f"{path.relative_to(REPO)}: {len(problems)} contradictions:\n" + "\n".join(problems)


# -- constructed tables with known answers ---------------------------------------------------------

SWEEP_TABLE = """\
| Group | Question | A | B | Quantity | n | A - B [99.8 % CI] | Verdict |
|---|---|---|---|---|---|---|---|
| all runs | q | he | random | accuracy | 5 | +0.30 [+0.12, +0.63] | he is better |
| all runs | q | he | random | accuracy | 5 | +0.30 [+0.12, +0.63] | no detectable difference: the difference lies in [+0.12, +0.63] points |
| all runs | q | he | random | images_to_5pct | 5 | -900 [-1,685, -115] | no detectable difference: the difference lies in [-1,685, -115] images |
| all runs | q | he | random | images_to_5pct | 5 | -900 [-1,685, +115] | he is better |
| all runs | q | he | random | images_to_5pct | 5 | -900 [-1,685, -115] | he is better |
| all runs | q | he | random | images_to_5pct | 5 | -900 [-1,685, -115] | random is better |
| all runs | q | he | random | accuracy | 5 | -0.30 [-0.63, -0.12] | he is better |
| all runs | q | he | random | accuracy | 5 | +0.00 [-0.10, +0.10] | no detectable difference: the difference lies in [-0.20, +0.10] points |
| all runs | q | he | random | accuracy | 5 | +0.00 [+0.00, +0.10] | no detectable difference: the difference lies in [+0.00, +0.10] points |
| all runs | q | he | random | accuracy | 1 | +0.30 (not tested) | not tested (n = 1) |
"""  # noqa: E501


def test_scan_finds_each_kind_of_contradiction_and_nothing_else():
    problems = scan(SWEEP_TABLE)
    assert len(problems) == 6, problems
    assert "no difference, yet [+0.12, +0.63] excludes 0" in problems[0]
    assert "no difference, yet [-1,685, -115] excludes 0" in problems[1]  # thousands separators
    assert "a winner, yet [-1,685, +115] contains 0" in problems[2]
    assert "random is better: names the side the interval is against" in problems[3]  # lower is better
    assert "| accuracy | 5 | -0.30 [-0.63, -0.12] | he is better: names the side the interval is against" in (
        problems[4])
    assert "quotes [-0.20, +0.10], the table [-0.10, +0.10]" in problems[5]
    assert verdict_rows(SWEEP_TABLE) == 9  # the not-tested row is not checked


def test_scan_reads_claims_tables_and_quoted_intervals():
    claims = """\
| Part | Evidence | A - B [95 % CI] | Holm p | Verdict | Notes |
|---|---|---|---|---|---|
| converges faster | seeds | -900 [-1,685, -115] updates | 0.27 | not supported | |
| converges faster | seeds | -60 [-128, +8] updates | 0.48 | not supported | |
| outperforms | seeds | +0.14 [-0.03, +0.30] points | 0.04 | supported | |
| gap | seeds | n/a | n/a | needs a sweep | |
"""
    problems = scan(claims)
    assert len(problems) == 2 and "[-1,685, -115] excludes 0" in problems[0] and "contains 0" in problems[1]
    quoted = SWEEP_TABLE.splitlines()[:2] + [SWEEP_TABLE.splitlines()[9]]
    assert scan("\n".join(quoted)) == [
        "all runs | q | he | random | accuracy | 5 | +0.00 [-0.10, +0.10] | no detectable difference: the "
        "difference lies in [-0.20, +0.10] points: quotes [-0.20, +0.10], the table [-0.10, +0.10]"]


def test_scan_ignores_tables_without_verdicts_and_flags_a_verdict_without_interval():
    assert scan("| Model | Accuracy | Interval |\n|---|---|---|\n| a | 99 % | [98, 99] % |\n") == []
    assert scan("| A | Verdict |\n|---|---|\n| x | x is better |\n")[0].endswith("no interval column")


# -- what the generators write -----------------------------------------------------------------------

def constructed_predictions(n: int = 2000):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, n)
    accuracy = {"svm_pixels": 0.85, "svm_gabor": 0.9, "torch_fnn": 0.91, "torch_cnn": 0.95,
                "mlp_adam-he": 0.9, "mlp_sgd-he": 0.905}
    proba = {}
    for name, acc in accuracy.items():
        right = rng.random(n) < acc
        pred = np.where(right, y, (y + 1 + rng.integers(0, 9, n)) % 10)
        proba[name] = np.eye(10)[pred] * 0.9 + 0.01
    return y, proba


def test_the_comparisons_report_agrees_with_its_intervals():
    y, proba = constructed_predictions()
    pairs = [{"question": f"q{i}", "a": a, "b": b} for i, (a, b) in enumerate(
        [("svm_gabor", "svm_pixels"), ("torch_cnn", "torch_fnn"), ("torch_cnn", "svm_pixels"),
         ("mlp_adam-he", "mlp_sgd-he"), ("torch_fnn", "svm_gabor"), ("best_neural", "best_classic")])]
    result = compare_models(y, proba, pairs, seed=0, n_resamples=4000)
    text = comparisons_markdown(result)
    assert scan(text) == [] and verdict_rows(text) == 6
    assert "m = 6 tests" in text and "1 - 0.05/6 = 99.17 %" in text and "[99.17 % CI]" in text
    verdicts = {r["verdict"].endswith("is better") for r in result["pairs"]}
    assert verdicts == {True, False}  # both kinds of verdict were checked


def test_the_sweep_report_agrees_with_its_intervals():
    rng = np.random.default_rng(2)
    runs = []
    for i in range(4):
        for size in (500.0, 5000.0):
            shift = 0.01 if size == 500 else 0.0
            runs.append(Run(f"r{i}-{size:g}", f"{i}", {"seed": float(i), "prepare.train_size": size},
                            {("mlp_sgd-he", "accuracy"): 0.95 + shift + rng.normal(0, 0.001),
                             ("mlp_sgd-random", "accuracy"): 0.95 + rng.normal(0, 0.001),
                             ("mlp_sgd-he", "images_to_3pct"): 40000 + rng.normal(0, 3000),
                             ("mlp_sgd-random", "images_to_3pct"): 60000 + rng.normal(0, 3000)}))
    comps = [{"question": "He vs random", "a": "mlp_sgd-he", "b": "mlp_sgd-random", "quantity": q}
             for q in ("accuracy", "images_to_3pct")]
    tests = paired_tests(runs, comps)
    text = sweep_markdown(runs, summarize(runs), tests, "seed")
    assert scan(text) == [] and verdict_rows(text) == 4
    assert "m = 4 tests" in text and "1 - 0.05/4 = 98.75 %" in text
    assert {t["verdict"].split(":")[0] for t in tests} >= {"mlp_sgd-he is better", "no detectable difference"}
