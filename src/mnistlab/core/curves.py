"""The training protocol's curves, shared by the NumPy and the PyTorch training loops.

One definition of each curve, whatever library trained the model (step = number of updates):

- ``train/loss``: mean cross-entropy (nats) over the *images* seen since the previous point;
- ``train/accuracy``: fraction of those images classified right (in training mode: dropout on,
  augmented images);
- ``val/loss``, ``val/accuracy``, ``val/error``: on the whole validation split, in evaluation mode.

A point is written every ``log_every`` updates (and after the last update), or once per epoch,
as the caller decides (the NumPy nets and their twins: every ``mlp.log_every_images`` training
images, in updates of their batch size). :class:`CurveLogger` writes the points with DVCLive
(``Live(folder, dvcyaml=False)``: ``<folder>/plots/metrics/<name>.tsv``), and
:func:`check_finite` is the one divergence check: it names the update, the value and the
learning-rate parameter to lower.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from mnistlab.core.errors import MnistlabError


class DivergenceError(MnistlabError):
    """A loss became NaN or infinite; the message names the update, the loss and the rate."""


def check_finite(value: float, what: str, update: int, lr: float, lr_param: str) -> None:
    """Raise :class:`DivergenceError` when ``value`` is NaN or infinite.

    Parameters
    ----------
    value : float
        A loss (nats).
    what : str
        Its name, e.g. ``"train/loss"``.
    update : int
        Number of the update after which it was measured (1-based).
    lr : float
        The learning rate in force.
    lr_param : str
        The params key to lower, e.g. ``"mlp.adam.lr"``.
    """
    if not math.isfinite(value):
        raise DivergenceError(
            f"training diverged at update {update}: {what} = {value} with learning rate {lr:g}; "
            f"lower {lr_param}"
        )


@dataclass
class Window:
    """Summed loss and correct predictions over the images since the last point.

    ``loss_sum`` and ``correct`` may be floats or 0-d tensors (kept on the device, so the hot
    loop never waits for the GPU); they are read as floats only when a point is written.
    """

    loss_sum: object = 0.0
    correct: object = 0
    seen: int = 0

    def add(self, mean_loss, correct, n: int) -> None:
        """Add one batch: its *mean* loss over ``n`` images and its number of correct predictions."""
        self.loss_sum = self.loss_sum + mean_loss * n
        self.correct = self.correct + correct
        self.seen += n

    def metrics(self) -> dict[str, float]:
        """``train/loss`` and ``train/accuracy`` of the window."""
        return {"train/loss": float(self.loss_sum) / self.seen,
                "train/accuracy": float(self.correct) / self.seen}


class CurveLogger:
    """Collects the training window and writes curve points with DVCLive.

    Parameters
    ----------
    folder : path or None
        The DVCLive folder (``plots/curves/<model>``); None keeps the points in memory only.
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.window = Window()
        self.points: dict[str, list[tuple[int, float]]] = {}
        self.live = None
        if folder is not None:
            from dvclive import Live

            self.live = Live(str(folder), dvcyaml=False, save_dvc_exp=False)

    def add_batch(self, mean_loss, correct, n: int) -> None:
        """Record one training batch (see :meth:`Window.add`)."""
        self.window.add(mean_loss, correct, n)

    @property
    def pending(self) -> bool:
        """Whether batches were seen since the last point."""
        return self.window.seen > 0

    def point(self, step: int, val_loss: float, val_accuracy: float) -> dict[str, float]:
        """Write one point at ``step`` (updates) and start a new window; returns its metrics."""
        metrics = {**self.window.metrics(), "val/loss": val_loss, "val/accuracy": val_accuracy,
                   "val/error": 1.0 - val_accuracy}
        self.window = Window()
        for name, value in metrics.items():
            self.points.setdefault(name, []).append((step, value))
        if self.live is not None:
            self.live.step = step
            for name, value in metrics.items():
                self.live.log_metric(name, value, timestamp=False)
        return metrics

    def close(self) -> None:
        """Finish the DVCLive run (writes nothing else)."""
        if self.live is not None:
            self.live.end()
            self.live = None

    def __enter__(self) -> CurveLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
