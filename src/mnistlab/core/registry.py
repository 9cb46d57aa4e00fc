"""Every model the pipeline trains, by name: its family, file suffix, builder and loader.

This is the one list that evaluate, compare, robustness, report, predict and the params
validation read. A model name is ``<family prefix>_<variant>``: ``svm_pixels``, ``mlp_adam-he``,
``torch_cnn``. A trained model is the file ``models/<name><suffix>``.

Adding a PyTorch architecture (README, "Adding a model"): a builder function in
:mod:`mnistlab.models.torch_models.models`, one :class:`ModelSpec` below, its defaults under
``torch.models`` in params.yaml, and one item in the ``train_torch`` matrix of dvc.yaml.

Every loader returns a *predictor*: an object with ``n_params`` (int, fitted numbers) and
``predict_proba(images)`` mapping images of shape (N, 28, 28), float32 in [0, 1] (as written by
the prepare stage), to class probabilities of shape (N, 10), float64 rows summing to 1. No
loader executes code from the file: SVMs are skops files with an explicit list of trusted types,
NumPy networks ``.npz`` read with ``allow_pickle=False``, PyTorch models ``torch.load(...,
weights_only=True)``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from mnistlab.core.errors import MnistlabError

Family = Literal["svm", "numpy", "torch"]

#: File suffix of each family's models.
SUFFIXES: dict[str, str] = {"svm": ".skops", "numpy": ".npz", "torch": ".pt"}
#: Loader of each family, ``module:function``, imported only when a model of it is loaded.
LOADERS: dict[str, str] = {
    "svm": "mnistlab.models.svm:load_svm",
    "numpy": "mnistlab.nn.model:load_network",
    "torch": "mnistlab.models.torch_models.predictor:load_torch",
}
#: Suffixes of older versions' files: their family's loader refuses them with a one-line reason.
LEGACY_SUFFIXES: dict[str, str] = {".joblib": "svm"}


class Predictor(Protocol):
    """What every loader returns (see the module docstring)."""

    n_params: int

    def predict_proba(self, images: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """One model of the pipeline.

    Attributes
    ----------
    name : str
        ``<prefix>_<variant>``; the file is ``models/<name><suffix>``.
    family : {"svm", "numpy", "torch"}
    title : str
        What the model is, for reports and plot legends.
    builder : str or None
        PyTorch models: the function of :mod:`mnistlab.models.torch_models.models` that builds the
        layers (its keyword defaults are the architecture's sizes).
    twin : bool
        PyTorch twins of the NumPy network: trained with the ``mlp`` params, not ``torch.*``.
    """

    name: str
    family: Family
    title: str
    builder: str | None = None
    twin: bool = False

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.family]

    @property
    def variant(self) -> str:
        """The part after the family prefix: ``pixels``, ``adam-he``, ``cnn``."""
        return self.name.split("_", 1)[1]

    @property
    def neural(self) -> bool:
        return self.family != "svm"


_SPECS = (
    ModelSpec("svm_pixels", "svm", "RBF SVM on raw pixels"),
    ModelSpec("svm_gabor", "svm", "RBF SVM on Gabor features"),
    ModelSpec("mlp_sgd-random", "numpy", "NumPy MLP, SGD, naive random init"),
    ModelSpec("mlp_sgd-he", "numpy", "NumPy MLP, SGD, He init"),
    ModelSpec("mlp_adam-random", "numpy", "NumPy MLP, Adam, naive random init"),
    ModelSpec("mlp_adam-he", "numpy", "NumPy MLP, Adam, He init"),
    ModelSpec("torch_logreg", "torch", "PyTorch logistic regression", builder="logreg"),
    ModelSpec("torch_fnn", "torch", "PyTorch feed-forward net", builder="fnn"),
    ModelSpec("torch_cnn", "torch", "PyTorch CNN", builder="cnn"),
    ModelSpec("torch_patchnet", "torch", "PyTorch twin of the NumPy net with patch embedding",
              builder="patchnet", twin=True),
    ModelSpec("torch_mlp", "torch", "PyTorch twin of the NumPy MLP", builder="mlp", twin=True),
)

#: Every model, in report order.
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def torch_variants(twins: bool | None = None) -> tuple[str, ...]:
    """Variants of the PyTorch models (``logreg``, ...); only twins or non-twins when given."""
    return tuple(
        spec.variant for spec in MODELS.values()
        if spec.family == "torch" and (twins is None or spec.twin == twins)
    )


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``.

    Raises
    ------
    MnistlabError
        If no model has that name.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise MnistlabError(f"model {name!r}: unknown, expected one of {', '.join(MODELS)}") from None


def model_file(name: str, folder: str | os.PathLike = "models") -> Path:
    """``<folder>/<name><suffix>``: where model ``name`` is saved."""
    return Path(folder) / f"{name}{spec(name).suffix}"


def find_models(folder: str | os.PathLike = "models") -> dict[str, Path]:
    """Model name -> file, for every registered model present in ``folder``, in report order."""
    paths = {name: model_file(name, folder) for name in MODELS}
    return {name: path for name, path in paths.items() if path.is_file()}


def load_model(path: str | os.PathLike) -> Predictor:
    """Load any saved model as a predictor, its family picked by the file suffix.

    Parameters
    ----------
    path : str or path-like
        ``.skops`` (SVM pipelines), ``.npz`` (NumPy networks) or ``.pt`` (PyTorch models).

    Returns
    -------
    Predictor

    Raises
    ------
    MnistlabError
        If the file is missing, its suffix is unknown, or it is not a model of its family
        (one line naming the file and what was expected).
    """
    path = Path(path)
    family = {suffix: family for family, suffix in SUFFIXES.items()}.get(path.suffix)
    family = family or LEGACY_SUFFIXES.get(path.suffix)
    if family is None:
        raise MnistlabError(f"{path}: unknown model type {path.suffix!r}, expected one of "
                            f"{', '.join(SUFFIXES.values())}")
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    module, function = LOADERS[family].split(":")
    return getattr(importlib.import_module(module), function)(path)
