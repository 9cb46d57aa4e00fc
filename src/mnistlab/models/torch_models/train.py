"""Train the PyTorch models: Adam, cross-entropy, the weights of the best validation point kept (the
twins keep their last weights, as the NumPy network does).

The loop has the shape of pytorch/examples ``mnist/main.py``: :func:`train_one_epoch` over an
iterable of batches with ``model.train()``, :func:`loss_and_accuracy` with ``model.eval()`` and
``torch.no_grad()`` (summed loss divided by N), and the caller steps the scheduler. The training
split lives on the device as one tensor and is reshuffled every epoch with a seeded
``torch.Generator`` (:func:`shuffled_batches`); augmentation draws from a second generator, so
switching it off does not change the batch order. With ``torch.manual_seed`` and
``torch.use_deterministic_algorithms(True)`` a rerun gives identical weights on the same machine
with the same number of threads.

Curves follow the protocol shared with the NumPy network (:mod:`mnistlab.core.curves`). The hot loop
keeps the loss sums on the device and reads them only at a curve point, so on a GPU it never
waits for the device after each update.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mnistlab.core.curves import CurveLogger, check_finite
from mnistlab.models.torch_models.augment import Augmenter
from mnistlab.models.torch_models.models import build_model, count_params
from mnistlab.models.torch_models.settings import TrainSettings, resolve_device

EVAL_BATCH = 1000
#: Training images on which the trained model is measured in evaluation mode (dropout off, no
#: augmentation) after training: the rule of :func:`mnistlab.nn.train.train_eval_index` (the same
#: evenly spaced subset), repeated here so that this package does not import the NumPy network's.
TRAIN_EVAL_IMAGES = 2000
#: called after every update with (logits, labels, mean loss), all detached, on the device
UpdateFn = Callable[[Tensor, Tensor, Tensor], None]


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


def shuffled_batches(images: Tensor, labels: Tensor, batch_size: int, shuffle: torch.Generator,
                     augment: Augmenter | None = None,
                     augment_generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of minibatches in a random order, augmented when ``augment`` is given.

    Parameters
    ----------
    images : Tensor of shape (N, 1, 28, 28), float32
    labels : Tensor of shape (N,), int64
    batch_size : int
        The last batch may be smaller.
    shuffle, augment_generator : torch.Generator
        CPU generators of the order and of the random transforms.
    """
    order = torch.randperm(len(labels), generator=shuffle).to(images.device)
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = images[index]
        if augment is not None:
            batch = augment(batch, augment_generator)
        yield batch, labels[index]


def train_one_epoch(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]],
                    optimizer: torch.optim.Optimizer, on_update: UpdateFn | None = None) -> int:
    """One pass of minibatch training: forward, cross-entropy, backward, optimizer step.

    Parameters
    ----------
    model : nn.Module
        Put in training mode.
    batches : iterable of (Tensor (B, 1, 28, 28) float32, Tensor (B,) int64)
    optimizer : torch.optim.Optimizer
    on_update : callable, optional
        ``on_update(logits, labels, loss)`` after each step (detached tensors): where the caller
        steps a per-update scheduler and feeds the curves.

    Returns
    -------
    int
        Number of updates made.
    """
    model.train()
    updates = 0
    for images, labels in batches:
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        updates += 1
        if on_update is not None:
            on_update(logits.detach(), labels, loss.detach())
    return updates


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on (N, 1, 28, 28) images, in eval mode."""
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.int64)
    for start in range(0, len(labels), EVAL_BATCH):
        logits = model(images[start : start + EVAL_BATCH])
        target = labels[start : start + EVAL_BATCH]
        loss_sum += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    return loss_sum.item() / len(labels), correct.item() / len(labels)


def make_adam(model: nn.Module, settings: TrainSettings) -> torch.optim.Adam:
    """Adam with L2 weight decay on weights only: biases (1-D parameters) are not decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=settings.lr, betas=settings.betas, eps=settings.eps)


def make_scheduler(optimizer, settings: TrainSettings, steps_per_epoch: int):
    """The learning-rate scheduler and whether the caller steps it per ``"update"`` or ``"epoch"``."""
    total = settings.epochs * steps_per_epoch
    if settings.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=total), "update"
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), "update"
    if settings.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(optimizer, settings.lr_decay_every, gamma=settings.lr_decay)
        return sched, "epoch"
    return None, None


@dataclass
class TrainResult:
    """A trained model (the weights :attr:`TrainSettings.keep` chose), its config and metrics."""

    model: nn.Module
    config: dict
    metrics: dict
    curves: dict


def train_model(
    settings: TrainSettings, train, val, curves_dir: str | os.PathLike | None = None
) -> TrainResult:
    """Train ``settings.model`` with Adam and cross-entropy; return the weights of the best validation
    point (``settings.keep == "best"``) or the last weights (``"last"``, the twins).

    Parameters
    ----------
    settings : TrainSettings
    train, val : mnistlab.data.prepare.Split
        ``x`` float32 (N, 28, 28) in [0, 1], ``y`` uint8 (N,). Only ``train`` is shuffled and augmented.
    curves_dir : path, optional
        DVCLive folder of the curves (:mod:`mnistlab.core.curves`), a point every
        ``settings.log_every`` updates or at the end of every epoch, and after the last update.

    Returns
    -------
    TrainResult
        ``metrics`` has ``val_accuracy`` (of the kept point), ``val_loss``, ``train_seconds``
        (wall time of the whole run, seconds), ``n_params``, ``epochs``, ``best_update``,
        ``updates``, ``images_per_second`` (training images per second of training steps,
        augmentation included, evaluation excluded; the clock is read after synchronising the
        device), ``device``, and ``train_eval_accuracy``, ``train_eval_loss``: the kept weights in
        evaluation mode (dropout off, no augmentation) on ``train_eval_images`` training images
        (the evenly spaced subset of :data:`TRAIN_EVAL_IMAGES`), so that ``train_eval_accuracy -
        val_accuracy`` and ``val_loss - train_eval_loss`` measure overfitting at the same weights
        (fractions; nats).

    Raises
    ------
    MnistlabError
        If the device is unavailable, or training diverges (the message names the update, the
        loss and ``settings.lr_param``).
    """
    device = resolve_device(settings.device)
    started = time.perf_counter()
    with deterministic(device), CurveLogger(curves_dir) as curves:
        torch.manual_seed(settings.seed)
        model = build_model(settings.builder, settings.sizes, settings.normalize).to(device)
        x_train, y_train = as_tensors(train.x, train.y, device)
        x_val, y_val = as_tensors(val.x, val.y, device)
        optimizer = make_adam(model, settings)
        steps_per_epoch = math.ceil(len(y_train) / settings.batch_size)
        scheduler, cadence = make_scheduler(optimizer, settings, steps_per_epoch)
        shuffle = torch.Generator().manual_seed(settings.seed)
        augment_generator = torch.Generator().manual_seed(settings.seed + 1)
        updates, train_seconds, eval_seconds = 0, 0.0, 0.0
        best = {"accuracy": -1.0, "loss": math.nan, "update": 0, "state": None}

        def point() -> None:
            nonlocal eval_seconds
            tick = time.perf_counter()
            loss, accuracy = loss_and_accuracy(model, x_val, y_val)
            lr = optimizer.param_groups[0]["lr"]
            metrics = curves.point(updates, loss, accuracy)
            check_finite(metrics["train/loss"], "train/loss", updates, lr, settings.lr_param)
            check_finite(loss, "val/loss", updates, lr, settings.lr_param)
            if settings.keep == "last" or accuracy > best["accuracy"]:
                best.update(accuracy=accuracy, loss=loss, update=updates,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            model.train()
            eval_seconds += time.perf_counter() - tick

        def on_update(logits: Tensor, labels: Tensor, loss: Tensor) -> None:
            nonlocal updates
            updates += 1
            curves.add_batch(loss, (logits.argmax(1) == labels).sum(), len(labels))
            if cadence == "update":
                scheduler.step()
            if settings.log_every and updates % settings.log_every == 0:
                point()

        for _ in range(settings.epochs):
            batches = shuffled_batches(x_train, y_train, settings.batch_size, shuffle,
                                       None if settings.augment.is_identity else settings.augment,
                                       augment_generator)
            synchronize(device)
            tick, evaluated = time.perf_counter(), eval_seconds
            train_one_epoch(model, batches, optimizer, on_update)
            synchronize(device)
            train_seconds += time.perf_counter() - tick - (eval_seconds - evaluated)
            if cadence == "epoch":
                scheduler.step()
            if not settings.log_every and curves.pending:
                point()
        if curves.pending:
            point()
        model.load_state_dict(best["state"])
        k = min(len(y_train), TRAIN_EVAL_IMAGES)
        index = (torch.arange(k) * len(y_train) // max(k, 1)).to(x_train.device)
        train_eval_loss, train_eval_accuracy = loss_and_accuracy(model, x_train[index], y_train[index])
    model = model.cpu().eval()
    config = {"model": settings.model, "builder": settings.builder, "sizes": settings.sizes,
              "normalize": settings.normalize}
    metrics = {
        "val_accuracy": best["accuracy"],
        "val_loss": best["loss"],
        "train_seconds": round(time.perf_counter() - started, 3),
        "n_params": count_params(model),
        "epochs": settings.epochs,
        "best_update": best["update"],
        "updates": updates,
        "images_per_second": round(settings.epochs * len(y_train) / max(train_seconds, 1e-9), 1),
        "device": device.type,
        "train_eval_accuracy": train_eval_accuracy,
        "train_eval_loss": train_eval_loss,
        "train_eval_images": k,
    }
    return TrainResult(model=model, config=config, metrics=metrics, curves=curves.points)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so the clock reads real elapsed time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
