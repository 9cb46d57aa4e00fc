import numpy as np
import pytest

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_split
from mnistlab.data.prepare import (
    deskew,
    downsample,
    label_counts,
    prepare,
    scale,
    stratified_subset,
)


def test_prepared_splits_have_the_documented_format(prepared_dir):
    for name, n in (("train", 2000), ("val", 500), ("test", 500)):
        split = read_split(prepared_dir / f"{name}.npz")
        assert split.x.shape == (n, 28, 28) and split.x.dtype == np.float32
        with np.load(prepared_dir / f"{name}.npz") as data:
            assert sorted(data.files) == ["x", "y"]  # 14x14 copies belong to the models that use them
        assert split.y.shape == (n,) and split.y.dtype == np.uint8
        assert 0.0 <= split.x.min() and split.x.max() <= 1.0


def test_split_is_stratified_disjoint_and_seeded(sample_train, sample_test):
    a = prepare(sample_train, sample_test, val_size=0.2, seed=3, deskew_images=False)
    b = prepare(sample_train, sample_test, val_size=0.2, seed=3, deskew_images=False)
    np.testing.assert_array_equal(a["val"].x, b["val"].x)
    proportions = [np.bincount(a[s].y, minlength=10) / len(a[s].y) for s in ("train", "val")]
    np.testing.assert_allclose(proportions[0], proportions[1], atol=0.005)
    # no training image appears in the validation part
    train_rows = {row.tobytes() for row in a["train"].x}
    assert not any(row.tobytes() in train_rows for row in a["val"].x)
    assert len(a["train"].y) + len(a["val"].y) == 10000
    # the test split is untouched when no test_size is given
    np.testing.assert_array_equal(a["test"].x, scale(sample_test[0]))
    c = prepare(sample_train, sample_test, val_size=0.2, seed=4, deskew_images=False)
    assert not np.array_equal(a["val"].y, c["val"].y)


def test_scale_and_downsample():
    images = np.array([[[0, 255], [255, 255]]], np.uint8)
    scaled = scale(images)
    assert scaled.dtype == np.float32 and scaled.max() == 1.0
    assert downsample(scaled)[0, 0, 0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="not divisible"):
        downsample(np.zeros((1, 3, 3), np.float32))


def test_deskew_removes_a_known_shear():
    image = np.zeros((28, 28), np.float32)
    for r in range(6, 22):  # a stroke leaning right by 1 column every 2 rows
        image[r, 10 + (21 - r) // 2 : 13 + (21 - r) // 2] = 1.0
    straight = deskew(image[None])[0]
    cols = np.arange(28)
    centroids = [(row * cols).sum() / row.sum() for row in straight[8:20] if row.sum() > 0.5]
    assert np.ptp(centroids) < 1.5  # the stroke is now vertical
    assert np.ptp([(row * cols).sum() / row.sum() for row in image[8:20]]) >= 5


def test_subset_sizes_and_errors(sample_train):
    x, y = sample_train
    xs, ys = stratified_subset(x, y, 1000, 0, "prepare.train_size")
    assert len(ys) == 1000 and np.abs(np.bincount(ys) / 1000 - np.bincount(y) / len(y)).max() < 0.005
    with pytest.raises(MnistlabError, match="prepare.train_size = 20000: only 10000"):
        stratified_subset(x, y, 20000, 0, "prepare.train_size")


def test_val_size_too_large_names_the_key(sample_train, sample_test):
    with pytest.raises(MnistlabError, match="prepare.val_size = 10000"):
        prepare(sample_train, sample_test, val_size=10000)


@pytest.mark.parametrize(("sizes", "message"), [
    ({"val_size": 1}, r"prepare\.val_size = 1 \(1 images\): a stratified split needs at least one image"),
    ({"val_size": 9995}, r"prepare\.val_size = 9995: leaves 5 of the 10000 images for training"),
    ({"val_size": 0.0005}, r"prepare\.val_size = 0\.0005 \(5 images\)"),
    ({"val_size": 100, "train_size": 5}, r"prepare\.train_size = 5 \(5 images\)"),
    ({"val_size": 100, "test_size": 5}, r"prepare\.test_size = 5 \(5 images\)"),
])
def test_too_small_splits_name_the_key_the_user_wrote(sample_train, sample_test, sizes, message):
    with pytest.raises(MnistlabError, match=message) as err:
        prepare(sample_train, sample_test, **sizes)
    assert "should be" not in str(err.value)  # not scikit-learn's message about the other part


def test_label_counts(sample_train, sample_test):
    rows = label_counts(prepare(sample_train, sample_test, val_size=1000, deskew_images=False))
    assert [row["digit"] for row in rows] == list(range(10))
    assert sum(row["val"] for row in rows) == 1000 and sum(row["test"] for row in rows) == 2000


def test_missing_prepared_split(tmp_path):
    with pytest.raises(MnistlabError, match="dvc repro prepare"):
        read_split(tmp_path / "train.npz")
