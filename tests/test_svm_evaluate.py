import numpy as np

from mnistlab.data.prepare import load_split
from mnistlab.evaluate import confusion_rows, evaluate_model, leaderboard, per_class, per_class_gain
from mnistlab.predictors import load_predictor
from mnistlab.svm import PixelFeatures, SVMModel, fit_svm, save_svm


def test_pixel_svm_learns_saves_and_evaluates(prepared_dir, tmp_path):
    train, val, test = (load_split(prepared_dir / f"{s}.npz") for s in ("train", "val", "test"))
    front = PixelFeatures(14)
    classifier, metrics = fit_svm(front.transform(train.x), train.y, front.transform(val.x), val.y,
                                  C=5.0, gamma="scale")
    assert metrics["val_accuracy"] > 0.9 and metrics["n_train"] == 2000
    save_svm(SVMModel(front, classifier), tmp_path / "svm_pixels.joblib")
    model = load_predictor(tmp_path / "svm_pixels.joblib")
    test_metrics, proba = evaluate_model(model, test.x, test.y)
    assert proba.shape == (500, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert test_metrics["accuracy"] > 0.9 and 0 < test_metrics["log_loss"] < 0.5
    assert test_metrics["n_params"] > 14 * 14 * metrics["n_support_vectors"]
    assert set(test_metrics) == {"accuracy", "macro_f1", "log_loss", "n_params", "predict_images_per_second"}


def test_pixel_features_resolution():
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    assert PixelFeatures(14).transform(images).shape == (3, 196)
    assert PixelFeatures(28).transform(images).shape == (3, 784)


def test_report_tables():
    y = np.array([0, 0, 1, 1, 2])
    a, b = np.array([0, 1, 1, 1, 2]), np.array([0, 0, 1, 1, 0])
    assert confusion_rows(y, a)[1] == {"actual": 0, "predicted": 1}
    rows = per_class(y, a)
    assert len(rows) == 10 and rows[0]["recall"] == 0.5 and rows[1]["precision"] == 2 / 3
    gain = per_class_gain(y, {"base": a, "new": b})
    assert gain[0] == {"digit": 0, "base": 0.5, "new": 1.0, "gain": 0.5} and gain[2]["gain"] == -1.0
    board = leaderboard({"m1": {"accuracy": 0.9}, "m2": {"accuracy": 0.95}}, {"m1": {"train_seconds": 3}})
    assert [r["model"] for r in board] == ["m2", "m1"] and board[1]["train_seconds"] == 3
