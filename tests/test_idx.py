import gzip

import numpy as np
import pytest

from mnistlab.data.idx import IDXError, read_idx, read_images, read_labels, read_pair, write_idx


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_sample_files_read_with_expected_shapes(sample_train, sample_test):
    (x, y), (xt, yt) = sample_train, sample_test
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.shape == (10000,)
    assert xt.shape == (2000, 28, 28) and yt.shape == (2000,)
    assert y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # MNIST's first training labels
    assert sorted(set(y.tolist())) == list(range(10))


def test_gzip_output_is_reproducible(tmp_path):
    array = np.ones((3, 2, 2), np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def _header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, ">u4").tobytes()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "too short"),
        (b"\x01\x02\x08\x01" + bytes(8), "bad magic number"),
        (_header(0x42, (2,)) + bytes(2), "unknown dtype code 0x42"),
        (_header(0x08, (3, 2)) + bytes(5), "truncated"),
        (_header(0x08, (3,)) + bytes(4), "trailing bytes"),
        (bytes([0, 0, 8, 3]) + bytes(6), "truncated header"),
        (_header(0x08, ()), "0 dimensions"),
    ],
)
def test_bad_files_name_the_file_and_the_defect(tmp_path, payload, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(payload)
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_header(0x08, (4,)) + bytes(4))[:-6])
    with pytest.raises(IDXError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(IDXError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


def test_labels_out_of_range_and_wrong_kinds(tmp_path):
    write_idx(tmp_path / "labels", np.array([1, 2, 10], np.uint8))
    with pytest.raises(IDXError, match="label 10 out of range"):
        read_labels(tmp_path / "labels")
    with pytest.raises(IDXError, match="expected uint8 images"):
        read_images(tmp_path / "labels")
    write_idx(tmp_path / "images", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(IDXError, match="expected uint8 labels"):
        read_labels(tmp_path / "images")


def test_count_mismatch(tmp_path):
    write_idx(tmp_path / "images", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "labels", np.zeros(2, np.uint8))
    with pytest.raises(IDXError, match="3 images but .* 2 labels"):
        read_pair(tmp_path / "images", tmp_path / "labels")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="cannot write dtype"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))
    assert not list(tmp_path.iterdir())
