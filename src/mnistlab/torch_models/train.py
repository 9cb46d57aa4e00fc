"""Train, save and load the PyTorch models (Adam, cross-entropy, best epoch on validation accuracy).

The loop follows pytorch/examples ``mnist/main.py``: ``train_one_epoch`` and ``evaluate`` functions,
``model.train()`` / ``model.eval()``, ``torch.no_grad()`` for evaluation, summed loss divided by N.
The training split lives in memory as one tensor and is reshuffled every epoch with a seeded
``torch.Generator`` (the validation split is never shuffled nor augmented); augmentation draws
from a second generator, so switching it off does not change the batch order. With
``torch.manual_seed`` and ``torch.use_deterministic_algorithms(True)`` a rerun gives identical
weights and metrics on the CPU.

Files: ``models/torch_<model>.pt`` is ``{"state_dict": ..., "config": {"model", "sizes",
"normalize", "format"}}`` and :func:`load_model` turns it back into a predictor.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnistlab.errors import MnistlabError
from mnistlab.io import atomic_path
from mnistlab.torch_models.augment import Augmenter
from mnistlab.torch_models.models import MODEL_NAMES, architecture, build_model, count_params

#: models that mirror the NumPy network and also log curves every ``log_every`` updates
TWINS = ("patchnet", "mlp")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
FORMAT_VERSION = 1
EVAL_BATCH = 1000


@dataclass(frozen=True)
class TrainSettings:
    """Everything one training run needs, resolved from the ``torch`` params for one model.

    Attributes
    ----------
    model : str
        One of ``logreg, fnn, cnn, patchnet, mlp``.
    sizes : dict
        Architecture sizes (:func:`mnistlab.torch_models.models.architecture`).
    epochs, batch_size : int
    lr : float
        Adam's learning rate (the peak rate for ``onecycle``).
    schedule : {"constant", "step", "cosine", "onecycle"}
        Learning-rate schedule: ``step`` multiplies by ``lr_decay`` every ``lr_decay_every`` epochs
        (as the NumPy net); ``cosine`` anneals to 0 over all updates; ``onecycle`` is
        ``torch.optim.lr_scheduler.OneCycleLR`` (Smith and Topin 2019) over all updates.
    lr_decay : float
    lr_decay_every : int
        Epochs.
    weight_decay : float
        Adam's L2 penalty, on weights only (not biases), as in the NumPy network.
    betas : tuple of float
        Adam's decay rates of the first and second moment estimates.
    eps : float
        Adam's denominator term.
    normalize : bool
        Standardise pixels with MNIST's mean and std inside the model.
    augment : Augmenter
        Training-batch augmentation (identity when switched off).
    log_every : int or None
        Also log curves every this many updates (step = updates); None logs once per epoch.
    seed : int
    device : {"auto", "cpu", "cuda"}
    """

    model: str
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
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMES:
            raise MnistlabError(f"model {self.model!r}: unknown, expected one of {', '.join(MODEL_NAMES)}")
        for key in ("epochs", "batch_size", "lr", "lr_decay_every"):
            if not getattr(self, key) > 0:
                raise MnistlabError(f"torch.{key} = {getattr(self, key)!r}: must be positive")
        if self.schedule not in SCHEDULES:
            raise MnistlabError(f"torch.schedule = {self.schedule!r}: expected one of {', '.join(SCHEDULES)}")


def settings_from_params(params, model: str) -> TrainSettings:
    """Resolve the settings of ``model`` from validated :class:`mnistlab.params.Params`.

    ``torch.models.<model>.*`` overrides the defaults. For ``logreg``, ``fnn`` and ``cnn`` the
    defaults are ``torch.*``. The twins (``patchnet``, ``mlp``) mirror the NumPy net trained with
    Adam: sizes from ``mlp.hidden_sizes``, ``mlp.patch_size``, ``mlp.embed_channels``, dropout
    ``mlp.dropout``, ``mlp.epochs``, ``mlp.adam.lr`` and ``mlp.adam.batch_size``, the step schedule
    of ``mlp.lr_decay`` / ``mlp.lr_decay_every``, ``mlp.weight_decay``, raw [0, 1] pixels and
    random shifts of up to ``mlp.max_shift`` pixels (``torch.models.<twin>.augment: true`` uses
    ``torch.augment`` instead, ``false`` none); ``device``, ``seed`` and ``log_every`` come from
    ``torch``.

    Raises
    ------
    MnistlabError
        If ``model`` is unknown.
    """
    if model not in MODEL_NAMES:
        raise MnistlabError(f"--model {model!r}: unknown, expected one of {', '.join(MODEL_NAMES)}")
    tp, mp = params.torch, params.mlp
    override = tp.models.get(model)
    aug = tp.augment
    torch_augmenter = Augmenter(aug.rotation_degrees, aug.perspective_distortion, aug.perspective_p,
                                max_shift=aug.max_shift)
    if model in TWINS:
        defaults = {
            "epochs": mp.epochs,
            "batch_size": mp.adam.batch_size,
            "lr": mp.adam.lr,
            "schedule": "step",
            "weight_decay": mp.weight_decay,
            "normalize": False,
        }
        adam = {"betas": tuple(mp.adam.betas), "eps": mp.adam.eps}
        sizes = architecture(model, mp.hidden_sizes, mp.patch_size, mp.embed_channels, mp.dropout)
        augmenter = Augmenter(0.0, 0.0, 0.0, max_shift=mp.max_shift)
        lr_decay, lr_decay_every = mp.lr_decay, mp.lr_decay_every
    else:
        keys = ("epochs", "batch_size", "lr", "schedule", "weight_decay")
        defaults = {key: getattr(tp, key) for key in keys}
        defaults["normalize"] = tp.normalize
        sizes = architecture(model)
        adam = {}
        augmenter = torch_augmenter
        augmenter.enabled = aug.enabled
        lr_decay, lr_decay_every = tp.lr_decay, tp.lr_decay_every
    chosen = {
        key: value if override is None or getattr(override, key) is None else getattr(override, key)
        for key, value in defaults.items()
    }
    if override is not None and override.augment is not None:
        augmenter = torch_augmenter
        augmenter.enabled = override.augment
    return TrainSettings(
        model=model,
        sizes=sizes,
        **chosen,
        **adam,
        lr_decay=lr_decay,
        lr_decay_every=lr_decay_every,
        augment=augmenter,
        log_every=tp.log_every if model in TWINS else None,
        seed=tp.seed,
        device=tp.device,
    )


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


@contextlib.contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """Switch on ``torch.use_deterministic_algorithms`` for the block, then restore the setting.

    On CUDA it only warns about kernels without a deterministic version, and sets
    ``CUBLAS_WORKSPACE_CONFIG`` as the PyTorch reproducibility notes require.
    """
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = device.type == "cuda"
    if warn_only:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def as_tensors(x: np.ndarray, y: np.ndarray | None, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Images (N, 28, 28) float32 -> (N, 1, 28, 28) tensor; labels uint8 (N,) -> int64 tensor."""
    images = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(1).to(device)
    labels = None if y is None else torch.from_numpy(y.astype(np.int64)).to(device)
    return images, labels


def make_scheduler(optimizer, settings: TrainSettings, steps_per_epoch: int):
    """The learning-rate scheduler and whether it steps per ``"update"`` or per ``"epoch"``."""
    total = settings.epochs * steps_per_epoch
    if settings.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=total), "update"
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), "update"
    if settings.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(optimizer, settings.lr_decay_every, gamma=settings.lr_decay)
        return sched, "epoch"
    return None, None


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on (N, 1, 28, 28) images, in eval mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(labels), EVAL_BATCH):
        logits = model(images[start : start + EVAL_BATCH])
        target = labels[start : start + EVAL_BATCH]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(1) == target).sum().item()
    return loss_sum / len(labels), correct / len(labels)


class Curves:
    """DVCLive step curves under ``folder`` (``Live(folder, dvcyaml=False)``), or nothing when None."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.live = None
        if folder is not None:
            from dvclive import Live

            self.live = Live(str(folder), dvcyaml=False, save_dvc_exp=False)

    def log(self, step: int, values: dict[str, float]) -> None:
        """Write one point of each metric at ``step``."""
        if self.live is None:
            return
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, value, timestamp=False)

    def close(self) -> None:
        if self.live is not None:
            self.live.end()


@dataclass
class RunningStats:
    """Summed loss, correct predictions and images since the last reset."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0

    def add(self, logits: Tensor, labels: Tensor, loss: Tensor) -> None:
        self.loss += loss.item() * len(labels)
        self.correct += (logits.argmax(1) == labels).sum().item()
        self.seen += len(labels)

    def metrics(self) -> dict[str, float]:
        return {"train/loss": self.loss / self.seen, "train/accuracy": self.correct / self.seen}


@dataclass
class RunState:
    """Counters and generators of one training run."""

    shuffle: torch.Generator
    augment: torch.Generator
    window: RunningStats = field(default_factory=RunningStats)  # training metrics since the last curve point
    updates: int = 0
    train_seconds: float = 0.0  # time spent in training steps only (augment, forward, backward, update)
    images: int = 0


def train_one_epoch(
    model, optimizer, scheduler, images, labels, settings, state, curves, evaluate_val
) -> dict:
    """One pass over the shuffled training split; returns the epoch's mean train loss and accuracy.

    For the twins (``settings.log_every``) it also logs a curve point every ``log_every`` updates:
    the training loss/accuracy since the previous point and the validation metrics.
    """
    model.train()
    epoch_stats = RunningStats()
    order = torch.randperm(len(labels), generator=state.shuffle).to(images.device)
    for start in range(0, len(order), settings.batch_size):
        tick = time.perf_counter()
        index = order[start : start + settings.batch_size]
        batch, target = settings.augment(images[index], state.augment), labels[index]
        logits = model(batch)
        loss = F.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None and scheduler[1] == "update":
            scheduler[0].step()
        state.train_seconds += time.perf_counter() - tick
        state.updates += 1
        state.images += len(target)
        epoch_stats.add(logits.detach(), target, loss.detach())
        state.window.add(logits.detach(), target, loss.detach())
        if settings.log_every and state.updates % settings.log_every == 0:
            curves.log(state.updates, {**state.window.metrics(), **evaluate_val()})
            model.train()
            state.window = RunningStats()
    if scheduler is not None and scheduler[1] == "epoch":
        scheduler[0].step()
    return epoch_stats.metrics()


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Adam:
    """Adam with L2 weight decay on weights only: biases (1-D parameters) are not decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)


def check_finite(record: dict, settings: TrainSettings) -> None:
    """Raise :class:`MnistlabError` when an epoch's training or validation loss is NaN or infinite.

    The message names the epoch, the loss and the learning rate to lower; no model is written.
    """
    lr_key = "mlp.adam.lr" if settings.model in TWINS else "torch.lr"
    for key in ("train/loss", "val/loss"):
        if not math.isfinite(record[key]):
            raise MnistlabError(
                f"{settings.model}: training diverged in epoch {record['epoch']}: {key} = {record[key]} "
                f"with learning rate {settings.lr:g}; lower {lr_key} or torch.models.{settings.model}.lr"
            )


@dataclass
class TrainResult:
    """A trained model (weights of its best validation epoch) and its metrics."""

    model: nn.Module
    config: dict
    metrics: dict
    history: list[dict]


def train_model(
    settings: TrainSettings, train, val, curves_dir: str | os.PathLike | None = None
) -> TrainResult:
    """Train ``settings.model`` with Adam and cross-entropy; keep the epoch of best validation accuracy.

    Parameters
    ----------
    settings : TrainSettings
    train, val : mnistlab.data.prepare.Split
        ``x`` float32 (N, 28, 28) in [0, 1], ``y`` uint8 (N,). Only ``train`` is shuffled and augmented.
    curves_dir : path, optional
        DVCLive folder of the curves (``train/loss``, ``train/accuracy``, ``val/loss``,
        ``val/accuracy``, ``val/error``): step = epoch; for the twins step = updates, a point every
        ``log_every`` updates and after the last one (training metrics averaged over the updates
        since the previous point), exactly as ``mnistlab.nn.train`` logs the NumPy net.

    Returns
    -------
    TrainResult
        ``metrics`` has ``val_accuracy`` (of the best epoch), ``val_loss``, ``train_seconds``
        (wall time of the whole run, seconds), ``n_params``, ``epochs``, ``best_epoch``,
        ``updates``, ``images_per_second`` (training images per second of training steps,
        augmentation included, evaluation excluded) and ``device``.

    Raises
    ------
    MnistlabError
        If the device is unavailable.
    """
    device = resolve_device(settings.device)
    started = time.perf_counter()
    with deterministic(device):
        torch.manual_seed(settings.seed)
        model = build_model(settings.model, settings.sizes, settings.normalize).to(device)
        x_train, y_train = as_tensors(train.x, train.y, device)
        x_val, y_val = as_tensors(val.x, val.y, device)
        optimizer = make_optimizer(model, settings)
        steps_per_epoch = math.ceil(len(y_train) / settings.batch_size)
        scheduler = make_scheduler(optimizer, settings, steps_per_epoch)
        state = RunState(
            shuffle=torch.Generator().manual_seed(settings.seed),
            augment=torch.Generator().manual_seed(settings.seed + 1),
        )
        curves = Curves(curves_dir)

        def evaluate_val() -> dict[str, float]:
            loss, accuracy = evaluate(model, x_val, y_val)
            return {"val/loss": loss, "val/accuracy": accuracy, "val/error": 1.0 - accuracy}

        history: list[dict] = []
        best_state, best = None, {"val/accuracy": -1.0}
        for epoch in range(1, settings.epochs + 1):
            train_metrics = train_one_epoch(
                model, optimizer, scheduler, x_train, y_train, settings, state, curves, evaluate_val
            )
            record = {"epoch": epoch, "updates": state.updates, **train_metrics, **evaluate_val()}
            check_finite(record, settings)
            history.append(record)
            if settings.log_every is None:
                curves.log(epoch, {k: v for k, v in record.items() if "/" in k})
            if record["val/accuracy"] > best["val/accuracy"]:
                best = record
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if settings.log_every and state.window.seen:  # the last point, as the NumPy net's curves
            curves.log(state.updates, {**state.window.metrics(), **evaluate_val()})
        curves.close()
        model.load_state_dict(best_state)
    model = model.cpu().eval()
    config = {"model": settings.model, "sizes": settings.sizes, "normalize": settings.normalize}
    metrics = {
        "val_accuracy": best["val/accuracy"],
        "val_loss": best["val/loss"],
        "train_seconds": round(time.perf_counter() - started, 3),
        "n_params": count_params(model),
        "epochs": settings.epochs,
        "best_epoch": best["epoch"],
        "updates": state.updates,
        "images_per_second": round(state.images / max(state.train_seconds, 1e-9), 1),
        "device": device.type,
    }
    return TrainResult(model=model, config=config, metrics=metrics, history=history)


def save_model(path: str | os.PathLike, model: nn.Module, config: dict) -> None:
    """Save ``{"state_dict", "config"}`` to ``path`` (``.pt``) atomically; tensors moved to the CPU."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "config": {**config, "format": FORMAT_VERSION}}, tmp)


class TorchPredictor:
    """A trained PyTorch model behind the common predictor interface.

    Attributes
    ----------
    model : torch.nn.Sequential
        In eval mode, on ``device``.
    config : dict
        ``model``, ``sizes``, ``normalize``.
    n_params : int
        Trainable numbers in the model.
    """

    def __init__(self, model: nn.Module, config: dict, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.n_params = count_params(model)

    @torch.no_grad()
    def logits(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Logits (N, 10) float32 of images (N, 28, 28) float32 in [0, 1].

        Raises
        ------
        MnistlabError
            If ``images`` is not of shape (N, 28, 28).
        """
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise MnistlabError(f"images of shape {images.shape}: expected (N, 28, 28)")
        x, _ = as_tensors(images, None, self.device)
        out = [self.model(x[start : start + batch_size]) for start in range(0, len(x), batch_size)]
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, 10), np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10), float64 rows summing to 1, of images (N, 28, 28) float32 in [0, 1]."""
        logits = self.logits(images).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted digits (N,) int64."""
        return self.logits(images).argmax(axis=1)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> TorchPredictor:
    """Load ``models/torch_<model>.pt`` written by :func:`save_model` as a :class:`TorchPredictor`.

    Raises
    ------
    MnistlabError
        If the file is missing, not a PyTorch file, or not a model saved by :func:`save_model`.
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        config = saved["config"]
        model = build_model(config["model"], config["sizes"], config["normalize"])
        model.load_state_dict(saved["state_dict"])
    except FileNotFoundError:
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)") from None
    except (pickle.UnpicklingError, RuntimeError, KeyError, TypeError, ValueError, EOFError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MnistlabError(f"{path}: not a mnistlab PyTorch model ({message})") from None
    return TorchPredictor(model, config, device)
