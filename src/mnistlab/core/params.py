"""Typed, validated view of ``params.yaml``.

params.yaml is the only place a value lives: the models below declare types and bounds, never
defaults, so a key missing from the file is an error naming it. Two mappings are exceptions: a key
absent from an override of ``torch.models.<variant>`` means "use ``torch.*``", and a family absent
from ``robustness.corruptions`` is not run (at least one must be given).
``dvc exp run -S key=value`` writes values that may arrive as strings ("10", "true"): pydantic's
lax mode casts them to the declared types. Unknown keys, missing keys, non-finite numbers and
values out of bounds raise :class:`~mnistlab.core.errors.MnistlabError` with one line naming the
key, the value and what is allowed. Checks between fields are model validators.

Loading params imports no statistics or machine-learning library, nor the model registry
(tests/test_architecture.py): model names in params are checked against the registry by
:func:`mnistlab.models.registry.check_params`, which the validate stage runs after loading.
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
    model_validator,
)

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import MAX_MODEL_BYTES
from mnistlab.core.sources import SOURCE_NAMES

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # fits every generator's seed here
LearningRate = Annotated[float, Field(gt=0, le=10)]  # above 10 every network here diverges
Epochs = Annotated[int, Field(gt=0, le=1000)]
BatchSize = Annotated[int, Field(gt=0, le=65536)]
#: The widest hidden layer accepted: 16,384 units keep a 784 x 16,384 float32 weight matrix at 51 MB.
MAX_WIDTH = 16384
Width = Annotated[int, Field(gt=0, le=MAX_WIDTH)]
#: Fewest images a stratified count may ask for: one per digit.
MIN_COUNT = 10


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
    if isinstance(value, int) and value < MIN_COUNT:
        raise ValueError(f"expected a count of at least {MIN_COUNT} images (one per digit, to stratify) "
                         "or a fraction strictly between 0 and 1")
    return value


# A subset size: a count (int >= 10) or a fraction of the available images (0 < float < 1).
SizeOrFraction = Annotated[
    Annotated[int, Field(ge=MIN_COUNT, strict=True)] | Annotated[float, Field(gt=0, lt=1, strict=True)],
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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataParams(Section):
    """``data``: where the four IDX files come from (see :mod:`mnistlab.core.sources`)."""

    source: str
    csv_test_size: SizeOrFraction  # Kaggle CSV only: stratified test part (count or fraction)
    timeout: Annotated[float, Field(gt=0, le=600)]  # seconds, per connect/read
    retries: Annotated[int, Field(ge=0, le=5)]  # extra attempts per mirror, with exponential backoff
    seed: Seed  # Kaggle CSV only: seed of the test split

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value in SOURCE_NAMES or value.split("://", 1)[0].lower() in ("http", "https", "file"):
            return value
        path = Path(os.path.expanduser(value))
        if path.is_dir() or (path.is_file() and path.suffix.lower() == ".csv"):
            return value
        raise ValueError(
            f"expected one of {', '.join(SOURCE_NAMES)}, an http(s):// or file:// URL of a folder, "
            "or an existing folder of the four IDX files or a Kaggle-layout .csv file"
        )


class PrepareParams(Section):
    """``prepare``: first-N limit, scaling, stratified train/validation split, subsets, deskewing.

    ``train_limit`` keeps the first N training images of the source in file order, before the
    split: with the official MNIST files, ``train_limit: 19690`` gives the committed results' data.
    """

    train_limit: Annotated[int, Field(ge=MIN_COUNT)] | None
    val_size: SizeOrFraction
    train_size: SizeOrFraction | None
    test_size: SizeOrFraction | None
    deskew: bool | Literal["auto"]  # auto: digits only (mnistlab.data.benchmark.resolve_deskew)
    seed: Seed

    @model_validator(mode="after")
    def _limit_leaves_both_splits(self) -> PrepareParams:
        """With ``train_limit`` set, the stratified split it feeds (validation part rounded up, as
        scikit-learn's ``train_test_split`` does) must leave one image per digit on both sides."""
        if self.train_limit is None:
            return self
        n = self.train_limit
        val = self.val_size if isinstance(self.val_size, int) else math.ceil(self.val_size * n)
        if not MIN_COUNT <= val <= n - MIN_COUNT:
            raise _field_error("train_limit", n, f"prepare.val_size = {self.val_size} takes {val} of these "
                               f"{n} images for validation; each of the training and validation splits "
                               f"needs at least {MIN_COUNT} (one per digit, to stratify)")
        if isinstance(self.train_size, int) and self.train_size > n - val:
            raise _field_error("train_size", self.train_size, f"more than the {n - val} training images "
                               f"that prepare.train_limit = {n} leaves after validation")
        return self


class GaborParams(Section):
    """``gabor``: the filter bank and the feature pipeline (:mod:`mnistlab.features.gabor`).

    All sizes in pixels of the filtered image; the checks between them are one model validator.
    """

    orientations: Annotated[int, Field(gt=0, le=64)]  # evenly spaced in [0, pi) radians
    # cycles per pixel, below the Nyquist limit 0.5
    frequencies: Annotated[list[Annotated[float, Field(gt=0, lt=0.5)]], Field(min_length=1, max_length=16)]
    bandwidth: Annotated[float, Field(gt=0, le=8)]  # octaves; sigma = 0.562 / frequency for 1 octave
    sigma: Annotated[float, Field(gt=0, le=28)] | None  # pixels, every filter; None: from bandwidth
    resolution: Resolution
    kernel_size: PositiveInt  # pixels, odd, at most the resolution
    stride: PositiveInt  # sampling step of the response moduli, pixels
    pool: PositiveInt  # average pooling window, pixels, a multiple of stride
    standardize: bool
    pca_components: PositiveInt | None  # exact PCA (covariance eigendecomposition): no seed

    @model_validator(mode="after")
    def _sizes_fit(self) -> GaborParams:
        if self.kernel_size % 2 == 0:
            raise _field_error("kernel_size", self.kernel_size,
                               "expected an odd kernel size (the kernel is centred on a pixel)")
        if self.kernel_size > self.resolution:
            raise _field_error("kernel_size", self.kernel_size, f"kernel larger than the "
                               f"{self.resolution}x{self.resolution} images (gabor.resolution)")
        if self.pool > self.resolution:
            raise _field_error("pool", self.pool, f"pooling window larger than the "
                               f"{self.resolution}x{self.resolution} images")
        if self.pool % self.stride:
            raise _field_error("pool", self.pool, f"expected a multiple of gabor.stride = {self.stride}")
        cells = math.ceil(math.ceil(self.resolution / self.stride) / (self.pool // self.stride))
        n_features = self.orientations * len(self.frequencies) * cells**2
        if self.pca_components is not None and self.pca_components > n_features:
            raise _field_error("pca_components", self.pca_components,
                               f"above the {n_features} Gabor features (filters x {cells}x{cells} cells)")
        return self


class SVMParams(Section):
    """``svm``: RBF SVMs on raw pixels and Gabor features (:mod:`mnistlab.models.svm`).

    ``method``: ``exact`` (libsvm's ``SVC``, quadratic or worse in the training images) or
    ``nystroem`` (``n_components`` Nystroem features of the same RBF kernel + a linear SVM, for
    training sets of hundreds of thousands of images).
    """

    method: Literal["exact", "nystroem"]
    C: Annotated[float, Field(gt=0, le=1e6)]
    gamma: Literal["scale", "auto"] | Annotated[float, Field(gt=0, le=1e3)]
    gamma_factor: Annotated[float, Field(gt=0, le=1e3)]  # multiplies gamma (mnistlab tune's knob)
    resolution: Resolution
    train_size: SizeOrFraction | None
    n_components: Annotated[int, Field(gt=0, le=50000)]  # nystroem only: landmarks of the approximation


class SGDParams(Section):
    """``mlp.sgd``: plain minibatch SGD, optionally with heavy-ball momentum (``torch.optim.SGD``)."""

    lr: LearningRate
    batch_size: BatchSize
    momentum: Annotated[float, Field(ge=0, lt=1)]


class AdamParams(Section):
    """``mlp.adam``: Adam with bias correction (``torch.optim.Adam``; Kingma and Ba 2015)."""

    lr: LearningRate
    batch_size: BatchSize
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]]
    eps: Annotated[float, Field(gt=0, le=1)]


class MLPParams(Section):
    """``mlp``: the from-scratch NumPy network (:mod:`mnistlab.nn`), trained by ``train_mlp``.

    The same architecture, epochs, regularisation and schedule serve both optimizers; each
    optimizer has its own learning rate and batch size.
    """

    hidden_sizes: Annotated[list[Width], Field(min_length=1, max_length=16)]  # [] would be a linear model
    embedding: bool
    patch_size: PositiveInt
    embed_channels: Annotated[int, Field(gt=0, le=1024)]
    epochs: Epochs
    dropout: Annotated[float, Field(ge=0, lt=1)]
    weight_decay: Annotated[float, Field(ge=0, le=1)]
    lr_decay: Annotated[float, Field(gt=0, le=1)]
    lr_decay_every: PositiveInt  # epochs
    random_std: Annotated[float, Field(gt=0, le=10)]  # std of the naive "random" initialiser
    log_every_images: PositiveInt  # training images between curve points, any batch size
    max_shift: Annotated[int, Field(ge=0, le=4)]  # random translation of training images, pixels
    sgd: SGDParams
    adam: AdamParams

    def updates_between_points(self, batch_size: int) -> int:
        """``log_every_images`` in updates of ``batch_size`` images (rounded, at least 1): the
        curves of both optimizers, and of the PyTorch twins, get their points at the same numbers
        of training images."""
        return max(1, round(self.log_every_images / batch_size))

    @model_validator(mode="after")
    def _fits_a_model_file(self) -> MLPParams:
        """The trained network must load again: its float32 weights within the model-file limit
        (:data:`mnistlab.core.io.MAX_MODEL_BYTES`)."""
        width = (self.embed_channels * (IMAGE_SIZE // self.patch_size) ** 2 if self.embedding
                 and IMAGE_SIZE % self.patch_size == 0 else IMAGE_SIZE * IMAGE_SIZE)
        n_params = 0
        for size in [*self.hidden_sizes, N_CLASSES]:
            n_params += (width + 1) * size
            width = size
        if 4 * n_params > MAX_MODEL_BYTES:
            raise _field_error("hidden_sizes", self.hidden_sizes,
                               f"{n_params:,} weights ({4 * n_params / 2**20:,.0f} MiB as float32), "
                               f"above the {MAX_MODEL_BYTES // 2**20} MiB a model file may hold")
        return self

    @field_validator("patch_size")
    @classmethod
    def _patch_divides_image(cls, value: int) -> int:
        if IMAGE_SIZE % value:
            raise ValueError(f"expected a divisor of the image side {IMAGE_SIZE} (1, 2, 4, 7, 14 or 28)")
        return value


class AugmentParams(Section):
    """``torch.augment``: random transforms of training batches (``models.torch_models.augment``)."""

    enabled: bool
    rotation_degrees: Annotated[float, Field(ge=0, le=180)]  # uniform in [-d, d]
    perspective_distortion: Annotated[float, Field(ge=0, le=1)]  # torchvision's distortion_scale
    perspective_p: Annotated[float, Field(ge=0, le=1)]  # probability per image
    max_shift: Annotated[int, Field(ge=0, le=4)]  # random whole-pixel translations, pixels


TorchSchedule = Literal["constant", "cosine", "onecycle"]


class TorchModelParams(Section):
    """``torch.models.<variant>``: per-model overrides of the ``torch`` values; an absent key means
    "no override" (the only optional keys of params.yaml)."""

    epochs: Epochs | None = None
    lr: LearningRate | None = None
    batch_size: BatchSize | None = None
    schedule: TorchSchedule | None = None
    weight_decay: Annotated[float, Field(ge=0, le=1)] | None = None
    normalize: bool | None = None
    augment: bool | None = None  # switch torch.augment on or off for this model


class TorchParams(Section):
    """``torch``: the PyTorch models that are not twins of the NumPy net (``models.torch_models``).

    The twins (registry specs with ``twin=True``) read ``mlp.*`` only.
    """

    device: Literal["auto", "cpu", "cuda"]
    epochs: Epochs
    batch_size: BatchSize
    lr: LearningRate  # Adam; the peak rate of the onecycle schedule
    schedule: TorchSchedule
    weight_decay: Annotated[float, Field(ge=0, le=1)]  # L2 penalty on weights (not biases)
    normalize: bool  # MNIST mean 0.1307, std 0.3081
    augment: AugmentParams
    # one entry per PyTorch model of the registry that is not a twin; the names are checked
    # against the registry by mnistlab.models.registry.check_params (the validate stage)
    models: dict[str, TorchModelParams]


def _severities(low: float, high: float):
    """Severities of one corruption family: a non-empty list of numbers in [low, high]."""
    return Annotated[list[Annotated[float, Field(ge=low, le=high)]], Field(min_length=1, max_length=20)]


class CorruptionParams(Section):
    """``robustness.corruptions``: family -> severities in its unit (:mod:`mnistlab.evaluation.corruptions`).

    A family left out is not run; at least one family is needed. Bounds: the range in which each
    family's severity keeps a recognisable digit on a 28x28 canvas.
    """

    rotation: _severities(0, 180) | None = None  # degrees, random direction
    translation: _severities(0, 14) | None = None  # pixels, random direction
    scale: _severities(0.25, 3) | None = None  # zoom factor about the centre
    shear: _severities(0, 2) | None = None  # tangent of the shear angle, random direction
    noise: _severities(0, 1) | None = None  # Gaussian std, pixel units
    blur: _severities(0, 5) | None = None  # Gaussian sigma, pixels
    stroke: _severities(-3, 4) | None = None  # stroke width change, pixels
    occlusion: _severities(0, 28) | None = None  # side of a blanked square, pixels

    @model_validator(mode="after")
    def _at_least_one(self) -> CorruptionParams:
        if not self.families():
            names = ", ".join(type(self).model_fields)
            raise ValueError(f"expected at least one corruption family of {names}")
        return self

    def families(self) -> dict[str, list[float]]:
        """Family -> severities, for the families present, in params.yaml's order of fields."""
        return {name: list(value) for name, value in self if value is not None}


class RobustnessParams(Section):
    """``robustness``: graded corruptions of test digits (:mod:`mnistlab.evaluation.corruptions`) and
    the MNIST-C benchmark (:mod:`mnistlab.evaluation.mnist_c`)."""

    test_size: SizeOrFraction | None  # stratified subset of the test images (graded families)
    seed: Seed  # subset and random corruptions; apart from the training seed on purpose
    corruptions: CorruptionParams
    batch_size: BatchSize  # images per predict_proba call
    # folder of the official MNIST-C files (<corruption>/test_images.npy, test_labels.npy); null:
    # generate the 15 corruptions from the raw test images. Checked by the robustness stage.
    mnist_c_dir: Annotated[str, Field(min_length=1)] | None


class ReportParams(Section):
    """``report``: the figures of the report stage (galleries, embeddings)."""

    embedding_samples: Annotated[int, Field(gt=0, le=20000)]  # t-SNE is quadratic in these
    gallery_size: Annotated[int, Field(gt=0, le=400)]  # images per gallery figure
    seed: Seed


def _ordered(value: tuple) -> tuple:
    """A search range ``[low, high]``: low at most high (equal: a fixed value)."""
    if value[0] > value[1]:
        raise ValueError(f"expected [low, high] with low <= high, got [{value[0]}, {value[1]}]")
    return value


def _search_range(item):
    """A ``[low, high]`` search range of ``item`` values (``tune.*``), in params.yaml's order."""
    return Annotated[tuple[item, item], AfterValidator(_ordered)]


def _choices(item):
    """A list of 1 to 16 distinct values a search picks from (``tune.*``)."""

    def distinct(values: list) -> list:
        if len({repr(v) for v in values}) != len(values):
            raise ValueError("expected distinct choices")
        return values

    return Annotated[list[item], Field(min_length=1, max_length=16), AfterValidator(distinct)]


Probability = Annotated[float, Field(ge=0, lt=1)]


class SVMSpace(Section):
    """``tune.svm``: the search space of both SVMs' shared ``svm.C`` and ``svm.gamma_factor``."""

    C: _search_range(Annotated[float, Field(gt=0, le=1e6)])  # log-uniform
    # log-uniform multiple of gamma "scale" = 1 / (n_features * variance of the training features)
    gamma_factor: _search_range(Annotated[float, Field(gt=0, le=1e3)])


class GaborSpace(Section):
    """``tune.gabor``: choices of the Gabor bank and its pipeline (the other ``gabor.*`` keys fixed)."""

    frequencies: _choices(Annotated[list[Annotated[float, Field(gt=0, lt=0.5)]],
                                    Field(min_length=1, max_length=16)])
    pool: _choices(PositiveInt)  # pixels, each a multiple of gabor.stride
    pca_components: _choices(PositiveInt)


class MLPSpace(Section):
    """``tune.mlp``: the NumPy MLP trained with Adam (``mlp.hidden_sizes: [width]``, ``mlp.adam.lr``,
    ``mlp.dropout``)."""

    width: _choices(Width)
    lr: _search_range(LearningRate)  # log-uniform
    dropout: _search_range(Probability)  # uniform


class CNNSpace(Section):
    """``tune.cnn``: the tuned CNN's widths, dropout and recipe."""

    # channels of the first block; the others in proportion to the builder's defaults
    width: _choices(Annotated[int, Field(gt=0, le=256)])
    dropout: _search_range(Probability)  # uniform
    epochs: _search_range(Epochs)  # integers
    lr: _search_range(LearningRate)  # log-uniform; the onecycle peak
    # multiplies torch.augment.rotation_degrees and .perspective_distortion (1: as set; 0: none)
    augment_scale: _search_range(Annotated[float, Field(ge=0, le=4)])


class TuneParams(Section):
    """``tune``: the Optuna studies of ``mnistlab tune`` (:mod:`mnistlab.models.tuning`).

    Every family gets ``n_trials`` trials (TPE sampler seeded with ``seed``), each scored by the
    validation accuracy of a model trained on the training split (or its stratified ``train_size``
    subset); the test split is never read. Not a stage of ``dvc repro``.
    """

    n_trials: Annotated[int, Field(ge=1, le=1000)]  # the same budget for every family
    # more training seeds for the current setting and the best trial of a family whose training is
    # random (mlp, cnn): the choice is the higher mean validation accuracy over 1 + confirm_seeds
    confirm_seeds: Annotated[int, Field(ge=0, le=10)]
    seed: Seed
    train_size: SizeOrFraction | None
    svm: SVMSpace
    gabor: GaborSpace
    mlp: MLPSpace
    cnn: CNNSpace


class ComparePair(Section):
    """One question of ``compare.pairs``: is model ``a`` better than model ``b`` on the test set?"""

    question: Annotated[str, Field(min_length=1)]
    # a model name or best_neural / best_classic: checked against mnistlab.models.registry by its
    # check_params (the validate stage)
    a: Annotated[str, Field(min_length=1)]
    b: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _two_models(self) -> ComparePair:
        if self.a == self.b:
            raise _field_error("b", self.b, "expected a model other than a")
        return self


class CompareParams(Section):
    """``compare``: paired tests on the test set (exact McNemar, paired bootstrap, Bonferroni
    simultaneous intervals at level ``alpha``)."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)]
    n_resamples: Annotated[int, Field(ge=100, le=100_000)]
    seed: Seed  # bootstrap seed
    pairs: Annotated[list[ComparePair], Field(min_length=1)]


class Params(Section):
    """The whole ``params.yaml``."""

    seed: Seed  # every training stage's randomness (weights, shuffling, dropout, augmentation)
    data: DataParams
    prepare: PrepareParams
    gabor: GaborParams
    svm: SVMParams
    mlp: MLPParams
    torch: TorchParams
    compare: CompareParams
    robustness: RobustnessParams
    report: ReportParams
    tune: TuneParams


class _FieldError(ValueError):
    """A model validator's complaint about one field: reported under that field's key."""

    def __init__(self, field: str, value, message: str):
        super().__init__(message)
        self.field, self.value = field, value


def _field_error(field: str, value, message: str) -> _FieldError:
    return _FieldError(field, value, message)


def describe_errors(errors: list[dict], prefix: str = "") -> str:
    """One line for all of pydantic's ``errors``: ``key = value: what is allowed``, the branches
    of a union merged; ``prefix`` (``"gabor"``) goes before each key of a section's errors."""
    messages: dict[tuple[str, str], list[str]] = {}
    for error in errors:
        # union branches add their type to the location ("constrained-int", "literal['scale','auto']")
        loc = [prefix] if prefix else []
        loc += [str(p) for p in error["loc"] if isinstance(p, int) or str(p).isidentifier()]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _FieldError):  # a model validator naming one of its fields
            loc.append(cause.field)
            error = {**error, "input": cause.value, "msg": str(cause)}
        key = ".".join(loc)
        if error["type"] == "extra_forbidden":
            messages.setdefault((key, ""), []).append("unknown key (check the spelling against params.yaml)")
            continue
        if error["type"] == "missing":
            messages.setdefault((key, ""), []).append("missing")
            continue
        message = error["msg"].removeprefix("Value error, ")
        branch = messages.setdefault((key, f" = {error['input']!r}"), [])
        if message not in branch:
            branch.append(message)
    line = "; ".join(f"{key}{value}: {' or '.join(msgs)}" for (key, value), msgs in messages.items())
    if any(msgs == ["missing"] for msgs in messages.values()):
        line += (" (every key has its value in params.yaml: add it, or restore the file with "
                 "`git checkout params.yaml`)")
    return line


def load_params(path: str | os.PathLike = "params.yaml") -> Params:
    """Read, cast and validate ``params.yaml``.

    Parameters
    ----------
    path : str or path-like
        The YAML file, with every key (see the module docstring).

    Returns
    -------
    Params
        Frozen, typed parameters.

    Raises
    ------
    MnistlabError
        If the file is missing or not YAML, a key is unknown or missing, or a value is out of
        range; the one-line message names the key, the value and what is allowed.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
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
        raise MnistlabError(f"{path}: {describe_errors(err.errors())}") from None
