"""The evaluate stage's library: scores, confusion rows, per-class rows, and the stage on tiny models."""

import json
import runpy

import numpy as np
from support.paths import REPO

from mnistlab.core.io import read_probabilities, read_split
from mnistlab.evaluation.evaluate import confusion_rows, per_class, score
from mnistlab.nn.model import build_mlp


def test_report_tables():
    y = np.array([0, 0, 1, 1, 2])
    a = np.array([0, 1, 1, 1, 2])
    rows = confusion_rows(y, a)
    assert len(rows) == 100 and rows[1] == {"actual": 0, "predicted": 1, "count": 1}
    assert rows[0]["count"] == 1 and rows[11]["count"] == 2 and sum(r["count"] for r in rows) == 5
    rows = per_class(y, a)
    assert len(rows) == 10 and rows[0]["recall"] == 0.5 and rows[1]["precision"] == 2 / 3


def test_score_of_confident_right_answers():
    y = np.array([0, 1, 2, 3])
    proba = np.full((4, 10), 1e-6)
    proba[np.arange(4), y] = 1 - 9e-6
    metrics = score(y, proba)
    assert metrics["accuracy"] == 1.0 and metrics["log_loss"] < 1e-4 and metrics["ece"] < 1e-4


def test_stage_writes_quality_and_speed_apart(prepared_dir, tmp_path):
    models = tmp_path / "models"
    build_mlp([8], rng=np.random.default_rng(0)).save(models / "mlp_sgd-he.npz")
    build_mlp([8], rng=np.random.default_rng(1)).save(models / "mlp_adam-he.npz")
    (models / "notes.txt").write_text("not a model: ignored")
    out = {key: tmp_path / rel for key, rel in [
        ("metrics", "metrics/test.json"), ("speed", "metrics/speed.json"), ("proba", "eval/test_proba.npz"),
        ("confusion", "plots/confusion"), ("per-class", "plots/per_class.csv"),
        ("reliability", "plots/reliability.csv")]}
    main = runpy.run_path(str(REPO / "stages" / "evaluate.py"), run_name="stage")["main"]
    main(["--models", str(models), "--test", str(prepared_dir / "test.npz"),
          *(arg for key, path in out.items() for arg in (f"--{key}", str(path)))])
    quality = json.loads(out["metrics"].read_text())
    assert list(quality) == ["mlp_sgd-he", "mlp_adam-he"]  # registry order
    assert set(quality["mlp_sgd-he"]) == {"accuracy", "macro_f1", "log_loss", "ece"}
    speed = json.loads(out["speed"].read_text())
    assert set(speed["mlp_adam-he"]) == {"n_params", "predict_images_per_second"}
    with np.load(out["proba"]) as data:
        assert data["mlp_sgd-he"].shape == (500, 10) and data["mlp_sgd-he"].dtype == np.float32
    labels, proba = read_probabilities(out["proba"])  # the test labels travel with the probabilities
    np.testing.assert_array_equal(labels, read_split(prepared_dir / "test.npz").y)
    assert list(proba) == ["mlp_sgd-he", "mlp_adam-he"]
    assert sorted(p.name for p in out["confusion"].iterdir()) == ["mlp_adam-he.csv", "mlp_sgd-he.csv"]
    header = out["per-class"].read_text().splitlines()[0]
    assert header.startswith("model,digit,precision,recall")
    assert out["reliability"].read_text().startswith("model,bin,confidence,accuracy,count")
