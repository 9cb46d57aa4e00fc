"""Minibatch training of the NumPy network, with learning-rate step decay and curve logging.

:func:`train_one_epoch` is the inner loop (also timed by ``benchmarks/numpy_vs_torch.py``);
:func:`fit` adds epochs, the schedule, divergence detection and the training/validation curves;
:func:`train_mlp` builds the network and optimizer from the ``mlp`` params and logs the curves with
DVCLive, for the ``train_mlp`` stage.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.nn.losses import SoftmaxCrossEntropy
from mnistlab.nn.model import IMAGE_SIZE, Sequential, build_mlp
from mnistlab.nn.optim import SGD, Adam, Optimizer, step_decay

#: a curve logger: ``log(step, {"train/loss": ..., ...})``
LogFn = Callable[[int, dict[str, float]], None]
#: called after every update with (loss, number correct, batch size)
BatchFn = Callable[[float, int, int], None]


class DivergenceError(MnistlabError):
    """The training loss became NaN or infinite; the message names the update, loss and rate."""


def evaluate(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 2048) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in evaluation mode.

    Parameters
    ----------
    model : Sequential
    x : ndarray of shape (N, 28, 28) or (N, *model.input_shape), float32
    y : ndarray of shape (N,), integer labels

    Returns
    -------
    loss : float
        Natural-log cross-entropy averaged over the N images.
    accuracy : float
        Fraction correct, in [0, 1].
    """
    logits = model.logits(x, batch_size)
    loss = SoftmaxCrossEntropy().forward(logits, y)
    return loss, float(np.mean(logits.argmax(axis=1) == y))


def random_shift(batch: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image by a random whole number of pixels, filling with 0 (background).

    Shifts are drawn uniformly from ``-max_shift..max_shift`` on each axis, independently per image:
    the cheapest of the distortions that Simard et al. (2003), "Best practices for convolutional
    neural networks applied to visual document analysis", ICDAR, use to enlarge MNIST.

    Parameters
    ----------
    batch : ndarray of shape (N, ...) holding N 28x28 images (e.g. (N, 784) or (N, 1, 28, 28))
    max_shift : int
        Largest shift in pixels; 0 returns ``batch`` unchanged.
    rng : np.random.Generator

    Returns
    -------
    ndarray of the shape and dtype of ``batch``
    """
    if max_shift == 0:
        return batch
    n, size = len(batch), IMAGE_SIZE
    padded = np.zeros((n, size + 2 * max_shift, size + 2 * max_shift), dtype=batch.dtype)
    padded[:, max_shift:-max_shift, max_shift:-max_shift] = batch.reshape(n, size, size)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(size))[:, :, None]
    cols = (dx[:, None] + np.arange(size))[:, None, :]
    return padded[np.arange(n)[:, None, None], rows, cols].reshape(batch.shape)


def train_one_epoch(
    model: Sequential,
    loss_fn: SoftmaxCrossEntropy,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    on_batch: BatchFn | None = None,
    first_update: int = 0,
    max_shift: int = 0,
) -> int:
    """One pass over the shuffled training set in minibatches (the last one may be smaller).

    Parameters
    ----------
    model : Sequential
    loss_fn : SoftmaxCrossEntropy
    optimizer : Optimizer
    x : ndarray of shape (N, *model.input_shape), float32
    y : ndarray of shape (N,), integer labels
    batch_size : int
    rng : np.random.Generator
        Shuffles the order.
    on_batch : callable, optional
        ``on_batch(loss, n_correct, n)`` after each update.
    first_update : int
        Number of updates done before this epoch (for error messages).
    max_shift : int
        Random translation of each training image by up to this many pixels (:func:`random_shift`).

    Returns
    -------
    int
        Number of updates made.

    Raises
    ------
    DivergenceError
        If a batch loss is NaN or infinite; names the update, the loss and the learning rate.
    """
    order = rng.permutation(len(y))
    updates = 0
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        xb, yb = random_shift(x[idx], max_shift, rng), y[idx]
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as a NaN/inf loss below
            logits = model.forward(xb, training=True)
            loss = loss_fn.forward(logits, yb)
        if not math.isfinite(loss):
            raise DivergenceError(
                f"training diverged at update {first_update + updates + 1}: loss = {loss} with "
                f"learning rate {optimizer.lr:g}; lower the learning rate"
            )
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        updates += 1
        if on_batch is not None:
            on_batch(loss, int(np.count_nonzero(logits.argmax(axis=1) == yb)), len(idx))
    return updates


@dataclass
class FitResult:
    """What :func:`fit` returns: final validation figures, counts, time and the logged curves."""

    val_loss: float
    val_accuracy: float
    updates: int
    epochs: int
    seconds: float
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


class _CurveWindow:
    """Running train loss/accuracy since the last curve point."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.correct, self.seen, self.batches = 0.0, 0, 0, 0

    def add(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss
        self.batches += 1
        self.correct += correct
        self.seen += n

    def pop(self) -> dict[str, float]:
        out = {"train/loss": self.loss_sum / self.batches, "train/accuracy": self.correct / self.seen}
        self.reset()
        return out


def fit(
    model: Sequential,
    optimizer: Optimizer,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    lr_decay: float = 1.0,
    lr_decay_every: int = 1,
    log_every: int = 100,
    log: LogFn | None = None,
    lr_name: str = "the learning rate",
    max_shift: int = 0,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs with step decay of the learning rate.

    Every ``log_every`` updates (and after the last one), the mean training loss and accuracy of
    the updates since the previous point and the validation loss, accuracy and error are recorded
    with step = number of updates, and passed to ``log``.

    Parameters
    ----------
    model : Sequential
        Trained in place.
    optimizer : Optimizer
        Its ``lr`` at the call is the base rate of the schedule.
    train, val : tuple of (ndarray of shape (N, 28, 28) float32, ndarray of shape (N,) uint8)
    epochs, batch_size : int
    rng : np.random.Generator
        Shuffling.
    lr_decay, lr_decay_every : float, int
        The rate of epoch e (0-based) is ``lr * lr_decay ** (e // lr_decay_every)``.
    log_every : int
        Updates between curve points.
    log : callable, optional
        ``log(step, metrics)``, e.g. to DVCLive.
    lr_name : str
        How the learning rate is named in the divergence message (e.g. ``"mlp.adam.lr"``).
    max_shift : int
        Data augmentation: random translations of the training images by up to this many pixels.

    Returns
    -------
    FitResult

    Raises
    ------
    DivergenceError
        If the loss becomes NaN or infinite (the model is then unusable).
    """
    x_train = train[0].reshape(len(train[0]), *model.input_shape).astype(model.dtype, copy=False)
    y_train = train[1].astype(np.intp)
    y_val = val[1].astype(np.intp)
    loss_fn, window = SoftmaxCrossEntropy(), _CurveWindow()
    curves: dict[str, list[tuple[int, float]]] = {}
    base_lr, updates = optimizer.lr, 0

    def record() -> None:
        val_loss, val_acc = evaluate(model, val[0], y_val)
        if not math.isfinite(val_loss):
            raise DivergenceError(
                f"training diverged at update {updates}: validation loss = {val_loss} with "
                f"learning rate {optimizer.lr:g}; lower the learning rate"
            )
        metrics = {**window.pop(), "val/loss": val_loss, "val/accuracy": val_acc, "val/error": 1.0 - val_acc}
        for name, value in metrics.items():
            curves.setdefault(name, []).append((updates, value))
        if log is not None:
            log(updates, metrics)

    def on_batch(loss: float, correct: int, n: int) -> None:
        nonlocal updates
        updates += 1
        window.add(loss, correct, n)
        if updates % log_every == 0:
            record()

    start = time.perf_counter()
    for epoch in range(epochs):
        optimizer.lr = step_decay(base_lr, epoch, lr_decay, lr_decay_every)
        try:
            train_one_epoch(
                model, loss_fn, optimizer, x_train, y_train, batch_size, rng, on_batch, updates, max_shift
            )
        except DivergenceError as err:
            raise DivergenceError(str(err).replace("the learning rate", lr_name)) from None
    if window.batches:
        record()
    seconds = time.perf_counter() - start
    optimizer.lr = base_lr
    val_loss, val_acc = curves["val/loss"][-1][1], curves["val/accuracy"][-1][1]
    return FitResult(val_loss, val_acc, updates, epochs, seconds, curves)


OPTIMIZERS = ("sgd", "adam")


def make_optimizer(name: str, model: Sequential, params) -> tuple[Optimizer, int]:
    """The optimizer ``name`` (``"sgd"`` or ``"adam"``) configured from ``params`` (``MLPParams``),
    and its batch size."""
    if name == "sgd":
        opt = params.sgd
        optimizer = SGD(model.layers, opt.lr, momentum=opt.momentum, weight_decay=params.weight_decay)
        return optimizer, opt.batch_size
    if name == "adam":
        opt = params.adam
        optimizer = Adam(
            model.layers, opt.lr, betas=tuple(opt.betas), eps=opt.eps, weight_decay=params.weight_decay
        )
        return optimizer, opt.batch_size
    raise MnistlabError(f"optimizer = {name!r}: expected one of {', '.join(OPTIMIZERS)}")


def dvclive_logger(live) -> LogFn:
    """A :data:`LogFn` writing each point to a ``dvclive.Live`` at step = updates."""

    def log(step: int, metrics: dict[str, float]) -> None:
        live.step = step
        for name, value in metrics.items():
            live.log_metric(name, value)

    return log


def train_mlp(
    params,
    optimizer: str,
    init: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    curves_dir: str | os.PathLike | None = None,
) -> tuple[Sequential, dict[str, float | int]]:
    """Build, train and measure the network of the ``mlp`` params.

    Parameters
    ----------
    params : mnistlab.params.MLPParams
    optimizer : {"sgd", "adam"}
    init : {"random", "he", "xavier"}
    train, val : tuple of (ndarray of shape (N, 28, 28) float32 in [0, 1], ndarray of shape (N,) uint8)
    curves_dir : path, optional
        DVCLive folder for the curves (``plots/curves/mlp_<optimizer>-<init>``); none when None.

    Returns
    -------
    model : Sequential
    metrics : dict
        ``val_accuracy``, ``val_loss``, ``train_seconds``, ``n_params``, ``updates``, ``epochs``.

    Raises
    ------
    MnistlabError
        Unknown optimizer or initialiser, or a diverging run (the message names
        ``mlp.<optimizer>.lr``).
    """
    init_rng, shuffle_rng = np.random.default_rng(params.seed).spawn(2)
    model = build_mlp(
        params.hidden_sizes,
        init=init,
        rng=init_rng,
        dropout=params.dropout,
        embedding=params.embedding,
        patch_size=params.patch_size,
        embed_channels=params.embed_channels,
        random_std=params.random_std,
    )
    opt, batch_size = make_optimizer(optimizer, model, params)
    settings = dict(
        epochs=params.epochs,
        batch_size=batch_size,
        rng=shuffle_rng,
        lr_decay=params.lr_decay,
        lr_decay_every=params.lr_decay_every,
        log_every=params.log_every,
        lr_name=f"mlp.{optimizer}.lr",
        max_shift=params.max_shift,
    )
    if curves_dir is None:
        result = fit(model, opt, train, val, **settings)
    else:
        from dvclive import Live

        with Live(str(curves_dir), dvcyaml=False, save_dvc_exp=False) as live:
            result = fit(model, opt, train, val, log=dvclive_logger(live), **settings)
    metrics = {
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_loss,
        "train_seconds": round(result.seconds, 2),
        "n_params": model.n_params,
        "updates": result.updates,
        "epochs": result.epochs,
    }
    return model, metrics
