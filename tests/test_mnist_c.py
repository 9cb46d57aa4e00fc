"""MNIST-C (mnistlab.evaluation.mnist_c): each of the 15 corruptions keeps shape, range and dtype, is
deterministic under its seed and does what its name says on a constructed image; the geometric
and brightness corruptions match scikit-image's reference route; the official files are read,
checked, and scored instead of generated ones (mnistlab.evaluation.robustness.evaluate_mnist_c)."""

import numpy as np
import pytest
from skimage import color, transform

from mnistlab.core.errors import MnistlabError
from mnistlab.data.prepare import deskew, scale
from mnistlab.evaluation import mnist_c as M
from mnistlab.evaluation.robustness import IDENTITY, evaluate_mnist_c, mnist_c_sets, mnist_c_summary

DETERMINISTIC = {"scale", "brightness", "stripe", "canny_edges"}
RANDOM = [name for name in M.CORRUPTIONS if name not in DETERMINISTIC]
ROWS, COLS = np.mgrid[:28, :28]


@pytest.fixture(scope="module")
def digits(sample_test) -> tuple[np.ndarray, np.ndarray]:
    """The first 300 raw sample test digits (uint8) and their labels."""
    x, y = sample_test
    return x[:300], y[:300]


def blank(n: int = 1) -> np.ndarray:
    return np.zeros((n, 28, 28), np.uint8)


def square(n: int = 1, top: int = 9, side: int = 10) -> np.ndarray:
    """A white ``side`` x ``side`` square on black, its top-left corner at (top, top)."""
    x = blank(n)
    x[:, top : top + side, top : top + side] = 255
    return x


def centroid(images: np.ndarray) -> np.ndarray:
    """(row, col) centre of mass of each image, (N, 2)."""
    x = images.astype(np.float64)
    mass = x.sum(axis=(1, 2))
    return np.stack([(x * ROWS).sum(axis=(1, 2)) / mass, (x * COLS).sum(axis=(1, 2)) / mass], 1)


class Plus:
    """A generator stand-in whose ``choice`` always picks +1 (the reference's random signs fixed)."""

    def choice(self, values, size):
        return np.ones(size)


def reference_warp(images: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The reference route: ``skimage.transform.warp(x / 255, inverse_map=AffineTransform)`` with the
    2019 (x, y) matrix ``xy`` and the translation keeping (13.5, 13.5) fixed, rounded to uint8."""
    matrix = np.eye(3)
    matrix[:2, :2] = xy
    matrix[:2, 2] = 13.5 * (1 - xy.sum(axis=1))
    aff = transform.AffineTransform(matrix=matrix)
    out = np.stack([transform.warp(image / 255.0, inverse_map=aff) for image in images])
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


# -- every corruption --------------------------------------------------------------------------

def test_the_fifteen_corruptions_of_mnist_c():
    assert list(M.CORRUPTIONS) == ["shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear",
                                   "scale", "rotate", "brightness", "translate", "stripe", "fog", "spatter",
                                   "dotted_line", "zigzag", "canny_edges"]
    assert set(M.SETTINGS) == set(M.CORRUPTIONS)


@pytest.mark.parametrize("name", list(M.CORRUPTIONS))
def test_each_corruption_keeps_shape_dtype_and_range_and_is_seeded(digits, name):
    x, _ = digits
    before = x.copy()
    out = M.corrupt_mnist_c(x, name, seed=0)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert 0 <= out.min() and out.max() <= 255 and out.max() > 0
    np.testing.assert_array_equal(x, before)  # the input is left alone
    assert not np.array_equal(out, x)
    np.testing.assert_array_equal(M.corrupt_mnist_c(x, name, seed=0), out)
    if name in RANDOM:
        assert not np.array_equal(M.corrupt_mnist_c(x, name, seed=1), out)
    else:
        np.testing.assert_array_equal(M.corrupt_mnist_c(x, name, seed=1), out)
    assert M.corrupt_mnist_c(x[:0], name, seed=0).shape == (0, 28, 28)


def test_bad_input_and_names_are_refused():
    with pytest.raises(MnistlabError, match="unknown MNIST-C corruption 'snow', expected one of shot_noise"):
        M.corrupt_mnist_c(blank(), "snow")
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        M.corrupt_mnist_c(np.zeros((1, 28, 28), np.float32), "fog")


def test_each_corruption_has_its_own_stream():
    a = M.corruption_rng(0, "fog").random(4)
    np.testing.assert_array_equal(a, M.corruption_rng(0, "fog").random(4))
    assert not np.array_equal(a, M.corruption_rng(0, "spatter").random(4))
    assert not np.array_equal(a, M.corruption_rng(1, "fog").random(4))


# -- what each does, on constructed images ---------------------------------------------------------

def test_shot_noise_counts_photons():
    assert not M.corrupt_mnist_c(blank(50), "shot_noise").any()  # no light, no photons
    grey = np.full((200, 28, 28), 128, np.uint8)
    out = M.corrupt_mnist_c(grey, "shot_noise")
    assert set(np.unique(out)) <= {0, 85, 170, 255}  # k / 3 photons, clipped at 3
    rng = np.random.default_rng(0)
    expected = np.minimum(rng.poisson(3 * 128 / 255, 10**6), 3).mean() / 3 * 255
    assert abs(out.mean() - expected) < 1.0


def test_impulse_noise_sets_17_percent_to_black_or_white():
    grey = np.full((200, 28, 28), 128, np.uint8)
    out = M.corrupt_mnist_c(grey, "impulse_noise")
    changed = out != 128
    assert abs(changed.mean() - 0.17) < 0.005
    assert set(np.unique(out[changed])) == {0, 255}
    assert abs((out == 255).mean() - 0.085) < 0.004


def test_glass_blur_blurs_vertically_and_shuffles_locally():
    bar = blank(100)
    bar[:, 13:15, 4:24] = 255  # a horizontal bar: the vertical blur spreads it
    out = M.corrupt_mnist_c(bar, "glass_blur")
    assert np.all(out.max(axis=(1, 2)) < 255)
    assert np.all(out[:, 10:18].sum(axis=(1, 2)) > 0.8 * bar.sum(axis=(1, 2)))  # ink stays near the bar
    assert not np.array_equal(out[0], out[1])  # each image shuffled its own way
    column = blank(1)
    column[:, 4:24, 13] = 255  # a one-pixel column: the reference's blur is along rows only
    smooth = M._gaussian(column / 255.0, 0.7, 0.0)
    assert np.array_equal(smooth[0, 8:20, 12], np.zeros(12)) and smooth[0, 12, 13] > 0.99


def test_motion_blur_smears_a_dot_to_one_side_within_45_degrees():
    dot = blank(200)
    dot[:, 14, 20] = 255
    out = M.corrupt_mnist_c(dot, "motion_blur").astype(np.float64)
    ink = out > 0
    rows, cols = np.nonzero(ink.any(axis=0))
    assert ink[:, :, 21:].sum() == 0  # every tap reads to the right: the smear goes left
    length = np.array([np.ptp(np.nonzero(image.any(axis=0))[0]) for image in ink])
    assert np.all(length >= 5)
    for image in ink:  # within 45 degrees of horizontal
        r, c = np.nonzero(image)
        assert np.ptp(r) <= np.ptp(c) + 1
    assert abs(out.sum(axis=(1, 2)).mean() - 255) < 20  # the weights sum to one (rounding aside)


def test_geometric_corruptions_follow_the_reference_affine_maps(digits):
    x, _ = digits
    x = x[:40]
    s, r = 0.4, 0.4
    cases = {
        "shear": np.array([[1, -np.sin(s)], [0, np.cos(s)]]),
        "rotate": np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]]),
        "scale": np.eye(2) / 0.7,
    }
    for name, xy in cases.items():
        ours = M.CORRUPTIONS[name](x, Plus())
        diff = np.abs(ours.astype(int) - reference_warp(x, xy).astype(int))
        assert diff.max() <= 1, name
    moved = M.translate(x, Plus())  # translation [3, 3]: the digit moves 3 up and 3 left
    shifted = np.zeros_like(x)
    shifted[:, :-3, :-3] = x[:, 3:, 3:]
    np.testing.assert_array_equal(moved, shifted)


def test_shear_slants_a_vertical_bar():
    bar = blank(100)
    bar[:, 4:24, 13:15] = 255
    out = M.corrupt_mnist_c(bar, "shear")
    upper = (out[:, 4:10] * COLS[4:10]).sum(axis=(1, 2)) / out[:, 4:10].sum(axis=(1, 2))
    lower = (out[:, 18:24] * COLS[18:24]).sum(axis=(1, 2)) / out[:, 18:24].sum(axis=(1, 2))
    lean = (lower - upper) / 14.0  # columns per output row: sin(0.4), the reference's shear angle
    np.testing.assert_allclose(np.abs(lean), np.sin(0.4), atol=0.03)
    assert 0 < (lean > 0).sum() < len(lean)  # both directions drawn


def test_scale_shrinks_to_seventy_percent():
    out = M.corrupt_mnist_c(square(1, top=4, side=20), "scale")
    side = (out[0] > 127).any(axis=0).sum()
    assert side == 14  # 20 * 0.7
    np.testing.assert_allclose(centroid(out)[0], [13.5, 13.5], atol=1e-6)


def test_rotate_moves_mass_along_an_arc():
    dot = blank(100)
    dot[:, 13:15, 21:23] = 255  # centre (13.5, 21.5): 8 px right of the image centre
    out = M.corrupt_mnist_c(dot, "rotate")
    rc = centroid(out) - 13.5
    np.testing.assert_allclose(np.hypot(*rc.T), 8.0, atol=0.15)  # same radius
    np.testing.assert_allclose(np.abs(np.arctan2(rc[:, 0], rc[:, 1])), 0.4, atol=0.03)  # 0.4 rad round
    assert 0 < (rc[:, 0] > 0).sum() < len(rc)  # both directions


def test_brightness_raises_the_mean_as_the_hsv_route_does(digits):
    x, _ = digits
    out = M.corrupt_mnist_c(x[:20], "brightness")
    assert out.mean() > x[:20].mean() + 100
    assert np.all(out[x[:20] == 0] == 128) and np.all(out[x[:20] == 255] == 255)
    for image, mine in zip(x[:5], out[:5], strict=True):
        hsv = color.rgb2hsv(color.gray2rgb(image / 255.0))
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + 0.5, 0, 1)
        reference = np.round(np.clip(color.rgb2gray(color.hsv2rgb(hsv)), 0, 1) * 255)
        assert np.abs(reference - mine).max() <= 1


def test_translate_moves_the_centroid_by_three_pixels_on_each_axis(digits):
    x = M.corrupt_mnist_c(digits[0], "scale")  # shrunk: ink stays 3 px from the borders
    moved = M.corrupt_mnist_c(x, "translate")
    shift = centroid(moved) - centroid(x)
    np.testing.assert_allclose(np.abs(shift), 3.0, atol=1e-6)
    np.testing.assert_array_equal(moved.sum(axis=(1, 2), dtype=np.int64), x.sum(axis=(1, 2), dtype=np.int64))
    signs = {tuple(np.sign(s).astype(int)) for s in shift}
    assert signs == {(-1, -1), (-1, 1), (1, -1), (1, 1)}


def test_stripe_inverts_the_side_bands(digits):
    x, _ = digits
    out = M.corrupt_mnist_c(x, "stripe")
    np.testing.assert_array_equal(out[:, :, 7:21], x[:, :, 7:21])
    np.testing.assert_array_equal(out[:, :, :7], 255 - x[:, :, :7])
    np.testing.assert_array_equal(M.corrupt_mnist_c(out, "stripe"), x)
    assert np.all(M.corrupt_mnist_c(blank(), "stripe")[0][:, [0, 6, 21, 27]] == 255)


def test_fog_adds_a_smooth_veil_and_dims_the_ink():
    x = square(50)
    out = M.corrupt_mnist_c(x, "fog").astype(np.float64)
    background = out[:, :8]
    assert background.mean() > 40  # the veil
    assert np.all(out[x == 255] <= 255) and out[x == 255].mean() < 230  # ink scaled by max / (max + 3)
    jumps = np.abs(np.diff(background, axis=2)).mean()
    assert jumps < 0.15 * background.std(axis=(1, 2)).mean() + 3  # smooth, not pixel noise
    assert not M.corrupt_mnist_c(blank(3), "fog").any()  # x * max / (max + 3): black stays black


def test_plasma_fractal_maps_are_scaled_and_seeded():
    maps = M.plasma_fractal(np.random.default_rng(0), 3, mapsize=64)
    assert maps.shape == (3, 64, 64) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1)
    np.testing.assert_array_equal(M.plasma_fractal(np.random.default_rng(0), 3, mapsize=64), maps)
    crop = M.plasma_fractal(np.random.default_rng(0), 3, mapsize=64, crop=28)
    np.testing.assert_array_equal(crop, maps[:, :28, :28])
    with pytest.raises(ValueError, match="power of two"):
        M.plasma_fractal(np.random.default_rng(0), 1, mapsize=28)


def test_spatter_paints_grey_blots():
    out = M.corrupt_mnist_c(blank(200), "spatter")
    painted = out > 0
    assert 0.0 < painted.mean() < 0.3 and out.max() <= 63
    assert painted.any(axis=(1, 2)).mean() > 0.5
    white = M.corrupt_mnist_c(np.full((200, 28, 28), 255, np.uint8), "spatter")
    assert white.min() >= 63 and (white < 255).any()  # blots darken white ink towards 63


def test_dotted_line_draws_dashes_across_the_image():
    out = M.corrupt_mnist_c(blank(100), "dotted_line")
    ink_columns = np.nonzero(out.any(axis=(0, 1)))[0]
    assert set(ink_columns) <= {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26}
    assert np.all(out.any(axis=(1, 2)))
    assert np.all((out > 0).any(axis=1)[:, [2, 14, 26]])  # every dash there


def test_zigzag_goes_up_and_down_from_column_2_to_25():
    out = M.corrupt_mnist_c(blank(100), "zigzag").astype(np.float64)
    assert np.all(out.any(axis=(1, 2)))
    assert not out[:, :, :2].any() and not out[:, :, 26:].any()
    for image in out[:20]:
        cols = np.nonzero(image.any(axis=0))[0]
        centre = np.array([(image[:, c] * np.arange(28)).sum() / image[:, c].sum() for c in cols])
        turns = np.sum(np.diff(np.sign(np.diff(centre))) != 0)
        assert turns >= 4  # teeth


def test_canny_edges_keeps_only_thin_edges():
    out = M.corrupt_mnist_c(square(1), "canny_edges")[0]
    assert set(np.unique(out)) == {0, 255}
    assert not out[12:16, 12:16].any()  # the inside of the square is gone
    edge = out > 0
    assert 30 <= edge.sum() <= 48  # about the perimeter (40), one pixel thick
    assert edge[7:21, 7:21].sum() == edge.sum()  # only near the square's border


# -- the official files ----------------------------------------------------------------------------

def write_official(folder, names, n=6, labels=None, shape=None, dtype=np.uint8):
    """Tiny MNIST-C-like folders: ``<name>/test_images.npy`` (n, 28, 28, 1), ``test_labels.npy``."""
    for k, name in enumerate(names):
        (folder / name).mkdir(parents=True, exist_ok=True)
        images = np.full(shape or (n, 28, 28, 1), k, dtype=dtype)
        np.save(folder / name / "test_images.npy", images)
        np.save(folder / name / "test_labels.npy", np.full(n, k % 10, np.int64) if labels is None else labels)


def test_official_files_are_read_and_checked(tmp_path):
    write_official(tmp_path, M.CORRUPTIONS)
    files = M.load_official(tmp_path)
    assert list(files) == list(M.CORRUPTIONS)
    images, labels = files["fog"]
    assert images.shape == (6, 28, 28) and images.dtype == np.uint8 and images[0, 0, 0] == 10
    assert labels.dtype == np.uint8 and np.all(labels == 0)
    nested = tmp_path / "outer"
    write_official(nested / "mnist_c", M.CORRUPTIONS)
    assert list(M.load_official(nested)) == list(M.CORRUPTIONS)  # the archive's own folder accepted

    with pytest.raises(MnistlabError, match=r"^robustness.mnist_c_dir = '.*nowhere': not a folder"):
        M.load_official(tmp_path / "nowhere")
    (tmp_path / "zigzag" / "test_labels.npy").unlink()
    with pytest.raises(MnistlabError, match=r"zigzag/test_labels.npy: not found; robustness.mnist_c_dir"):
        M.load_official(tmp_path)
    write_official(tmp_path, ["zigzag"], dtype=np.float32)
    with pytest.raises(MnistlabError, match=r"zigzag/test_images.npy: expected uint8 images of shape"):
        M.load_official(tmp_path)
    write_official(tmp_path, ["zigzag"], shape=(6, 32, 32))
    with pytest.raises(MnistlabError, match=r"shape \(N, 28, 28, 1\), got uint8 \(6, 32, 32\)"):
        M.load_official(tmp_path)
    write_official(tmp_path, ["zigzag"], labels=np.arange(5))
    with pytest.raises(MnistlabError, match=r"zigzag/test_labels.npy: expected 6 integer labels"):
        M.load_official(tmp_path)
    write_official(tmp_path, ["zigzag"], labels=np.array([0, 1, 2, 3, 4, 12]))
    with pytest.raises(MnistlabError, match=r"expected labels 0..9, got 0..12"):
        M.load_official(tmp_path)
    (tmp_path / "zigzag" / "test_images.npy").write_bytes(b"not numpy")
    with pytest.raises(MnistlabError, match=r"zigzag/test_images.npy: not a readable .npy file"):
        M.load_official(tmp_path)


class Constant:
    """Predicts digit 3 for every image; counts the images it saw."""

    def __init__(self):
        self.seen = 0

    def predict_proba(self, images):
        self.seen += len(images)
        return np.tile(np.eye(10)[3], (len(images), 1))


def test_the_official_files_are_scored_instead_of_generated_ones(tmp_path, digits):
    x, y = digits
    labels = {name: np.full(6, 3 if name == "fog" else 1) for name in M.CORRUPTIONS}
    for name in M.CORRUPTIONS:
        write_official(tmp_path, [name], labels=labels[name])
    model = Constant()
    result = evaluate_mnist_c({"c": model}, x, y, deskew=True, official=tmp_path)
    table = mnist_c_summary(result)["c"]
    assert table["fog"] == 0.0 and table["zigzag"] == 1.0
    assert table["clean"] == pytest.approx(float(np.mean(y != 3)), abs=1e-5)  # no identity: the raw digits
    assert table["mce"] == pytest.approx(14 / 15, abs=1e-5)
    assert table["relative_mce"] == pytest.approx(table["mce"] - table["clean"], abs=1e-5)
    assert model.seen == len(y) + 15 * 6 and result.source == str(tmp_path)

    write_official(tmp_path, [IDENTITY], labels=np.full(6, 3))  # an identity folder is the clean set
    assert mnist_c_summary(evaluate_mnist_c({"c": Constant()}, x, y, official=tmp_path))["c"]["clean"] == 0.0
    (tmp_path / "spatter" / "test_images.npy").unlink()
    with pytest.raises(MnistlabError, match="spatter/test_images.npy: not found"):
        mnist_c_sets(x, y, 0, tmp_path)  # checked at once, before anything is scored


def test_generated_sets_are_the_clean_digits_then_the_fifteen(digits):
    x, y = digits
    sets = list(mnist_c_sets(x[:20], y[:20], seed=0))
    assert [name for name, _, _ in sets] == [IDENTITY, *M.CORRUPTIONS]
    np.testing.assert_array_equal(sets[0][1], x[:20])
    np.testing.assert_array_equal(sets[11][1], M.corrupt_mnist_c(x[:20], "fog", 0))
    model = Constant()
    result = evaluate_mnist_c({"c": model}, x[:20], y[:20], deskew=False, batch_size=7)
    assert list(result.correct["c"]) == [IDENTITY, *M.CORRUPTIONS] and model.seen == 16 * 20
    np.testing.assert_array_equal(result.correct["c"]["fog"], y[:20] == 3)
    assert set(result.seconds) == {"corrupt", "preprocess", "c"}


def test_models_see_the_digits_scaled_and_deskewed(digits):
    x, y = digits
    seen = []

    class Recorder(Constant):
        def predict_proba(self, images):
            seen.append(images)
            return super().predict_proba(images)

    evaluate_mnist_c({"r": Recorder()}, x[:10], y[:10], deskew=True)
    np.testing.assert_allclose(seen[0], deskew(scale(x[:10])), atol=1e-6)
    np.testing.assert_allclose(seen[5], deskew(scale(M.corrupt_mnist_c(x[:10], "shear", 0))), atol=1e-6)
