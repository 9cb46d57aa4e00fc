"""The report: tables (leaderboard, SVM gain), every figure writes a non-empty PNG, the stage end to end."""

import csv
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from support.paths import REPO

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import Split, read_split, write_json, write_probabilities
from mnistlab.core.params import load_params
from mnistlab.evaluation.calibration import expected_calibration_error, reliability_bins
from mnistlab.evaluation.evaluate import score
from mnistlab.evidence.compare import compare_models, metrics_summary
from mnistlab.features.gabor import make_bank
from mnistlab.models.registry import MODELS, load_model
from mnistlab.models.torch_models.models import build_model, default_sizes
from mnistlab.models.torch_models.predictor import TorchPredictor, save_torch
from mnistlab.nn.model import build_mlp
from mnistlab.reporting import figures, plots, representations
from mnistlab.reporting.figures import comparison_lines
from mnistlab.reporting.palette import model_marker
from mnistlab.reporting.report import (
    CNN_MODEL,
    FIGURES,
    LEADERBOARD_COLUMNS,
    SVM_GAIN_COLUMNS,
    SVM_PAIR,
    TWIN_MODEL,
    ReportInputs,
    batch_sizes,
    best_model,
    embedding_2d,
    embedding_sample,
    images_seen,
    label_count_table,
    leaderboard_rows,
    svm_gain_intervals,
    svm_gain_rows,
    write_report,
)


def synthetic(n: int = 120, seed: int = 0):
    """Images (n, 28, 28) float32 with a bright block whose position depends on the label, labels, proba."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.random((n, 28, 28), dtype=np.float32) * 0.2
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 6 + 2 * label, 8:20] = 1.0
    proba = rng.dirichlet(np.ones(10), size=n)
    proba[np.arange(n), labels] += np.where(rng.random(n) < 0.8, 2.0, 0.0)  # about 80 % right
    return images, labels, proba / proba.sum(axis=1, keepdims=True)


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000, path
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# -- figures of mnistlab.reporting.plots ---------------------------------------------------------------

def test_image_figures(tmp_path):
    images, labels, proba = synthetic()
    plots.plot_samples_per_class(images, labels, tmp_path / "samples.png", per_class=5)
    plots.plot_misclassified(images, labels, proba, tmp_path / "wrong.png", n=12)
    plots.plot_predictions(images, labels, proba, tmp_path / "grid.png", n=12, seed=1)
    for name in ("samples", "wrong", "grid"):
        assert_png(tmp_path / f"{name}.png")


def test_gallery_without_errors_still_draws(tmp_path):
    images, labels, _ = synthetic(20)
    perfect = np.eye(10)[labels]
    plots.plot_misclassified(images, labels, perfect, tmp_path / "none.png")
    assert_png(tmp_path / "none.png")


def test_label_distribution_and_confusion(tmp_path):
    counts = {"train": np.arange(10) + 50, "val": np.full(10, 5), "test": np.arange(10)[::-1] + 10}
    plots.plot_label_distribution(counts, tmp_path / "labels.png")
    _, labels, proba = synthetic()
    figures.plot_confusion_matrix(labels, proba.argmax(axis=1), tmp_path / "confusion.png", title="m")
    assert_png(tmp_path / "labels.png")
    assert_png(tmp_path / "confusion.png")


def test_confusion_counts():
    counts = plots.confusion_counts(np.array([0, 0, 1, 9]), np.array([0, 1, 1, 9]))
    assert counts.shape == (10, 10) and counts[0, 0] == 1 and counts[0, 1] == 1 and counts.trace() == 3


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embeddings_separate_classes(tmp_path, method):
    rng = np.random.default_rng(0)
    labels = np.arange(100) % 10
    features = np.eye(10)[labels] * 5 + rng.normal(0, 0.3, (100, 10))  # ten well-separated clusters
    points, axis_labels = embedding_2d(features, method, seed=0)
    assert points.shape == (100, 2) and len(axis_labels) == 2
    centres = np.stack([points[labels == d].mean(axis=0) for d in range(10)])
    spread = np.mean([np.linalg.norm(points[labels == d] - centres[d], axis=1).mean() for d in range(10)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[~np.eye(10, dtype=bool)]
    if method == "tsne":  # PCA's first two components cannot separate ten orthogonal clusters
        assert np.median(gaps) > 2 * spread
    figures.plot_embedding(points, labels, tmp_path / f"{method}.png", title=method, axis_labels=axis_labels)
    assert_png(tmp_path / f"{method}.png")


def test_embedding_sample_is_seeded_and_bounded():
    assert np.array_equal(embedding_sample(1000, 50, 3), embedding_sample(1000, 50, 3))
    assert len(embedding_sample(30, 50, 0)) == 30


def test_best_model():
    metrics = {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.95}, "c": {"accuracy": 0.99}}
    assert best_model(metrics, {"a", "b"}) == "b"
    with pytest.raises(MnistlabError):
        best_model(metrics, set())


def test_label_counts_come_from_the_splits(prepared_dir):
    splits = {name: read_split(prepared_dir / f"{name}.npz") for name in ("train", "val", "test")}
    counts = label_count_table(splits)
    assert list(counts) == ["train", "val", "test"]
    for name, split in splits.items():
        assert counts[name].shape == (10,) and counts[name].sum() == len(split.y)
        assert np.array_equal(counts[name], np.bincount(split.y, minlength=10))


# -- tables --------------------------------------------------------------------------------------------

def test_leaderboard_rows_are_sorted_with_intervals_around_the_accuracy():
    y = np.arange(400) % 10
    onehot = np.eye(10)[y]
    wrong = np.eye(10)[(y + 1) % 10]
    proba = {"svm_pixels": np.where((np.arange(400) < 40)[:, None], wrong, onehot),  # 90 %
             "torch_cnn": np.where((np.arange(400) < 4)[:, None], wrong, onehot),  # 99 %
             "mlp_adam-he": np.where((np.arange(400) < 40)[:, None], wrong, onehot),  # 90 %, after svm_pixels
             "torch_fnn": onehot}  # not in metrics/test.json: left out
    metrics = {name: {"accuracy": 0.0, "ece": 0.01, "macro_f1": 0.9, "log_loss": 0.3}
               for name in ("svm_pixels", "torch_cnn", "mlp_adam-he")}
    speed = {"torch_cnn": {"n_params": 206922, "predict_images_per_second": 5000.0}}
    rows = leaderboard_rows(y, proba, metrics, speed, {"svm_pixels": {"train_seconds": 2.5}},
                            {"torch_cnn": {"mean_corruption_accuracy": 0.8}})
    assert [r["model"] for r in rows] == ["torch_cnn", "svm_pixels", "mlp_adam-he"]
    assert all(tuple(r) == LEADERBOARD_COLUMNS for r in rows)
    accuracies = [r["accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True) and accuracies[0] == 0.99
    for r in rows:
        assert r["ci_low"] < r["accuracy"] < r["ci_high"] <= 1
        assert r["error_rate"] == pytest.approx(1 - r["accuracy"])
    cnn, svm = rows[0], rows[1]
    assert (cnn["family"], cnn["title"]) == ("torch", "PyTorch CNN")
    assert (cnn["n_params"], cnn["mean_corruption_accuracy"], cnn["train_seconds"]) == (206922, 0.8, None)
    assert (svm["train_seconds"], svm["mean_corruption_accuracy"], svm["ece"]) == (2.5, None, 0.01)
    # Wilson 95 % for 396 / 400 by its formula: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    p, n, z = 0.99, 400, 1.959964
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = ((p + z**2 / (2 * n) + sign * half) / (1 + z**2 / n) for sign in (-1, 1))
    assert cnn["ci_low"] == pytest.approx(low, abs=2e-6) and cnn["ci_high"] == pytest.approx(high, abs=2e-6)


def test_svm_gain_rows():
    y = np.repeat(np.arange(10), 10)
    pixels = np.eye(10)[y]
    pixels[:3] = np.eye(10)[1]  # three 0s read as 1: digit 0 at 70 %
    gabor = np.eye(10)[y]
    gabor[10] = np.eye(10)[7]  # one 1 read as 7: digit 1 at 90 %
    rows = svm_gain_rows(y, {"svm_pixels": pixels, "svm_gabor": gabor})
    assert [r["digit"] for r in rows] == list(range(10))
    assert rows[0] == {"digit": 0, "svm_pixels": 0.7, "svm_gabor": 1.0, "gain": 0.3}
    assert rows[1] == {"digit": 1, "svm_pixels": 1.0, "svm_gabor": 0.9, "gain": -0.1}
    assert all(r["gain"] == 0 for r in rows[2:])
    assert svm_gain_rows(y, {"svm_pixels": pixels}) == []


def test_svm_gain_intervals_are_paired_per_digit():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 200)
    y[y == 3] = 4  # no 3 in the test set
    pixels, gabor = np.eye(10)[y], np.eye(10)[y]
    wrong = rng.random(len(y)) < 0.2
    pixels[wrong] = np.eye(10)[(y[wrong] + 1) % 10]  # pixels 80 % right everywhere
    gabor[wrong & (y == 0)] = np.eye(10)[1]  # gabor only wrong where pixels is, and only on zeros
    bounds = svm_gain_intervals(y, {"svm_pixels": pixels, "svm_gabor": gabor}, seed=1, n_resamples=500)
    gain = {r["digit"]: r["gain"] for r in svm_gain_rows(y, {"svm_pixels": pixels, "svm_gabor": gabor})}
    assert bounds.shape == (10, 2) and np.isnan(bounds[3]).all()
    for digit in (1, 2, 4, 9):
        assert 0 < bounds[digit, 0] <= gain[digit] <= bounds[digit, 1] < 0.4  # gabor better: above 0
    assert bounds[0, 0] == bounds[0, 1] == 0  # the same images wrong: no difference in any resample
    again = svm_gain_intervals(y, {"svm_pixels": pixels, "svm_gabor": gabor}, seed=1, n_resamples=500)
    assert np.array_equal(bounds, again, equal_nan=True)
    assert svm_gain_intervals(y, {"svm_pixels": pixels}) is None


def test_images_seen_count_partial_batches():
    # 100 images in batches of 32: 4 updates per epoch (32, 32, 32, 4 images)
    assert images_seen(np.array([1, 3, 4, 5, 8, 10]), 32, 100).tolist() == [32, 96, 100, 132, 200, 264]
    assert images_seen(np.array([0]), 64, 1000).tolist() == [0]


def test_batch_sizes_are_those_each_model_trains_with():
    params = load_params(REPO / "params.yaml")
    sizes = batch_sizes(params)
    assert set(sizes) == {name for name, spec in MODELS.items() if spec.neural}
    for name, spec in MODELS.items():
        if spec.family == "numpy":
            assert sizes[name] == getattr(params.mlp, spec.optimizer).batch_size
        elif spec.twin:
            assert sizes[name] == params.mlp.adam.batch_size
    override = params.torch.models["cnn"].batch_size
    assert sizes["torch_cnn"] == (override or params.torch.batch_size)
    assert sizes["torch_logreg"] == (params.torch.models["logreg"].batch_size or params.torch.batch_size)


def test_comparison_lines_say_the_direction_only_when_decided():
    compare = {"confidence": 0.99375, "pairs": {
        "a vs b": {"diff": 0.0123, "ci_low": 0.01, "ci_high": 0.015, "p_adjusted": 1e-4, "better": 1},
        "c vs d": {"diff": -0.001, "ci_low": -0.003, "ci_high": 0.001, "p_adjusted": 0.4, "better": 0},
        "e vs f": {"diff": -0.02, "ci_low": -0.03, "ci_high": -0.01, "p_adjusted": 1e-3, "better": -1}}}
    lines = comparison_lines(compare)
    assert lines[0].startswith("a vs b: A - B = +1.23 points [+1.00, +1.50] (99.38% interval)")
    assert lines[0].endswith(": a more accurate") and lines[2].endswith(": f more accurate")
    assert lines[1].endswith("no detectable difference")
    assert comparison_lines(None) == []


def test_models_of_the_figures_come_from_the_registry():
    assert SVM_PAIR == ("svm_pixels", "svm_gabor") and SVM_GAIN_COLUMNS == ("digit", *SVM_PAIR, "gain")
    assert (TWIN_MODEL, CNN_MODEL) == ("torch_mlp", "torch_cnn")
    assert MODELS[TWIN_MODEL].twin and MODELS[CNN_MODEL].family == "torch"
    assert FIGURES["curves_twin"] == "curves_numpy_vs_torch_mlp.png"  # the file name dvc.yaml lists


# -- figures of mnistlab.reporting.figures and mnistlab.reporting.representations -------------------------

def write_curve(folder: Path, model: str, name: str, values) -> None:
    path = folder / model / "plots" / "metrics" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("step\t" + name.split("/")[-1] + "\n" + "".join(f"{100 * (i + 1)}\t{v}\n"
                                                                  for i, v in enumerate(values)))


def test_curves_are_read_and_overlaid(tmp_path):
    write_curve(tmp_path, "m1", "val/error", [0.2, 0.1, 0.05])
    write_curve(tmp_path, "m1", "val/loss", [0.9, 0.5, 0.2])
    write_curve(tmp_path, "m2", "val/error", [0.3, 0.2, 0.1])
    curves = {m: figures.read_curves(tmp_path, m) for m in ("m1", "m2", "absent")}
    steps, values = curves["m1"]["val/error"]
    assert steps.tolist() == [100, 200, 300] and values.tolist() == [0.2, 0.1, 0.05]
    assert set(curves["m2"]) == {"val/error"} and curves["absent"] == {}
    figures.plot_curve_overlay({m: c for m, c in curves.items() if c}, tmp_path / "curves.png", "two models")
    assert_png(tmp_path / "curves.png")


def test_reliability_diagram(tmp_path):
    y = np.array([0, 1, 0, 0])
    proba = np.array([[0.85, 0.15], [0.85, 0.15], [0.65, 0.35], [1.0, 0.0]])
    rows = reliability_bins(y, proba, n_bins=10)
    figures.plot_reliability({"a": rows, "b": rows[:1]}, tmp_path / "rel.png")
    with Image.open(tmp_path / "rel.png") as image:
        assert image.format == "PNG"


def test_reliability_small_multiples_with_ece_and_no_small_bins(monkeypatch):
    saved = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: saved.append(fig))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 3000)
    logits = rng.normal(0, 1, (3000, 10))
    logits[np.arange(3000), y] += rng.normal(3, 2, 3000)
    proba = {name: np.exp(k * logits) / np.exp(k * logits).sum(axis=1, keepdims=True)
             for name, k in (("svm_pixels", 1.0), ("torch_cnn", 2.0), ("mlp_adam-he", 0.5))}
    rows = {name: reliability_bins(y, p) for name, p in proba.items()}
    figures.plot_reliability(rows, "unused.png")
    panels = [ax for ax in saved[0].axes if ax.get_title()]
    assert [ax.get_title().split(":")[0] for ax in panels] == list(proba)  # one panel per model, in order
    for ax, (name, p) in zip(panels, proba.items(), strict=True):
        assert ax.get_title() == f"{name}: ECE {100 * expected_calibration_error(y, p):.2f} %"
        big = [r for r in rows[name] if r["count"] >= figures.MIN_BIN_COUNT]
        curve = [line for line in ax.get_lines() if line.get_marker() == model_marker(name)]
        assert len(curve) == 1 and len(curve[0].get_xdata()) == len(big)  # small bins not drawn
        assert np.allclose(curve[0].get_xdata(), [r["confidence"] for r in big])
    small = sum(r["count"] < figures.MIN_BIN_COUNT for r in rows["mlp_adam-he"])
    assert small and "not drawn" in " ".join(t.get_text() for t in panels[2].texts)


def test_per_class_gain_with_intervals(tmp_path):
    cm_a, cm_b = np.diag(np.full(10, 90)) + 1, np.diag(np.full(10, 95)) + 1  # gains of +0.43 points
    bounds = np.column_stack([np.full(10, -0.01), np.full(10, 0.02)])
    bounds[3] = 0.001, 0.009
    figures.plot_per_class_gain(cm_a, cm_b, "a", "b", tmp_path / "gain.png", intervals=bounds)
    assert_png(tmp_path / "gain.png")


def test_curves_are_drawn_against_training_images(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: saved.append(fig))
    images, labels, proba = synthetic(100)
    split = load_split_like(images, labels)
    steps = np.array([4, 8, 12])
    error, loss = np.array([0.3, 0.2, 0.1]), np.array([1.0, 0.6, 0.4])
    curves = {m: {"val/error": (steps, error), "val/loss": (steps, loss)}
              for m in ("torch_cnn", "torch_logreg")}
    inputs = ReportInputs(split, split, {"train": np.full(10, 10)}, {"torch_cnn": {"accuracy": 0.9}},
                          {"torch_cnn": proba}, curves=curves,
                          batch_sizes={"torch_cnn": 128, "torch_logreg": 32})
    written, _ = write_report(tmp_path, inputs, gallery_size=4, embedding_samples=20)
    figure = next(fig for fig in saved if fig.axes and fig.axes[0].get_xlabel() == "training images")
    lines = {line.get_label(): line.get_xdata().tolist() for line in figure.axes[0].get_lines()}
    # 100 training images: torch_cnn sees them in 1 update of 128, torch_logreg in 4 updates of 32
    assert lines == {"torch_cnn": [400, 800, 1200], "torch_logreg": [100, 200, 300]}
    assert tmp_path / FIGURES["curves_torch"] in written


def test_first_layer_weights_feature_maps_and_unit_choice():
    net = build_mlp([16], rng=np.random.default_rng(0))
    weights = representations.first_linear_weights(net)
    assert weights.shape == (784, 16) and np.array_equal(weights, net.layers[0].params["W"])
    torch.manual_seed(0)
    twin = load_torch_model(build_model("mlp", {"hidden_sizes": [16], "dropout": 0.0}, normalize=False))
    assert np.allclose(representations.first_linear_weights(twin), twin.model[1].weight.detach().numpy().T)
    norms = np.linalg.norm(weights, axis=0)
    assert np.array_equal(representations.strongest_units(weights, 3), np.argsort(-norms)[:3])
    cnn = load_torch_model(build_model("cnn"))
    filters = representations.first_conv_filters(cnn)
    assert filters.shape == (16, 3, 3)
    image = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    maps = representations.first_feature_maps(cnn, image)
    conv = cnn.model[1]
    expected = torch.relu(conv(cnn.model[0](torch.from_numpy(image)[None, None])))[0].detach().numpy()
    assert maps.shape == (16, 28, 28) and np.allclose(maps, expected, atol=1e-6) and maps.min() >= 0
    with pytest.raises(MnistlabError, match="expected a convolution"):
        representations.first_conv_filters(twin)
    with pytest.raises(MnistlabError, match="fully connected"):
        representations.first_linear_weights(cnn)


def load_torch_model(model):
    return TorchPredictor(model, {})


def test_write_report_draws_every_figure(tmp_path):
    images, labels, proba = synthetic(100)
    split = load_split_like(images, labels)
    test_proba = {"svm_pixels": proba, "svm_gabor": proba[::-1], "torch_cnn": np.eye(10)[labels] * 0.9 + 0.01}
    metrics = {"svm_pixels": {"accuracy": 0.8}, "torch_cnn": {"accuracy": 1.0}, "gone": {"accuracy": 1.0}}
    curves = {"torch_cnn": {"val/error": (np.array([1, 2]), np.array([0.1, 0.05]))}}

    def hidden(x):
        return x.reshape(len(x), -1)[:, ::8]

    inputs = ReportInputs(split, split, {"train": np.bincount(labels, minlength=10)}, metrics, test_proba,
                          leaderboard=leaderboard_rows(labels, test_proba, metrics), curves=curves,
                          hidden=hidden, embedding_model="mlp_adam-he")
    written, notes = write_report(tmp_path, inputs, gallery_size=12, embedding_samples=60, seed=0)
    expected = {"samples", "labels", "leaderboard", "confusion", "confusion_all", "misclassified",
                "predictions", "reliability", "curves_torch", "svm_pair", "svm_gain", "tsne", "pca"}
    assert sorted(written) == sorted(tmp_path / FIGURES[key] for key in expected)
    assert len(notes) == 2 and all(f"skipping {FIGURES[key]}" in " ".join(notes)  # no curves of these models
                                   for key in ("curves_numpy", "curves_twin"))
    for path in written:
        assert_png(path)


def load_split_like(images, labels):
    return Split(images, labels.astype(np.uint8))


# -- the stage -----------------------------------------------------------------------------------------

ARGS = ["--params", "params.yaml", "--train", "data/prepared/train.npz", "--val", "data/prepared/val.npz",
        "--test", "data/prepared/test.npz", "--metrics", "metrics/test.json", "--speed", "metrics/speed.json",
        "--train-metrics", "metrics/train", "--compare", "metrics/compare.json",
        "--robustness", "metrics/robustness.json", "--proba", "data/evaluation/test_proba.npz",
        "--models", "models", "--curves", "plots/curves", "--images", "plots/images",
        "--preprocessing", "data/prepared/preprocessing.json",
        "--leaderboard", "plots/leaderboard.csv", "--svm-gain", "plots/svm_gain.csv",
        "--embedding-model", "models/mlp_adam-he.npz", "--anchors", "reports/anchors.md"]


def write_params(path: Path) -> None:
    """The repository's params.yaml with small report settings and a two-frequency Gabor bank."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["report"].update(gallery_size=9, embedding_samples=60)
    params["gabor"]["frequencies"] = [0.15, 0.3]
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path, prepared_dir: Path) -> None:
    """A project folder: the sample's prepared splits, tiny untrained models, and every stage's outputs."""
    for name in ("train.npz", "val.npz", "test.npz", "preprocessing.json"):
        (root / "data/prepared").mkdir(parents=True, exist_ok=True)
        (root / f"data/prepared/{name}").write_bytes((prepared_dir / name).read_bytes())
    write_params(root / "params.yaml")
    build_mlp([16], rng=np.random.default_rng(0)).save(root / "models/mlp_adam-he.npz")
    torch.manual_seed(0)
    tiny_mlp = {"hidden_sizes": [16], "dropout": 0.0}
    for name, builder, sizes, normalize in (("torch_cnn", "cnn", default_sizes("cnn"), True),
                                            ("torch_mlp", "mlp", tiny_mlp, False)):
        save_torch(root / f"models/{name}.pt", build_model(builder, sizes, normalize),
                   {"model": name, "builder": builder, "sizes": sizes, "normalize": normalize})
    test = read_split(root / "data/prepared/test.npz")
    proba = {name: load_model(root / f"models/{name}.{suffix}").predict_proba(test.x)
             for name, suffix in (("mlp_adam-he", "npz"), ("torch_cnn", "pt"), ("torch_mlp", "pt"))}
    rng = np.random.default_rng(0)
    for name, right in (("svm_pixels", 0.9), ("svm_gabor", 0.95)):  # SVM stand-ins: probabilities only
        guess = np.where(rng.random(len(test.y)) < right, test.y, rng.integers(0, 10, len(test.y)))
        proba[name] = np.eye(10)[guess] * 0.9 + 0.01
    write_probabilities(root / "data/evaluation/test_proba.npz", test.y, proba)
    write_json(root / "metrics/test.json", {name: score(test.y, p) for name, p in proba.items()})
    write_json(root / "metrics/speed.json", {name: {"n_params": 10, "predict_images_per_second": 1e4}
                                             for name in proba})
    for name in proba:
        write_json(root / f"metrics/train/{name}.json", {"train_seconds": 1.5})
    for name in ("mlp_adam-he", "torch_cnn", "torch_mlp"):
        write_curve(root / "plots/curves", name, "val/error", [0.5, 0.2, 0.1])
        write_curve(root / "plots/curves", name, "val/loss", [1.5, 0.6, 0.3])
    write_json(root / "metrics/robustness.json", {name: {"mean_corruption_accuracy": 0.5} for name in proba})
    result = compare_models(test.y, proba, [{"question": "q", "a": "svm_gabor", "b": "svm_pixels"}],
                            n_resamples=200)
    write_json(root / "metrics/compare.json", metrics_summary(result))


def run_stage(root: Path, monkeypatch) -> None:
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["stages/report.py", *ARGS])
    runpy.run_path(str(REPO / "stages/report.py"), run_name="__main__")


def test_report_stage_writes_every_table_and_figure(prepared_dir, tmp_path, monkeypatch, capsys):
    make_project(tmp_path, prepared_dir)
    run_stage(tmp_path, monkeypatch)
    out = capsys.readouterr().out
    expected = sorted([*FIGURES.values(), *representations.FIGURES.values()])
    assert sorted(p.name for p in (tmp_path / "plots/images").glob("*.png")) == expected
    for name in expected:
        assert_png(tmp_path / "plots/images" / name)
    assert "curves_numpy_mlps.png" in out  # only one of the NumPy MLPs has curves: drawn, no note
    board = read_rows(tmp_path / "plots/leaderboard.csv")
    assert tuple(board[0]) == LEADERBOARD_COLUMNS and len(board) == 5
    accuracies = [float(r["accuracy"]) for r in board]
    assert accuracies == sorted(accuracies, reverse=True)
    assert all(r["mean_corruption_accuracy"] == "0.5" and r["train_seconds"] == "1.5" for r in board)
    gain = read_rows(tmp_path / "plots/svm_gain.csv")
    assert [int(r["digit"]) for r in gain] == list(range(10)) and set(gain[0]) == {"digit", "svm_pixels",
                                                                                   "svm_gabor", "gain"}


def test_report_stage_skips_what_is_missing(prepared_dir, tmp_path, monkeypatch, capsys):
    """No compare/robustness, no CNN or twin, no curves: notes, and the rest is drawn."""
    make_project(tmp_path, prepared_dir)
    for path in ("metrics/compare.json", "metrics/robustness.json", "models/torch_cnn.pt",
                 "models/torch_mlp.pt"):
        (tmp_path / path).unlink()
    for path in sorted((tmp_path / "plots/curves").rglob("*.tsv")):
        path.unlink()
    run_stage(tmp_path, monkeypatch)
    out = capsys.readouterr().out
    for text in ("compare.json: not found", "robustness.json: not found", "torch_cnn.pt: not found",
                 "torch_mlp.pt: not found", "skipping curves_torch.png"):
        assert text in out
    produced = {p.name for p in (tmp_path / "plots/images").glob("*.png")}
    learned = representations.FIGURES
    assert learned["weights"] in produced and learned["filters"] not in produced
    assert FIGURES["leaderboard"] in produced and FIGURES["curves_torch"] not in produced
    assert all(r["mean_corruption_accuracy"] == "" for r in read_rows(tmp_path / "plots/leaderboard.csv"))


def test_report_stage_without_evaluation_exits_2(tmp_path, monkeypatch, prepared_dir, capsys):
    (tmp_path / "data/prepared").mkdir(parents=True)
    for split in ("train", "val", "test"):
        (tmp_path / f"data/prepared/{split}.npz").write_bytes((prepared_dir / f"{split}.npz").read_bytes())
    write_params(tmp_path / "params.yaml")
    with pytest.raises(SystemExit) as exit_info:
        run_stage(tmp_path, monkeypatch)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "metrics/test.json: not found" in err and "run `dvc repro evaluate` first" in err


def test_gabor_bank_figures_draw_at_one_scale(tmp_path):
    bank = make_bank(4, [0.2], 13)
    cnn = load_torch_model(build_model("cnn"))
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    representations.plot_filters_same_scale(representations.first_conv_filters(cnn), bank, image,
                                            tmp_path / "f.png", bank_pixel=2.0)
    assert_png(tmp_path / "f.png")
