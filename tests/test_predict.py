"""`mnistlab predict`: MNIST-style preprocessing of arbitrary images, output formats, user errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnistlab.cli import main
from mnistlab.data.prepare import deskew, load_split, scale
from mnistlab.predict import default_deskew, to_mnist
from mnistlab.svm import PixelFeatures, SVMModel, fit_svm, save_svm


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(image.shape)
    return np.array([(image * rows).sum(), (image * cols).sum()]) / image.sum()


def ink_box(image: np.ndarray, threshold: float = 0.3) -> tuple[int, int]:
    """Height and width of the box of pixels above ``threshold``."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    cols = np.flatnonzero((image > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def canvas(shape=(120, 90), background=0) -> np.ndarray:
    return np.full(shape, background, dtype=np.uint8)


def l_shape(background=0, ink=255) -> np.ndarray:
    """An asymmetric 'L' (60 x 30 pixels, strokes 8 wide) off-centre in a 120 x 90 picture."""
    image = canvas(background=background)
    image[10:70, 50:58] = ink  # vertical stroke
    image[62:70, 50:80] = ink  # foot to the right
    return image


def test_light_on_dark_is_cropped_scaled_to_20_and_centred_by_mass():
    out = to_mnist(l_shape())
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() == pytest.approx(1.0, abs=0.02)
    assert ink_box(out) == (20, 10)  # 60 x 30 -> 20 x 10: the longer side is 20, aspect kept
    np.testing.assert_allclose(centre_of_mass(out), (14, 14), atol=1.0)


def test_dark_on_light_is_inverted():
    np.testing.assert_allclose(to_mnist(l_shape(background=255, ink=0)), to_mnist(l_shape()), atol=1e-6)


def test_grey_background_and_faint_ink_are_normalised():
    """Grey paper (200) with grey pencil (120): same digit as white ink on black."""
    np.testing.assert_allclose(to_mnist(l_shape(background=200, ink=120)), to_mnist(l_shape()), atol=1e-5)


def test_wide_digit_keeps_aspect_ratio():
    image = canvas((100, 200))
    image[40:50, 20:180] = 255  # 10 x 160 bar
    out = to_mnist(image)
    height, width = ink_box(out)
    assert width == 20 and height in (1, 2)


def test_small_digit_is_scaled_up():
    image = canvas((28, 28))
    image[2:8, 3:6] = 255  # 6 x 3 in a corner
    out = to_mnist(image)
    assert ink_box(out, 0.5) == (20, 10)
    np.testing.assert_allclose(centre_of_mass(out), (14, 14), atol=1.0)


def test_colour_and_transparent_inputs():
    grey = l_shape(background=255, ink=0)
    rgb = np.stack([grey, grey, grey], axis=-1)
    rgb[grey == 0] = (0, 0, 160)  # dark blue ink on white
    expected = to_mnist(grey)
    np.testing.assert_allclose(to_mnist(Image.fromarray(rgb)), expected, atol=0.02)
    np.testing.assert_allclose(to_mnist(rgb), expected, atol=0.02)
    rgba = np.zeros((*grey.shape, 4), dtype=np.uint8)
    rgba[grey == 0] = (0, 0, 0, 255)  # black ink on a transparent background
    np.testing.assert_allclose(to_mnist(Image.fromarray(rgba)), expected, atol=1e-6)


def test_float_array_and_pil_grey_agree():
    image = l_shape()
    np.testing.assert_allclose(to_mnist(image.astype(np.float32) / 255), to_mnist(Image.fromarray(image)),
                               atol=1e-6)


def test_mnist_image_comes_back_almost_unchanged(sample_test):
    images = scale(sample_test[0][:200])
    out = np.stack([to_mnist(image) for image in images])
    same = np.abs(out - images).max(axis=(1, 2)) < 0.3  # only faint edges outside the box dropped
    assert same.mean() > 0.9
    coms = np.stack([centre_of_mass(image) for image in out])
    assert np.abs(coms - 14).max() <= 1.0


def test_blank_image_is_an_error():
    from mnistlab.errors import MnistlabError

    with pytest.raises(MnistlabError, match="blank image"):
        to_mnist(np.full((50, 50), 255, dtype=np.uint8))


# -- the command -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def svm_model(prepared_dir, tmp_path_factory):
    """A pixel SVM trained on the sample's prepared (deskewed) splits, saved as .joblib."""
    train, val = load_split("train", prepared_dir), load_split("val", prepared_dir)
    front = PixelFeatures(14)
    classifier, _ = fit_svm(front.transform(train.x), train.y, front.transform(val.x), val.y,
                            C=5.0, gamma="scale")
    path = tmp_path_factory.mktemp("models") / "svm_pixels.joblib"
    save_svm(SVMModel(front, classifier), path)
    return path


def test_28px_png_gets_the_same_class_as_the_prepared_array(svm_model, sample_test, tmp_path, capsys):
    images, labels = sample_test[0][:12], sample_test[1][:12]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"digit{i}.png"))
        Image.fromarray(image).save(paths[-1])
    assert main(["predict", *paths, "--model", str(svm_model), "--json", "--deskew"]) == 0
    rows = json.loads(capsys.readouterr().out)
    from mnistlab.predictors import load_predictor

    expected = load_predictor(svm_model).predict_proba(deskew(scale(images))).argmax(axis=1)
    assert [row["digit"] for row in rows] == expected.tolist()
    assert np.mean(expected == labels) >= 0.9
    assert [row["image"] for row in rows] == paths
    for row in rows:
        assert len(row["probabilities"]) == 10 and sum(row["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert row["probability"] == max(row["probabilities"])


def test_large_dark_on_light_jpeg_and_text_output(svm_model, sample_test, tmp_path, capsys):
    image, label = sample_test[0][0], int(sample_test[1][0])
    big = 255 - np.asarray(Image.fromarray(image).resize((200, 200), Image.Resampling.BICUBIC))
    path = tmp_path / "big.jpg"
    Image.fromarray(big).convert("RGB").save(path, quality=90)
    assert main(["predict", str(path), "--model", str(svm_model)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}: {label} (probability 0.") and line.endswith(")")


def test_default_deskew_follows_params_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_deskew() is True  # no params.yaml: the pipeline's default
    (tmp_path / "params.yaml").write_text("prepare:\n  deskew: false\n")
    assert default_deskew() is False


def blank_png(path):
    Image.fromarray(np.full((40, 30, 3), 250, dtype=np.uint8)).save(path)


def text_file(path):
    path.write_text("not an image\n")


def empty_file(path):
    path.write_bytes(b"")


def truncated_png(path):
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8) + 7).save(path)
    path.write_bytes(path.read_bytes()[:60])


@pytest.mark.parametrize(
    ("make", "message"),
    [(blank_png, "blank image"), (text_file, "not an image file"), (empty_file, "not an image file"),
     (truncated_png, "image"), (Path.mkdir, "is a folder"), (None, "image file not found")],
)
def test_bad_image_exits_2_with_one_line(svm_model, tmp_path, capsys, make, message):
    path = tmp_path / "input.png"
    if make is not None:
        make(path)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(path), "--model", str(svm_model)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_missing_model_exits_2(tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray(l_shape()).save(image)
    for model in ("models/none.joblib", "models/none.npz", "models/none.pt"):
        with pytest.raises(SystemExit) as exit_info:
            main(["predict", str(image), "--model", str(tmp_path / model)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "model file not found" in err


def test_python_m_mnistlab_predict_reports_errors(tmp_path):
    image = tmp_path / "notes.txt"
    text_file(image)
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "predict", str(image), "--model", str(tmp_path / "m.pt")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
