import numpy as np

from mnistlab.core.io import read_split
from mnistlab.evaluation.evaluate import evaluate_model
from mnistlab.features.pixels import PixelFeatures
from mnistlab.models.registry import load_model as load_predictor
from mnistlab.models.svm import SVMModel, fit_svm, save_svm


def test_pixel_svm_learns_saves_and_evaluates(prepared_dir, tmp_path):
    train, val, test = (read_split(prepared_dir / f"{s}.npz") for s in ("train", "val", "test"))
    front = PixelFeatures(14)
    classifier, metrics = fit_svm(front.transform(train.x), train.y, front.transform(val.x), val.y,
                                  C=5.0, gamma="scale")
    assert metrics["val_accuracy"] > 0.9 and metrics["n_train"] == 2000
    save_svm(SVMModel(front, classifier), tmp_path / "svm_pixels.skops")
    model = load_predictor(tmp_path / "svm_pixels.skops")
    test_metrics, speed, proba = evaluate_model(model, test.x, test.y)
    assert proba.shape == (500, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert test_metrics["accuracy"] > 0.9 and 0 < test_metrics["log_loss"] < 0.5
    assert speed["n_params"] > 14 * 14 * metrics["n_support_vectors"]
    assert set(test_metrics) == {"accuracy", "macro_f1", "log_loss", "ece"}  # quality only
    assert set(speed) == {"n_params", "predict_images_per_second"}


def test_pixel_features_resolution():
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    assert PixelFeatures(14).transform(images).shape == (3, 196)
    assert PixelFeatures(28).transform(images).shape == (3, 784)
