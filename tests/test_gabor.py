"""Gabor filter bank and features: kernels against scikit-image, symmetry, tuning, batching, the
transformer (shapes, fitted on training images only, skops, Pipeline), the stage and bad params."""

import math
import runpy
import shutil

import joblib
import numpy as np
import pytest
import skops.io
import torch
from scipy import ndimage
from skimage.filters import gabor_kernel as skimage_gabor_kernel
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from support.params import write_params
from support.paths import REPO

from mnistlab.core.errors import InputError, MnistlabError
from mnistlab.core.io import read_split
from mnistlab.core.params import load_params
from mnistlab.data.prepare import scale
from mnistlab.features.filters import extract_features, response_modulus
from mnistlab.features.gabor import (
    GaborFeatures,
    gabor_kernel,
    load_transformer,
    make_bank,
    save_transformer,
    sigma_from_bandwidth,
)
from mnistlab.features.pca import fit_pca, project
from mnistlab.reporting.figures import plot_confusion_pair, plot_per_class_gain
from mnistlab.reporting.plots import plot_filter_bank


def centre_crop(array: np.ndarray, size: int) -> np.ndarray:
    r0, c0 = (array.shape[0] - size) // 2, (array.shape[1] - size) // 2
    return array[r0 : r0 + size, c0 : c0 + size]


def grating(frequency: float, theta: float, size: int = 28) -> np.ndarray:
    """cos(2 pi f (x cos theta + y sin theta)), x the column and y the row index, float32."""
    y, x = np.mgrid[:size, :size]
    return np.cos(2 * np.pi * frequency * (x * np.cos(theta) + y * np.sin(theta))).astype(np.float32)


@pytest.fixture(scope="module")
def images(sample_train) -> tuple[np.ndarray, np.ndarray]:
    """1,200 real training digits, float32 (N, 28, 28) in [0, 1], and labels."""
    x, y = sample_train
    return scale(x[:1200]), y[:1200]


# -- kernels ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency", [0.05, 0.1, 0.2, 0.3, 0.45])
@pytest.mark.parametrize("theta", [0.0, math.pi / 6, math.pi / 4, 2 * math.pi / 3, 1.0])
@pytest.mark.parametrize(("sigma", "size"), [(2.5, 13), (1.5, 7), (4.0, 27)])
def test_kernel_matches_skimage(frequency, theta, sigma, size):
    reference = skimage_gabor_kernel(frequency, theta=theta, sigma_x=sigma, sigma_y=sigma, n_stds=size)
    ours = gabor_kernel(frequency, theta, sigma, size)
    assert ours.shape == (size, size) and ours.dtype == np.complex128
    np.testing.assert_allclose(ours, centre_crop(reference, size), rtol=1e-12, atol=1e-15)


def test_kernel_phase_offset_matches_skimage():
    reference = skimage_gabor_kernel(0.2, theta=0.7, sigma_x=2.0, sigma_y=2.0, offset=1.1, n_stds=9)
    np.testing.assert_allclose(gabor_kernel(0.2, 0.7, 2.0, 13, offset=1.1), centre_crop(reference, 13),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("bandwidth", [0.5, 1.0, 1.5])
def test_bandwidth_sigma_matches_skimage(bandwidth):
    frequency = 0.15
    reference = skimage_gabor_kernel(frequency, theta=0.3, bandwidth=bandwidth, n_stds=6)
    sigma = sigma_from_bandwidth(frequency, bandwidth)
    np.testing.assert_allclose(gabor_kernel(frequency, 0.3, sigma, 11), centre_crop(reference, 11),
                               rtol=1e-12, atol=1e-15)
    assert sigma_from_bandwidth(0.1) == pytest.approx(5.622, abs=1e-3)


@pytest.mark.parametrize("theta", [0.0, math.pi / 6, math.pi / 3, 1.0])
def test_orientation_symmetry(theta):
    kernel = gabor_kernel(0.2, theta, 2.5, 13)
    # a quarter turn of the orientation is a quarter turn (clockwise, rows point down) of the kernel
    np.testing.assert_allclose(gabor_kernel(0.2, theta + math.pi / 2, 2.5, 13), np.rot90(kernel, -1),
                               atol=1e-14)
    # the mirror orientation is the up-down mirror image; a half turn conjugates (same modulus)
    np.testing.assert_allclose(gabor_kernel(0.2, -theta, 2.5, 13), np.flipud(kernel), atol=1e-14)
    np.testing.assert_allclose(gabor_kernel(0.2, theta + math.pi, 2.5, 13), np.conj(kernel), atol=1e-14)
    # the even part is point-symmetric, the odd part antisymmetric; the envelope's mass is 1
    np.testing.assert_allclose(kernel.real, kernel.real[::-1, ::-1], atol=1e-15)
    np.testing.assert_allclose(kernel.imag, -kernel.imag[::-1, ::-1], atol=1e-15)
    assert np.abs(gabor_kernel(0.2, theta, 2.5, 41)).sum() == pytest.approx(1.0, abs=1e-6)


def test_rotated_image_gives_rotated_responses(images):
    """Turning an image a quarter turn moves its responses to the filter a quarter turn away."""
    bank = make_bank(4, [0.1, 0.25], 13)  # thetas 0, 45, 90, 135 degrees
    x = images[0][:5]
    turned = np.ascontiguousarray(np.rot90(x, -1, axes=(1, 2)))
    with torch.no_grad():
        before = response_modulus(torch.from_numpy(x), bank.kernels).numpy()
        after = response_modulus(torch.from_numpy(turned), bank.kernels).numpy()
    for f in range(2):
        for k in range(4):
            np.testing.assert_allclose(after[:, 4 * f + (k + 2) % 4],
                                       np.rot90(before[:, 4 * f + k], -1, axes=(1, 2)), atol=1e-5)


@pytest.mark.parametrize("index", range(18))
def test_grating_excites_the_matching_filter_most(index):
    bank = make_bank(6, [0.1, 0.2, 0.3], 13)
    image = grating(bank.frequencies[index], bank.thetas[index])
    with torch.no_grad():
        modulus = response_modulus(torch.from_numpy(image[None]), bank.kernels).numpy()[0]
    # compare the filters' (sigma-weighted) gain in the middle, away from the zero padding
    energy = modulus[:, 8:20, 8:20].mean(axis=(1, 2)) / np.abs(bank.kernels).sum(axis=(1, 2))
    assert np.argmax(energy) == index


# -- batched extraction ----------------------------------------------------------------------------


@pytest.mark.parametrize(("stride", "pool"), [(1, 4), (2, 4), (1, 3), (2, 6)])
def test_batched_features_match_a_per_image_scipy_loop(images, stride, pool):
    bank = make_bank(3, [0.12, 0.28], 9, sigma=2.0)
    x = images[0][:7]
    got = extract_features(x, bank.kernels, stride, pool, batch_size=3)
    expected = []
    for image in x.astype(np.float64):
        maps = [np.hypot(ndimage.correlate(image, k.real, mode="constant"),
                         ndimage.correlate(image, k.imag, mode="constant"))[::stride, ::stride]
                for k in bank.kernels]
        window = pool // stride
        cells = -(-maps[0].shape[0] // window)
        pooled = [[[m[i * window : (i + 1) * window, j * window : (j + 1) * window].mean()
                    for j in range(cells)] for i in range(cells)] for m in maps]
        expected.append(np.ravel(pooled))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-4, atol=1e-6)


# -- the transformer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "n_features"),
    [
        ({}, 150),
        ({"pca_components": None}, 24 * 7 * 7),  # 6 orientations x 4 frequencies x 7 x 7 cells
        ({"pca_components": None, "stride": 1, "pool": 7}, 24 * 4 * 4),
        ({"resolution": 14, "kernel_size": 7, "pca_components": None}, 24 * 4 * 4),
        ({"orientations": 8, "frequencies": [0.15], "standardize": True, "pca_components": 30}, 30),
    ],
)
def test_feature_shapes(images, settings, n_features):
    x = images[0][:300]
    features = GaborFeatures(**settings)
    train = features.fit_transform(x)
    assert train.shape == (300, n_features) and train.dtype == np.float32
    assert features.n_features_out_ == n_features
    np.testing.assert_allclose(features.transform(x[:40]), train[:40], rtol=1e-4, atol=1e-4)
    flat = features.transform(x[:40].reshape(40, 784))
    np.testing.assert_array_equal(flat, features.transform(x[:40]))
    assert features.transform(x[:0]).shape == (0, n_features)


def test_fitted_on_training_images_only(images):
    x = images[0]
    train, other = x[:400], x[400:800]
    features = GaborFeatures(standardize=True, pca_components=20).fit(train)
    state = joblib.hash((features.mean_, features.scale_, features.components_))
    before = features.transform(train[:50])
    features.transform(other)  # transforming other images changes nothing fitted
    features.transform(np.ones_like(other))
    assert joblib.hash((features.mean_, features.scale_, features.components_)) == state
    np.testing.assert_array_equal(features.transform(train[:50]), before)
    # the same training images give the same transformer, whatever else is transformed
    again = GaborFeatures(standardize=True, pca_components=20).fit(train)
    np.testing.assert_array_equal(again.transform(other), features.transform(other))
    raw = extract_features(train, features.bank_.kernels, 2, 4)
    np.testing.assert_allclose(features.mean_, raw.mean(axis=0), rtol=1e-5, atol=1e-7)
    assert abs(float(features.transform(train).mean())) < 1e-3  # centred on the training set


def test_pca_matches_scikit_learn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(500, 40)) @ rng.normal(size=(40, 40)) + 3.0).astype(np.float32)
    mean, components, variance = fit_pca(x, 10)
    reference = PCA(10, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(mean, reference.mean_, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(variance, reference.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(components @ reference.components_.T), np.eye(10), atol=1e-4)
    np.testing.assert_allclose(np.abs(project(x, mean, components)), np.abs(reference.transform(x)),
                               rtol=1e-3, atol=1e-3)


def test_pipeline_with_svc_and_skops_round_trip(images, tmp_path):
    x, y = images
    model = Pipeline([("gabor", GaborFeatures(pca_components=40)), ("svc", SVC(C=5.0))])
    model.fit(x[:1000], y[:1000])
    accuracy = (model.predict(x[1000:]) == y[1000:]).mean()
    assert accuracy > 0.9
    save_transformer(tmp_path / "gabor.skops", model.named_steps["gabor"])
    loaded = load_transformer(tmp_path / "gabor.skops")
    np.testing.assert_array_equal(loaded.transform(x[:20]), model.named_steps["gabor"].transform(x[:20]))


def test_load_transformer_errors(tmp_path):
    with pytest.raises(MnistlabError, match="not found"):
        load_transformer(tmp_path / "missing.skops")
    skops.io.dump({"not": "a transformer"}, tmp_path / "other.skops")
    with pytest.raises(MnistlabError, match="expected a fitted GaborFeatures"):
        load_transformer(tmp_path / "other.skops")
    with pytest.raises(MnistlabError, match="old joblib model format"):
        load_transformer(tmp_path / "gabor.joblib")


def test_bad_image_shape_and_unfitted():
    with pytest.raises(MnistlabError, match=r"expected \(N, 28, 28\)"):
        GaborFeatures().fit(np.zeros((5, 14, 14), np.float32))
    with pytest.raises(Exception, match="not fitted"):
        GaborFeatures().transform(np.zeros((5, 28, 28), np.float32))
    fitted = GaborFeatures(pca_components=None).fit(np.zeros((2, 28, 28), np.float32))
    # 30x30 images are not quietly cut to 7x7 cells; one (28, 28) image is not 28 one-row images
    for bad, message in (((5, 30, 30), r"shape \(5, 30, 30\), expected \(N, 28, 28\) or \(N, 784\)$"),
                         ((28, 28), r"shape \(28, 28\), expected .*; for one image add the leading axis"),
                         ((5, 900), r"shape \(5, 900\), expected")):
        with pytest.raises(InputError, match=message) as error:
            fitted.transform(np.zeros(bad, np.float32))
        assert isinstance(error.value, ValueError)


def test_nan_and_0_to_255_images_refused(images):
    x = images[0][:20].copy()
    fitted = GaborFeatures(pca_components=None).fit(x)
    x[3, 10, 10] = np.nan  # a NaN pixel once gave a row of NaN features
    for call in (GaborFeatures(pca_components=None).fit, fitted.transform):
        with pytest.raises(InputError, match=r": 1 NaN pixel value\(s\); expected finite values in \[0, 1\]"):
            call(x)
        with pytest.raises(InputError, match=r"pixel values up to 255, expected values in \[0, 1\] \(divide"):
            call((images[0][:20] * 255).round().astype(np.uint8))


# -- params ----------------------------------------------------------------------------------------

BAD_PARAMS = [
    ({"orientations": 0}, "gabor.orientations = 0"),
    ({"frequencies": []}, "gabor.frequencies = []"),
    ({"frequencies": [0.1, -0.2]}, "gabor.frequencies.1 = -0.2"),
    ({"frequencies": [0.6]}, "gabor.frequencies.0 = 0.6"),
    ({"kernel_size": 29}, "gabor.kernel_size = 29: kernel larger than the 28x28 images"),
    ({"resolution": 14, "kernel_size": 15}, "gabor.kernel_size = 15: kernel larger than the 14x14"),
    ({"kernel_size": 12}, "gabor.kernel_size = 12: expected an odd"),
    ({"pool": 3}, "gabor.pool = 3: expected a multiple of gabor.stride"),
    ({"frequencies": [0.1, 0.2, 0.3], "pca_components": 883}, "pca_components = 883: above the 882 Gabor"),
    ({"sigma": 0}, "gabor.sigma = 0"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_PARAMS)
def test_bad_params_name_the_key(tmp_path, settings, message):
    path = tmp_path / "params.yaml"
    write_params(path, {"gabor": settings})
    with pytest.raises(MnistlabError) as error:
        load_params(path)
    assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(MnistlabError) as error:  # the transformer runs the same checks
        GaborFeatures(**settings).fit(np.zeros((3, 28, 28), np.float32))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_params_defaults_match_the_transformer():
    repo_params = load_params(REPO / "params.yaml").gabor
    defaults = repo_params.model_dump()
    transformer = GaborFeatures().get_params()
    assert {key: transformer[key] for key in defaults} == {**defaults, "frequencies": (0.1, 0.2, 0.3, 0.4)}
    assert GaborFeatures.from_params(repo_params).get_params()["pca_components"] is not None


def test_pca_above_training_images():
    with pytest.raises(MnistlabError, match="gabor.pca_components = 150: above the 50 training"):
        GaborFeatures().fit(np.zeros((50, 28, 28), np.float32))
    features = GaborFeatures()
    with pytest.raises(ValueError, match="gabor.pca_components = 150: above the 50 training"):
        features.fit(np.zeros((50, 784), np.float32))
    assert not hasattr(features, "bank_")  # refused before any feature is computed


# -- stage and figures -----------------------------------------------------------------------------


def stage_main():
    return runpy.run_path(str(REPO / "stages" / "gabor.py"))["main"]


def stage_args(params, prepared, out) -> list[str]:
    """The gabor stage's command line (as in dvc.yaml) with every path under ``out``."""
    return ["--params", str(params), "--train", str(prepared / "train.npz"),
            "--val", str(prepared / "val.npz"), "--out", str(out / "features"),
            "--bank", str(out / "gabor_filter_bank.png")]


def test_stage_writes_features_transformer_and_filter_bank(prepared_dir, tmp_path):
    params = tmp_path / "params.yaml"
    write_params(params, {"gabor": {"pca_components": 50}})
    stage_main()(stage_args(params, prepared_dir, tmp_path / "a"))
    sizes = {"train": 2000, "val": 500}
    for split, n in sizes.items():
        with np.load(tmp_path / "a" / "features" / f"{split}.npz") as data:
            assert data["x"].shape == (n, 50) and data["x"].dtype == np.float32
            assert data["y"].dtype == np.uint8
            np.testing.assert_array_equal(data["y"], read_split(prepared_dir / f"{split}.npz").y)
    assert not (tmp_path / "a" / "features" / "test.npz").exists()
    features = load_transformer(tmp_path / "a" / "features" / "gabor.skops")
    with np.load(tmp_path / "a" / "features" / "val.npz") as data:
        val = read_split(prepared_dir / "val.npz").x
        np.testing.assert_allclose(features.transform(val), data["x"], atol=1e-5)
    png = tmp_path / "a" / "gabor_filter_bank.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the stage never opens the test split: it runs with test.npz gone, and the fit is unchanged
    other = tmp_path / "other"
    shutil.copytree(prepared_dir, other)
    (other / "test.npz").unlink()
    stage_main()(stage_args(params, other, tmp_path / "b"))
    for split in ("train", "val"):
        a, b = (np.load(tmp_path / run / "features" / f"{split}.npz")["x"] for run in "ab")
        np.testing.assert_array_equal(a, b)


def test_stage_bad_params_exit_with_one_line(prepared_dir, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    write_params(params, {"gabor": {"orientations": 0}})
    with pytest.raises(SystemExit) as exited:
        stage_main()(stage_args(params, prepared_dir, tmp_path))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gabor.orientations = 0" in err
    assert not (tmp_path / "features").exists()


def test_figures(tmp_path):
    bank = make_bank(6, [0.1, 0.2, 0.3], 13)
    plot_filter_bank(bank.kernels, bank.thetas, bank.frequencies, tmp_path / "bank.png", sigmas=bank.sigmas)
    rng = np.random.default_rng(0)
    cm_a = np.diag(rng.integers(900, 1100, 10)) + rng.integers(0, 4, (10, 10))
    cm_b = np.diag(np.diag(cm_a)) + rng.integers(0, 2, (10, 10))
    plot_confusion_pair(cm_a, cm_b, "svm_pixels", "svm_gabor", tmp_path / "pair.png")
    plot_per_class_gain(cm_a, cm_b, "svm_pixels", "svm_gabor", tmp_path / "gain.png")
    for name in ("bank", "pair", "gain"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
