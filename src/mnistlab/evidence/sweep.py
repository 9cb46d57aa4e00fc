"""DVC experiments as runs for ``mnistlab sweep``: repeats over seeds and sweeps of a parameter.

Runs come from ``dvc.api.exp_show``, which returns one flat dict per row: the columns
``Experiment`` (name), ``rev`` (7-digit commit or branch), ``typ`` (``baseline``, ``branch_base``,
``branch_commit``), ``State``..., then every metric and param flattened with dots (``seed``,
``prepare.train_size``, ``<model>.accuracy``), prefixed by the file (``metrics/test.json:``) when
a name occurs in two files. Each baseline row comes before its experiments. Numbers arrive as
floats, lists as strings, null params as the string ``"None"``, empty cells as ``None``.

Several sweeps can live on one baseline (seeds, a learning curve, an ablation): ``vary`` keeps the
experiments whose params equal their baseline's except the named ones and the seed, and runs
with identical params (the same experiment queued twice by two sweeps) are counted once.

Per model and run, the test metrics (``accuracy, macro_f1, log_loss, ece`` in metrics/test.json)
and, for the models trained with the ``mlp`` params (:data:`CURVE_MODELS`: the NumPy networks and
their PyTorch twins, from the model registry), these curve quantities, read from the DVCLive curves
(``plots/curves/<model>/plots/metrics/{train,val}/<name>.tsv``; see :mod:`mnistlab.core.curves`),
whose ``step`` counts updates. Updates are turned into training images with the run's batch size of
the model (:func:`batch_size_param`; the last batch of an epoch is smaller when the training set is
not a multiple of it, which :func:`updates_to_images` counts when the run's training set size is
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

Per run, besides: which test images each model gets wrong (``errors``, from the run's
``data/evaluation/test_proba.npz``), for the paired comparisons on the test images
(:mod:`mnistlab.evidence.hierarchical`), and the discordant counts of ``metrics/compare.json``
when ``dvc exp show`` lists it (``pairs``).

Which models a swept param can change is read from dvc.yaml (:func:`models_reached`): the models
written by a stage that lists the param, or that depends on the outputs of such a stage.

When ``prepare.train_size`` varies, its value is replaced by the number of training images the
run used (the ``train`` column of its ``plots/label_counts.csv``, or ``all_size`` for null).

Summaries, paired tests over the runs and the written outputs: :mod:`mnistlab.evidence.sweep_report`;
the figure: :mod:`mnistlab.reporting.evidence_figures`; the command: :mod:`mnistlab.cli.sweep`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import MODELS, select

QUALITY_METRICS = ("accuracy", "macro_f1", "log_loss", "ece")
THRESHOLDS = (0.05, 0.03, 0.02)
#: The curve quantities a sweep tests between two curve models.
CURVE_QUANTITIES = tuple(f"images_to_{round(100 * t)}pct" for t in THRESHOLDS) + ("val_loss_roughness",)
UPDATES_TO = tuple(f"updates_to_{round(100 * t)}pct" for t in THRESHOLDS)
EPOCHS_TO = tuple(f"epochs_to_{round(100 * t)}pct" for t in THRESHOLDS)
CURVE_EXTRAS = ("best_val_error", "final_val_error", "train_val_gap", "val_loss_rise", *EPOCHS_TO,
                *UPDATES_TO, "total_updates", "total_images")
#: Figures of ``metrics/train/<model>.json`` at the weights each model keeps: validation accuracy and
#: loss, and the same on a fixed subset of the training split in evaluation mode (dropout off, no
#: shifts), for the overfitting gap of claim f.
TRAIN_METRICS = ("val_accuracy", "val_loss", "train_eval_accuracy", "train_eval_loss")
QUANTITIES = QUALITY_METRICS + CURVE_QUANTITIES + CURVE_EXTRAS + TRAIN_METRICS
LOWER_IS_BETTER = {"log_loss", "ece", *CURVE_QUANTITIES, "best_val_error", "final_val_error", "train_val_gap",
                   "val_loss_rise", *EPOCHS_TO, *UPDATES_TO, "val_loss", "train_eval_loss"}
#: Where a crossing quantity that was never reached is censored: the run's last logged value.
CENSOR_AT = {**{q: "total_images" for q in CURVE_QUANTITIES[:3]}, **{q: "total_updates" for q in UPDATES_TO}}
META_COLUMNS = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
#: Models whose curves are read: those trained with the ``mlp`` params, points at the same images.
CURVE_MODELS: tuple[str, ...] = select(mlp_params=True)
CURVE_FILES = "plots/curves/{model}/plots/metrics/{name}.tsv"
TRAIN_METRICS_FILE = "metrics/train/{model}.json"
LABEL_COUNTS = "plots/label_counts.csv"
TEST_PROBA = "data/evaluation/test_proba.npz"
TRAIN_SIZE = "prepare.train_size"
#: Columns of ``metrics/compare.json`` in ``dvc exp show`` rows: ``pairs.<a> vs <b>.<key>``.
_PAIR_COLUMN = re.compile(
    r"^(?:.*compare\.json:)?pairs\.(?P<a>[^.]+) vs (?P<b>[^.]+)\.(?P<key>a_only|b_only)$")


@dataclass
class Run:
    """One experiment: its name, commit, params (flattened keys), ``(model, quantity) -> value`` and
    the number of training images (None when unknown).

    ``errors``: model -> sorted indices of the test images it gets wrong, with ``test_images`` (how
    many) and ``test_id`` (a checksum of the test labels: runs with equal ids were scored on the
    same images); ``pairs``: ``"<a> vs <b>"`` -> ``{"a_only", "b_only"}``, discordant counts of
    ``metrics/compare.json``; ``curve_spacing``: model -> training images between the points its
    ``val_loss_roughness`` was measured at; ``legacy_curves``: the crossing points come from a
    summary written before they were interpolated (first logged point, times the batch size).
    """

    name: str
    rev: str
    params: dict
    values: dict = field(default_factory=dict)
    train_images: int | None = None
    errors: dict = field(default_factory=dict)
    test_images: int | None = None
    test_id: str | None = None
    pairs: dict = field(default_factory=dict)
    curve_spacing: dict = field(default_factory=dict)
    legacy_curves: bool = False


# -- exp_show rows -> runs ---------------------------------------------------------------------------

def flatten_params(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat.update(flatten_params(value, f"{name}.") if isinstance(value, dict) else {name: value})
    return flat


def metric_column(column: str) -> tuple[str, str] | None:
    """``(model, metric)`` for a quality-metric column of metrics/test.json, else None."""
    path, _, name = column.rpartition(":")
    if path and not path.endswith("test.json"):
        return None
    model, _, metric = name.rpartition(".")
    return (model, metric) if model and "." not in model and metric in QUALITY_METRICS else None


def _matches(row: dict, rev: str) -> bool:
    name, short = row.get("Experiment") or "", str(row.get("rev") or "")
    return rev in (name, short) or (len(rev) >= 7 and len(short) >= 7 and
                                     (rev.startswith(short) or short.startswith(rev)))


def select_rows(rows: list[dict], revs: list[str] | None = None, prefix: str | None = None,
                include_baseline: bool = False) -> list[dict]:
    """The finished experiments among ``exp_show`` rows.

    Default: every experiment (``typ`` branch_base/branch_commit); ``include_baseline`` adds the
    baseline commits; ``revs`` keeps the rows whose name or commit matches one of them;
    ``prefix`` keeps the experiments whose name starts with it. Rows without a test metric are
    dropped, and so are the experiments that are not finished runs (``State`` Failed, Queued or
    Running: their metrics are those of the workspace they were queued from), each with an
    :class:`UnreadableExperiment` warning.
    """
    kept = []
    for row in rows:
        if row.get("rev") == "workspace" or not any(metric_column(c) and row[c] is not None for c in row):
            continue
        if revs:
            if not any(_matches(row, rev) for rev in revs):
                continue
        elif row.get("typ") == "baseline" and not include_baseline:
            continue
        if prefix and not (row.get("Experiment") or "").startswith(prefix):
            continue
        if row.get("State") in UNFINISHED:
            import warnings

            name = row.get("Experiment") or str(row.get("rev"))
            reason = f"not a finished run (`dvc exp show` State: {row['State']}; `dvc queue logs {name}`)"
            warnings.warn(UnreadableExperiment(name, reason), stacklevel=2)
            continue
        kept.append(row)
    return kept


def same_as_baseline(rows: list[dict], vary: list[str], seed_param: str = "seed",
                     param_keys: set[str] | None = None) -> list[dict]:
    """The baseline rows and the experiments whose params equal their baseline's (the baseline row
    above them), ``vary`` and ``seed_param`` aside; values compared as numbers where they parse."""
    kept, base, ignore = [], None, {*vary, seed_param}
    for row in rows:
        if row.get("typ") == "baseline":
            base = None if row.get("rev") == "workspace" else row
            kept += [row] if base else []
            continue
        if base is None:
            continue
        run, ref = runs_from_rows([row, base], param_keys)
        if all(_norm(run.params.get(k)) == _norm(ref.params.get(k))
               for k in (set(run.params) | set(ref.params)) - ignore):
            kept.append(row)
    return kept


def _norm(value):
    if value is None or value in ("None", "null", ""):
        return None
    if isinstance(value, bool):
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def portable(value):
    """A param value as a summary may record it: an absolute local path (a ``data.source`` folder)
    becomes ``local folder <name>``, so committed summaries hold no path of the machine that made
    them; every other value is returned as it is."""
    if isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/")):
        return f"local folder {PurePath(value).name}"
    return value


#: ``State`` of the ``exp_show`` rows that are not finished runs.
UNFINISHED = ("Failed", "Queued", "Running")


class UnreadableExperiment(UserWarning):
    """An experiment, or some of its values, left out because it cannot be read: one line naming
    the experiment (``mnistlab sweep`` prints one per experiment and goes on with the rest).

    Attributes
    ----------
    experiment : str
        Its name (or commit).
    detail : str
        The cells that could not be read, e.g. ``<model>.accuracy = '!'`` (empty when the
        whole experiment is left out for another reason).
    """

    def __init__(self, experiment: str, reason: str, detail: str = "") -> None:
        super().__init__(f"experiment {experiment}: {reason}: left out")
        self.experiment, self.detail = experiment, detail


def runs_from_rows(rows: list[dict], param_keys: set[str] | None = None) -> list[Run]:
    """A :class:`Run` per row; params are the columns in ``param_keys`` (``params.yaml:`` stripped),
    or, when None, every column that is neither metadata, a quality metric nor a file hash.

    A test-metric cell that is not a number (``dvc exp show`` writes ``!`` for a metrics file it
    could not read, as for some failed experiments) is left out of the run's values, with an
    :class:`UnreadableExperiment` warning naming the experiment and the cells."""
    runs = []
    for row in rows:
        params, values, unreadable = {}, {}, []
        for column, value in row.items():
            parsed = metric_column(column)
            if parsed:
                if value is not None:
                    try:
                        values[parsed] = float(value)
                    except (TypeError, ValueError):
                        unreadable.append(f"{column} = {value!r}")
                continue
            key = column.removeprefix("params.yaml:")
            if column in META_COLUMNS:
                continue
            if param_keys is not None and key not in param_keys:
                continue
            if param_keys is None and (":" in key or "/" in key or _is_hash(value)):
                continue
            params[key] = portable(value)
        name = row.get("Experiment") or str(row.get("rev"))
        if unreadable:
            import warnings

            more = len(unreadable) - 3
            shown = ", ".join(unreadable[:3]) + (f" and {more} more" if more > 0 else "")
            warnings.warn(UnreadableExperiment(name, f"test metrics that are not numbers ({shown}; `dvc exp "
                                               "show` writes ! for a metrics file it could not read)", shown),
                          stacklevel=2)
        runs.append(Run(name, str(row.get("rev")), params, values))
    return runs


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value.removesuffix(".dir")) == 32 and all(
        ch in "0123456789abcdef" for ch in value.removesuffix(".dir"))


def drop_repeats(runs: list[Run]) -> tuple[list[Run], list[str]]:
    """The runs with distinct params (first of each kept) and the names of the others."""
    kept, dropped, seen = [], [], set()
    for run in runs:
        key = tuple(sorted((k, repr(_norm(v))) for k, v in run.params.items()))
        if key in seen:
            dropped.append(run.name)
        else:
            kept.append(run)
            seen.add(key)
    return kept, dropped


def resolve_train_size(runs: list[Run], all_size: int | None = None) -> None:
    """Replace each run's ``prepare.train_size`` by its number of training images, in place.

    The count read from the run (``train_images``) wins; otherwise a count (> 1) stays and null
    becomes ``all_size``. Raises MnistlabError for a null or a fraction without either.
    """
    for run in runs:
        value = _norm(run.params.get(TRAIN_SIZE))
        if run.train_images:
            run.params[TRAIN_SIZE] = int(run.train_images)
        elif value is None and all_size:
            run.params[TRAIN_SIZE] = int(all_size)
        elif isinstance(value, float) and value > 1:
            run.params[TRAIN_SIZE] = int(value)
        else:
            raise MnistlabError(f"experiment {run.name}: {TRAIN_SIZE} is {value} and its {LABEL_COUNTS} "
                                "could not be read; give the number of training images with --all-size N")


# -- grouping --------------------------------------------------------------------------------------

def varying_params(runs: list[Run], seed_param: str = "seed") -> list[str]:
    """Params (other than ``seed_param``) whose value is not the same in every run, sorted."""
    keys = sorted({key for run in runs for key in run.params} - {seed_param})
    return [key for key in keys if len({repr(run.params.get(key)) for run in runs}) > 1]


def sort_key(value):
    """Numbers first, in increasing order, then other values by their repr."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, repr(value))


def group_runs(runs: list[Run], keys: list[str]) -> dict[tuple, list[Run]]:
    """Runs grouped by their values of ``keys``, groups in increasing (numeric, then text) order."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.params.get(key) for key in keys), []).append(run)
    return dict(sorted(groups.items(), key=lambda item: [sort_key(v) for v in item[0]]))


# -- curves ------------------------------------------------------------------------------------------

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


def train_images(label_counts_csv: str) -> int:
    """Sum of the ``train`` column of a label-count CSV (``plots/label_counts.csv``)."""
    return sum(int(row["train"]) for row in csv.DictReader(io.StringIO(label_counts_csv)))


def test_errors(y: np.ndarray, proba: dict[str, np.ndarray]) -> tuple[dict[str, list[int]], str]:
    """Per model, the sorted indices of the test images its argmax gets wrong; and a checksum of
    the labels (SHA-256 of their int64 bytes, 16 hex digits) that identifies the test set."""
    y = np.asarray(y)
    errors = {name: np.flatnonzero(np.asarray(p).argmax(axis=1) != y).tolist() for name, p in proba.items()}
    return errors, hashlib.sha256(y.astype(np.int64).tobytes()).hexdigest()[:16]


def pair_counts(row: dict) -> tuple[dict, int | None]:
    """The discordant counts of ``metrics/compare.json`` in one ``dvc exp show`` row (present only
    when dvc.yaml lists that file among its metrics): ``{"<a> vs <b>": {"a_only", "b_only"}}`` and
    the number of test images (its ``n_images``), or ``({}, None)``."""
    pairs: dict[str, dict] = {}
    n = None
    for column, value in row.items():
        found = _PAIR_COLUMN.match(column)
        if found and value is not None:
            pairs.setdefault(f"{found['a']} vs {found['b']}", {})[found["key"]] = int(float(value))
        elif column.endswith("compare.json:n_images") or column == "n_images":
            n = int(float(value)) if value is not None else None
    return {k: v for k, v in pairs.items() if len(v) == 2}, n


# -- which models a param reaches (dvc.yaml) ---------------------------------------------------------

_ITEM = re.compile(r"\$\{\s*(key|item(?:\.[\w-]+)?)\s*\}")


def _substitute(value, bindings: dict):
    if isinstance(value, str):
        return _ITEM.sub(lambda m: str(bindings.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(v, bindings) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, bindings): _substitute(v, bindings) for k, v in value.items()}
    return value


def stage_instances(dvc: dict) -> list[dict]:
    """Every stage of a parsed dvc.yaml with ``foreach`` and ``matrix`` expanded:
    ``{"name", "params", "deps", "outs"}`` with ``${key}`` and ``${item...}`` substituted; params
    are keys of params.yaml (``None``: the whole file), deps and outs are paths."""
    out = []
    for name, stage in (dvc.get("stages") or {}).items():
        if "foreach" in stage:
            items = stage["foreach"]
            pairs = items.items() if isinstance(items, dict) else enumerate(items)
            variants = []
            for key, item in pairs:
                bindings = {"key": key, "item": item}
                if isinstance(item, dict):
                    bindings |= {f"item.{k}": v for k, v in item.items()}
                variants.append((f"{name}@{key}", bindings))
            body = stage.get("do", {})
        elif "matrix" in stage:
            axes = stage["matrix"]
            variants = []
            for combo in itertools.product(*axes.values()):
                bindings = {f"item.{k}": v for k, v in zip(axes, combo, strict=True)}
                variants.append((f"{name}@{'-'.join(map(str, combo))}", bindings))
            body = stage
        else:
            variants, body = [(name, {})], stage
        for label, bindings in variants:
            params = []
            for entry in body.get("params") or []:
                entry = _substitute(entry, bindings)
                if isinstance(entry, dict):  # {file: [keys]} or {file: None}
                    for file, keys in entry.items():
                        if file == "params.yaml":
                            params += list(keys) if keys else [None]
                else:
                    params.append(entry)
            paths = {kind: [next(iter(e)) if isinstance(e, dict) else e
                            for e in _substitute(body.get(kind) or [], bindings)]
                     for kind in ("deps", "outs")}
            out.append({"name": label, "params": params, **paths})
    return out


def _reads(entries: list, param: str) -> bool:
    return any(e is None or param == e or param.startswith(f"{e}.") or e.startswith(f"{param}.")
               for e in entries)


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")


def _model_name(path: str) -> str | None:
    found = re.fullmatch(r"models/([^/]+?)\.\w+", path)
    return found.group(1) if found else None


def models_reached(dvc: dict, params) -> set[str]:
    """The models a change of ``params`` can change, by the pipeline of ``dvc``.

    A stage is reached when its ``params`` list names one of ``params`` (a section names every key
    under it: ``mlp`` covers ``mlp.dropout``, and the swept ``mlp`` covers ``mlp.adam.lr``) or when
    one of its deps lies at, under or above an output of a reached stage; the models are the
    outputs ``models/<name>.<suffix>`` of reached stages.

    Parameters
    ----------
    dvc : dict
        A parsed dvc.yaml.
    params : iterable of str
        Flattened params keys (``prepare.train_size``, ``seed``).

    Returns
    -------
    set of str
    """
    stages, params = stage_instances(dvc), list(params)
    reached = {s["name"] for s in stages if any(_reads(s["params"], p) for p in params)}
    grew = True
    while grew:
        outs = [o for s in stages if s["name"] in reached for o in s["outs"]]
        new = {s["name"] for s in stages if s["name"] not in reached
               and any(_overlaps(d, o) for d in s["deps"] for o in outs)}
        reached |= new
        grew = bool(new)
    return {m for s in stages if s["name"] in reached for o in s["outs"] if (m := _model_name(o))}


def training_params(dvc: dict) -> list:
    """The params entries (keys or sections) of the stages that write a model and of every stage
    upstream of them: what a run's models were made with."""
    stages = stage_instances(dvc)
    wanted = {s["name"] for s in stages if any(_model_name(o) for o in s["outs"])}
    grew = True
    while grew:
        deps = [d for s in stages if s["name"] in wanted for d in s["deps"]]
        new = {s["name"] for s in stages if s["name"] not in wanted
               and any(_overlaps(d, o) for d in deps for o in s["outs"])}
        wanted |= new
        grew = bool(new)
    return sorted({e for s in stages if s["name"] in wanted for e in s["params"]}, key=str)


def load_dvc_yaml(path) -> dict | None:
    """A parsed dvc.yaml, or None when ``path`` is not a readable YAML mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


# -- DVC -------------------------------------------------------------------------------------------

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
