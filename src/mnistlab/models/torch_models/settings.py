"""Everything one PyTorch training run needs, resolved from params.yaml for one model.

Two kinds of PyTorch model (see :data:`mnistlab.models.registry.MODELS`):

- ``logreg``, ``fnn``, ``cnn`` (and any architecture added to the registry) read ``torch.*``,
  overridden per model by ``torch.models.<variant>``;
- the twins ``patchnet`` and ``mlp`` mirror the from-scratch NumPy net trained with Adam and read
  ``mlp.*`` only: sizes from ``mlp.hidden_sizes``, ``mlp.patch_size``, ``mlp.embed_channels``,
  ``mlp.dropout``; ``mlp.epochs``, ``mlp.adam.*``, the step schedule ``mlp.lr_decay`` every
  ``mlp.lr_decay_every`` epochs, ``mlp.weight_decay``, raw [0, 1] pixels, random shifts of up to
  ``mlp.max_shift`` pixels, a curve point every ``mlp.log_every_images`` training images.

Both take the top-level ``seed`` and ``torch.device``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import spec
from mnistlab.models.torch_models.augment import Augmenter
from mnistlab.models.torch_models.models import default_sizes

SCHEDULES = ("constant", "step", "cosine", "onecycle")
#: Which weights a run returns (:attr:`TrainSettings.keep`).
KEEP = ("best", "last")


@dataclass(frozen=True)
class TrainSettings:
    """One PyTorch training run.

    Attributes
    ----------
    model : str
        The model's name in :data:`mnistlab.models.registry.MODELS`.
    builder : str
        Builder function in :mod:`mnistlab.models.torch_models.models`.
    sizes : dict
        Keyword arguments of the builder.
    epochs, batch_size : int
    lr : float
        Adam's learning rate (the peak rate for ``onecycle``).
    schedule : {"constant", "step", "cosine", "onecycle"}
        ``step`` multiplies the rate by ``lr_decay`` every ``lr_decay_every`` epochs (the NumPy
        net's schedule, for the twins); ``cosine`` anneals to 0 over all updates; ``onecycle`` is
        ``torch.optim.lr_scheduler.OneCycleLR`` (Smith and Topin 2019) over all updates.
    lr_decay : float
    lr_decay_every : int
        Epochs.
    weight_decay : float
        L2 penalty on weights only (not biases), as in the NumPy network.
    betas : tuple of float
        Adam's decay rates of the first and second moment estimates.
    eps : float
        Adam's denominator term.
    normalize : bool
        Standardise pixels with MNIST's mean and std inside the model.
    augment : Augmenter
        Training-batch augmentation (identity when switched off).
    log_every : int or None
        Updates between curve points; None: one point per epoch.
    lr_param : str
        The params key named when training diverges.
    seed : int
    device : {"auto", "cpu", "cuda"}
    keep : {"best", "last"}
        Which weights training returns: those of the best validation point, or the last ones (the
        NumPy network's rule, so the twins keep theirs the same way).
    """

    model: str
    builder: str
    sizes: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "constant"
    lr_decay: float = 0.8
    lr_decay_every: int = 5
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    normalize: bool = True
    augment: Augmenter = field(default_factory=lambda: Augmenter(enabled=False))
    log_every: int | None = None
    lr_param: str = "torch.lr"
    seed: int = 0
    device: str = "cpu"
    keep: str = "best"

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "lr", "lr_decay_every"):
            if not getattr(self, key) > 0:
                raise MnistlabError(f"{self.model}: {key} = {getattr(self, key)!r}: must be positive")
        if self.keep not in KEEP:
            raise MnistlabError(f"{self.model}: keep = {self.keep!r}: expected one of {', '.join(KEEP)}")
        if self.schedule not in SCHEDULES:
            raise MnistlabError(f"{self.model}: schedule = {self.schedule!r}: expected one of "
                                f"{', '.join(SCHEDULES)}")


def settings_from_params(params, name: str) -> TrainSettings:
    """Resolve the settings of PyTorch model ``name`` (a registry name) from validated params.

    Parameters
    ----------
    params : mnistlab.core.params.Params
    name : str
        A registry name of the ``torch`` family.

    Raises
    ------
    MnistlabError
        If ``name`` is not a PyTorch model of the registry.
    """
    model = spec(name)
    if model.family != "torch":
        raise MnistlabError(f"model {name!r}: not a PyTorch model")
    if model.twin:
        mp = params.mlp
        sizes = {"hidden_sizes": list(mp.hidden_sizes), "dropout": mp.dropout}
        if "patch_size" in default_sizes(model.builder):
            sizes.update(patch_size=mp.patch_size, embed_channels=mp.embed_channels)
        return TrainSettings(
            model=name, builder=model.builder, sizes=sizes, epochs=mp.epochs,
            batch_size=mp.adam.batch_size, lr=mp.adam.lr, schedule="step", lr_decay=mp.lr_decay,
            lr_decay_every=mp.lr_decay_every, weight_decay=mp.weight_decay, betas=tuple(mp.adam.betas),
            eps=mp.adam.eps, normalize=False, augment=Augmenter(0.0, 0.0, 0.0, max_shift=mp.max_shift),
            log_every=mp.updates_between_points(mp.adam.batch_size), lr_param="mlp.adam.lr",
            seed=params.seed, device=params.torch.device, keep="last",
        )
    tp = params.torch
    override = tp.models.get(model.variant)
    chosen = {key: getattr(tp, key) for key in ("epochs", "batch_size", "lr", "schedule", "weight_decay",
                                                "normalize")}
    enabled = tp.augment.enabled
    if override is not None:
        chosen.update({key: value for key, value in override.model_dump().items()
                       if value is not None and key in chosen})
        enabled = enabled if override.augment is None else override.augment
    aug = tp.augment
    augmenter = Augmenter(aug.rotation_degrees, aug.perspective_distortion, aug.perspective_p,
                          max_shift=aug.max_shift, enabled=enabled)
    lr_param = f"torch.models.{model.variant}.lr" if override is not None and override.lr else "torch.lr"
    return TrainSettings(model=name, builder=model.builder, sizes=default_sizes(model.builder), **chosen,
                         augment=augmenter, lr_param=lr_param, seed=params.seed, device=tp.device)


def resolve_device(device: str) -> torch.device:
    """``torch.device`` for the ``torch.device`` param: ``auto`` picks CUDA when available.

    Raises
    ------
    MnistlabError
        If ``device`` is ``cuda`` and ``torch.cuda.is_available()`` is False, or unknown.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise MnistlabError("torch.device = 'cuda': no CUDA GPU is available here; use auto or cpu")
    if device not in ("cpu", "cuda"):
        raise MnistlabError(f"torch.device = {device!r}: expected auto, cpu or cuda")
    return torch.device(device)
