"""reports/anchors.md: our test errors beside the published errors of the same methods."""

import gzip

import numpy as np
import pytest
import yaml
from support.paths import REPO

from mnistlab.data.benchmark import TEST_LABEL_SHA256, describe_test_set, identify_benchmark, labels_digest
from mnistlab.models.registry import MODELS
from mnistlab.reporting.anchors import (
    ANCHOR_TRAIN_IMAGES,
    ANCHORS,
    METHOD_TITLES,
    anchor_rows,
    anchors_markdown,
    write_anchors,
)


def leaderboard(errors: dict[str, float], n: int = 10_000) -> list[dict]:
    """Leaderboard rows (as mnistlab.reporting.report.leaderboard_rows) with made-up intervals."""
    return [{"model": name, "accuracy": 1 - e, "error_rate": e, "ci_low": 1 - e - 0.002,
             "ci_high": 1 - e + 0.001} for name, e in errors.items()]


def test_every_anchor_method_is_a_registry_attribute_and_back():
    methods = {spec.anchor for spec in MODELS.values() if spec.anchor}
    assert {anchor.method for anchor in ANCHORS} == methods == set(METHOD_TITLES)
    for method in methods:  # each method has a published MNIST figure
        assert any(a.method == method and a.benchmark == "mnist" for a in ANCHORS)
    for anchor in ANCHORS:
        assert 0 < anchor.error < 1 and anchor.train_images == ANCHOR_TRAIN_IMAGES and anchor.source
        assert anchor.benchmark in ("mnist", "fashion-mnist")


def test_the_published_figures_are_those_of_the_sources():
    """LeCun's MNIST table, Simard et al. 2003 and Xiao et al. 2017 (Table 3), as fractions."""
    figures = {(a.benchmark, a.published, a.conditions): a.error for a in ANCHORS}
    assert figures[("mnist", "SVM, Gaussian kernel", "none")] == 0.014
    assert figures[("mnist", "2-layer NN, 300 hidden units, mean square error", "none")] == 0.047
    assert figures[("mnist", "2-layer NN, 300 HU", "deskewing")] == 0.016
    assert figures[("mnist", "Convolutional net LeNet-5", "none (no distortions)")] == 0.0095
    assert figures[("mnist", "Convolutional net LeNet-5", "distortions (random affine)")] == 0.008
    assert figures[("mnist", "Virtual SVM, deg-9 poly, 2-pixel jittered", "deskewing")] == 0.0056
    assert figures[("mnist", "2-layer NN, 800 HU, cross-entropy", "none")] == 0.016
    assert figures[("mnist", "2-layer NN, 800 HU, cross-entropy", "elastic distortions")] == 0.007
    assert figures[("fashion-mnist", "SVC, C=10, kernel=rbf", "none")] == pytest.approx(1 - 0.897)
    assert figures[("fashion-mnist", "MLPClassifier, activation=relu, hidden_layer_sizes=[100, 10]",
                    "none")] == pytest.approx(1 - 0.870)


def test_the_official_test_sets_are_recognised_by_their_labels(monkeypatch):
    raw = REPO / "data" / "raw" / "t10k-labels-idx1-ubyte.gz"
    if raw.is_file():  # the committed run's download: the official MNIST test labels
        y = np.frombuffer(gzip.open(raw).read(), np.uint8, offset=8)
        if len(y) == 10_000:
            assert identify_benchmark(y, "data/mnist")[0] == "mnist"
    y = np.random.default_rng(0).integers(0, 10, 10_000)
    assert identify_benchmark(y, "some/folder")[0] is None
    monkeypatch.setitem(TEST_LABEL_SHA256, labels_digest(y), "fashion-mnist")
    benchmark, how = identify_benchmark(y, "/usr/share/datasets/fashion-mnist")
    assert benchmark == "fashion-mnist" and "official Fashion-MNIST test set" in how


def test_the_report_describes_the_official_test_set_or_a_part_of_it(monkeypatch):
    y = np.random.default_rng(1).integers(0, 10, 10_000)
    monkeypatch.setitem(TEST_LABEL_SHA256, labels_digest(y), "fashion-mnist")
    assert "official Fashion-MNIST test set (10,000 images" in describe_test_set(y, "fashion-mnist")
    assert "indicative only" in describe_test_set(y[:2000], "fashion-mnist")
    assert "names neither" in describe_test_set(y, None)


def test_a_named_source_with_another_test_set_is_indicative_only():
    y = np.arange(2000) % 10
    benchmark, how = identify_benchmark(y, "sample")
    assert benchmark == "mnist" and "indicative only" in how and "2,000" in how
    assert identify_benchmark(y, "fashion-mnist")[0] == "fashion-mnist"
    benchmark, how = identify_benchmark(y, "data/my-digits.csv")
    assert benchmark is None and "names neither" in how


def test_rows_match_models_to_anchors_by_attribute_not_name():
    errors = {"svm_gabor": 0.007, "torch_lenet5": 0.011, "torch_patchnet": 0.016}
    rows = anchor_rows(leaderboard(errors), "mnist")
    by_model = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row)
    assert set(by_model) == {"svm_gabor", "torch_lenet5"}  # the patch-embedding net has no anchor
    assert [r["published_error"] for r in by_model["torch_lenet5"]] == [0.0095, 0.008]
    lenet = by_model["torch_lenet5"][0]
    assert lenet["our_error"] == 0.011 and lenet["ci_low"] == pytest.approx(0.01)
    assert lenet["ci_high"] == pytest.approx(0.013)
    assert all(r["published_train_images"] == 60_000 and r["source"] for r in rows)
    fashion = anchor_rows(leaderboard({"svm_pixels": 0.11, "torch_lenet5": 0.1}), "fashion-mnist")
    assert {r["model"] for r in fashion} == {"svm_pixels"}  # no published LeNet-5 on Fashion-MNIST
    assert anchor_rows(leaderboard({"svm_pixels": 0.11}), None) == []


def test_the_markdown_says_the_training_sets_differ_and_gives_sources_and_intervals(tmp_path):
    errors = {name: 0.01 for name in MODELS}
    rows = leaderboard(errors)
    y = np.arange(10_000) % 10
    text = anchors_markdown(rows, y, "mnist", 17_721, 1_969, deskew=True)  # not the official labels
    assert "indicative only" in text
    assert "trained on 60,000 images" in text and "ours on **17,721**" in text
    assert "expected to be higher" in text and "preprocessing deskewing (`prepare.deskew`" in text
    for title in METHOD_TITLES.values():
        assert f"## {title}" in text
    assert "| published: Convolutional net LeNet-5 | 0.95 % | 60,000 |" in text
    assert "| ours: `torch_lenet5` (" in text and "1.00 % [0.90 %, 1.20 %] | 17,721 |" in text
    assert "LeCun et al. 1998, Proc. IEEE 86(11):2278-2324" in text and "Simard" in text
    assert "No published figure of the same method on this benchmark: `torch_patchnet`." in text
    full = anchors_markdown(rows, y, "mnist", 54_000, 6_000, deskew=False)
    assert "expected to be higher" not in full and "preprocessing none (`prepare.deskew`" in full
    path = write_anchors(tmp_path / "reports" / "anchors.md", rows, y, None, 100, 10, True)
    assert "No published figures apply" in path.read_text()


def test_the_report_stage_writes_it():
    report = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]
    assert "--anchors reports/anchors.md" in report["cmd"]
    assert any(isinstance(out, dict) and "reports/anchors.md" in out for out in report["outs"])
    # the benchmark and the deskewing: the prepare stage's record, a dependency
    assert "data/prepared/preprocessing.json" in report["deps"]
