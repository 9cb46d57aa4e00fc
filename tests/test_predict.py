"""`mnistlab predict`: MNIST-style preprocessing of arbitrary images, output formats, user errors."""

import io
import json
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, JpegImagePlugin
from support.params import write_params

from mnistlab.cli import predict
from mnistlab.cli.images import MAX_PIXELS, MAX_SIDE, read_image, shrink
from mnistlab.cli.main import main
from mnistlab.cli.predict import default_deskew, to_mnist
from mnistlab.core.io import read_split
from mnistlab.data.prepare import deskew, scale
from mnistlab.features.pixels import PixelFeatures
from mnistlab.models.svm import SVMModel, fit_svm, save_svm


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
    from mnistlab.core.errors import MnistlabError

    with pytest.raises(MnistlabError, match="blank image"):
        to_mnist(np.full((50, 50), 255, dtype=np.uint8))


# -- large images ----------------------------------------------------------------------------------

def write_grey_png(path: Path, width: int, height: int, ink: tuple[int, int, int, int]) -> None:
    """A valid 8-bit grey PNG, white with a black rectangle ``ink`` = (top, left, bottom, right).

    Written without holding the image: each distinct row is deflated once, ending in a full flush
    (byte-aligned, no back references), so it can be repeated; the zlib stream is a header, those
    pieces, an empty final block and the Adler-32 of all rows. A 20000 x 20000 file takes ~0.3 s.
    """
    top, left, bottom, right = ink
    white = b"\x00" + b"\xff" * width  # filter byte "none", then the row
    dark = white[: 1 + left] + b"\x00" * (right - left) + white[1 + right :]
    runs = [(white, top), (dark, bottom - top), (white, height - bottom)]
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)  # raw deflate: header and checksum are ours
    adler, body = 1, [b"\x78\x01"]
    for row, count in runs:
        piece = deflate.compress(row) + deflate.flush(zlib.Z_FULL_FLUSH)
        body.append(piece * count)
        for _ in range(count):
            adler = zlib.adler32(row, adler)
    body.append(b"\x03\x00" + struct.pack(">I", adler))  # empty final block, Adler-32

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, not interlaced
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body))
                     + chunk(b"IEND", b""))


def test_grey_png_writer_writes_what_pillow_reads(tmp_path):
    path = tmp_path / "bar.png"
    write_grey_png(path, 50, 40, (10, 20, 30, 25))
    expected = np.full((40, 50), 255, dtype=np.uint8)
    expected[10:30, 20:25] = 0
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), expected)


def test_huge_png_is_shrunk_on_read_with_bounded_memory(tmp_path):
    """10000 x 10000 (100 megapixels, over Pillow's default warning limit): read silently, shrunk to
    MAX_SIDE, with peak memory near the 100 MB of the decoded image (before: 1.7 GB)."""
    path = tmp_path / "huge.png"
    write_grey_png(path, 10_000, 10_000, (2_000, 4_500, 8_000, 5_500))  # a 6000 x 1000 bar: a "1"
    script = (
        "import re, sys\n"
        "from mnistlab.cli.predict import prepare_images\n"
        "x, errors = prepare_images([sys.argv[1]], deskew=False)\n"
        # VmHWM (peak resident memory of this program): unlike ru_maxrss it does not carry over the
        # memory of the (large) pytest process that forked this one
        "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print(x.shape, errors, peak // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                            check=True)
    assert result.stderr == ""  # no DecompressionBombWarning or other Pillow text
    assert result.stdout.startswith("(1, 28, 28) [None] ")
    peak_mib = int(result.stdout.split()[-1])
    assert peak_mib < 400, f"peak memory {peak_mib} MiB"


def test_huge_png_through_the_command(svm_model, tmp_path, capsys):
    path = tmp_path / "huge.png"
    write_grey_png(path, 10_000, 10_000, (2_000, 4_500, 8_000, 5_500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["predict", str(path), "--model", str(svm_model), "--deskew"]) == 0
    assert caught == []
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: ") and out.count("\n") == 1 and err == ""


def test_image_over_the_pixel_limit_is_one_line_naming_its_size(svm_model, tmp_path, capsys):
    huge, good = tmp_path / "huge.png", tmp_path / "good.png"
    write_grey_png(huge, 20_000, 20_000, (4_000, 9_000, 16_000, 11_000))  # valid, 400 megapixels
    Image.fromarray(l_shape()).save(good)
    start = time.perf_counter()
    assert main(["predict", str(huge), str(good), "--model", str(svm_model)]) == 2
    assert time.perf_counter() - start < 5  # refused from the header, never decoded
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: ") and out.count("\n") == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {huge}: image of 20000 x 20000 pixels")
    assert f"limit of {MAX_PIXELS / 1e6:.0f} megapixels" in err and "Decompression" not in err


def test_large_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(l_shape(background=255, ink=0)).resize((3072, 4096)).save(path, quality=90)
    image = read_image(path)
    assert image.size == (384, 512) and max(image.size) == MAX_SIDE
    assert isinstance(image, JpegImagePlugin.JpegImageFile)  # decoded at 1/8 scale, not shrunk after
    np.testing.assert_allclose(to_mnist(image), to_mnist(l_shape()), atol=0.15)


def test_exif_orientation_survives_shrinking(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turned 90 degrees clockwise
    Image.fromarray(l_shape(background=255, ink=0)).resize((1800, 2400)).save(path, exif=exif.tobytes())
    with Image.open(path) as full:
        expected = to_mnist(ImageOps.exif_transpose(full))
    np.testing.assert_allclose(to_mnist(read_image(path)), expected, atol=0.1)
    assert not np.allclose(to_mnist(read_image(path)), to_mnist(l_shape()), atol=0.1)


def big_l(mode: str) -> Image.Image:
    """The 'L' of :func:`l_shape`, 10 times larger (1200 x 900), black ink on white, in ``mode``."""
    grey = Image.fromarray(l_shape(background=255, ink=0)).resize((900, 1200), Image.Resampling.NEAREST)
    if mode == "I;16":
        return Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    if mode in ("RGBA", "LA", "P+transparency"):
        image = grey.convert("RGBA") if mode != "LA" else grey.convert("LA")
        image.putalpha(Image.fromarray(255 - np.asarray(grey)))  # ink opaque, paper transparent
        if mode != "P+transparency":
            return image
        buffer = io.BytesIO()
        image.quantize(4).save(buffer, "PNG")  # a palette PNG with a tRNS chunk, as read from a file
        return Image.open(buffer)
    return grey.convert(mode)


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGB", "RGBA", "LA", "P+transparency", "I;16", "F"])
def test_shrinking_keeps_the_digit_in_every_mode(mode):
    image = big_l(mode)
    small = shrink(image, max_side=300)
    assert small.size == (225, 300) and "transparency" not in small.info
    assert small.mode == {"1": "L", "P": "L", "P+transparency": "RGBA"}.get(mode, image.mode)
    np.testing.assert_allclose(to_mnist(small), to_mnist(l_shape()), atol=0.15)


def test_shrink_leaves_small_images_alone():
    image = Image.fromarray(l_shape())
    assert shrink(image) is image and max(image.size) <= MAX_SIDE


# -- the command -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def svm_model(prepared_dir, tmp_path_factory):
    """A pixel SVM trained on the sample's prepared (deskewed) splits, saved as it is in models/."""
    train, val = read_split(prepared_dir / "train.npz"), read_split(prepared_dir / "val.npz")
    front = PixelFeatures(14)
    classifier, _ = fit_svm(front.transform(train.x), train.y, front.transform(val.x), val.y,
                            C=5.0, gamma="scale")
    path = tmp_path_factory.mktemp("models") / "svm_pixels.skops"
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
    expected = predict.load_model(svm_model).predict_proba(deskew(scale(images))).argmax(axis=1)
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
    write_params(tmp_path, {"prepare": {"deskew": False}})
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


BAD_IMAGES = [(blank_png, "blank image"), (text_file, "not an image file"), (empty_file, "not an image file"),
              (truncated_png, "cannot decode"), (Path.mkdir, "is a folder"), (None, "file not found")]


@pytest.mark.parametrize(("make", "message"), BAD_IMAGES)
def test_bad_image_exits_2_with_one_line(svm_model, tmp_path, capsys, make, message):
    path = tmp_path / "input.png"
    if make is not None:
        make(path)
    assert main(["predict", str(path), "--model", str(svm_model)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {path}: ")
    assert message in err and "expected" in err


def test_bad_images_among_good_ones_each_get_their_line_in_order(svm_model, tmp_path, capsys):
    paths, bad = [], []
    for i, (make, _) in enumerate(BAD_IMAGES):
        good = tmp_path / f"good{i}.png"
        Image.fromarray(l_shape()).save(good)
        path = tmp_path / f"bad{i}.png"
        if make is not None:
            make(path)
        paths += [str(good), str(path)]
        bad.append(str(path))
    assert main(["predict", *paths, "--model", str(svm_model)]) == 2
    out, err = capsys.readouterr()
    assert [line.split(": ")[0] for line in out.splitlines()] == paths[::2]
    assert all(line.endswith(")") and "probability" in line for line in out.splitlines())
    err_lines = err.splitlines()
    assert [line.split(": ")[1] for line in err_lines] == bad
    for line, (_, message) in zip(err_lines, BAD_IMAGES, strict=True):
        assert line.startswith("error: ") and message in line and "expected" in line


def test_json_has_one_object_per_image_with_error_for_failed_ones(svm_model, tmp_path, capsys):
    good, blank, missing = tmp_path / "good.png", tmp_path / "blank.png", tmp_path / "missing.png"
    Image.fromarray(l_shape()).save(good)
    blank_png(blank)
    paths = [str(blank), str(good), str(missing), str(good)]
    assert main(["predict", *paths, "--model", str(svm_model), "--json"]) == 2
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [row["image"] for row in rows] == paths
    assert [sorted(row) for row in rows] == [["error", "image"], ["digit", "image", "probabilities",
                                             "probability"], ["error", "image"],
                                             ["digit", "image", "probabilities", "probability"]]
    assert rows[0]["error"].startswith("blank image") and rows[2]["error"].startswith("file not found")
    assert rows[1] == rows[3]
    assert err == 'error: 2 of 4 images could not be classified (see "error" in the JSON)\n'


def test_paths_are_named_as_given(svm_model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(l_shape()).save("good.png")
    assert main(["predict", "./good.png", "./missing.png", "--model", str(svm_model), "--json"]) == 2
    rows = json.loads(capsys.readouterr().out)
    assert [row["image"] for row in rows] == ["./good.png", "./missing.png"]
    assert rows[1]["error"].startswith("file not found")
    assert main(["predict", "./missing.png", "--model", str(svm_model)]) == 2
    assert capsys.readouterr().err.startswith("error: ./missing.png: file not found")


def test_missing_model_exits_2_before_reading_images(tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray(l_shape()).save(image)
    for model in ("models/none.skops", "models/none.npz", "models/none.pt"):
        assert_model_error(image, tmp_path / model, "model file not found", capsys)


def test_malformed_model_file_is_one_line(tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray(l_shape()).save(image)
    model = tmp_path / "model.npz"
    model.write_text("not a model\n")
    assert_model_error(image, model, "", capsys)
    assert_model_error(image, tmp_path / "model.txt", "unknown model type", capsys)


def assert_model_error(image, model, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(image), str(image.parent / "missing.png"), "--model", str(model)])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {model}: ") and message in err


def test_python_m_mnistlab_predict_reports_errors(tmp_path):
    image = tmp_path / "notes.txt"
    text_file(image)
    result = subprocess.run(
        [sys.executable, "-m", "mnistlab", "predict", str(image), "--model", str(tmp_path / "m.pt")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
