"""DVC experiments as runs: ``dvc exp show`` rows -> :class:`Run`, selection, params, grouping.

Runs come from ``dvc.api.exp_show``, which returns one flat dict per row: the columns
``Experiment`` (name), ``rev`` (7-digit commit or branch), ``typ`` (``baseline``, ``branch_base``,
``branch_commit``), ``State``..., then every metric and param flattened with dots (``seed``,
``prepare.train_size``, ``<model>.accuracy``), prefixed by the file (``metrics/test.json:``) when
a name occurs in two files. Each baseline row comes before its experiments. Numbers arrive as
floats, lists as strings, null params as the string ``"None"``, empty cells as ``None``.

Several sweeps can live on one baseline (seeds, a learning curve, an ablation): ``vary`` keeps the
experiments whose params equal their baseline's except the named ones and the seed
(:func:`same_as_baseline`), and runs with identical params (the same experiment queued twice by two
sweeps) are counted once (:func:`drop_repeats`).

Per model, a run holds its test metrics (:data:`QUALITY_METRICS`, in metrics/test.json), the curve
quantities of the models trained with the ``mlp`` params (:data:`CURVE_MODELS`;
:mod:`mnistlab.evidence.sweep.curves`) and the figures of their ``metrics/train/<model>.json``
(:data:`TRAIN_METRICS`): :data:`QUANTITIES` in all. Per run, besides: the discordant counts of
``metrics/compare.json`` when ``dvc exp show`` lists it (:func:`pair_counts`), and which test images
each model gets wrong (read by :mod:`mnistlab.evidence.sweep.read`).

When ``prepare.train_size`` varies, its value is replaced by the number of training images the
run used (the ``train`` column of its ``plots/label_counts.csv``, or ``all_size`` for null;
:func:`resolve_train_size`). The runs that share the values of the params that vary, the seed param
aside, form a group (:func:`varying_params`, :func:`group_runs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import select

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
LABEL_COUNTS = "plots/label_counts.csv"
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


def local_path(value, repo: Path):
    """A params value that names a folder or file of ``repo`` (``data/mnist``) as a summary records
    it (:func:`mnistlab.evidence.sweep.portable` of its resolved path, links followed); other values
    as they are."""
    if isinstance(value, str) and "/" in value and "://" not in value:
        path = repo / value
        if path.exists():
            return portable(str(path.resolve()))
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
