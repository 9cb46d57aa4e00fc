"""The DVC side of a sweep: the experiments of a repository, and each run's files at its commit.

:func:`read_runs` lists the experiments with ``dvc.api.exp_show`` and makes runs of them
(:mod:`mnistlab.evidence.sweep.runs`); through a ``dvc.api.DVCFileSystem`` at each run's commit it
reads the run's number of training images (``plots/label_counts.csv``, :func:`train_images`), the
figures of ``metrics/train/<model>.json`` (:func:`read_train_metrics`), the validation curves
(:func:`read_curves`; their quantities: :mod:`mnistlab.evidence.sweep.curves`) and which test
images each model gets wrong (``data/evaluation/test_proba.npz``, :func:`read_errors`,
:func:`test_errors`), for the paired comparisons on the test images
(:mod:`mnistlab.evidence.hierarchical`). What cannot be read is left out. No other module of this
package calls DVC.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.evidence.sweep.curves import (
    batch_size_of,
    curve_quantities,
    parse_tsv,
    spacing,
    updates_to_images,
)
from mnistlab.evidence.sweep.runs import (
    CURVE_MODELS,
    LABEL_COUNTS,
    TRAIN_METRICS,
    Run,
    drop_repeats,
    flatten_params,
    local_path,
    pair_counts,
    runs_from_rows,
    same_as_baseline,
    select_rows,
)
from mnistlab.models.registry import MODELS

CURVE_FILES = "plots/curves/{model}/plots/metrics/{name}.tsv"
TRAIN_METRICS_FILE = "metrics/train/{model}.json"
TEST_PROBA = "data/evaluation/test_proba.npz"


def read_runs(repo: str = ".", revs=None, prefix=None, include_baseline=False, num: int = 1,
              curves: bool = True, vary: list[str] | None = None, seed_param: str = "seed",
              curve_models: tuple[str, ...] = CURVE_MODELS,
              errors: bool = True) -> tuple[list[Run], list[str]]:
    """The finished DVC experiments of ``repo`` as runs.

    Runs come from ``dvc.api.exp_show(repo, num=num)``, selected by :func:`same_as_baseline` (when
    ``vary`` is given) and :func:`select_rows`, repeats dropped (:func:`drop_repeats`), each with the
    discordant counts of ``metrics/compare.json`` when the rows hold them (:func:`pair_counts`) and,
    read at the run's commit: its number of training images (``plots/label_counts.csv``), the curve
    quantities of ``curve_models`` (when ``curves``; crossing points in training images, roughness on
    one grid of images for all of them: the coarsest of their logging intervals) and which test
    images each model gets wrong (when ``errors``; ``data/evaluation/test_proba.npz``). What cannot
    be read is left out (None or empty).

    Returns
    -------
    (runs, dropped) : tuple of list of Run and list of str
        The runs and the names of the dropped repeats.

    Raises
    ------
    MnistlabError
        If ``repo`` has no DVC experiments to list, or none matches the selection.
    """
    import dvc.api
    import yaml

    try:
        rows = dvc.api.exp_show(repo=repo, num=num)
    except Exception as err:  # DVC raises many kinds (not a Git repo, not a DVC repo, bad rev, ...)
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise MnistlabError(f"--repo {repo}: cannot list its DVC experiments ({reason})") from None
    param_file = Path(repo) / "params.yaml"
    keys = set(flatten_params(yaml.safe_load(param_file.read_text()) or {})) if param_file.is_file() else None
    if vary:
        rows = same_as_baseline(rows, vary, seed_param, keys)
    rows = select_rows(rows, revs, prefix, include_baseline)
    if not rows:
        raise MnistlabError(f"{repo}: no finished experiments match the selection (see `dvc exp show`)")
    by_name = {row.get("Experiment") or str(row.get("rev")): row for row in rows}
    runs, dropped = drop_repeats(runs_from_rows(rows, keys))
    for run in runs:  # a folder of the repository (data/mnist) as today's params are recorded
        run.params = {key: local_path(value, Path(repo)) for key, value in run.params.items()}
    for run in runs:
        run.pairs, n_images = pair_counts(by_name.get(run.name, {}))
        run.test_images = n_images if run.pairs else None
    for run in runs:
        fs = dvc.api.DVCFileSystem(repo, rev=run.name if run.name != run.rev else run.rev)
        try:
            run.train_images = train_images(fs.read_text(LABEL_COUNTS))
        except (FileNotFoundError, ValueError, KeyError):
            run.train_images = None
        read_train_metrics(run, fs)
        if curves:
            read_curves(run, fs, curve_models)
        if errors:
            read_errors(run, fs)
    return runs, dropped


def read_curves(run: Run, fs, curve_models: tuple[str, ...] = CURVE_MODELS) -> None:
    """Add the curve quantities of ``curve_models`` to ``run`` (in place), read through ``fs`` (a
    ``dvc.api.DVCFileSystem`` at the run's commit; missing curves are skipped).

    Every model's validation loss is measured on one grid of training images: the coarsest logging
    interval (:func:`spacing`) among the models whose batch size the run's params give; recorded in
    ``run.curve_spacing``.
    """
    read: dict[str, dict] = {}
    for model in curve_models:
        curve = {}
        for name in ("val/error", "val/loss", "train/accuracy"):
            try:
                curve[name] = parse_tsv(fs.read_text(CURVE_FILES.format(model=model, name=name)))
            except (FileNotFoundError, ValueError, IndexError):
                curve[name] = None
        read[model] = curve
    sizes = {model: batch_size_of(model, run.params) for model in read}
    gaps = [spacing(updates_to_images(curve["val/loss"][0], sizes[model], run.train_images))
            for model, curve in read.items() if sizes[model] and curve["val/loss"] is not None]
    grid = max((g for g in gaps if g), default=None)
    for model, curve in read.items():
        found = curve_quantities(*curve.values(), batch_size=sizes[model], train_images=run.train_images,
                                 grid=grid)
        for name, value in found.items():
            run.values[(model, name)] = value
        if "val_loss_roughness" in found and sizes[model] and grid:
            run.curve_spacing[model] = grid


def read_train_metrics(run: Run, fs, models: tuple[str, ...] | None = None) -> None:
    """Add the :data:`TRAIN_METRICS` of each model's ``metrics/train/<model>.json`` to ``run`` (in
    place), read through ``fs`` (a ``dvc.api.DVCFileSystem`` at the run's commit). ``models``: the
    registry's models when None. Missing files, unreadable JSON and figures that are not finite
    numbers are skipped (a summary made before these figures were recorded has none)."""
    import json

    for model in MODELS if models is None else models:
        try:
            data = json.loads(fs.read_text(TRAIN_METRICS_FILE.format(model=model)))
        except (FileNotFoundError, ValueError, OSError):
            continue
        if not isinstance(data, dict):
            continue
        for name in TRAIN_METRICS:
            value = data.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                run.values[(model, name)] = float(value)


def read_errors(run: Run, fs) -> None:
    """Set ``run.errors``, ``run.test_images`` and ``run.test_id`` from the run's
    ``data/evaluation/test_proba.npz`` read through ``fs`` (left as they are when it cannot be read)."""
    import tempfile

    from mnistlab.core.io import read_probabilities

    try:
        with fs.open(TEST_PROBA, "rb") as fh:
            data = fh.read()
    except (OSError, AttributeError, ValueError):  # missing, not in the cache, or no such method
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "test_proba.npz"
        path.write_bytes(data)
        try:
            y, proba = read_probabilities(path)
        except MnistlabError:
            return
    run.errors, run.test_id = test_errors(y, proba)
    run.test_images = int(len(y))


def train_images(label_counts_csv: str) -> int:
    """Sum of the ``train`` column of a label-count CSV (``plots/label_counts.csv``)."""
    return sum(int(row["train"]) for row in csv.DictReader(io.StringIO(label_counts_csv)))


def test_errors(y: np.ndarray, proba: dict[str, np.ndarray]) -> tuple[dict[str, list[int]], str]:
    """Per model, the sorted indices of the test images its argmax gets wrong; and a checksum of
    the labels (SHA-256 of their int64 bytes, 16 hex digits) that identifies the test set."""
    y = np.asarray(y)
    errors = {name: np.flatnonzero(np.asarray(p).argmax(axis=1) != y).tolist() for name, p in proba.items()}
    return errors, hashlib.sha256(y.astype(np.int64).tobytes()).hexdigest()[:16]
