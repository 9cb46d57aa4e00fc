"""Every model the pipeline trains, by name: its family, file suffix, builder and loader.

This is the one list that evaluate, compare, robustness, report, predict and the params
validation read. A model name is ``<family prefix>_<variant>``: ``svm_pixels``, ``mlp_adam-he``,
``torch_cnn``. A trained model is the file ``models/<name><suffix>``.

Adding a PyTorch architecture (docs/adding-a-model.md): a builder function in
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

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
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
#: Aliases that ``compare.pairs`` may name instead of a model: each stands for the model with the
#: highest test accuracy among these families.
BEST_ALIASES: dict[str, tuple[str, ...]] = {"best_neural": ("numpy", "torch"), "best_classic": ("svm",)}
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
    features : str or None
        SVMs: the features they are fitted on, ``"pixels"`` or ``"gabor"`` (``train_svm --features``).
    optimizer : str or None
        NumPy networks: ``"sgd"`` or ``"adam"`` (``train_mlp --optimizer``,
        :data:`mnistlab.nn.train.OPTIMIZERS`).
    init : str or None
        NumPy networks: the weight initialisation, ``"random"`` (naive) or ``"he"``
        (``train_mlp --init``, :data:`mnistlab.nn.init.INITS`).
    role : str or None
        The part the model plays in the report's figures, so that the report names no model:
        ``"report_twin"``, the PyTorch twin drawn against the NumPy MLP (validation curves,
        first-layer weights); ``"report_convnet"``, the network whose first convolution's filters
        and feature maps are drawn. At most one model per role.
    anchor : str or None
        The published method the model is an instance of, for the table of our errors beside the
        published ones (:data:`mnistlab.reporting.anchors.ANCHORS`): ``"linear"``, ``"svm"``,
        ``"mlp"``, ``"lenet5"`` or ``"cnn"``; None when no published row is of the same method.
    """

    name: str
    family: Family
    title: str
    builder: str | None = None
    twin: bool = False
    features: str | None = None
    optimizer: str | None = None
    init: str | None = None
    role: str | None = None
    anchor: str | None = None

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

    @property
    def mlp_params(self) -> bool:
        """Trained with the ``mlp`` params: the NumPy networks and their PyTorch twins, whose curves
        have a point every ``mlp.log_every_images`` training images."""
        return self.family == "numpy" or self.twin


_SPECS = (
    ModelSpec("svm_pixels", "svm", "RBF SVM on raw pixels", features="pixels", anchor="svm"),
    ModelSpec("svm_gabor", "svm", "RBF SVM on Gabor features", features="gabor", anchor="svm"),
    ModelSpec("mlp_sgd-random", "numpy", "NumPy MLP, SGD, naive random init", optimizer="sgd", init="random",
              anchor="mlp"),
    ModelSpec("mlp_sgd-he", "numpy", "NumPy MLP, SGD, He init", optimizer="sgd", init="he", anchor="mlp"),
    ModelSpec("mlp_adam-random", "numpy", "NumPy MLP, Adam, naive random init", optimizer="adam",
              init="random", anchor="mlp"),
    ModelSpec("mlp_adam-he", "numpy", "NumPy MLP, Adam, He init", optimizer="adam", init="he", anchor="mlp"),
    ModelSpec("torch_logreg", "torch", "PyTorch logistic regression", builder="logreg", anchor="linear"),
    ModelSpec("torch_fnn", "torch", "PyTorch feed-forward net", builder="fnn", anchor="mlp"),
    ModelSpec("torch_cnn", "torch", "PyTorch CNN", builder="cnn", role="report_convnet", anchor="cnn"),
    ModelSpec("torch_lenet5", "torch", "PyTorch LeNet-5 (LeCun et al. 1998)", builder="lenet5",
              anchor="lenet5"),
    ModelSpec("torch_cnn_bn", "torch", "PyTorch CNN with batch normalisation", builder="cnn_bn",
              anchor="cnn"),
    ModelSpec("torch_patchnet", "torch", "PyTorch twin of the NumPy net with patch embedding",
              builder="patchnet", twin=True),
    ModelSpec("torch_mlp", "torch", "PyTorch twin of the NumPy MLP", builder="mlp", twin=True,
              role="report_twin", anchor="mlp"),
)

#: Every model, in report order.
MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def torch_variants(twins: bool | None = None) -> tuple[str, ...]:
    """Variants of the PyTorch models (``logreg``, ...); only twins or non-twins when given."""
    return tuple(
        spec.variant for spec in MODELS.values()
        if spec.family == "torch" and (twins is None or spec.twin == twins)
    )


def select(**attributes: object) -> tuple[str, ...]:
    """Names of the models whose attributes equal every given value, in report order.

    Parameters
    ----------
    **attributes
        :class:`ModelSpec` fields or properties and their wanted values:
        ``select(family="numpy", init="he")``, ``select(mlp_params=True)``.

    Returns
    -------
    tuple of str
        Possibly empty.

    Raises
    ------
    AttributeError
        If a keyword is not an attribute of :class:`ModelSpec` (a programming error).
    """
    unknown = [key for key in attributes if not hasattr(_SPECS[0], key)]
    if unknown:
        raise AttributeError(f"ModelSpec has no attribute {', '.join(unknown)}")
    return tuple(name for name, model in MODELS.items()
                 if all(getattr(model, key) == value for key, value in attributes.items()))


def select_one(**attributes: object) -> str:
    """The one model whose attributes equal every given value (see :func:`select`).

    Raises
    ------
    MnistlabError
        If no model, or more than one, matches.
    """
    names = select(**attributes)
    if len(names) != 1:
        wanted = ", ".join(f"{key}={value!r}" for key, value in attributes.items())
        raise MnistlabError(f"model registry: expected one model with {wanted}, found "
                            f"{', '.join(names) or 'none'}")
    return names[0]


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
        Checked on one blank image: its ``predict_proba`` gives one row of 10 finite probabilities
        summing to 1.

    Raises
    ------
    MnistlabError
        If the file is missing, its suffix is unknown, it is not a model of its family, or its
        predictor fails on a blank image or gives other than 10 class probabilities (one line naming
        the file and what was expected).
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
    predictor = getattr(importlib.import_module(module), function)(path)
    _check_output(path, predictor)
    return predictor


def _check_output(path: Path, predictor: Predictor) -> None:
    """Raise a one-line :class:`MnistlabError` unless ``predictor`` maps one blank 28x28 image to 10
    finite probabilities summing to 1: the loaders check a file's types and shapes, and this last
    check catches any bad contents they let through before a user's images are read."""
    blank = np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    try:
        proba = np.asarray(predictor.predict_proba(blank), dtype=np.float64)
    except MnistlabError as err:
        raise MnistlabError(f"{path}: predicting a blank image fails: {err}") from None
    except Exception as err:  # bad contents of a file can fail anywhere in a library's predict code
        message = str(err).splitlines()[0] if str(err) else ""
        raise MnistlabError(f"{path}: not a usable model: predicting a blank image fails "
                            f"({type(err).__name__}: {message[:200]})") from None
    if proba.shape != (1, N_CLASSES):
        raise MnistlabError(f"{path}: not a usable model: it gives {proba.size} probabilities per image "
                            f"(shape {proba.shape} for 1 image), expected {N_CLASSES}, one per digit")
    if not np.isfinite(proba).all() or abs(proba.sum() - 1) > 1e-4 or proba.min() < 0:
        raise MnistlabError(f"{path}: not a usable model: its probabilities for a blank image are not "
                            "finite, non-negative and summing to 1 (NaN or infinite weights?)")


def check_params(params, path: str | os.PathLike = "params.yaml") -> None:
    """Check the model names of validated params against the registry.

    Parameters
    ----------
    params : mnistlab.core.params.Params
        As returned by :func:`mnistlab.core.params.load_params`.
    path : str or path-like
        The params file, named in the message.

    Raises
    ------
    MnistlabError
        One line naming the key: a ``torch.models`` entry that is not a PyTorch model of the
        registry (or is a twin, which reads ``mlp.*``), a PyTorch model without an entry, or a
        ``compare.pairs`` side that is neither a model nor one of :data:`BEST_ALIASES`.
    """
    known = torch_variants(twins=False)
    for name in params.torch.models:
        if name not in known:
            hint = " (the twins read mlp.*)" if name in torch_variants(twins=True) else ""
            raise MnistlabError(f"{path}: torch.models.{name}: unknown PyTorch model{hint}, expected one "
                                f"of {', '.join(known)} (mnistlab.models.registry)")
    missing = [name for name in known if name not in params.torch.models]
    if missing:
        raise MnistlabError(f"{path}: torch.models: missing {', '.join(missing)}: every PyTorch model of "
                            "the registry that is not a twin has an entry ({} for no overrides)")
    for i, pair in enumerate(params.compare.pairs):
        for side in ("a", "b"):
            value = getattr(pair, side)
            if value not in MODELS and value not in BEST_ALIASES:
                raise MnistlabError(f"{path}: compare.pairs.{i}.{side} = {value!r}: expected a model name "
                                    f"({', '.join(MODELS)}) or {' / '.join(BEST_ALIASES)}")
