"""Kaggle digit-recognizer CSV -> the four standard IDX files.

The layout is Kaggle's ``train.csv`` (https://www.kaggle.com/c/digit-recognizer/data): a header
``label,pixel0,...,pixel783`` and one image per row, its 28x28 pixels row-major as integers in
0..255. Errors name the file, the row as a spreadsheet numbers it (the header is row 1, the first
image row 2, blank lines count) and the column by its header name.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.sources import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from mnistlab.data import idx
from mnistlab.data.checksums import file_digests

LABEL_COLUMN = "label"
PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(IMAGE_SIZE * IMAGE_SIZE))
COLUMNS = (LABEL_COLUMN, *PIXEL_COLUMNS)
MAX_PIXEL = 255
_FIRST_DATA_ROW = 2  # spreadsheet number of the first row under the header
_LAYOUT = "expected the Kaggle layout label,pixel0..pixel783"


def csv_to_idx(path: str | os.PathLike, out_dir: str | os.PathLike, *, test_size: int | float,
               seed: int) -> tuple[dict, dict]:
    """Convert a Kaggle digit-recognizer CSV into the four IDX files, carving out a test part.

    The CSV has no labelled test part, so a stratified, seeded split
    (``sklearn.model_selection.train_test_split``) becomes the test files; both parts keep the
    CSV's row order. Blank lines are skipped; columns after ``pixel783`` are ignored.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    out_dir : str or path-like
        Where the four ``.gz`` IDX files are written (atomically, with ``idx.write_idx``): images
        uint8 of shape (N, 28, 28), labels uint8 of shape (N,).
    test_size : int or float
        Test rows: a count (>= 1) or a fraction in (0, 1) of the rows.
    seed : int
        ``random_state`` of the split.

    Returns
    -------
    files : dict
        Per file name: ``origin`` (the CSV's absolute path), ``bytes``, ``md5``, ``sha256``,
        ``checked``.
    csv_record : dict
        The CSV's path, SHA-256, row counts, ``test_size`` and ``seed``.

    Raises
    ------
    MnistlabError
        One line naming the file: not a CSV; no ``label`` column (Kaggle's unlabelled
        ``test.csv``) or a missing pixel column; a row with fewer or more values than the header;
        a cell that is empty, not a number, not an integer, or outside 0..255 (labels 0..9), with
        its row and column; too few rows per class for a stratified split.
    """
    from sklearn.model_selection import train_test_split  # only CSV sources pay for the import

    path, out_dir = Path(path), Path(out_dir)
    labels, images = read_kaggle_csv(path)
    try:
        train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=test_size,
                                               stratify=labels, random_state=seed)
    except ValueError as err:
        raise MnistlabError(f"{path}: cannot carve a stratified test part of {test_size} from "
                            f"{len(labels)} rows ({err})") from None
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    parts = {TRAIN_IMAGES: images[train_idx], TRAIN_LABELS: labels[train_idx],
             TEST_IMAGES: images[test_idx], TEST_LABELS: labels[test_idx]}
    files = {}
    for name, array in parts.items():
        idx.write_idx(out_dir / name, array)
        files[name] = {"origin": str(path.resolve()), **file_digests(out_dir / name),
                       "checked": "written from the CSV"}
    csv_record = {"path": str(path.resolve()), "sha256": file_digests(path)["sha256"], "rows": len(labels),
                  "train_rows": len(train_idx), "test_rows": len(test_idx), "test_size": test_size,
                  "seed": seed}
    return files, csv_record


def read_kaggle_csv(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read and check a Kaggle digit-recognizer CSV.

    Parameters
    ----------
    path : str or path-like
        The CSV file.

    Returns
    -------
    labels : ndarray of shape (N,), uint8
        Values 0..9.
    images : ndarray of shape (N, 28, 28), uint8
        Pixels 0..255, rows of the CSV reshaped row-major.

    Raises
    ------
    MnistlabError
        As :func:`csv_to_idx`: one line naming the file and, for a bad value, its row and column.
    """
    import pandas as pd  # only CSV sources pay for the import

    path = Path(path)
    try:
        # Blank lines are kept as all-empty rows (dropped below) so row numbers match the file.
        frame = pd.read_csv(path, skip_blank_lines=False, low_memory=False)  # one dtype per column
    except pd.errors.ParserError as err:
        raise MnistlabError(_parser_message(path, err)) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path}: not a readable CSV file ({str(err).splitlines()[0]})") from None
    if LABEL_COLUMN not in frame.columns:
        raise MnistlabError(f"{path}: no 'label' column; {_LAYOUT} "
                            "(Kaggle's test.csv is unlabelled: use train.csv)")
    missing = [c for c in PIXEL_COLUMNS if c not in frame.columns]
    if missing:
        raise MnistlabError(f"{path}: {len(missing)} pixel columns missing (first: {missing[0]}); {_LAYOUT}")
    header = [str(c) for c in frame.columns]
    frame = frame[list(COLUMNS)]
    rows = np.arange(len(frame)) + _FIRST_DATA_ROW
    values = _as_integers(frame)
    if values is None:  # blank lines, or a bad cell somewhere
        blank = frame.isna().all(axis=1).to_numpy()
        frame, rows = frame[~blank], rows[~blank]
        values = _as_integers(frame)
    if values is None or _out_of_range(values).any():
        raise MnistlabError(_first_bad_cell(path, frame, rows, header))
    labels = values[:, 0].astype(np.uint8)
    images = values[:, 1:].astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    return labels, images


def _as_integers(frame) -> np.ndarray | None:
    """The frame as an int64 array of shape (N, 785), or None if a cell is empty or not an integer."""
    import pandas as pd

    if all(pd.api.types.is_integer_dtype(t) for t in frame.dtypes):  # the usual case: no copy by column
        return frame.to_numpy()
    try:
        numbers = frame.apply(pd.to_numeric).to_numpy(dtype=float)
    except (ValueError, TypeError):
        return None
    if not np.isfinite(numbers).all() or (numbers != np.floor(numbers)).any():
        return None
    return numbers.astype(np.int64)


def _high(column: str) -> int:
    return N_CLASSES - 1 if column == LABEL_COLUMN else MAX_PIXEL


def _out_of_range(values: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``values.shape``: labels (column 0) outside 0..9, pixels outside 0..255."""
    high = np.full(values.shape[1], MAX_PIXEL)
    high[0] = N_CLASSES - 1
    return (values < 0) | (values > high)


def _first_bad_cell(path: Path, frame, rows: np.ndarray, header: list[str]) -> str:
    """The message for the first bad cell in reading order (top row first, then left to right).

    ``frame`` holds the label and pixel columns, ``rows`` the spreadsheet number of each of its
    rows, ``header`` the file's column names in file order.
    """
    import pandas as pd

    first = None  # (position, column index, kind, value)
    for j, column in enumerate(frame.columns):
        cells = frame[column]
        numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        empty = cells.isna().to_numpy()
        kinds = {
            "empty": empty,
            "not a number": np.isnan(numbers) & ~empty,
            "not an integer": np.isinf(numbers) | (np.isfinite(numbers) & (numbers != np.floor(numbers))),
            "outside": (numbers < 0) | (numbers > _high(column)),
        }
        for kind, mask in kinds.items():
            hits = np.flatnonzero(mask)
            if hits.size and (first is None or (hits[0], j) < first[:2]):
                first = (hits[0], j, kind, cells.iloc[hits[0]])
    if first is None:  # not reached: a non-integer column holds at least one bad cell
        return f"{path}: values must be integers; {_LAYOUT}"
    position, j, kind, value = first
    row, column, high = int(rows[position]), frame.columns[j], _high(frame.columns[j])
    where = f"{path}: row {row}, column {column}"
    if kind == "empty":
        n_fields = _field_count(path, row)
        if n_fields is not None and n_fields < len(header):
            return (f"{path}: row {row} is short: {n_fields} values, the header has {len(header)}; "
                    f"it ends before column {header[n_fields]}")
        return f"{where}: empty cell, expected an integer in 0..{high}"
    if kind == "outside":
        return f"{where}: {_show(value)} is outside 0..{high}"
    shown = repr(str(value)) if kind == "not a number" else _show(value)
    return f"{where}: {shown} is {kind}, expected an integer in 0..{high}"


def _show(value) -> str:
    """A cell value as the file shows it (``300``, not ``300.0``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _field_count(path: Path, row: int) -> int | None:
    """Number of values on spreadsheet row ``row`` (1-based, the header is row 1), or None."""
    with open(path, newline="") as fh:
        for number, record in enumerate(csv.reader(fh), 1):
            if number == row:
                return len(record)
    return None


def _parser_message(path: Path, err: Exception) -> str:
    """One line for a pandas ParserError; a row with too many values is named with its row number."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
    if found:
        expected, row, seen = found.groups()
        return f"{path}: row {row} has {seen} values, the header has {expected}; {_LAYOUT}"
    return f"{path}: not a readable CSV file ({str(err).splitlines()[0]})"
