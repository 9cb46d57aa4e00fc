"""The training protocol's curves, shared by the NumPy and the PyTorch training loops.

One definition of each curve, whatever library trained the model (step = number of updates):

- ``train/loss``: mean cross-entropy (nats) over the *images* seen since the previous point;
- ``train/accuracy``: fraction of those images classified right (in training mode: dropout on,
  augmented images);
- ``val/loss``, ``val/accuracy``, ``val/error``: on the whole validation split, in evaluation mode.

A point is written every ``log_every`` updates (and after the last update), or once per epoch,
as the caller decides (the NumPy nets and their twins: every ``mlp.log_every_images`` training
images, in updates of their batch size). :class:`CurveLogger` keeps the points and writes them
when training ends, in DVCLive's layout and format (what ``Live(folder, dvcyaml=False)`` wrote
before, byte for byte; read by ``dvc plots`` and :mod:`mnistlab.evidence.sweep`):

- ``<folder>/plots/metrics/<name>.tsv``: a header ``step<TAB><last part of name>``, then one
  ``<update><TAB><value>`` row per point (values as Python writes floats: ``repr``);
- ``<folder>/metrics.json``: the last value of each curve, nested at the ``/`` (``{"train":
  {"loss": ...}, ...}``), and ``"step"``, the last update (``json.dump``, indent 4).

The folder appears whole or not at all: the files are written into a hidden folder beside it
(``.<name>.<random>.partial``), which is then renamed onto it. Training that fails or is
interrupted (an exception, Ctrl-C) writes nothing and leaves the folder as it was; a killed
process (``kill -9``) leaves at most the hidden folder, which the next logger of the same folder
removes. :func:`check_finite` is the one divergence check: it names the update, the value and the
learning-rate parameter to lower.
"""

from __future__ import annotations

import csv
import glob
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


_UMASK = os.umask(0)
os.umask(_UMASK)
PARTIAL_SUFFIX = ".partial"  # hidden folder being written: .<name>.<random>.partial


class CurveLogger:
    """Collects the training window and the curve points; writes the curve files at the end.

    Parameters
    ----------
    folder : path or None
        The curve folder (``plots/curves/<model>``); None keeps the points in memory only.

    Notes
    -----
    Use it as a context manager: leaving the block normally writes the folder (:meth:`close`),
    leaving it by an exception or Ctrl-C writes nothing (:meth:`discard`). See the module docstring
    for the files and for why the folder appears whole or not at all.
    """

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.window = Window()
        self.points: dict[str, list[tuple[int, float]]] = {}
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None:
            remove_partial(self.folder)

    def add_batch(self, mean_loss, correct, n: int) -> None:
        """Record one training batch (see :meth:`Window.add`)."""
        self.window.add(mean_loss, correct, n)

    @property
    def pending(self) -> bool:
        """Whether batches were seen since the last point."""
        return self.window.seen > 0

    def point(self, step: int, val_loss: float, val_accuracy: float) -> dict[str, float]:
        """Record one point at ``step`` (updates) and start a new window; returns its metrics."""
        metrics = {**self.window.metrics(), "val/loss": val_loss, "val/accuracy": val_accuracy,
                   "val/error": 1.0 - val_accuracy}
        self.window = Window()
        for name, value in metrics.items():
            self.points.setdefault(name, []).append((step, value))
        return metrics

    def close(self) -> None:
        """Write the curve folder (once; nothing without a folder)."""
        if self.folder is not None:
            write_curves(self.folder, self.points)
            self.folder = None

    def discard(self) -> None:
        """Write nothing: the folder stays as it was."""
        self.folder = None

    def __enter__(self) -> CurveLogger:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


def _logged(value: float) -> float | str:
    """A value as DVCLive logs it: a float, or its text when NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def write_curves(folder: str | os.PathLike, points: dict[str, list[tuple[int, float]]]) -> None:
    """Write ``points`` (curve name -> ``(step, value)`` in order) as a DVCLive folder, atomically.

    Parameters
    ----------
    folder : path
        Replaced whole: the files are written into a hidden sibling folder, which is renamed onto
        ``folder`` (a previous ``folder`` is renamed away first, then removed).
    points : dict
        ``{"val/error": [(100, 0.06), (200, 0.04)], ...}``: steps are update counts (int).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=PARTIAL_SUFFIX))
    try:
        tmp.chmod(0o777 & ~_UMASK)  # mkdtemp makes 0700; give the usual permissions of a new folder
        summary: dict = {}
        last_step = None
        for name, rows in points.items():
            path = tmp / "plots" / "metrics" / f"{name}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, delimiter="\t", lineterminator=os.linesep)
                writer.writerow(["step", name.rsplit("/", 1)[-1]])
                writer.writerows([int(step), _logged(value)] for step, value in rows)
            if rows:
                *parents, leaf = name.split("/")
                node = summary
                for key in parents:
                    node = node.setdefault(key, {})
                node[leaf] = _logged(rows[-1][1])
                last_step = int(rows[-1][0])
        if last_step is not None:
            summary["step"] = last_step
        with open(tmp / "metrics.json", "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=4)
            fh.write("\n")
        _replace_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_folder(new: Path, folder: Path) -> None:
    """Rename ``new`` onto ``folder``; a previous ``folder`` is renamed away first, then removed."""
    old = None
    if folder.exists() or folder.is_symlink():
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
        os.replace(folder, old / folder.name)
    try:
        os.replace(new, folder)
    except BaseException:
        if old is not None:
            os.replace(old / folder.name, folder)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def remove_partial(folder: str | os.PathLike) -> list[Path]:
    """Remove the hidden folders a killed writer of ``folder`` left beside it; returns them."""
    folder = Path(folder)
    pattern = glob.escape(str(folder.parent / f".{folder.name}.")) + "*"
    stale = [Path(p) for suffix in (PARTIAL_SUFFIX, ".old") for p in glob.glob(pattern + suffix)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale
