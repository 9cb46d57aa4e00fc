"""Paired comparisons: Wilson, McNemar, bootstrap, Holm, Bonferroni and verdicts against hand-computed
cases; compare_models and its outputs on constructed predictions (one family: every interval at
1 - alpha/m, every verdict read off its interval); the compare stage end to end."""

import csv
import json
import runpy
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from support.paths import REPO

from mnistlab.core.io import write_probabilities
from mnistlab.evidence import compare
from mnistlab.evidence.compare import (
    accuracy_interval,
    compare_models,
    format_p,
    holm,
    mcnemar_counts,
    mcnemar_exact,
    model_family,
    paired_bootstrap_diff,
    signed,
    verdict,
)
from mnistlab.evidence.hierarchical import bonferroni, two_level_bootstrap
from mnistlab.reporting import evidence_figures


def test_wilson_interval_by_hand():
    # 8 of 10, z = 1.959964: centre (p + z^2/2n) / (1 + z^2/n) = 0.716740,
    # half width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n) = 0.226576
    low, high = accuracy_interval(8, 10)
    assert low == pytest.approx(0.490164, abs=2e-6)
    assert high == pytest.approx(0.943316, abs=2e-6)
    assert accuracy_interval(10, 10)[1] == pytest.approx(1.0)
    wide, narrow = accuracy_interval(8, 10, alpha=0.01), accuracy_interval(8, 10, alpha=0.2)
    assert wide[0] < low < narrow[0] and narrow[1] < high < wide[1]


def test_mcnemar_all_agree_gives_p_one():
    right = np.array([True, True, False, True])
    assert mcnemar_exact(right, right) == {"b": 0, "c": 0, "p_value": 1.0}


def test_mcnemar_all_disagree():
    a, b = np.ones(10, bool), np.zeros(10, bool)
    result = mcnemar_exact(a, b)
    assert (result["b"], result["c"]) == (10, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5**10)  # both tails of Binomial(10, 1/2) at 0 and 10
    swapped = mcnemar_exact(np.array([1, 1, 0, 0], bool), np.array([0, 0, 1, 1], bool))
    assert swapped == {"b": 2, "c": 2, "p_value": 1.0}


def test_mcnemar_known_table():
    # b = 10, c = 2 (plus 30 agreeing images): p = 2 * P(X <= 2), X ~ Binomial(12, 1/2)
    #   = 2 * (1 + 12 + 66) / 4096 = 158 / 4096
    a = np.array([True] * 10 + [False] * 2 + [True] * 20 + [False] * 10)
    b = np.array([False] * 10 + [True] * 2 + [True] * 20 + [False] * 10)
    result = mcnemar_exact(a, b)
    assert (result["b"], result["c"]) == (10, 2)
    assert result["p_value"] == pytest.approx(158 / 4096)


def test_bootstrap_degenerate_cases_give_a_point_interval():
    same = np.array([True, False, True, True])
    assert paired_bootstrap_diff(same, same, seed=0) == (0.0, 0.0, 0.0)
    assert paired_bootstrap_diff(np.ones(5, bool), np.zeros(5, bool), seed=0) == (1.0, 1.0, 1.0)


def test_bootstrap_matches_scipy_paired_and_is_reproducible():
    rng = np.random.default_rng(3)
    a, b = rng.random(500) < 0.9, rng.random(500) < 0.85
    diff, low, high = paired_bootstrap_diff(a, b, seed=7, n_resamples=1000)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert low < diff < high
    reference = stats.bootstrap(
        (a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis), paired=True,
        vectorized=True, n_resamples=1000, method="percentile", batch=compare._BATCH,
        random_state=np.random.default_rng(7)).confidence_interval
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert paired_bootstrap_diff(a, b, seed=7, n_resamples=1000) == (diff, low, high)


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.001, 0.007, "cnn is better"),
        (-0.007, -0.001, "fnn is better"),
        (-0.001, 0.005, "no detectable difference: the difference lies in [-0.10, +0.50] points"),
        (0.0, 0.0, "no detectable difference: the difference lies in [+0.00, +0.00] points"),
        # an interval that touches 0 finds no difference; one that excludes it always does: the verdict
        # is read off the interval (at the family's level), never off a p-value of another test
        (0.0, 0.007, "no detectable difference: the difference lies in [+0.00, +0.70] points"),
        (0.00002, 0.007, "cnn is better"),
    ],
)
def test_verdict_sentences(low, high, expected):
    assert verdict("cnn", "fnn", low, high) == expected


def test_verdict_of_a_quantity_where_lower_is_better_and_bounds_that_keep_their_side_of_zero():
    assert verdict("he", "random", -640.0, -20.0, "images", lower_is_better=True, scale=1, decimals=0) == (
        "he is better")
    assert verdict("he", "random", -640.0, 0.4, "images", lower_is_better=True, scale=1, decimals=0) == (
        "no detectable difference: the difference lies in [-640, +0.4] images")
    assert [signed(v) for v in (0.004, -0.0001, 0.0, -0.0, 12.345)] == ["+0.004", "-0.0001", "+0.00", "+0.00",
                                                                         "+12.35"]
    assert signed(-1685.2, 0, thousands=True) == "-1,685" and signed(float("nan")) == "n/a"


def test_mcnemar_from_counts_matches_the_exact_test():
    for b, c in [(10, 2), (117, 19), (27, 21), (0, 3), (0, 0)]:
        a_right = np.array([True] * b + [False] * c + [True] * 20)
        b_right = np.array([False] * b + [True] * c + [True] * 20)
        assert mcnemar_counts(b, c) == pytest.approx(mcnemar_exact(a_right, b_right)["p_value"])


def constructed(n: int = 400):
    """Labels and probabilities of four models: a strong CNN, a weaker FNN, two SVMs."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    accuracy = {"svm_pixels": 0.80, "svm_gabor": 0.85, "torch_fnn": 0.86, "torch_cnn": 0.97}
    proba = {}
    for name, acc in accuracy.items():
        right = rng.random(n) < acc
        pred = np.where(right, y, (y + 1 + rng.integers(0, 9, n)) % 10)
        proba[name] = np.eye(10, dtype=np.float32)[pred] * 0.9 + 0.01
    return y, proba


PAIRS = [
    {"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn"},
    {"question": "Gabor vs pixels", "a": "svm_gabor", "b": "svm_pixels"},
    {"question": "absent", "a": "torch_cnn", "b": "mlp_adam-he"},
    {"question": "best", "a": "best_neural", "b": "best_classic"},
]


def test_compare_models_on_constructed_predictions():
    y, proba = constructed()
    result = compare_models(y, proba, PAIRS, seed=0, n_resamples=500)
    assert list(result["models"]) == list(proba)
    cnn = result["models"]["torch_cnn"]
    assert cnn["accuracy"] == pytest.approx(np.mean(proba["torch_cnn"].argmax(1) == y))
    assert (cnn["ci_low"], cnn["ci_high"]) == pytest.approx(accuracy_interval(cnn["correct"], len(y)))
    assert [p["question"] for p in result["pairs"]] == ["CNN vs FNN", "Gabor vs pixels", "best"]
    assert result["skipped"] == [{"question": "absent", "a": "torch_cnn", "b": "mlp_adam-he",
                                  "reason": "no test predictions for mlp_adam-he"}]
    first = result["pairs"][0]
    right_a, right_b = proba["torch_cnn"].argmax(1) == y, proba["torch_fnn"].argmax(1) == y
    assert (first["a_only"], first["b_only"]) == (np.sum(right_a & ~right_b), np.sum(~right_a & right_b))
    assert first["diff"] == pytest.approx(first["accuracy_a"] - first["accuracy_b"])
    assert first["verdict"] == "torch_cnn is better"
    p_values = [p["p_value"] for p in result["pairs"]]
    # one family of m = 3 compared pairs: Bonferroni p, and every interval at 1 - alpha/3
    assert result["family_size"] == 3 and result["confidence"] == pytest.approx(1 - 0.05 / 3)
    assert [p["p_adjusted"] for p in result["pairs"]] == pytest.approx(bonferroni(p_values))
    assert [p["p_adjusted"] for p in result["pairs"]] == pytest.approx([min(1, 3 * p) for p in p_values])
    boot = two_level_bootstrap(first["a_only"], first["b_only"], len(y), 0, 500, 0.05 / 3)
    assert (first["ci_low"], first["ci_high"]) == (boot["low"], boot["high"])
    for pair in result["pairs"]:  # the verdict is read off the interval printed beside it
        decided = pair["ci_low"] > 0 or pair["ci_high"] < 0
        assert decided == pair["verdict"].endswith(" is better")
        assert decided != pair["verdict"].startswith("no detectable difference")
        assert pair["better"] == (1 if pair["ci_low"] > 0 else -1 if pair["ci_high"] < 0 else 0)
        assert pair["mcnemar_agrees"] == ((pair["p_adjusted"] < 0.05) == (pair["better"] != 0))
    best = result["pairs"][2]
    assert (best["a"], best["b"]) == ("torch_cnn", "svm_gabor")
    assert any(note.startswith("best_neural = torch_cnn") for note in result["notes"])


def test_families_come_from_the_registry_only():
    assert (model_family("svm_gabor"), model_family("mlp_adam-he"), model_family("torch_cnn")) == (
        "svm", "numpy", "torch")
    assert model_family("torch_resnet") is None and model_family("mlp_unknown") is None  # no prefix guess
    assert not hasattr(compare, "DEFAULT_PAIRS")  # the pairs live in params.yaml only
    y, proba = constructed()
    unknown = {**proba, "svm_other": proba["torch_cnn"]}  # the best accuracy, but not a registry model
    result = compare_models(y, unknown, PAIRS[3:], seed=0, n_resamples=100)
    assert (result["pairs"][0]["a"], result["pairs"][0]["b"]) == ("torch_cnn", "svm_gabor")


def test_format_p():
    assert [format_p(p) for p in (0.5, 0.034, 1e-4, 1.23e-5, 1e-50, None)] == [
        "0.5", "0.034", "0.0001", "1.2e-05", "1.0e-50", "n/a"]


def test_best_alias_without_a_family_is_skipped():
    y, proba = constructed()
    only_svm = {k: v for k, v in proba.items() if k.startswith("svm")}
    result = compare_models(y, only_svm, PAIRS[3:], seed=0)
    assert result["pairs"] == [] and result["skipped"][0]["reason"] == "no test predictions for best_neural"


def test_outputs(tmp_path):
    y, proba = constructed()
    result = compare_models(y, proba, PAIRS, seed=0, n_resamples=300)
    compare.write_comparisons_md(result, tmp_path / "comparisons.md")
    text = (tmp_path / "comparisons.md").read_text()
    assert "Generated by the `compare` stage" in text and "400 test images" in text
    assert "| CNN vs FNN | torch_cnn | torch_fnn |" in text and "torch_cnn is better" in text
    assert "Skipped \"absent\"" in text and "| svm_gabor |" in text
    compare.write_compare_rows(result, tmp_path / "compare.csv")
    with open(tmp_path / "compare.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["question", "diff", "ci_low", "ci_high", "verdict"]
    # a fraction: the forest template shows %
    assert float(rows[0]["diff"]) == pytest.approx(result["pairs"][0]["diff"], abs=1e-6)
    summary = compare.metrics_summary(result)
    assert summary["pairs"]["torch_cnn vs torch_fnn"]["better"] == 1
    json.dumps(summary)
    evidence_figures.plot_forest(result, tmp_path / "forest.png")
    with Image.open(tmp_path / "forest.png") as image:
        assert image.format == "PNG"


def run_stage(monkeypatch, tmp_path, proba_path):
    args = ["--params", str(REPO / "params.yaml"), "--proba", str(proba_path),
            "--metrics", str(tmp_path / "m.json"), "--plot", str(tmp_path / "p.csv"),
            "--figure", str(tmp_path / "f.png"), "--report", str(tmp_path / "r.md")]
    monkeypatch.setattr(sys, "argv", ["compare.py", *args])
    runpy.run_path(str(REPO / "stages" / "compare.py"), run_name="__main__")


def test_stage_end_to_end(tmp_path, monkeypatch):
    y, proba = constructed(200)
    write_probabilities(tmp_path / "proba.npz", y, proba)
    run_stage(monkeypatch, tmp_path, tmp_path / "proba.npz")
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n_images"] == 200 and "torch_cnn vs torch_fnn" in metrics["pairs"]
    assert (tmp_path / "r.md").is_file() and (tmp_path / "f.png").is_file() and (tmp_path / "p.csv").is_file()


def test_stage_rejects_mismatched_inputs(tmp_path, monkeypatch, capsys):
    y, proba = constructed(200)
    np.savez(tmp_path / "proba.npz", y=y[:150].astype(np.uint8), **proba)
    with pytest.raises(SystemExit) as exit_info:
        run_stage(monkeypatch, tmp_path, tmp_path / "proba.npz")
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "expected (150, 10)" in message and "\n" not in message
    assert not (tmp_path / "m.json").exists()
