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
(``plots/curves/<model>/plots/metrics/{train,val}/<name>.tsv``; see :mod:`mnistlab.core.curves`):

- ``updates_to_5pct``, ``_3pct``, ``_2pct``: the first logged update count at which the
  validation error is at most 5 %, 3 %, 2 % (missing when the run never gets there);
- ``val_loss_roughness``: the mean absolute second difference of the validation loss,
  ``mean_t |L[t+1] - 2 L[t] + L[t-1]|`` over the logged points (nats; the points are
  ``mlp.log_every_images`` training images apart): 0 for a straight line, large for a jagged
  curve. It is the absolute-value form of the second-difference roughness penalty of Whittaker (1923) and
  Hodrick & Prescott (1997);
- ``best_val_error``, ``final_val_error``: the lowest and the last validation error (fractions);
- ``train_val_gap``: training accuracy minus validation accuracy at the last point (fractions;
  the training accuracy is measured in training mode, with dropout on and shifted images);
- ``val_loss_rise``: last minus lowest validation loss (nats; > 0 when the loss turns back up);
- ``total_updates``: the last logged update.

When ``prepare.train_size`` varies, its value is replaced by the number of training images the
run used (the ``train`` column of its ``plots/label_counts.csv``, or ``all_size`` for null).

Summaries, paired tests over the runs and the written outputs: :mod:`mnistlab.evidence.sweep_report`;
the figure: :mod:`mnistlab.reporting.evidence_figures`; the command: :mod:`mnistlab.cli.sweep`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import select

QUALITY_METRICS = ("accuracy", "macro_f1", "log_loss", "ece")
THRESHOLDS = (0.05, 0.03, 0.02)
CURVE_QUANTITIES = tuple(f"updates_to_{round(100 * t)}pct" for t in THRESHOLDS) + ("val_loss_roughness",)
CURVE_EXTRAS = ("best_val_error", "final_val_error", "train_val_gap", "val_loss_rise", "total_updates")
QUANTITIES = QUALITY_METRICS + CURVE_QUANTITIES + CURVE_EXTRAS
LOWER_IS_BETTER = {"log_loss", "ece", *CURVE_QUANTITIES, *CURVE_EXTRAS[:4]}
META_COLUMNS = {"Experiment", "rev", "typ", "Created", "parent", "State", "Executor"}
#: Models whose curves are read: those trained with the ``mlp`` params, points at the same images.
CURVE_MODELS: tuple[str, ...] = select(mlp_params=True)
CURVE_FILES = "plots/curves/{model}/plots/metrics/{name}.tsv"
LABEL_COUNTS = "plots/label_counts.csv"
TRAIN_SIZE = "prepare.train_size"


@dataclass
class Run:
    """One experiment: its name, commit, params (flattened keys), ``(model, quantity) -> value`` and
    the number of training images (None when unknown)."""

    name: str
    rev: str
    params: dict
    values: dict = field(default_factory=dict)
    train_images: int | None = None


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
    ``prefix`` keeps the experiments whose name starts with it. Rows without a test metric
    (queued, running, failed) are dropped.
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


def runs_from_rows(rows: list[dict], param_keys: set[str] | None = None) -> list[Run]:
    """A :class:`Run` per row; params are the columns in ``param_keys`` (``params.yaml:`` stripped),
    or, when None, every column that is neither metadata, a quality metric nor a file hash."""
    runs = []
    for row in rows:
        params, values = {}, {}
        for column, value in row.items():
            parsed = metric_column(column)
            if parsed:
                if value is not None:
                    values[parsed] = float(value)
                continue
            key = column.removeprefix("params.yaml:")
            if column in META_COLUMNS:
                continue
            if param_keys is not None and key not in param_keys:
                continue
            if param_keys is None and (":" in key or "/" in key or _is_hash(value)):
                continue
            params[key] = portable(value)
        runs.append(Run(row.get("Experiment") or str(row.get("rev")), str(row.get("rev")), params, values))
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


def roughness(loss: np.ndarray) -> float | None:
    """Mean absolute second difference of a curve (None with fewer than 3 points)."""
    loss = np.asarray(loss, dtype=float)
    return float(np.abs(np.diff(loss, n=2)).mean()) if loss.size >= 3 else None


def curve_quantities(error_curve, loss_curve, train_accuracy=None) -> dict:
    """The curve quantities of the module docstring from ``(steps, values)`` curves of the
    validation error, the validation loss and (optional) the training accuracy; None curves skip
    what needs them."""
    out = {}
    if error_curve is not None and len(error_curve[0]):
        steps, error = error_curve
        for threshold, name in zip(THRESHOLDS, CURVE_QUANTITIES, strict=False):
            out[name] = updates_to_reach(steps, error, threshold)
        out |= {"best_val_error": float(np.min(error)), "final_val_error": float(error[-1]),
                "total_updates": float(steps[-1])}
        if train_accuracy is not None and len(train_accuracy[1]):
            out["train_val_gap"] = float(train_accuracy[1][-1] - (1 - error[-1]))
    if loss_curve is not None and len(loss_curve[1]):
        out["val_loss_roughness"] = roughness(loss_curve[1])
        out["val_loss_rise"] = float(loss_curve[1][-1] - np.min(loss_curve[1]))
    return {k: v for k, v in out.items() if v is not None}


def train_images(label_counts_csv: str) -> int:
    """Sum of the ``train`` column of a label-count CSV (``plots/label_counts.csv``)."""
    return sum(int(row["train"]) for row in csv.DictReader(io.StringIO(label_counts_csv)))


# -- DVC -------------------------------------------------------------------------------------------

def read_runs(repo: str = ".", revs=None, prefix=None, include_baseline=False, num: int = 1,
              curves: bool = True, vary: list[str] | None = None, seed_param: str = "seed",
              curve_models: tuple[str, ...] = CURVE_MODELS) -> tuple[list[Run], list[str]]:
    """The finished DVC experiments of ``repo`` as runs.

    Runs come from ``dvc.api.exp_show(repo, num=num)``, selected by :func:`same_as_baseline` (when
    ``vary`` is given) and :func:`select_rows`, repeats dropped (:func:`drop_repeats`), with the
    curve quantities of ``curve_models`` (when ``curves``) and, when ``prepare.train_size`` varies,
    the number of training images, both read at each run's commit.

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
    runs, dropped = drop_repeats(runs_from_rows(rows, keys))
    counts = TRAIN_SIZE in varying_params(runs, seed_param)
    for run in runs if curves or counts else []:
        fs = dvc.api.DVCFileSystem(repo, rev=run.name if run.name != run.rev else run.rev)
        for model in curve_models if curves else ():
            curve = {}
            for name in ("val/error", "val/loss", "train/accuracy"):
                try:
                    curve[name] = parse_tsv(fs.read_text(CURVE_FILES.format(model=model, name=name)))
                except (FileNotFoundError, ValueError, IndexError):
                    curve[name] = None
            for name, value in curve_quantities(*curve.values()).items():
                run.values[(model, name)] = value
        if counts:
            try:
                run.train_images = train_images(fs.read_text(LABEL_COUNTS))
            except (FileNotFoundError, ValueError, KeyError):
                run.train_images = None
    return runs, dropped

