"""SVM pipelines: exact and Nystroem methods, gamma, skops save/load (same bytes, trusted types), stage,
and the pixel feature step (its scikit-learn rules: tests/test_sklearn_rules.py)."""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest
import skops.io
from sklearn.svm import SVC
from support.params import write_params
from support.paths import REPO

from mnistlab.core.errors import InputError, MnistlabError
from mnistlab.core.io import read_split, save_npz
from mnistlab.features.gabor import GaborFeatures, load_transformer, save_transformer
from mnistlab.features.pixels import PixelFeatures
from mnistlab.models import svm as svm_module
from mnistlab.models.svm import (
    TRUSTED_TYPES,
    SVMModel,
    fit_svm,
    load_svm,
    make_svm,
    resolve_gamma,
    save_svm,
)


@pytest.fixture(scope="module")
def pixels(prepared_dir):
    """14x14 pixel features of the prepared sample: (x_train, y_train, x_val, y_val, test split)."""
    train, val, test = (read_split(prepared_dir / f"{s}.npz") for s in ("train", "val", "test"))
    front = PixelFeatures(14)
    return front.transform(train.x), train.y, front.transform(val.x), val.y, test


@pytest.mark.parametrize("method", ["exact", "nystroem"])
def test_both_methods_learn_and_round_trip(pixels, tmp_path, method):
    x, y, x_val, y_val, test = pixels
    classifier, metrics = fit_svm(x, y, x_val, y_val, C=5.0, gamma="scale", method=method, n_components=300)
    assert metrics["val_accuracy"] > 0.9 and metrics["n_train"] == len(y) == 2000
    assert ("n_support_vectors" in metrics) == (method == "exact")
    assert metrics.get("n_components", 300) == 300
    model = SVMModel(PixelFeatures(14), classifier)
    path = tmp_path / "svm_pixels.skops"
    save_svm(model, path)
    loaded = load_svm(path)
    proba = loaded.predict_proba(test.x)
    assert proba.shape == (500, 10)
    np.testing.assert_array_equal(proba, model.predict_proba(test.x))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.mean(proba.argmax(axis=1) == test.y) > 0.88
    assert loaded.n_params == model.n_params > 300 * 14 * 14
    assert set(skops.io.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)


def test_same_model_same_bytes(pixels, tmp_path):
    """Saving is deterministic: a second fit of the same data writes byte-identical files."""
    x, y, x_val, y_val, _ = pixels
    files = []
    for run in range(2):
        classifier, _ = fit_svm(x[:500], y[:500], x_val, y_val, C=5.0, gamma="scale")
        files.append(tmp_path / f"{run}.skops")
        save_svm(SVMModel(PixelFeatures(14), classifier), files[-1])
    assert files[0].read_bytes() == files[1].read_bytes()


def test_gamma_scale_means_what_svc_means(pixels):
    x, y = pixels[0][:300], pixels[1][:300]
    svc = SVC(gamma="scale").fit(x, y)
    assert resolve_gamma("scale", x) == pytest.approx(svc._gamma, rel=1e-6)
    assert resolve_gamma("auto", x) == 1 / x.shape[1] and resolve_gamma(0.5, x) == 0.5
    nystroem = make_svm("nystroem", 1.0, resolve_gamma("scale", x), n_components=50)
    assert nystroem[0].gamma == pytest.approx(svc._gamma, rel=1e-6)


def test_gamma_factor_multiplies_the_resolved_gamma(pixels):
    """``svm.gamma_factor`` k: the kernel is that of gamma = k x "scale" (one factor for both SVMs)."""
    x, y, x_val, y_val, _ = pixels
    scaled, _ = fit_svm(x[:300], y[:300], x_val, y_val, C=5.0, gamma="scale", gamma_factor=2.5)
    fixed, _ = fit_svm(x[:300], y[:300], x_val, y_val, C=5.0, gamma=2.5 * resolve_gamma("scale", x[:300]))
    svm_scaled, svm_fixed = scaled.estimator.estimator, fixed.estimator.estimator
    assert svm_scaled.gamma == pytest.approx(2.5 * SVC(gamma="scale").fit(x[:300], y[:300])._gamma, rel=1e-6)
    assert svm_scaled.gamma == pytest.approx(svm_fixed.gamma)
    np.testing.assert_array_equal(scaled.predict(x_val), fixed.predict(x_val))


def test_nystroem_components_capped_and_unknown_method(pixels):
    x, y, x_val, y_val, _ = pixels
    classifier, metrics = fit_svm(x[:100], y[:100], x_val, y_val, 5.0, "scale", method="nystroem",
                                  n_components=1000)
    assert metrics["n_components"] == 100
    with pytest.raises(MnistlabError, match="svm.method = 'fast': expected one of exact, nystroem"):
        fit_svm(x, y, x_val, y_val, 5.0, "scale", method="fast")


def test_pixel_features_resolution():
    images = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    assert PixelFeatures(14).transform(images).shape == (3, 196)
    assert PixelFeatures(28).transform(images).shape == (3, 784)
    pooled = images.reshape(3, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(3, 196)
    np.testing.assert_allclose(PixelFeatures(14).transform(images), pooled, rtol=1e-6)
    for resolution in (14, 28):  # flattened images give the same features
        np.testing.assert_array_equal(PixelFeatures(resolution).transform(images.reshape(3, 784)),
                                      PixelFeatures(resolution).transform(images))
    assert np.shares_memory(PixelFeatures(28).transform(images), images)  # no copy at 28 pixels
    for resolution in (7, 10, 30, "14", 14.0, True):
        message = rf"PixelFeatures resolution = {resolution!r} \(svm.resolution\): expected one of 14, 28"
        with pytest.raises(InputError, match=message):
            PixelFeatures(resolution).transform(images)


def test_pixel_features_refuse_what_gabor_features_refuse():
    """(N, 30, 30) is not quietly pooled to 15x15, nor one (28, 28) image taken as 28 rows."""
    for bad in (np.zeros((3, 30, 30), np.float32), np.zeros((28, 28), np.float32),
                np.full((3, 28, 28), 255, np.uint8)):
        for features in (PixelFeatures(14), GaborFeatures(pca_components=None).fit(np.zeros((2, 28, 28)))):
            with pytest.raises(InputError) as error:
                features.transform(bad)
            assert isinstance(error.value, ValueError) and "\n" not in str(error.value)


def test_pixel_features_moved_to_features():
    assert svm_module.PixelFeatures is PixelFeatures  # the old import path still works
    assert PixelFeatures.__module__ == "mnistlab.features.pixels"
    assert "mnistlab.features.pixels.PixelFeatures" in TRUSTED_TYPES
    assert not any(name.endswith(".svm.PixelFeatures") for name in TRUSTED_TYPES)


def test_gabor_transformer_round_trip_same_bytes(prepared_dir, tmp_path):
    images = read_split(prepared_dir / "train.npz").x[:300]
    features = GaborFeatures(pca_components=20)
    features.fit(images)
    save_transformer(tmp_path / "a.skops", features)
    save_transformer(tmp_path / "b.skops", GaborFeatures(pca_components=20).fit(images))
    assert (tmp_path / "a.skops").read_bytes() == (tmp_path / "b.skops").read_bytes()
    loaded = load_transformer(tmp_path / "a.skops")
    np.testing.assert_array_equal(loaded.transform(images[:20]), features.transform(images[:20]))
    with pytest.raises(MnistlabError, match="not found; run `dvc repro gabor` first"):
        load_transformer(tmp_path / "missing.skops")
    with pytest.raises(MnistlabError, match="old joblib model format"):
        load_transformer(tmp_path / "gabor.joblib")  # refused unread, even when missing
    skops.io.dump({"not": "a transformer"}, tmp_path / "other.skops")
    with pytest.raises(MnistlabError, match="expected a fitted GaborFeatures"):
        load_transformer(tmp_path / "other.skops")
    save_svm(SVMModel(PixelFeatures(14), None), tmp_path / "svm.skops")
    with pytest.raises(MnistlabError, match="svm.skops: not loaded, it holds types mnistlab does not trust: "
                       "mnistlab.features.pixels.PixelFeatures, mnistlab.models.svm.SVMModel$"):
        load_transformer(tmp_path / "svm.skops")


def test_missing_model_file(tmp_path):
    with pytest.raises(MnistlabError, match=r"svm_pixels.skops: not found \(train it with `dvc repro`\)"):
        load_svm(tmp_path / "svm_pixels.skops")


def stage_main():
    return runpy.run_path(str(REPO / "stages" / "train_svm.py"))["main"]


def test_stage_trains_both_feature_kinds(prepared_dir, tmp_path):
    params = tmp_path / "params.yaml"
    write_params(params, {"seed": 0, "svm": {"train_size": 600}})
    x = {s: read_split(prepared_dir / f"{s}.npz") for s in ("train", "val", "test")}
    features = GaborFeatures(pca_components=20)
    save_npz(tmp_path / "features" / "train.npz", x=features.fit_transform(x["train"].x), y=x["train"].y)
    save_npz(tmp_path / "features" / "val.npz", x=features.transform(x["val"].x), y=x["val"].y)
    save_transformer(tmp_path / "features" / "gabor.skops", features)
    folder = tmp_path / "features"
    runs = {
        "pixels": ["--train", str(prepared_dir / "train.npz"), "--val", str(prepared_dir / "val.npz")],
        "gabor": ["--train", str(folder / "train.npz"), "--val", str(folder / "val.npz"),
                  "--transformer", str(folder / "gabor.skops")],
    }
    for kind, paths in runs.items():
        model, metrics = tmp_path / f"svm_{kind}.skops", tmp_path / f"svm_{kind}.json"
        stage_main()(["--features", kind, "--params", str(params), *paths, "--model", str(model),
                      "--metrics", str(metrics)])
        values = json.loads(metrics.read_text())
        assert values["n_train"] == 600 and values["val_accuracy"] > 0.85, values
        accuracy = np.mean(load_svm(model).predict_proba(x["test"].x).argmax(axis=1) == x["test"].y)
        assert accuracy > 0.85, (kind, accuracy)


def test_stage_missing_input_is_one_line(prepared_dir, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    write_params(params, {"svm": {"train_size": 200}})
    argv = ["--features", "pixels", "--params", str(params), "--train", str(prepared_dir / "train.npz"),
            "--val", str(prepared_dir / "missing.npz"), "--model", str(tmp_path / "m.skops"),
            "--metrics", str(tmp_path / "m.json")]
    with pytest.raises(SystemExit) as exited:
        stage_main()(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.npz" in err
    assert not (tmp_path / "m.skops").exists()
