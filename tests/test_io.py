import os

import pytest

from mnistlab.core.io import atomic_path, write_csv, write_json


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
