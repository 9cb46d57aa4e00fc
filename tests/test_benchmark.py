"""``prepare.deskew: auto``: the benchmark identified from the test labels decides, the prepare stage
records the decision, and the robustness stage, the report and ``predict`` follow the record."""

import json
import runpy

import numpy as np
import pytest
import yaml
from support.paths import REPO, SAMPLE

from mnistlab.cli.predict import default_deskew
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_split
from mnistlab.data import benchmark
from mnistlab.data.benchmark import (
    PREPROCESSING_JSON,
    labels_digest,
    read_deskew,
    resolve_deskew,
    write_preprocessing,
)
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew


@pytest.mark.parametrize(("setting", "found", "expected"), [
    ("auto", "mnist", True), ("auto", None, True), ("auto", "fashion-mnist", False),
    (True, "fashion-mnist", True), (False, "mnist", False),
])
def test_auto_deskews_digits_only(setting, found, expected):
    assert resolve_deskew(setting, found) is expected


def test_the_record_round_trips_and_a_bad_one_is_one_line(tmp_path):
    path = write_preprocessing(tmp_path, "auto", False, "fashion-mnist")
    assert json.loads(path.read_text()) == {"deskew": False, "setting": "auto", "benchmark": "fashion-mnist"}
    assert read_deskew(path) is False
    with pytest.raises(MnistlabError, match="cannot read the prepare stage's record"):
        read_deskew(tmp_path / "missing.json")
    path.write_text('{"deskew": "no"}')
    with pytest.raises(MnistlabError, match="expected a boolean 'deskew'"):
        read_deskew(path)


def run_prepare(folder, deskew_setting) -> tuple[dict, np.ndarray]:
    """stages/prepare.py on the sample with ``prepare.deskew`` set; its record and the test images."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "sample"
    params["prepare"].update(deskew=deskew_setting, train_size=500, test_size=200, val_size=100)
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = folder / "prepared"
    main = runpy.run_path(str(REPO / "stages/prepare.py"))["main"]
    main(["--params", str(folder / "params.yaml"), "--raw", str(SAMPLE), "--out", str(out),
          "--label-counts", str(folder / "label_counts.csv")])
    return json.loads((out / PREPROCESSING_JSON).read_text()), read_split(out / "test.npz").x


def test_the_prepare_stage_records_and_applies_its_decision(tmp_path, monkeypatch):
    record, x = run_prepare(tmp_path / "digits", "auto")
    assert record == {"deskew": True, "setting": "auto", "benchmark": "mnist"}  # data.source: sample
    # the same images, taken for Fashion-MNIST by their test labels: not deskewed
    test_labels = read_pair(SAMPLE / "t10k-images-idx3-ubyte.gz", SAMPLE / "t10k-labels-idx1-ubyte.gz")[1]
    monkeypatch.setitem(benchmark.TEST_LABEL_SHA256, labels_digest(test_labels), "fashion-mnist")
    record, plain = run_prepare(tmp_path / "clothes", "auto")
    assert record == {"deskew": False, "setting": "auto", "benchmark": "fashion-mnist"}
    assert not np.allclose(x, plain)
    np.testing.assert_allclose(x, deskew(plain), atol=1e-6)  # deskewing is the only difference
    record, forced = run_prepare(tmp_path / "forced", True)
    assert record["deskew"] is True and np.allclose(forced, x)


def test_predict_follows_the_record_when_auto(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["prepare"]["deskew"] == "auto"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert default_deskew() is True  # no record (a model without its pipeline): digits, deskewed
    assert capsys.readouterr().err == ""
    path = write_preprocessing(tmp_path / "data/prepared", "auto", False, "fashion-mnist")
    assert default_deskew() is False
    path.write_text("{")
    assert default_deskew() is True
    assert "note: deskewing as by default" in capsys.readouterr().err
