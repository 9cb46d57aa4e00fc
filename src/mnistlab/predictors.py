"""Load any saved model as a predictor with one interface, whatever library trained it.

A predictor has ``predict_proba(images) -> ndarray of shape (N, 10)`` (class probabilities, rows
summing to 1) for ``images`` of shape (N, 28, 28), float32 in [0, 1] as written by the prepare
stage, and ``n_params`` (int, the number of fitted numbers in the model). The model file's suffix
picks the loader: ``.joblib`` (scikit-learn pipelines), ``.npz`` (the NumPy network), ``.pt``
(PyTorch models).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np

from mnistlab.errors import MnistlabError


class Predictor(Protocol):
    n_params: int

    def predict_proba(self, images: np.ndarray) -> np.ndarray: ...


def load_predictor(path: str | os.PathLike) -> Predictor:
    """Load ``models/<name>.{joblib,npz,pt}``.

    Raises
    ------
    MnistlabError
        If the file is missing or its suffix is none of ``.joblib``, ``.npz``, ``.pt``.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    if path.suffix == ".joblib":
        from mnistlab.svm import load_svm

        return load_svm(path)
    if path.suffix == ".npz":
        from mnistlab.nn.model import load_model

        return load_model(path)
    if path.suffix == ".pt":
        from mnistlab.torch_models.train import load_model

        return load_model(path)
    raise MnistlabError(f"{path}: unknown model type {path.suffix!r}, expected .joblib, .npz or .pt")
