"""Typed, validated view of ``params.yaml``.

``dvc exp run -S key=value`` writes values that may arrive as strings ("10", "true"): pydantic's
lax mode casts them to the declared types. Unknown keys and bad values raise
:class:`~mnistlab.core.errors.MnistlabError` with one line naming the key, the value and what is allowed.

Each section below belongs to one stage family; a stage reads only its own section(s).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.errors import MnistlabError
from mnistlab.core.sources import SOURCE_NAMES

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Seed = Annotated[int, Field(ge=0)]


def _count_or_fraction(value):
    """A count is an integer >= 1, a fraction a float strictly between 0 and 1: ``1.0`` or ``2.0``
    is neither (is it all the images, or 1 image?), so it is refused rather than guessed."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None:
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return value  # let pydantic name the type error
    if isinstance(value, bool):
        raise ValueError("expected a count (an integer >= 1) or a fraction strictly between 0 and 1")
    if isinstance(value, float) and not 0 < value < 1:
        raise ValueError("expected a count (an integer >= 1, written without a decimal point) or a "
                         "fraction strictly between 0 and 1")
    if isinstance(value, int) and value < 1:
        raise ValueError("expected a count (an integer >= 1) or a fraction strictly between 0 and 1")
    return value


# A subset size: a count (int >= 1) or a fraction of the available images (0 < float < 1).
SizeOrFraction = Annotated[
    Annotated[int, Field(ge=1, strict=True)] | Annotated[float, Field(gt=0, lt=1, strict=True)],
    BeforeValidator(_count_or_fraction),
]


def _one_of(*allowed: int) -> AfterValidator:
    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(map(str, allowed))}")
        return value

    return AfterValidator(check)


# Image side in pixels: the 28x28 images or their 14x14 mean-pooled copies. An int with a check
# rather than a Literal, so that the string "14" written by `dvc exp run -S` is cast.
Resolution = Annotated[int, _one_of(14, 28)]


class Section(BaseModel):
    """Base of every params section: unknown keys are errors, values are cast from strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


KNOWN_SOURCES = SOURCE_NAMES  # mnist, fashion-mnist, sample


class DataParams(Section):
    """``data``: where the four IDX files come from (see ``mnistlab.core.sources``)."""

    source: str = "mnist"
    csv_test_size: SizeOrFraction = 0.2  # Kaggle CSV only: stratified test part (count or fraction)
    timeout: PositiveFloat = 20.0  # seconds, per connect/read
    retries: Annotated[int, Field(ge=0, le=5)] = 2  # extra attempts per mirror, with exponential backoff
    seed: Seed = 0  # Kaggle CSV only: seed of the test split

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value in KNOWN_SOURCES or value.split("://", 1)[0].lower() in ("http", "https", "file"):
            return value
        path = Path(os.path.expanduser(value))
        if path.is_dir() or (path.is_file() and path.suffix.lower() == ".csv"):
            return value
        raise ValueError(
            f"expected one of {', '.join(KNOWN_SOURCES)}, an http(s):// or file:// URL of a folder, "
            "or an existing folder of the four IDX files or a Kaggle-layout .csv file"
        )


class PrepareParams(Section):
    """``prepare``: scaling, stratified train/validation split, optional subsets, deskewing."""

    val_size: SizeOrFraction = 0.1
    train_size: SizeOrFraction | None = None
    test_size: SizeOrFraction | None = None
    deskew: bool = True
    seed: Seed = 0


class GaborParams(Section):
    """``gabor``: the filter bank and the feature pipeline (``mnistlab.features.gabor``).

    Fields are validated in order, so the checks of ``kernel_size``, ``pool`` and
    ``pca_components`` can use the fields above them (all sizes in pixels of the filtered image).
    """

    orientations: PositiveInt = 6  # evenly spaced in [0, pi) radians
    frequencies: Annotated[list[Annotated[float, Field(gt=0, lt=0.5)]], Field(min_length=1)] = [
        0.1, 0.2, 0.3
    ]  # cycles per pixel, below the Nyquist limit 0.5
    bandwidth: PositiveFloat = 1.0  # octaves; sigma = 0.562 / frequency for 1 octave
    sigma: PositiveFloat | None = None  # pixels, the same for every filter; None: from bandwidth
    resolution: Resolution = 28
    kernel_size: PositiveInt = 13  # pixels, odd, at most the resolution
    stride: PositiveInt = 2  # sampling step of the response moduli, pixels
    pool: PositiveInt = 4  # average pooling window, pixels, a multiple of stride
    standardize: bool = False
    pca_components: PositiveInt | None = 100  # exact PCA (covariance eigendecomposition): no seed

    @field_validator("kernel_size")
    @classmethod
    def _kernel_fits(cls, value: int, info) -> int:
        if value % 2 == 0:
            raise ValueError("expected an odd kernel size (the kernel is centred on a pixel)")
        resolution = info.data.get("resolution")
        if resolution is not None and value > resolution:
            raise ValueError(f"kernel larger than the {resolution}x{resolution} images (gabor.resolution)")
        return value

    @field_validator("pool")
    @classmethod
    def _pool_fits(cls, value: int, info) -> int:
        resolution, stride = info.data.get("resolution"), info.data.get("stride")
        if resolution is not None and value > resolution:
            raise ValueError(f"pooling window larger than the {resolution}x{resolution} images")
        if stride is not None and value % stride:
            raise ValueError(f"expected a multiple of gabor.stride = {stride}")
        return value

    @field_validator("pca_components")
    @classmethod
    def _pca_fits(cls, value: int | None, info) -> int | None:
        needed = ("orientations", "frequencies", "resolution", "stride", "pool")
        if value is None or any(key not in info.data for key in needed):
            return value
        d = info.data
        cells = math.ceil(math.ceil(d["resolution"] / d["stride"]) / (d["pool"] // d["stride"]))
        n_features = d["orientations"] * len(d["frequencies"]) * cells**2
        if value > n_features:
            raise ValueError(f"above the {n_features} Gabor features (filters x {cells}x{cells} cells)")
        return value


class SVMParams(Section):
    """``svm``: RBF SVMs on raw pixels and Gabor features (``mnistlab.models.svm``).

    ``method``: ``exact`` (libsvm's ``SVC``, quadratic or worse in the training images) or
    ``nystroem`` (``n_components`` Nystroem features of the same RBF kernel + a linear SVM, for
    training sets of hundreds of thousands of images).
    """

    method: Literal["exact", "nystroem"] = "exact"
    C: PositiveFloat = 5.0
    gamma: Literal["scale", "auto"] | PositiveFloat = "scale"
    resolution: Resolution = 14
    train_size: SizeOrFraction | None = None
    n_components: PositiveInt = 2000  # nystroem only: landmarks of the kernel approximation


class SGDParams(Section):
    """``mlp.sgd``: plain minibatch SGD, optionally with heavy-ball momentum (``torch.optim.SGD``)."""

    lr: PositiveFloat = 0.1
    batch_size: PositiveInt = 32
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0


class AdamParams(Section):
    """``mlp.adam``: Adam with bias correction (``torch.optim.Adam``)."""

    lr: PositiveFloat = 2e-3
    batch_size: PositiveInt = 128
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8


class MLPParams(Section):
    """``mlp``: the from-scratch NumPy network (``mnistlab.nn``), trained by ``train_mlp``.

    The same architecture, epochs, regularisation and schedule serve both optimizers; each
    optimizer has its own learning rate and batch size.
    """

    hidden_sizes: Annotated[list[PositiveInt], Field(min_length=1)] = [512]  # [] would be a linear model
    embedding: bool = False
    patch_size: PositiveInt = 4
    embed_channels: PositiveInt = 8
    epochs: PositiveInt = 15
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    lr_decay: Annotated[float, Field(gt=0, le=1)] = 0.8
    lr_decay_every: PositiveInt = 5  # epochs
    random_std: PositiveFloat = 0.01  # std of the naive "random" initialiser
    log_every_images: PositiveInt = 12800  # training images between curve points, any batch size
    max_shift: Annotated[int, Field(ge=0, le=4)] = 1  # random translation of training images, pixels
    sgd: SGDParams = SGDParams()
    adam: AdamParams = AdamParams()

    def updates_between_points(self, batch_size: int) -> int:
        """``log_every_images`` in updates of ``batch_size`` images (rounded, at least 1): the
        curves of both optimizers, and of the PyTorch twins, get their points at the same numbers
        of training images."""
        return max(1, round(self.log_every_images / batch_size))

    @field_validator("patch_size")
    @classmethod
    def _patch_divides_image(cls, value: int) -> int:
        if IMAGE_SIZE % value:
            raise ValueError(f"expected a divisor of the image side {IMAGE_SIZE} (1, 2, 4, 7, 14 or 28)")
        return value


class AugmentParams(Section):
    """``torch.augment``: random transforms of training batches (``mnistlab.models.torch_models.augment``)."""

    enabled: bool = True
    rotation_degrees: Annotated[float, Field(ge=0, le=180)] = 10.0  # uniform in [-d, d]
    perspective_distortion: Annotated[float, Field(ge=0, le=1)] = 0.2  # torchvision's distortion_scale
    perspective_p: Annotated[float, Field(ge=0, le=1)] = 0.5  # probability per image
    max_shift: Annotated[int, Field(ge=0, le=4)] = 0  # random whole-pixel translations, pixels


TorchSchedule = Literal["constant", "cosine", "onecycle"]


def _registered_torch_model(name: str) -> str:
    # imported here: the registry is the validate stage's dependency, not every stage's (dvc.yaml)
    from mnistlab.core.registry import torch_variants

    known = torch_variants(twins=False)
    if name not in known:
        hint = " (the twins read mlp.*)" if name in torch_variants(twins=True) else ""
        raise ValueError(f"unknown PyTorch model{hint}, expected one of {', '.join(known)} "
                         "(mnistlab.core.registry)")
    return name


TorchVariant = Annotated[str, AfterValidator(_registered_torch_model)]


class TorchModelParams(Section):
    """``torch.models.<variant>``: per-model overrides of the ``torch`` defaults (``None``: the default)."""

    epochs: PositiveInt | None = None
    lr: PositiveFloat | None = None
    batch_size: PositiveInt | None = None
    schedule: TorchSchedule | None = None
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    normalize: bool | None = None
    augment: bool | None = None  # switch torch.augment on or off for this model


class TorchParams(Section):
    """``torch``: the PyTorch models that are not twins of the NumPy net (``mnistlab.models.torch_models``).

    The twins (``torch_patchnet``, ``torch_mlp``) read ``mlp.*`` only.
    """

    device: Literal["auto", "cpu", "cuda"] = "auto"
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 3e-3  # Adam; the peak rate of the onecycle schedule
    schedule: TorchSchedule = "onecycle"
    weight_decay: Annotated[float, Field(ge=0)] = 0.0  # L2 penalty on weights (not biases)
    normalize: bool = True  # MNIST mean 0.1307, std 0.3081
    augment: AugmentParams = AugmentParams()
    # one entry per PyTorch model of the registry that is not a twin (a missing one: no overrides)
    models: dict[TorchVariant, TorchModelParams] = {
        "logreg": TorchModelParams(augment=False), "fnn": TorchModelParams(),
        "cnn": TorchModelParams(epochs=10, batch_size=128),
    }


class RobustnessParams(Section):
    """``robustness``: MNIST-C-style corruptions of test digits (``mnistlab.evaluation.corruptions``)."""

    test_size: SizeOrFraction | None = 2000  # stratified subset of the test images
    seed: Seed = 0  # subset and random corruptions; apart from the training seed on purpose
    corruptions: dict[str, list[float]] = Field(default_factory=lambda: {
        name: list(severities) for name, severities in _default_corruptions().items()})
    batch_size: PositiveInt = 8192  # images per predict_proba call

    @field_validator("corruptions")
    @classmethod
    def _known_corruptions(cls, value: dict) -> dict:
        from mnistlab.evaluation.corruptions import corruption_problem

        for name, severities in value.items():
            if problem := corruption_problem(name, severities):
                raise ValueError(problem)
        return value


def _default_corruptions() -> dict:
    from mnistlab.evaluation.corruptions import DEFAULT_CORRUPTIONS

    return DEFAULT_CORRUPTIONS


class ReportParams(Section):
    """``report``: the figures of the report stage (galleries, embeddings)."""

    embedding_samples: PositiveInt = 2000
    gallery_size: PositiveInt = 36
    seed: Seed = 0


class ComparePair(Section):
    """One question of ``compare.pairs``: is model ``a`` better than model ``b`` on the test set?"""

    question: Annotated[str, Field(min_length=1)]
    a: str  # a model name (mnistlab.core.registry) or best_neural / best_classic
    b: str

    @field_validator("a", "b")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from mnistlab.core.registry import MODELS
        from mnistlab.evidence.compare import BEST_ALIASES

        if value not in MODELS and value not in BEST_ALIASES:
            raise ValueError(f"expected a model name ({', '.join(MODELS)}) or {' / '.join(BEST_ALIASES)}")
        return value


def _default_pairs() -> list[ComparePair]:
    from mnistlab.evidence.compare import DEFAULT_PAIRS

    return [ComparePair(**pair) for pair in DEFAULT_PAIRS]


class CompareParams(Section):
    """``compare``: paired tests on the test set (exact McNemar, paired bootstrap, Holm)."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    n_resamples: Annotated[int, Field(ge=100)] = 2000
    seed: Seed = 0  # bootstrap seed
    pairs: list[ComparePair] = Field(default_factory=_default_pairs)


class Params(Section):
    """The whole ``params.yaml``."""

    seed: Seed = 0  # every training stage's randomness (weights, shuffling, dropout, augmentation)
    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    gabor: GaborParams = GaborParams()
    svm: SVMParams = SVMParams()
    mlp: MLPParams = MLPParams()
    torch: TorchParams = TorchParams()
    compare: CompareParams = Field(default_factory=CompareParams)
    robustness: RobustnessParams = Field(default_factory=RobustnessParams)
    report: ReportParams = ReportParams()


def _describe(errors: list[dict]) -> str:
    """One line for all errors: ``key = value: what is allowed``, the branches of a union merged."""
    messages: dict[tuple[str, str], list[str]] = {}
    for error in errors:
        # union branches add their type to the location ("constrained-int", "literal['scale','auto']")
        key = ".".join(str(p) for p in error["loc"] if isinstance(p, int) or str(p).isidentifier())
        if error["type"] == "extra_forbidden":
            messages.setdefault((key, ""), []).append("unknown key (check the spelling against params.yaml)")
            continue
        message = error["msg"].removeprefix("Value error, ")
        branch = messages.setdefault((key, f" = {error['input']!r}"), [])
        if message not in branch:
            branch.append(message)
    return "; ".join(f"{key}{value}: {' or '.join(msgs)}" for (key, value), msgs in messages.items())


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Read, cast and validate ``params.yaml``.

    Parameters
    ----------
    path : str or path-like
        The YAML file; missing sections take their defaults.

    Returns
    -------
    Params
        Frozen, typed parameters.

    Raises
    ------
    MnistlabError
        If the file is missing or not YAML, a key is unknown, or a value is out of range;
        the one-line message names the key, the value and what is allowed.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise MnistlabError(f"{path}: file not found (run from the repository root)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path}: cannot be read as a YAML text file ({err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise MnistlabError(f"{path}: not valid YAML: {where}{problem}") from None
    if not isinstance(raw, dict):
        raise MnistlabError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise MnistlabError(f"{path}: {_describe(err.errors())}") from None
