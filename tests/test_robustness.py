"""Corruptions (mnistlab.evaluation.corruptions), their evaluation (mnistlab.evaluation.robustness),
the paired table (mnistlab.evidence.robustness_pairs), the figures and report
(mnistlab.reporting.robustness_figures) and the robustness stage, graded families and MNIST-C, on
real digits from data/sample."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage
from support.paths import REPO, SAMPLE

from mnistlab.core.errors import MnistlabError
from mnistlab.data.benchmark import PREPROCESSING_JSON, write_preprocessing
from mnistlab.data.prepare import deskew, scale
from mnistlab.evaluation import corruptions as C
from mnistlab.evaluation.mnist_c import CORRUPTIONS as MNIST_C
from mnistlab.evaluation.mnist_c import PUBLISHED_SOURCE, SETTINGS
from mnistlab.evaluation.robustness import (
    CLEAN,
    conditions,
    corruption_strip,
    curve_counts,
    curve_rows,
    evaluate_mnist_c,
    evaluate_robustness,
    load_test_subset,
    mnist_c_counts,
    mnist_c_strip,
    mnist_c_summary,
    summary,
)
from mnistlab.evidence.robustness_pairs import PAIRED_COLUMNS, paired_tests, svm_pair
from mnistlab.reporting import robustness_figures as F

RANDOM = [name for name, family in C.FAMILIES.items() if family.random]
SMALL = {"rotation": [30, 60], "scale": [0.8], "noise": [0.3], "stroke": [-1, 1], "occlusion": [10]}


@pytest.fixture(scope="module")
def digits(sample_test) -> tuple[np.ndarray, np.ndarray]:
    """The first 200 sample test digits, scaled to [0, 1] (not deskewed), and their labels."""
    x, y = sample_test
    return scale(x[:200]), y[:200]


def centre_of_mass(images: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[:28, :28]
    mass = images.sum(axis=(1, 2))
    return np.stack([(images * rows).sum(axis=(1, 2)) / mass, (images * cols).sum(axis=(1, 2)) / mass], 1)


def with_margin(images: np.ndarray, margin: int) -> np.ndarray:
    """The images, shrunk to 60% about the centre, whose ink stays ``margin`` pixels from every border."""
    images = C.scale(images, 0.6)
    ink = images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    edges = np.concatenate([rows[:, :margin], rows[:, -margin:], cols[:, :margin], cols[:, -margin:]], axis=1)
    keep = ~edges.any(axis=1)
    return images[keep]


@pytest.mark.parametrize("name", list(C.FAMILIES))
def test_identity_severity_returns_the_images(digits, name):
    x, _ = digits
    family = C.FAMILIES[name]
    np.testing.assert_array_equal(C.corrupt(x, name, family.identity, seed=3), x)
    np.testing.assert_allclose(family.func(x, family.identity, np.random.default_rng(0)), x, atol=1e-6)


@pytest.mark.parametrize("name", list(C.FAMILIES))
def test_every_default_severity_keeps_shape_dtype_range_and_is_seeded(digits, name):
    x, _ = digits
    for severity in C.DEFAULT_CORRUPTIONS[name]:
        out = C.corrupt(x, name, severity, seed=0)
        assert out.shape == x.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert not np.array_equal(out, x)
        np.testing.assert_array_equal(C.corrupt(x, name, severity, seed=0), out)
        if name in RANDOM:
            assert not np.array_equal(C.corrupt(x, name, severity, seed=1), out)


def test_rotation_matches_scipy_and_four_quarter_turns_return_the_image(digits):
    x, _ = digits
    reference = np.stack([ndimage.rotate(image, 30, reshape=False, order=1) for image in x[:10]])
    np.testing.assert_allclose(C.rotate(x[:10], 30), np.clip(reference, 0, 1), atol=1e-5)
    turned = x
    for _ in range(4):
        turned = C.rotate(turned, 90)
    np.testing.assert_allclose(turned, x, atol=1e-5)
    # seeded directions: some images turn clockwise, some counter-clockwise
    mixed = C.rotate(x, 30, np.random.default_rng(0))
    clockwise = C.rotate(x, -30)
    same = np.all(np.isclose(mixed, clockwise, atol=1e-6), axis=(1, 2))
    assert 0 < same.sum() < len(x)


@pytest.mark.parametrize("pixels", [2, 3.5])
def test_translation_moves_the_centre_of_mass_by_the_distance(digits, pixels):
    x = with_margin(digits[0], 5)
    assert len(x) > 100
    moved = C.translate(x, pixels, np.random.default_rng(0))
    shift = centre_of_mass(moved) - centre_of_mass(x)
    np.testing.assert_allclose(np.hypot(*shift.T), pixels, atol=1e-3)
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), x.sum(axis=(1, 2)), rtol=1e-4)
    assert np.ptp(np.arctan2(*shift.T)) > 3  # directions spread round the circle
    right = centre_of_mass(C.translate(x, pixels)) - centre_of_mass(x)
    np.testing.assert_allclose(right, np.tile([0.0, pixels], (len(x), 1)), atol=1e-3)


@pytest.mark.parametrize("factor", [0.8, 1.2])
def test_scaling_about_the_centre_scales_the_spread(digits, factor):
    x = with_margin(digits[0], 6)
    assert len(x) > 100
    centre = np.array([13.5, 13.5])
    rows, cols = np.mgrid[:28, :28]

    def spread(images):
        squared = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2
        return np.sqrt((images * squared).sum(axis=(1, 2)) / images.sum(axis=(1, 2)))

    ratio = spread(C.scale(x, factor)) / spread(x)
    assert abs(np.median(ratio) - factor) < 0.03
    np.testing.assert_array_equal(C.scale(x, 1.0), x)


def test_shear_is_undone_by_deskewing(digits):
    x = digits[0]
    sheared = C.corrupt(x, "shear", 0.6, seed=0)
    assert np.abs(deskew(sheared) - deskew(x)).mean() < 0.5 * np.abs(sheared - x).mean()


def test_noise_blur_stroke_and_occlusion_do_what_they_say(digits):
    x, _ = digits
    grey = np.full((50, 28, 28), 0.5, np.float32)
    assert abs(np.std(C.gaussian_noise(grey, 0.1, np.random.default_rng(0)) - grey) - 0.1) < 0.003
    inner = with_margin(x, 6)
    assert len(inner) > 100
    blurred = C.blur(inner, 1.0)
    np.testing.assert_allclose(blurred.sum(axis=(1, 2)), inner.sum(axis=(1, 2)), rtol=1e-3)
    assert np.all(blurred.max(axis=(1, 2)) < inner.max(axis=(1, 2)))
    ink = x.sum(axis=(1, 2))
    assert np.all(C.stroke(x, 1).sum(axis=(1, 2)) > ink) and np.all(C.stroke(x, -1).sum(axis=(1, 2)) < ink)
    assert np.all(C.stroke(x, 2).sum(axis=(1, 2)) > C.stroke(x, 1).sum(axis=(1, 2)))
    ones = np.ones((30, 28, 28), np.float32)
    for side in (6, 14, 24):
        blanked = C.occlude(ones, side, np.random.default_rng(0)) == 0
        assert np.all(blanked.sum(axis=(1, 2)) == side * side)
        if side <= 20:  # inside the central 20x20 box
            assert not blanked[:, :4].any() and not blanked[:, :, 24:].any()


def test_bad_corruptions_are_one_line_errors():
    with pytest.raises(MnistlabError, match=r"^robustness.corruptions: unknown corruption 'zoom', expected"):
        C.check_corruptions({"zoom": [1.2]})
    with pytest.raises(MnistlabError, match=r"^robustness.corruptions: noise = 1.5: expected a severity in"):
        C.check_corruptions({"noise": [0.2, 1.5]})
    with pytest.raises(MnistlabError, match="^corruption: scale = 0: "):
        C.corrupt(np.zeros((1, 28, 28), np.float32), "scale", 0)


def test_conditions_put_clean_first_and_skip_identity_severities():
    assert conditions({"scale": [0.8, 1.0, 1.2], "blur": [0, 1]}) == [CLEAN, ("scale", 0.8), ("scale", 1.2),
                                                                      ("blur", 1.0)]


class CentroidPredictor:
    """Nearest class mean of deskewed training digits; counts its predict_proba calls."""

    n_params = 7840

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.means = np.stack([x[y == d].mean(axis=0).ravel() for d in range(10)])
        self.calls = 0

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        distance = ((images.reshape(len(images), -1)[:, None, :] - self.means[None]) ** 2).sum(-1)
        proba = np.exp(-(distance - distance.min(axis=1, keepdims=True)))
        return proba / proba.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def centroid(sample_train) -> CentroidPredictor:
    x, y = sample_train
    return CentroidPredictor(deskew(scale(x[:3000])), y[:3000])


def test_evaluate_robustness_scores_every_model_on_every_condition(digits, centroid):
    x, y = digits
    models = {"a": centroid, "b": centroid}
    result = evaluate_robustness(models, x, y, SMALL, deskew=True, seed=0, batch_size=500)
    n_conditions = 1 + sum(len(s) for s in SMALL.values())
    assert result.conditions == conditions(SMALL)
    assert result.correct["a"].shape == (n_conditions, len(y)) and result.correct["a"].dtype == bool
    clean = (centroid.predict_proba(deskew(x)).argmax(1) == y).mean()
    assert result.accuracy("a", "clean", 0) == pytest.approx(clean)
    assert clean > 0.6
    assert result.accuracy("a", "rotation", 60) < result.accuracy("a", "rotation", 30) < clean
    calls = centroid.calls
    again = evaluate_robustness({"a": centroid}, x, y, SMALL, deskew=True, seed=0, batch_size=10**6)
    assert centroid.calls == calls + 1  # one call for all conditions
    np.testing.assert_array_equal(again.correct["a"], result.correct["a"])

    table = summary(result)
    assert list(table["a"]) == ["clean", *SMALL, "mean_corruption_accuracy"]
    rotation = np.mean([result.accuracy("a", "rotation", s) for s in (30, 60)])
    assert table["a"]["rotation"] == pytest.approx(rotation, abs=1e-5)
    rows = curve_rows(result, SMALL)
    assert [r["severity"] for r in rows["stroke"] if r["model"] == "a"] == [-1.0, 0.0, 1.0]
    scale_08 = round(result.accuracy("a", "scale", 0.8), 5)
    assert rows["scale"][0] == {"model": "a", "severity": 0.8, "accuracy": scale_08}


def test_corruption_strip_holds_every_severity_with_the_identity_first(digits):
    x, _ = digits
    strip = corruption_strip(x[0], {"rotation": [60, 30], "stroke": [1, -1]}, seed=0)
    assert list(strip) == ["rotation", "stroke"]
    assert [s for s, _ in strip["rotation"]] == [0.0, 30.0, 60.0]
    assert [s for s, _ in strip["stroke"]] == [-1.0, 0.0, 1.0]
    np.testing.assert_array_equal(strip["rotation"][0][1], x[0])  # the identity is the digit itself
    np.testing.assert_array_equal(strip["rotation"][2][1], C.corrupt(x[:1], "rotation", 60, 0)[0])
    assert all(image.shape == (28, 28) for row in strip.values() for _, image in row)
    with pytest.raises(MnistlabError, match="unknown corruption 'zoom'"):
        corruption_strip(x[0], {"zoom": [1.2]}, seed=0)
    seen = corruption_strip(x[0], {"rotation": [60, 30], "shear": [0.6]}, seed=0, deskew=True)
    np.testing.assert_allclose(seen["rotation"][0][1], deskew(x[:1])[0], atol=1e-6)  # as the models see it
    np.testing.assert_allclose(seen["shear"][1][1], deskew(C.corrupt(x[:1], "shear", 0.6, 0))[0], atol=1e-6)


def test_curve_counts_give_the_correct_images_per_severity(digits, centroid):
    x, y = digits
    result = evaluate_robustness({"a": centroid}, x, y, SMALL, deskew=True, seed=0)
    counts = curve_counts(result, SMALL)
    assert list(counts) == list(SMALL)
    stroke = counts["stroke"]
    assert [(r["severity"], r["clean"]) for r in stroke] == [(-1.0, False), (0.0, True), (1.0, False)]
    assert all(r["n"] == len(y) and r["model"] == "a" for r in stroke)
    for row in counts["rotation"]:
        assert row["correct"] / row["n"] == pytest.approx(result.accuracy("a", "rotation", row["severity"]))
    assert counts["scale"][1] == {"model": "a", "severity": 1.0, "clean": True,
                                  "correct": int(result.correct["a"][0].sum()), "n": len(y)}


def test_the_paired_svms_come_from_the_registry():
    assert svm_pair() == ("svm_pixels", "svm_gabor")


def test_paired_tests_compare_two_models_per_severity(digits, centroid):
    x, y = digits
    result = evaluate_robustness({"svm_pixels": centroid, "svm_gabor": centroid}, x, y, SMALL, seed=0)
    rows = paired_tests(result, "svm_pixels", "svm_gabor", ("rotation", "scale"))
    assert [(r["corruption"], r["severity"]) for r in rows] == [CLEAN, ("rotation", 30), ("rotation", 60),
                                                                ("scale", 0.8)]
    assert all(tuple(r) == PAIRED_COLUMNS for r in rows)
    assert all(r["a_only"] == r["b_only"] == 0 and r["p_value"] == r["p_holm"] == 1.0 for r in rows)
    assert all(r["diff"] == r["low"] == r["high"] == 0.0 for r in rows)
    noisy = np.random.default_rng(0).random(result.correct["svm_gabor"].shape) < 0.5
    result.correct["svm_gabor"] = noisy  # a coin: much worse than the centroid model everywhere
    rows = paired_tests(result, "svm_pixels", "svm_gabor", ("rotation",))
    assert [r["corruption"] for r in rows] == ["clean", "rotation", "rotation"]
    assert all(r["low"] <= r["diff"] <= r["high"] and r["p_value"] <= r["p_holm"] for r in rows)
    assert rows[0]["diff"] > 0 and rows[0]["p_holm"] < 1e-3
    with pytest.raises(MnistlabError, match="model torch_cnn was not evaluated"):
        paired_tests(result, "torch_cnn", "svm_gabor")


def test_test_subset_is_stratified_and_seeded():
    images, labels, index = load_test_subset(SAMPLE, 500, seed=0)
    assert images.shape == (500, 28, 28) and images.dtype == np.float32 and images.max() <= 1.0
    assert np.all(np.bincount(labels, minlength=10) >= 40)
    np.testing.assert_array_equal(load_test_subset(SAMPLE, 500, seed=0)[2], index)
    assert not np.array_equal(load_test_subset(SAMPLE, 500, seed=1)[2], index)
    with pytest.raises(MnistlabError, match="robustness.test_size = 5000: only 2000 images"):
        load_test_subset(SAMPLE, 5000, seed=0)


def linear_net(x: np.ndarray, y: np.ndarray, path: Path, fit: bool) -> None:
    """A one-layer NumPy network (ridge regression weights, or its random init) saved to ``path``."""
    from mnistlab.nn.model import build_mlp

    net = build_mlp([], init="he", rng=np.random.default_rng(0))
    if fit:
        flat = x.reshape(len(x), -1).astype(np.float64)
        target = np.eye(10)[y] * 10.0 - 5.0
        net.layers[0].params["W"][...] = np.linalg.solve(flat.T @ flat + np.eye(784), flat.T @ target)
    net.save(path)


def run_stage(tmp_path: Path, models: Path, monkeypatch, *extra: str, mnist_c_dir: str | None = None
              ) -> dict[str, Path]:
    """Run stages/robustness.py's ``main`` on the sample's test digits with small settings;
    returns the output paths by option name."""
    spec = importlib.util.spec_from_file_location("robustness_stage", REPO / "stages" / "robustness.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    small = {"test_size": 300, "seed": 0, "corruptions": SMALL, "batch_size": 2000,
             "mnist_c_dir": mnist_c_dir}
    params = yaml.safe_load((REPO / "params.yaml").read_text())  # every key, small robustness settings
    params["robustness"] = small
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    write_preprocessing(tmp_path, "auto", True, "mnist")
    out = {name: tmp_path / rel for name, rel in [
        ("metrics", "metrics/robustness.json"), ("plots", "plots/robustness"),
        ("mnist_c_plot", "plots/mnist_c.csv"), ("curves", "plots/images/robustness_curves.png"),
        ("strip", "plots/images/corruption_strip.png"), ("mnist_c_figure", "plots/images/mnist_c_errors.png"),
        ("mnist_c_strip", "plots/images/mnist_c_strip.png"), ("report", "reports/robustness.md"),
        ("correct", "data/evaluation/robustness_correct.npz")]}
    stage.main(["--params", str(tmp_path / "params.yaml"), "--raw", str(SAMPLE), "--models", str(models),
                "--preprocessing", str(tmp_path / PREPROCESSING_JSON),
                *(arg for name, path in out.items() for arg in (f"--{name.replace('_', '-')}", str(path))),
                *extra])
    return out


def test_stage_writes_every_output(tmp_path, sample_train, monkeypatch):
    x, y = sample_train
    models = tmp_path / "models"
    linear_net(deskew(scale(x[:1500])), y[:1500], models / "mlp_sgd-he.npz", fit=True)
    linear_net(x[:10], y[:10], models / "mlp_adam-he.npz", fit=False)
    out = run_stage(tmp_path, models, monkeypatch)

    metrics = json.loads(out["metrics"].read_text())
    assert list(metrics) == ["mlp_sgd-he", "mlp_adam-he"]
    assert metrics["mlp_sgd-he"]["clean"] > 0.7 > metrics["mlp_adam-he"]["clean"]
    assert 0 < metrics["mlp_sgd-he"]["mean_corruption_accuracy"] < metrics["mlp_sgd-he"]["clean"]
    assert sorted(p.stem for p in out["plots"].glob("*.csv")) == sorted(SMALL)
    header, *lines = (out["plots"] / "rotation.csv").read_text().splitlines()
    assert header == "model,severity,accuracy" and len(lines) == 2 * 3
    for name in ("curves", "strip", "mnist_c_figure", "mnist_c_strip"):
        assert out[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for model in metrics:  # MNIST-C: every model, every corruption, on all 2,000 sample test digits
        errors = metrics[model]["mnist_c"]
        assert list(errors) == ["clean", *MNIST_C, "mce", "relative_mce"]
        assert errors["mce"] == pytest.approx(np.mean([errors[c] for c in MNIST_C]), abs=1e-4)
        assert errors["relative_mce"] == pytest.approx(errors["mce"] - errors["clean"], abs=1e-4)
    assert metrics["mlp_sgd-he"]["mnist_c"]["clean"] < 0.3 < metrics["mlp_sgd-he"]["mnist_c"]["mce"] < 0.9
    header, *lines = out["mnist_c_plot"].read_text().splitlines()
    assert header == "model,corruption,error,low,high" and len(lines) == 2 * 16
    report = out["report"].read_text()
    assert "scaling to [0, 1] and deskewing" in report and "| `fog` |" in report
    assert "(../plots/images/mnist_c_errors.png)" in report and PUBLISHED_SOURCE in report
    with np.load(out["correct"]) as data:
        assert data["mlp_sgd-he"].shape == (1 + 7, 300) and data["mlp_sgd-he"].dtype == bool
        assert list(data["corruption"][:2]) == ["clean", "rotation"] and len(data["test_index"]) == 300
        assert data["mlp_sgd-he"][0].mean() == pytest.approx(metrics["mlp_sgd-he"]["clean"], abs=1e-5)
        assert list(data["mnist_c_sets"]) == ["identity", *MNIST_C]  # all 2,000 digits, every set
        per_set = data["mnist_c.mlp_sgd-he"]
        assert per_set.shape == (16, 2000) and per_set.dtype == bool
        assert 1 - per_set.mean(axis=1) == pytest.approx(
            [metrics["mlp_sgd-he"]["mnist_c"][c] for c in ["clean", *MNIST_C]], abs=1e-4)


def test_stage_compares_the_two_svms_on_rotation_and_scale(tmp_path, sample_train, monkeypatch):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.svm import SVC

    from mnistlab.models.registry import model_file
    from mnistlab.models.svm import PixelFeatures, SVMModel, save_svm

    x, y = sample_train
    features = PixelFeatures(14)
    train, val = features.transform(deskew(scale(x[:600]))), features.transform(deskew(scale(x[600:900])))
    models = tmp_path / "models"
    for name, penalty in (("svm_pixels", 5.0), ("svm_gabor", 0.05)):  # two pixel SVMs under the SVMs' names
        svc = SVC(C=penalty).fit(train, y[:600])
        calibrated = CalibratedClassifierCV(FrozenEstimator(svc), method="sigmoid").fit(val, y[600:900])
        save_svm(SVMModel(features, calibrated), model_file(name, models))
    paired = tmp_path / "reports" / "robustness_svm_pairs.csv"
    out = run_stage(tmp_path, models, monkeypatch, "--paired", str(paired))

    assert list(json.loads(out["metrics"].read_text())) == ["svm_pixels", "svm_gabor"]
    header, *lines = paired.read_text().splitlines()
    assert header == "corruption,severity,accuracy_a,accuracy_b,diff,low,high,a_only,b_only,p_value,p_holm"
    assert [line.split(",")[0] for line in lines] == ["clean", "rotation", "rotation", "scale"]


def test_stage_scores_the_official_mnist_c_files_when_given(tmp_path, sample_train, monkeypatch):
    x, y = sample_train
    models = tmp_path / "models"
    linear_net(deskew(scale(x[:1500])), y[:1500], models / "mlp_sgd-he.npz", fit=True)
    official = tmp_path / "mnist_c"
    for name in MNIST_C:  # 12 images of the corruption's name, labelled by a constant digit
        (official / name).mkdir(parents=True)
        np.save(official / name / "test_images.npy", np.zeros((12, 28, 28, 1), np.uint8))
        np.save(official / name / "test_labels.npy", np.full(12, 7, np.uint8))
    out = run_stage(tmp_path, models, monkeypatch, mnist_c_dir=str(official))
    rows = out["mnist_c_plot"].read_text().splitlines()[1:]
    assert len(rows) == 16 and all(line.endswith(tuple("0123456789")) for line in rows)
    assert "the official MNIST-C files" in out["report"].read_text()
    errors = json.loads(out["metrics"].read_text())["mlp_sgd-he"]["mnist_c"]
    assert set(errors) == {"clean", *MNIST_C, "mce", "relative_mce"}
    assert len({errors[c] for c in MNIST_C}) == 1  # the same blank images, labelled 7, for every corruption
    with np.load(out["correct"]) as data:  # 12 corrupted images against 2,000 clean: no pairing by image
        assert "mnist_c_sets" not in data.files and "mlp_sgd-he" in data.files
    (tmp_path / "again").mkdir()
    with pytest.raises(SystemExit):  # a missing folder: one line naming the key, nothing written
        run_stage(tmp_path / "again", models, monkeypatch, mnist_c_dir=str(tmp_path / "nowhere"))
    assert not (tmp_path / "again" / "metrics").exists()


def test_robustness_figures_and_report(tmp_path, digits, centroid):
    x, y = digits
    result = evaluate_robustness({"a": centroid, "b": centroid}, x, y, SMALL, seed=0)
    counts = curve_counts(result, SMALL)
    units = {family: C.FAMILIES[family].unit for family in SMALL}
    F.plot_robustness_curves(counts, units, tmp_path / "curves.png", "scaling and deskewing")
    F.plot_corruption_strip(corruption_strip(x[0], SMALL, 0, deskew=True), tmp_path / "strip.png",
                            label=int(y[0]), view="after deskewing")
    raw = (x[:40] * 255).round().astype(np.uint8)
    mnist = evaluate_mnist_c({"a": centroid, "b": centroid}, raw, y[:40], deskew=True)
    rows = mnist_c_counts(mnist)
    assert len(rows) == 2 * 16 and rows[0]["corruption"] == "clean" and rows[0]["n"] == 40
    F.plot_mnist_c_errors(rows, tmp_path / "mnist_c.png", published={"paper CNN": {"fog": 0.5}})
    strip = mnist_c_strip(raw[0], 0, deskew=True)
    assert [name for name, _, _ in strip] == ["clean", *MNIST_C]
    F.plot_mnist_c_strip(strip, tmp_path / "mnist_c_strip.png", label=int(y[0]))
    for name in ("curves", "strip", "mnist_c", "mnist_c_strip"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    errors = mnist_c_summary(mnist)
    text = F.robustness_report(errors, rows, counts, SETTINGS, units, "scaling and deskewing", "generated",
                               {"paper CNN": {"fog": 0.5}}, "Table 9 of a paper", {"curves": "curves.png"})
    assert "| corruption | setting | a | b | published: paper CNN |" in text
    assert "| `fog` | " + SETTINGS["fog"] in text and "| 50.00 |" in text
    assert "Source: Table 9 of a paper" in text
    assert "**rotation**: severity in degrees" in text and "![curves](curves.png)" in text
    assert F.wilson(0, 0)[0] != F.wilson(0, 0)[0]  # nan without images
    low, high = F.wilson(90, 100)
    assert low < 0.9 < high
    from mnistlab.models.registry import MODELS
    from mnistlab.reporting.palette import model_color

    styles = F.model_styles(list(MODELS))  # the project's palette: a distinct colour per model
    assert len(set(styles.values())) == len(MODELS) == len({colour for colour, _ in styles.values()})
    assert all(colour == model_color(name) for name, (colour, _) in styles.items())
