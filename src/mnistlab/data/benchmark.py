"""Which benchmark a dataset is, and the preprocessing that follows from it.

The official MNIST and Fashion-MNIST test sets are recognised by a SHA-256 of their 10,000 labels in
file order (:func:`identify_benchmark`); a named ``data.source`` decides when the labels are not a
whole official test set. ``prepare.deskew: auto`` deskews digits and leaves every other image set
as it is (:func:`resolve_deskew`): deskewing straightens the slant of handwriting (LeCun et al.
1998, Proc. IEEE 86(11):2278-2324, the "deskewing" rows of the MNIST table); clothes have no slant
to correct. The prepare stage writes the decision to ``data/prepared/preprocessing.json``
(:func:`write_preprocessing`), the one place the later stages and ``predict`` read it from.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_json

#: SHA-256 (hex) of the official test labels, 10,000 in file order as int64: the benchmark they identify.
TEST_LABEL_SHA256 = {
    # t10k-labels-idx1-ubyte, MD5 ec29112dd5afa0611ce80d1b7f02629c (mnistlab.core.sources.MNIST)
    "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243": "mnist",
    # t10k-labels-idx1-ubyte of Fashion-MNIST (1,000 per class)
    "d51d859896c55775b9e9e219b77ff03bcec1b6ac322f313544dc3f9e7bc94fae": "fashion-mnist",
}
#: ``data.source`` values that name a benchmark, for test sets that are a part of its test images.
SOURCE_BENCHMARKS = {"mnist": "mnist", "sample": "mnist", "fashion-mnist": "fashion-mnist"}
BENCHMARK_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
#: Benchmarks of handwritten digits, which ``prepare.deskew: auto`` deskews.
DIGIT_BENCHMARKS = frozenset({"mnist"})
#: The prepare stage's record of the preprocessing, in the folder of the prepared splits.
PREPROCESSING_JSON = "preprocessing.json"


def labels_digest(y: np.ndarray) -> str:
    """SHA-256 (hex) of labels as int64 bytes, in order: the key of :data:`TEST_LABEL_SHA256`.

    Parameters
    ----------
    y : ndarray of shape (N,), integers 0..9 (any integer dtype)

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    return hashlib.sha256(np.asarray(y).astype(np.int64).tobytes()).hexdigest()


def identify_benchmark(y_test: np.ndarray, source: str) -> tuple[str | None, str]:
    """Which benchmark a test set belongs to, and how that was decided.

    Parameters
    ----------
    y_test : ndarray of shape (N,), integers 0..9
        Test labels, in file order.
    source : str
        ``data.source`` of params.yaml.

    Returns
    -------
    benchmark : {"mnist", "fashion-mnist"} or None
        From the labels when they are an official test set (:data:`TEST_LABEL_SHA256`); else from a
        named ``data.source`` (:data:`SOURCE_BENCHMARKS`: a part of that test set); else None.
    how : str
        One sentence for a report.
    """
    benchmark = TEST_LABEL_SHA256.get(labels_digest(y_test)) or SOURCE_BENCHMARKS.get(source)
    return benchmark, describe_test_set(y_test, benchmark)


def describe_test_set(y_test: np.ndarray, benchmark: str | None) -> str:
    """One sentence for a report: whether ``y_test`` is the whole official test set of
    ``benchmark`` (the prepare stage's record), or a part or another set of images.

    Parameters
    ----------
    y_test : ndarray of shape (N,), integers 0..9
        The prepared test labels, in file order.
    benchmark : str or None
        The recorded benchmark (:func:`read_preprocessing`).
    """
    if benchmark is None:
        return (f"the {len(y_test):,} test labels are not those of the official MNIST or Fashion-MNIST "
                "test set, and data.source names neither")
    title = BENCHMARK_TITLES[benchmark]
    if TEST_LABEL_SHA256.get(labels_digest(y_test)) == benchmark:
        return (f"the test labels are those of the official {title} test set ({len(y_test):,} images, "
                "same order)")
    return (f"the {len(y_test):,} test images are not the official {title} test set of 10,000 (a part of "
            "it, or a named data.source with other test images): published errors are on those, so the "
            "comparison is indicative only")


def resolve_deskew(setting: bool | Literal["auto"], benchmark: str | None) -> bool:
    """``prepare.deskew`` as a decision.

    Parameters
    ----------
    setting : bool or "auto"
        ``prepare.deskew``. ``True``/``False`` are returned as given; ``"auto"`` deskews unless the
        data are known not to be digits (a benchmark outside :data:`DIGIT_BENCHMARKS`, e.g.
        Fashion-MNIST). Unknown data (``benchmark`` None) are taken for digits, this project's
        subject.
    benchmark : str or None
        What :func:`identify_benchmark` found.

    Returns
    -------
    bool
        Whether to deskew every image.

    Raises
    ------
    ValueError
        For a ``setting`` other than a bool or ``"auto"`` (params.yaml validation refuses it first).
    """
    if isinstance(setting, bool):
        return setting
    if setting != "auto":
        raise ValueError(f"prepare.deskew = {setting!r}: expected true, false or auto")
    return benchmark is None or benchmark in DIGIT_BENCHMARKS


def write_preprocessing(folder: str | os.PathLike, setting: bool | str, deskew: bool,
                        benchmark: str | None) -> Path:
    """Write ``folder/preprocessing.json`` atomically and return its path.

    Parameters
    ----------
    folder : path
        The prepared splits' folder.
    setting : bool or "auto"
        ``prepare.deskew`` as params.yaml gives it.
    deskew : bool
        The decision (:func:`resolve_deskew`).
    benchmark : str or None
        The benchmark of the source's test labels (:func:`identify_benchmark`).
    """
    path = Path(folder) / PREPROCESSING_JSON
    write_json(path, {"deskew": deskew, "setting": setting, "benchmark": benchmark})
    return path


def read_preprocessing(path: str | os.PathLike) -> dict:
    """The prepare stage's record ``path`` (``data/prepared/preprocessing.json``), checked.

    Returns
    -------
    dict
        ``deskew`` (bool), ``setting`` (bool or "auto"), ``benchmark`` (one of
        :data:`BENCHMARK_TITLES` or None).

    Raises
    ------
    MnistlabError
        One line naming the file: missing, not JSON, or without a boolean ``deskew`` or a known
        ``benchmark``.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        deskew, benchmark = record.get("deskew"), record.get("benchmark")
    except (OSError, ValueError, AttributeError) as err:
        raise MnistlabError(f"{path}: cannot read the prepare stage's record ({err.__class__.__name__}); "
                            "run `dvc repro prepare`") from None
    if not isinstance(deskew, bool):
        raise MnistlabError(f"{path}: expected a boolean 'deskew'; run `dvc repro prepare`")
    if benchmark is not None and benchmark not in BENCHMARK_TITLES:
        raise MnistlabError(f"{path}: 'benchmark' = {str(benchmark)[:40]!r}: expected one of "
                            f"{', '.join(BENCHMARK_TITLES)} or null; run `dvc repro prepare`")
    return record


def read_deskew(path: str | os.PathLike) -> bool:
    """The ``deskew`` decision of the prepare stage's record (:func:`read_preprocessing`)."""
    return read_preprocessing(path)["deskew"]
