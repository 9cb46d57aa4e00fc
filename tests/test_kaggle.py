"""Kaggle digit-recognizer CSV -> IDX: the round trip, the split, and one-line errors naming row and column.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first image row 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.paths import SAMPLE as SAMPLE_DIR

from mnistlab.core.errors import MnistlabError
from mnistlab.core.sources import (
    FILE_NAMES,
    SOURCE_JSON,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
)
from mnistlab.data import idx
from mnistlab.data.download import download
from mnistlab.data.kaggle import read_kaggle_csv

FAST = dict(timeout=5.0, retries=1, progress=False, sample_dir=SAMPLE_DIR)
HEADER = ",".join(["label", *(f"pixel{i}" for i in range(784))])


def _sample(n: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = idx.read_pair(SAMPLE_DIR / TRAIN_IMAGES, SAMPLE_DIR / TRAIN_LABELS)
    return images[:n], labels[:n]


def write_kaggle_csv(path: Path, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Write the first ``n`` sample training images as a Kaggle train.csv (with pandas, as users do)."""
    images, labels = _sample(n)
    frame = pd.DataFrame(images.reshape(n, -1), columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", labels)
    frame.to_csv(path, index=False)
    return images, labels


def _csv_lines(n: int = 30) -> list[str]:
    """The lines of a Kaggle CSV of ``n`` images: ``lines[k]`` is spreadsheet row ``k + 1``."""
    images, labels = _sample(n)
    return [HEADER, *(",".join(map(str, [y, *x.ravel()])) for x, y in zip(images, labels, strict=True))]


def _set_cell(lines: list[str], row: int, column: int, text: str) -> None:
    """Set spreadsheet ``row`` (1-based), ``column`` (0 is label, 1 + i is pixel i) to ``text``."""
    cells = lines[row - 1].split(",")
    cells[column] = text
    lines[row - 1] = ",".join(cells)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_round_trip_with_a_stratified_seeded_test_part(tmp_path):
    images, labels = write_kaggle_csv(tmp_path / "train.csv")
    record = download(str(tmp_path / "train.csv"), tmp_path / "raw", csv_test_size=0.25, seed=3, **FAST)
    raw = tmp_path / "raw"
    assert {p.name for p in raw.iterdir()} == {*FILE_NAMES, SOURCE_JSON}
    assert json.loads((raw / SOURCE_JSON).read_text()) == record
    x_train, y_train = idx.read_pair(raw / TRAIN_IMAGES, raw / TRAIN_LABELS)
    x_test, y_test = idx.read_pair(raw / TEST_IMAGES, raw / TEST_LABELS)
    assert (len(x_train), len(x_test)) == (450, 150)
    assert (record["csv"]["train_rows"], record["csv"]["test_rows"]) == (450, 150)
    # Every CSV row lands in exactly one part, unchanged.
    def rows(x, y):
        return sorted(map(bytes, np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1)))

    assert rows(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])) == rows(images, labels)
    # Stratified: each class's share of the test part is within one image of 25 %.
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - np.bincount(labels, minlength=10) * 0.25) <= 1)
    # Seeded: the same seed gives the same bytes, another seed another split.
    again = download(str(tmp_path / "train.csv"), tmp_path / "raw2", csv_test_size=0.25, seed=3, **FAST)
    other = download(str(tmp_path / "train.csv"), tmp_path / "raw3", csv_test_size=150, seed=4, **FAST)
    assert again["files"][TEST_LABELS]["sha256"] == record["files"][TEST_LABELS]["sha256"]
    assert other["files"][TEST_IMAGES]["sha256"] != record["files"][TEST_IMAGES]["sha256"]
    assert other["images"] == {"train": 450, "test": 150}


def test_csv_without_labels_or_with_bad_values_is_named(tmp_path):
    write_kaggle_csv(tmp_path / "train.csv", n=50)
    frame = pd.read_csv(tmp_path / "train.csv")
    frame.drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(MnistlabError, match=r"test.csv: no 'label' column.*use train.csv"):
        download(str(tmp_path / "test.csv"), tmp_path / "raw", **FAST)
    frame.loc[3, "pixel100"] = 300  # the 4th image: spreadsheet row 5
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(MnistlabError, match=r"bad.csv: row 5, column pixel100: 300 is outside 0..255$"):
        download(str(tmp_path / "bad.csv"), tmp_path / "raw", **FAST)


@pytest.mark.parametrize(("row", "column", "text", "expected"), [
    (7, 18, "", "row 7, column pixel17: empty cell, expected an integer in 0..255"),
    (7, 18, "abc", "row 7, column pixel17: 'abc' is not a number, expected an integer in 0..255"),
    (7, 18, "12.5", "row 7, column pixel17: 12.5 is not an integer, expected an integer in 0..255"),
    (7, 18, "256", "row 7, column pixel17: 256 is outside 0..255"),
    (7, 18, "-1", "row 7, column pixel17: -1 is outside 0..255"),
    (9, 0, "10", "row 9, column label: 10 is outside 0..9"),
    (9, 0, "seven", "row 9, column label: 'seven' is not a number, expected an integer in 0..9"),
])
def test_a_bad_cell_is_named_by_row_and_column(tmp_path, row, column, text, expected):
    lines = _csv_lines()
    _set_cell(lines, row, column, text)
    _set_cell(lines, row + 3, 700, "999")  # a later error is not the one reported
    path = _write(tmp_path / "train.csv", lines)
    with pytest.raises(MnistlabError) as caught:
        read_kaggle_csv(path)
    assert str(caught.value) == f"{path}: {expected}"


def test_the_first_bad_cell_in_reading_order_is_reported(tmp_path):
    lines = _csv_lines()
    _set_cell(lines, 12, 5, "x")
    _set_cell(lines, 11, 600, "300")
    _set_cell(lines, 11, 601, "")
    path = _write(tmp_path / "train.csv", lines)
    with pytest.raises(MnistlabError, match=r"row 11, column pixel599: 300 is outside 0..255$"):
        read_kaggle_csv(path)


def test_a_short_row_is_named(tmp_path):
    lines = _csv_lines()
    lines[5] = ",".join(lines[5].split(",")[:700])  # spreadsheet row 6 ends after pixel698
    path = _write(tmp_path / "train.csv", lines)
    with pytest.raises(MnistlabError) as caught:
        read_kaggle_csv(path)
    assert str(caught.value) == (f"{path}: row 6 is short: 700 values, the header has 785; "
                                 "it ends before column pixel699")


def test_a_long_row_is_named(tmp_path):
    lines = _csv_lines()
    lines[5] += ",0"
    path = _write(tmp_path / "train.csv", lines)
    with pytest.raises(MnistlabError, match=r"train.csv: row 6 has 786 values, the header has 785"):
        read_kaggle_csv(path)


def test_blank_lines_are_skipped_but_counted(tmp_path):
    lines = _csv_lines()
    good = read_kaggle_csv(_write(tmp_path / "plain.csv", lines))
    spaced = read_kaggle_csv(_write(tmp_path / "spaced.csv", [*lines[:4], "", *lines[4:], ""]))
    assert all(np.array_equal(a, b) for a, b in zip(good, spaced, strict=True))
    _set_cell(lines, 10, 3, "1000")  # spreadsheet row 10, row 11 once a blank line precedes it
    with pytest.raises(MnistlabError, match=r"row 11, column pixel2: 1000 is outside"):
        read_kaggle_csv(_write(tmp_path / "bad.csv", [*lines[:4], "", *lines[4:]]))


def test_read_kaggle_csv_shapes_and_dtypes(tmp_path):
    images, labels = _sample(30)
    found_labels, found_images = read_kaggle_csv(_write(tmp_path / "train.csv", _csv_lines()))
    assert found_images.dtype == np.uint8 and found_images.shape == (30, 28, 28)
    assert found_labels.dtype == np.uint8 and found_labels.shape == (30,)
    assert np.array_equal(found_images, images) and np.array_equal(found_labels, labels)


def test_a_bad_csv_changes_nothing_and_is_one_line(tmp_path):
    raw = tmp_path / "raw"
    download("sample", raw, **FAST)
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    lines = _csv_lines()
    _set_cell(lines, 20, 784, "1e3")
    path = _write(tmp_path / "train.csv", lines)
    with pytest.raises(MnistlabError) as caught:
        download(str(path), raw, **FAST)
    assert str(caught.value) == f"{path}: row 20, column pixel783: 1000 is outside 0..255"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
    assert sorted(tmp_path.glob(".raw-staging-*")) == []
