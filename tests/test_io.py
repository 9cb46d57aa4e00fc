import os

import numpy as np
import pytest

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import (
    Split,
    atomic_path,
    read_json,
    read_probabilities,
    read_split,
    write_csv,
    write_json,
    write_probabilities,
    write_split,
)


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_existing_file_is_replaced_whole_and_readable(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}") and '"a": 2' in target.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_write_csv(tmp_path):
    write_csv(tmp_path / "t.csv", [{"actual": 1, "predicted": 7}, {"actual": 2, "predicted": 2}])
    assert (tmp_path / "t.csv").read_text().splitlines() == ["actual,predicted", "1,7", "2,2"]


# -- readers beside their writers ----------------------------------------------------------------------

def test_read_json_returns_the_object_or_none_for_a_missing_optional_file(tmp_path):
    write_json(tmp_path / "m.json", {"a": [1, 2]})
    assert read_json(tmp_path / "m.json", "m") == {"a": [1, 2]}
    assert read_json(tmp_path / "absent.json", "m", required=False) is None
    with pytest.raises(MnistlabError, match="absent.json: not found"):
        read_json(tmp_path / "absent.json", "the evaluate stage's metrics")
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    for name in ("bad.json", "list.json"):
        with pytest.raises(MnistlabError, match=f"^{tmp_path / name}: [^\n]*$"):
            read_json(tmp_path / name, "m")


def tiny_split(n: int = 20) -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.random((n, 28, 28), dtype=np.float32), (np.arange(n) % 10).astype(np.uint8))


def test_split_round_trip(tmp_path):
    write_split(tmp_path / "train.npz", tiny_split())
    split = read_split(tmp_path / "train.npz")
    np.testing.assert_array_equal(split.x, tiny_split().x)
    np.testing.assert_array_equal(split.y, tiny_split().y)
    assert split.x.dtype == np.float32 and split.y.dtype == np.uint8
    with np.load(tmp_path / "train.npz") as data:
        assert sorted(data.files) == ["x", "y"]


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((4, 28, 28), np.float32)}, "arrays x and y"),
    ({"x": np.zeros((4, 14, 14), np.float32), "y": np.zeros(4, np.uint8)}, r"expected \(N, 28, 28\)"),
    ({"x": np.zeros((4, 28, 28), np.float32), "y": np.zeros(3, np.uint8)}, "4 images but 3 labels"),
    ({"x": np.zeros((4, 28, 28), np.float32), "y": np.full(4, 10, np.uint8)}, "expected digits 0..9"),
    ({"x": np.full((4, 28, 28), 255, np.float32), "y": np.zeros(4, np.uint8)}, r"outside \[0, 1\]"),
])
def test_read_split_refuses_what_is_not_a_split(tmp_path, arrays, message):
    np.savez(tmp_path / "s.npz", **arrays)
    with pytest.raises(MnistlabError, match=message) as err:
        read_split(tmp_path / "s.npz")
    assert "dvc repro prepare" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MnistlabError, match="not found; run `dvc repro prepare` first"):
        read_split(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(MnistlabError, match="not an .npz file"):
        read_split(tmp_path / "junk.npz")


def test_write_split_refuses_a_bad_split(tmp_path):
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        write_split(tmp_path / "s.npz", Split(np.zeros((4, 28, 28), np.float32), np.zeros(3, np.uint8)))
    assert not (tmp_path / "s.npz").exists()


def test_probabilities_round_trip(tmp_path):
    y = np.arange(5) % 10
    proba = {"b": np.full((5, 10), 0.1), "a": np.eye(10)[y]}
    write_probabilities(tmp_path / "p.npz", y, proba)
    with np.load(tmp_path / "p.npz") as data:
        assert data["y"].dtype == np.uint8 and data["a"].dtype == np.float32  # stored small
    labels, read = read_probabilities(tmp_path / "p.npz")
    np.testing.assert_array_equal(labels, y)
    assert list(read) == ["b", "a"] and all(p.dtype == np.float64 for p in read.values())
    np.testing.assert_allclose(read["b"], proba["b"], rtol=1e-6)


def test_read_probabilities_checks_shapes(tmp_path):
    # from tests/test_report.py's check of the report's former reader
    np.savez(tmp_path / "p.npz", y=np.zeros(5, np.uint8), a=np.zeros((5, 10), np.float32))
    assert read_probabilities(tmp_path / "p.npz")[1]["a"].dtype == np.float64
    np.savez(tmp_path / "p6.npz", y=np.zeros(6, np.uint8), a=np.zeros((5, 10), np.float32))
    with pytest.raises(MnistlabError, match="expected \\(6, 10\\)"):
        read_probabilities(tmp_path / "p6.npz")
    with pytest.raises(MnistlabError, match="not found"):
        read_probabilities(tmp_path / "missing.npz")
    np.savez(tmp_path / "old.npz", a=np.zeros((5, 10), np.float32))
    with pytest.raises(MnistlabError, match="no array 'y'"):
        read_probabilities(tmp_path / "old.npz")
    np.savez(tmp_path / "empty.npz", y=np.zeros(5, np.uint8))
    with pytest.raises(MnistlabError, match="no model"):
        read_probabilities(tmp_path / "empty.npz")
    np.savez(tmp_path / "nan.npz", y=np.zeros(1, np.uint8), a=np.full((1, 10), np.nan))
    with pytest.raises(MnistlabError, match="non-finite"):
        read_probabilities(tmp_path / "nan.npz")


def test_write_probabilities_refuses_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"expected \(3, 10\)"):
        write_probabilities(tmp_path / "p.npz", np.zeros(3, int), {"a": np.zeros((3, 9))})
    with pytest.raises(ValueError, match="other than 'y'"):
        write_probabilities(tmp_path / "p.npz", np.zeros(3, int), {"y": np.zeros((3, 10))})
    with pytest.raises(ValueError, match="digits 0..9"):
        write_probabilities(tmp_path / "p.npz", np.full(3, -1), {"a": np.zeros((3, 10))})
    assert not (tmp_path / "p.npz").exists()
