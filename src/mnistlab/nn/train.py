"""Minibatch training of the NumPy network, with learning-rate step decay and curve logging.

:func:`train_one_epoch` is the inner loop (also timed by ``benchmarks/numpy_vs_torch.py``);
:func:`fit` adds epochs, the schedule, the divergence check and the curves of the shared training
protocol (:mod:`mnistlab.core.curves`); :func:`train_mlp` builds the network and optimizer from the
``mlp`` params, for the ``train_mlp`` stage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.curves import CurveLogger, DivergenceError, check_finite
from mnistlab.core.errors import MnistlabError
from mnistlab.nn.losses import SoftmaxCrossEntropy
from mnistlab.nn.model import Sequential, build_mlp
from mnistlab.nn.optim import SGD, Adam, Optimizer, step_decay

__all__ = ["DivergenceError", "fit", "loss_and_accuracy", "random_shift", "train_eval_index", "train_mlp",
           "train_one_epoch"]

#: called after every update with (mean loss, number correct, batch size)
BatchFn = Callable[[float, int, int], None]
#: Training images on which the trained network is measured in evaluation mode (dropout off, no
#: shifts), for the gap between training and validation loss and accuracy: overfitting measured
#: without the training-mode effects that narrow it by construction. The PyTorch models use the
#: same rule (:mod:`mnistlab.models.torch_models.train`).
TRAIN_EVAL_IMAGES = 2000


def train_eval_index(n: int, size: int = TRAIN_EVAL_IMAGES) -> np.ndarray:
    """The fixed subset of a training split of ``n`` images measured in evaluation mode.

    ``min(n, size)`` evenly spaced indices ``i * n // k`` (``k`` the subset size): the same images
    for every seed, optimizer and model, whatever the order of training.

    Returns
    -------
    ndarray of intp, shape (min(n, size),)
        Distinct indices in ascending order.
    """
    k = min(int(n), int(size))
    return np.arange(k, dtype=np.intp) * int(n) // max(k, 1)


def loss_and_accuracy(
    model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 2048
) -> tuple[float, float]:
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
    windows = sliding_window_view(padded, (size, size), axis=(1, 2))  # (n, 2s+1, 2s+1, size, size) view
    return windows[np.arange(n), dy, dx].reshape(batch.shape)


def train_one_epoch(
    model: Sequential,
    loss_fn: SoftmaxCrossEntropy,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    on_batch: BatchFn | None = None,
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
        ``on_batch(mean_loss, n_correct, n)`` after each update; it may raise to stop training
        (:func:`fit` checks the loss there).
    max_shift : int
        Random translation of each training image by up to this many pixels (:func:`random_shift`).

    Returns
    -------
    int
        Number of updates made.

    """
    order = rng.permutation(len(y))
    updates = 0
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        xb, yb = random_shift(x[idx], max_shift, rng), y[idx]
        with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as a NaN/inf loss below
            logits = model.forward(xb, training=True)
            loss = loss_fn.forward(logits, yb)
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
    curves: CurveLogger | None = None,
    lr_name: str = "the learning rate",
    max_shift: int = 0,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs with step decay of the learning rate.

    Every ``log_every`` updates (and after the last one) a curve point is written with
    :class:`mnistlab.core.curves.CurveLogger`, the protocol shared with the PyTorch models: mean
    training loss and accuracy over the images since the previous point, validation loss,
    accuracy and error on the whole validation split, step = number of updates.

    Parameters
    ----------
    model : Sequential
        Trained in place.
    optimizer : Optimizer
        Its ``lr`` at the call is the base rate of the schedule.
    train, val : tuple of (ndarray of shape (N, 28, 28) float32, ndarray of shape (N,) uint8)
    epochs, batch_size : int
    rng : np.random.Generator
        Shuffling and shifts.
    lr_decay, lr_decay_every : float, int
        The rate of epoch e (0-based) is ``lr * lr_decay ** (e // lr_decay_every)``.
    log_every : int
        Updates between curve points.
    curves : CurveLogger, optional
        Where the points go (e.g. DVCLive); kept in memory only when None.
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
        If the training or validation loss becomes NaN or infinite (the model is then unusable).
    """
    x_train = train[0].reshape(len(train[0]), *model.input_shape).astype(model.dtype, copy=False)
    y_train = train[1].astype(np.intp)
    y_val = val[1].astype(np.intp)
    loss_fn = SoftmaxCrossEntropy()
    curves = CurveLogger() if curves is None else curves
    base_lr, updates = optimizer.lr, 0

    def record() -> None:
        val_loss, val_acc = loss_and_accuracy(model, val[0], y_val)
        check_finite(val_loss, "val/loss", updates, optimizer.lr, lr_name)
        curves.point(updates, val_loss, val_acc)

    def on_batch(loss: float, correct: int, n: int) -> None:
        nonlocal updates
        updates += 1
        check_finite(loss, "loss", updates, optimizer.lr, lr_name)
        curves.add_batch(loss, correct, n)
        if updates % log_every == 0:
            record()

    start = time.perf_counter()
    for epoch in range(epochs):
        optimizer.lr = step_decay(base_lr, epoch, lr_decay, lr_decay_every)
        train_one_epoch(model, loss_fn, optimizer, x_train, y_train, batch_size, rng, on_batch, max_shift)
    if curves.pending:
        record()
    seconds = time.perf_counter() - start
    optimizer.lr = base_lr
    val_loss, val_acc = curves.points["val/loss"][-1][1], curves.points["val/accuracy"][-1][1]
    return FitResult(val_loss, val_acc, updates, epochs, seconds, curves.points)


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


def train_mlp(
    params,
    optimizer: str,
    init: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
    curves_dir: str | os.PathLike | None = None,
) -> tuple[Sequential, dict[str, float | int]]:
    """Build, train and measure the network of the ``mlp`` params.

    Parameters
    ----------
    params : mnistlab.core.params.MLPParams
    optimizer : {"sgd", "adam"}
    init : {"random", "he", "xavier"}
    train, val : tuple of (ndarray of shape (N, 28, 28) float32 in [0, 1], ndarray of shape (N,) uint8)
    seed : int
        The top-level ``seed`` param: initial weights, dropout masks, shuffling and shifts.
    curves_dir : path, optional
        DVCLive folder for the curves (``plots/curves/mlp_<optimizer>-<init>``); none when None.

    Returns
    -------
    model : Sequential
    metrics : dict
        ``val_accuracy``, ``val_loss`` (the last weights, which the model keeps), ``train_seconds``,
        ``n_params``, ``updates``, ``epochs``, and ``train_eval_accuracy``, ``train_eval_loss``: the
        same weights in evaluation mode (dropout off, no shifts) on the ``train_eval_images``
        training images of :func:`train_eval_index`, so that ``train_eval_accuracy - val_accuracy``
        and ``val_loss - train_eval_loss`` measure overfitting (fractions; nats).

    Raises
    ------
    MnistlabError
        Unknown optimizer or initialiser, or a diverging run (the message names
        ``mlp.<optimizer>.lr``).
    """
    init_rng, shuffle_rng = np.random.default_rng(seed).spawn(2)
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
    with CurveLogger(curves_dir) as curves:
        result = fit(
            model, opt, train, val,
            epochs=params.epochs,
            batch_size=batch_size,
            rng=shuffle_rng,
            lr_decay=params.lr_decay,
            lr_decay_every=params.lr_decay_every,
            log_every=params.updates_between_points(batch_size),
            curves=curves,
            lr_name=f"mlp.{optimizer}.lr",
            max_shift=params.max_shift,
        )
    index = train_eval_index(len(train[1]))
    train_loss, train_accuracy = loss_and_accuracy(model, train[0][index], train[1][index].astype(np.intp))
    metrics = {
        "val_accuracy": result.val_accuracy,
        "val_loss": result.val_loss,
        "train_seconds": round(result.seconds, 2),
        "n_params": model.n_params,
        "updates": result.updates,
        "epochs": result.epochs,
        "train_eval_accuracy": float(train_accuracy),
        "train_eval_loss": float(train_loss),
        "train_eval_images": len(index),
    }
    return model, metrics
