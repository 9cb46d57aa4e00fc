"""The readers of the claims' inputs: each validated, None when the file is missing.

``metrics/compare.json`` (:func:`read_compare`), the JSON of ``mnistlab sweep``
(:func:`read_sweep`), ``metrics/robustness.json`` (:func:`read_robustness_metrics`) and the
robustness stage's per-image correctness (:func:`read_robustness_correct`). A file that is there
but not what it should be is a :class:`mnistlab.core.errors.MnistlabError` of one line naming it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IDENTITY, MNIST_C_KEY, MNIST_C_SETS
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_json
from mnistlab.evidence.claims.roles import CLEAN, model


def read_compare(path: str | os.PathLike) -> dict | None:
    """``metrics/compare.json`` (:func:`mnistlab.evidence.compare.metrics_summary`); None when missing.

    Raises
    ------
    MnistlabError
        One line naming the file: not a JSON object, or one without ``pairs`` and ``models``.
    """
    data = read_json(path, "the compare stage's metrics (`dvc repro compare`)", required=False)
    if data is not None and not ("pairs" in data and "models" in data):
        raise MnistlabError(f"{path}: not the compare stage's metrics (no pairs or models)")
    return data


def read_sweep(path: str | os.PathLike) -> dict | None:
    """The JSON of ``mnistlab sweep`` (:func:`mnistlab.evidence.sweep.sweep_json`); None
    when missing.

    Raises
    ------
    MnistlabError
        One line naming the file: not a JSON object, or one without ``experiments`` and
        ``seed_param``.
    """
    data = read_json(path, "the JSON of `mnistlab sweep`", required=False)
    if data is not None and not ("experiments" in data and "seed_param" in data):
        raise MnistlabError(f"{path}: not the JSON of `mnistlab sweep` (no experiments or seed_param)")
    return data


def read_robustness_metrics(path: str | os.PathLike) -> dict | None:
    """``metrics/robustness.json`` (the robustness stage's accuracies and MNIST-C error rates); None
    when missing.

    Raises
    ------
    MnistlabError
        One line naming the file when it is not a JSON object.
    """
    return read_json(path, "the robustness stage's metrics (`dvc repro robustness`)", required=False)


def read_robustness_correct(path: str | os.PathLike) -> dict | None:
    """The per-image correctness of the two SVMs, clean and corrupted (the robustness stage's
    ``--correct`` file, :func:`mnistlab.evaluation.robustness.save_correct`); None when missing.

    Returns
    -------
    dict or None
        ``conditions``: list of ``(family, severity)``, the clean images ``("clean", 0.0)`` among
        them; for the pixel and the Gabor SVM of the registry, ndarray of bool, shape
        (conditions, N); ``mnist_c``: their correctness on the MNIST-C sets
        (:func:`_read_mnist_c_correct`), or None.

    Raises
    ------
    MnistlabError
        One line naming the file: not a readable ``.npz`` without pickles, no ``corruption`` or
        ``severity`` array, no clean condition, a missing SVM, or arrays of the wrong shape.
    """
    import zipfile

    if not Path(path).is_file():
        return None
    names = (model("pixel_svm"), model("gabor_svm"))
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"corruption", "severity", *names} <= set(data.files):
                missing = sorted({"corruption", "severity", *names} - set(data.files))
                raise MnistlabError(f"{path}: expected per-image correctness with {', '.join(missing)} "
                                    "(the robustness stage's --correct file)")
            corruption, severity = data["corruption"], data["severity"]
            arrays = {name: data[name] for name in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MnistlabError(f"{path}: not a readable .npz of the robustness stage ({err})") from None
    k = len(corruption)
    if corruption.ndim != 1 or severity.shape != (k,) or not all(
            a.ndim == 2 and a.shape[0] == k and a.shape[1] > 0 and a.dtype == np.bool_
            for a in arrays.values()):
        raise MnistlabError(f"{path}: expected bool arrays of shape (conditions, images), one row per "
                            "corruption and severity")
    conditions = [(str(c), float(s)) for c, s in zip(corruption, severity, strict=True)]
    if (CLEAN, 0.0) not in conditions or len({a.shape for a in arrays.values()}) != 1:
        raise MnistlabError(f"{path}: expected the clean images (corruption 'clean', severity 0) and both "
                            "SVMs on the same images")
    if any(not math.isfinite(s) for _, s in conditions):
        raise MnistlabError(f"{path}: a severity is not a finite number")
    return {"conditions": conditions, **arrays, "mnist_c": _read_mnist_c_correct(path, names)}


def _read_mnist_c_correct(path, names: tuple[str, str]) -> dict | None:
    """The MNIST-C part of the robustness stage's ``--correct`` file: ``{"sets": [...], <svm>:
    ndarray of bool, shape (sets, M)}`` for the two SVMs, or None when the file has none (written
    before MNIST-C correctness was saved).

    Raises
    ------
    MnistlabError
        One line naming the file when the MNIST-C arrays are malformed.
    """
    keys = {name: MNIST_C_KEY.format(model=name) for name in names}
    with np.load(path, allow_pickle=False) as data:
        if MNIST_C_SETS not in data.files or not set(keys.values()) <= set(data.files):
            return None
        sets, arrays = data[MNIST_C_SETS], {name: data[key] for name, key in keys.items()}
    k = len(sets)
    if sets.ndim != 1 or IDENTITY not in sets.tolist() or not all(
            a.ndim == 2 and a.shape[0] == k and a.shape[1] > 0 and a.dtype == np.bool_
            for a in arrays.values()) or len({a.shape for a in arrays.values()}) != 1:
        raise MnistlabError(f"{path}: expected MNIST-C set names with '{IDENTITY}' among them and bool "
                            "arrays of shape (sets, images) for both SVMs")
    return {"sets": [str(x) for x in sets], **arrays}
