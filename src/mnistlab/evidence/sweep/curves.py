"""The curve quantities of a run: crossings and roughness of its validation curves.

For the models trained with the ``mlp`` params (:data:`~mnistlab.evidence.sweep.runs.CURVE_MODELS`:
the NumPy networks and their PyTorch twins, from the model registry), these curve quantities are
read from the DVCLive curves (``plots/curves/<model>/plots/metrics/{train,val}/<name>.tsv``; see
:mod:`mnistlab.core.curves`; read by :func:`mnistlab.evidence.sweep.read.read_curves`), whose
``step`` counts updates. Updates are turned into training images with the run's batch size of the
model (:func:`batch_size_param`; the last batch of an epoch is smaller when the training set is not
a multiple of it, which :func:`updates_to_images` counts when the run's training set size is
known), so that models trained with different batch sizes are measured in one unit:

- ``images_to_5pct``, ``_3pct``, ``_2pct``: training images seen when the validation error first
  reaches 5 %, 3 %, 2 %, interpolated linearly between the two curve points around the crossing
  (:func:`images_to_reach`; missing when the run never gets there); ``epochs_to_*``: the same in
  epochs (images / training set size), not tested (the same test as images within a run);
- ``val_loss_roughness``: the mean absolute second difference of the validation loss,
  ``mean_t |L[t+1] - 2 L[t] + L[t-1]|`` (nats), on one grid of training images for every curve
  model of the run (spacing: the coarsest of their logging intervals; :func:`roughness_on_grid`),
  so that a curve sampled more densely is not judged rougher or smoother for it. It is the
  absolute-value form of the second-difference roughness penalty of Whittaker (1923) and
  Hodrick & Prescott (1997);
- ``updates_to_5pct``, ``_3pct``, ``_2pct``: the first logged update count with validation error at
  most 5 / 3 / 2 % (kept for reference; updates of different batch sizes are not one unit);
- ``best_val_error``, ``final_val_error``: the lowest and the last validation error (fractions);
- ``train_val_gap``: training accuracy minus validation accuracy at the last point (fractions;
  the training accuracy is measured in training mode, with dropout on and shifted images);
- ``val_loss_rise``: last minus lowest validation loss (nats; > 0 when the loss turns back up);
- ``total_updates``, ``total_images``: the last logged update and the training images it stands for.
"""

from __future__ import annotations

import math

import numpy as np

from mnistlab.evidence.sweep.runs import CURVE_QUANTITIES, EPOCHS_TO, THRESHOLDS, UPDATES_TO, _norm
from mnistlab.models.registry import MODELS


def parse_tsv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A DVCLive step file (``step<TAB>value`` with a header) -> steps, values."""
    lines = [line.split("\t") for line in text.strip().splitlines()[1:] if line.strip()]
    return (np.array([float(s) for s, *_ in lines]), np.array([float(v) for _, v, *_ in lines]))


def updates_to_reach(steps: np.ndarray, error: np.ndarray, threshold: float) -> float | None:
    """First logged step with validation error <= ``threshold``; None if never."""
    hit = np.flatnonzero(np.asarray(error) <= threshold)
    return float(steps[hit[0]]) if hit.size else None


def images_to_reach(images, error, threshold: float) -> float | None:
    """Training images at which the validation error first reaches ``threshold``, interpolated.

    Parameters
    ----------
    images : array of float, shape (P,)
        Training images seen at each curve point, increasing.
    error : array of float, shape (P,)
        Validation error (fraction) at each point.
    threshold : float
        The error to reach (fraction).

    Returns
    -------
    float or None
        With ``j`` the first point at or below ``threshold``: ``images[j]`` when ``j`` is the first
        point (the crossing happened at or before it: an upper bound) or when the two points lie at
        the same error; otherwise the linear interpolation between points ``j - 1`` and ``j``,
        ``images[j-1] + (error[j-1] - threshold) / (error[j-1] - error[j]) * (images[j] - images[j-1])``.
        None when no point reaches ``threshold``.
    """
    images, error = np.asarray(images, dtype=float), np.asarray(error, dtype=float)
    hit = np.flatnonzero(error <= threshold)
    if not hit.size:
        return None
    j = int(hit[0])
    if j == 0 or error[j - 1] == error[j]:
        return float(images[j])
    fraction = (error[j - 1] - threshold) / (error[j - 1] - error[j])
    return float(images[j - 1] + fraction * (images[j] - images[j - 1]))


def updates_to_images(updates, batch_size: int, train_images: int | None = None) -> np.ndarray:
    """Training images seen after ``updates`` updates of ``batch_size`` images.

    Each epoch is ``ceil(train_images / batch_size)`` updates, the last of them on the remaining
    ``train_images - (updates per epoch - 1) * batch_size`` images; without ``train_images`` every
    update counts ``batch_size`` images (an overcount of less than one batch per epoch).

    Parameters
    ----------
    updates : array of float
        Update counts (the ``step`` of a DVCLive curve).
    batch_size : int
        Images per update, ``>= 1``.
    train_images : int, optional
        Training set size (images per epoch).

    Returns
    -------
    ndarray of float
    """
    updates = np.asarray(updates, dtype=float)
    if not train_images:
        return updates * batch_size
    per_epoch = math.ceil(train_images / batch_size)
    epochs, within = np.divmod(updates, per_epoch)
    return epochs * train_images + np.minimum(within * batch_size, train_images)


def roughness(loss: np.ndarray) -> float | None:
    """Mean absolute second difference of a curve (None with fewer than 3 points)."""
    loss = np.asarray(loss, dtype=float)
    return float(np.abs(np.diff(loss, n=2)).mean()) if loss.size >= 3 else None


def spacing(images) -> float | None:
    """The logging interval of a curve: the median gap between its points (training images; the
    last point, written after the last update, may be closer); None with fewer than 2 points."""
    images = np.asarray(images, dtype=float)
    return float(np.median(np.diff(images))) if images.size >= 2 else None


def roughness_on_grid(images, loss, step: float) -> float | None:
    """:func:`roughness` of the curve ``(images, loss)`` linearly interpolated at ``images[0]``,
    ``images[0] + step``, ... up to the last point (training images); None when fewer than 3 grid
    points fit. With ``step`` at least the curve's own spacing, every grid value lies between
    two measured points no further apart than ``step``."""
    images, loss = np.asarray(images, dtype=float), np.asarray(loss, dtype=float)
    if images.size < 2 or not step or step <= 0:
        return None
    grid = np.arange(images[0], images[-1] + 1e-9 * step, step)
    return roughness(np.interp(grid, images, loss))


def curve_quantities(error_curve, loss_curve, train_accuracy=None, *, batch_size: int | None = None,
                     train_images: int | None = None, grid: float | None = None) -> dict:
    """The curve quantities of the module docstring from ``(steps, values)`` curves of the
    validation error, the validation loss and (optional) the training accuracy; None curves skip
    what needs them.

    Without ``batch_size`` the curves are read in updates only (``updates_to_*``, ``total_updates``,
    and ``val_loss_roughness`` at the logged points). With it, the training images of each point
    (:func:`updates_to_images`) give ``images_to_*``, ``total_images``, with ``train_images`` also
    ``epochs_to_*``, and with ``grid`` (training images) the roughness is measured on that grid
    (:func:`roughness_on_grid`).
    """
    out = {}
    if error_curve is not None and len(error_curve[0]):
        steps, error = error_curve
        for threshold, name in zip(THRESHOLDS, UPDATES_TO, strict=True):
            out[name] = updates_to_reach(steps, error, threshold)
        out |= {"best_val_error": float(np.min(error)), "final_val_error": float(error[-1]),
                "total_updates": float(steps[-1])}
        if batch_size:
            images = updates_to_images(steps, batch_size, train_images)
            out["total_images"] = float(images[-1])
            for threshold, name, epochs in zip(THRESHOLDS, CURVE_QUANTITIES, EPOCHS_TO, strict=False):
                out[name] = images_to_reach(images, error, threshold)
                if train_images and out[name] is not None:
                    out[epochs] = out[name] / train_images
        if train_accuracy is not None and len(train_accuracy[1]):
            out["train_val_gap"] = float(train_accuracy[1][-1] - (1 - error[-1]))
    if loss_curve is not None and len(loss_curve[1]):
        steps, loss = loss_curve
        if batch_size and grid:
            out["val_loss_roughness"] = roughness_on_grid(updates_to_images(steps, batch_size, train_images),
                                                          loss, grid)
        else:
            out["val_loss_roughness"] = roughness(loss)
        out["val_loss_rise"] = float(loss[-1] - np.min(loss))
    return {k: v for k, v in out.items() if v is not None}


def batch_size_param(model: str) -> str | None:
    """The params key of the batch size ``model`` trains with (model registry attributes): the NumPy
    networks ``mlp.<optimizer>.batch_size``, their PyTorch twins ``mlp.adam.batch_size`` (they read
    ``mlp.adam``), other PyTorch models ``torch.batch_size``; None for a model without batches."""
    spec = MODELS.get(model)
    if spec is None or spec.family == "svm":
        return None
    if spec.family == "numpy":
        return f"mlp.{spec.optimizer}.batch_size"
    return "mlp.adam.batch_size" if spec.twin else "torch.batch_size"


def batch_size_of(model: str, params: dict) -> int | None:
    """``model``'s batch size in a run's flattened ``params`` (a per-model override
    ``torch.models.<variant>.batch_size`` first); None when unknown."""
    key = batch_size_param(model)
    if key is None:
        return None
    spec = MODELS[model]
    own = spec.family == "torch" and not spec.twin
    keys = ([f"torch.models.{spec.variant}.batch_size"] if own else []) + [key]
    for candidate in keys:
        value = _norm(params.get(candidate))
        if isinstance(value, float) and value >= 1:
            return int(value)
    return None
