"""The report figures: each plotting function writes a non-empty PNG; the report stage end to end."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab import plots
from mnistlab.errors import MnistlabError
from mnistlab.io import save_npz, write_csv
from mnistlab.report import (
    FIGURES,
    best_model,
    embedding_2d,
    embedding_sample,
    read_label_counts,
    write_report,
)

REPO = Path(__file__).resolve().parents[1]


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
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) > 100


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
    plots.plot_confusion_matrix(labels, proba.argmax(axis=1), tmp_path / "confusion.png", title="m")
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
    plots.plot_embedding(points, labels, tmp_path / f"{method}.png", title=method, axis_labels=axis_labels)
    assert_png(tmp_path / f"{method}.png")


def test_embedding_sample_is_seeded_and_bounded():
    assert np.array_equal(embedding_sample(1000, 50, 3), embedding_sample(1000, 50, 3))
    assert len(embedding_sample(30, 50, 0)) == 30


def test_best_model_and_label_counts(tmp_path):
    metrics = {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.95}, "c": {"accuracy": 0.99}}
    assert best_model(metrics, {"a", "b"}) == "b"
    with pytest.raises(MnistlabError):
        best_model(metrics, set())
    rows = [{"digit": d, "train": 10 + d, "val": 2, "test": 5} for d in range(10)]
    write_csv(tmp_path / "counts.csv", rows)
    counts = read_label_counts(tmp_path / "counts.csv")
    assert list(counts) == ["train", "val", "test"] and counts["train"][9] == 19
    with pytest.raises(MnistlabError, match="not found"):
        read_label_counts(tmp_path / "missing.csv")


def test_write_report_draws_every_figure(tmp_path):
    images, labels, proba = synthetic(100)
    counts = {"train": np.bincount(labels, minlength=10)}
    test_proba = {"svm_pixels": proba, "svm_gabor": proba[::-1], "torch_cnn": np.eye(10)[labels] * 0.9 + 0.01}
    metrics = {"svm_pixels": {"accuracy": 0.8}, "torch_cnn": {"accuracy": 1.0}, "gone": {"accuracy": 1.0}}

    def hidden(x):
        return x.reshape(len(x), -1)[:, ::8]

    written = write_report(tmp_path, (images, labels), (images, labels), counts, metrics, test_proba, hidden,
                           gallery_size=12, embedding_samples=60, seed=0)
    expected = [tmp_path / FIGURES[key] for key in
                ("samples", "labels", "confusion", "misclassified", "predictions", "svm_pair", "svm_gain",
                 "tsne", "pca")]
    assert written == expected
    for path in written:
        assert_png(path)


def test_report_stage_runs_in_a_project_folder(prepared_dir, tmp_path, monkeypatch, capsys):
    """stages/report.py on the sample's prepared splits, without the MLP: five figures and a note."""
    for split in ("train", "test"):
        (tmp_path / "data/prepared").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"data/prepared/{split}.npz").write_bytes((prepared_dir / f"{split}.npz").read_bytes())
    with np.load(prepared_dir / "test.npz") as test:
        y = test["y"]
    counts = [{"digit": d, "train": 5, "val": 1, "test": 2} for d in range(10)]
    write_csv(tmp_path / "plots/label_counts.csv", counts)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/test.json").write_text(json.dumps({"svm_pixels": {"accuracy": 1.0}}))
    save_npz(tmp_path / "data/evaluation/test_proba.npz", svm_pixels=np.eye(10, dtype=np.float32)[y])
    (tmp_path / "params.yaml").write_text("evaluate:\n  gallery_size: 9\n  embedding_samples: 50\n")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(REPO / "stages/report.py"), run_name="__main__")
    assert "skipping the t-SNE and PCA" in capsys.readouterr().out
    produced = sorted(p.name for p in (tmp_path / "plots/images").glob("*.png"))
    basic = ("samples", "labels", "confusion", "misclassified", "predictions")
    assert produced == sorted(FIGURES[key] for key in basic)


def test_report_stage_without_evaluation_exits_2(tmp_path, monkeypatch, prepared_dir):
    (tmp_path / "data/prepared").mkdir(parents=True)
    for split in ("train", "test"):
        (tmp_path / f"data/prepared/{split}.npz").write_bytes((prepared_dir / f"{split}.npz").read_bytes())
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "stages/report.py"), run_name="__main__")
    assert exit_info.value.code == 2
