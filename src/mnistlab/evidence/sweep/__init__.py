"""DVC experiments as runs for ``mnistlab sweep``: repeats over seeds, sweeps of params, their tests.

Written by ``mnistlab sweep`` (:mod:`mnistlab.cli.sweep`) and read back by ``mnistlab claims``
(:mod:`mnistlab.evidence.claims`). The runs come from the DVC experiments of a repository
(:func:`read_runs`) or from the JSON of an earlier sweep (:func:`runs_from_json`). For every group
of runs that share the values of the params that vary (the seed param aside), each model's
quantities get a t summary (:func:`summarize`), and the pairs of ``compare.pairs`` that the swept
params can change are compared over the runs as one family (:func:`select_family`,
:func:`paired_tests`); :func:`write_outputs` writes the CSV, the markdown and the JSON. The figure
is :func:`mnistlab.reporting.evidence_figures.plot_sweep`.

The modules, each with one job (this package re-exports their public names):

- :mod:`~mnistlab.evidence.sweep.runs`: a run and the quantities it holds, ``dvc exp show`` rows
  -> runs (selection, params, repeats), grouping by the params that vary;
- :mod:`~mnistlab.evidence.sweep.curves`: the curve quantities (crossings in training images,
  roughness on one grid) and each model's batch size;
- :mod:`~mnistlab.evidence.sweep.pipeline`: which models a param reaches, and which params make
  the models, by dvc.yaml;
- :mod:`~mnistlab.evidence.sweep.read`: the experiments and each run's files, through DVC;
- :mod:`~mnistlab.evidence.sweep.summary`: the t summaries per group, and how values are written;
- :mod:`~mnistlab.evidence.sweep.paired`: the paired tests over the runs, and their verdicts;
- :mod:`~mnistlab.evidence.sweep.family`: which pairs a sweep tests, on which quantities;
- :mod:`~mnistlab.evidence.sweep.provenance`: the sweep against today's params and the single run;
- :mod:`~mnistlab.evidence.sweep.report`: the CSV, the markdown and the JSON, and the runs of a JSON.

The first four load no statistics library and are imported with this package. The other five
load scipy and statsmodels (with :mod:`mnistlab.evidence.compare` and
:mod:`mnistlab.evidence.hierarchical`), so each is imported when one of its names is first asked
for (the module ``__getattr__`` of PEP 562): ``mnistlab`` imports this package to build the
options of its subcommands, and starts without them.
"""

import importlib

from mnistlab.evidence.sweep.curves import (
    batch_size_of,
    batch_size_param,
    curve_quantities,
    images_to_reach,
    parse_tsv,
    roughness,
    roughness_on_grid,
    spacing,
    updates_to_images,
    updates_to_reach,
)
from mnistlab.evidence.sweep.pipeline import (
    load_dvc_yaml,
    models_reached,
    stage_instances,
    training_params,
)
from mnistlab.evidence.sweep.read import (
    CURVE_FILES,
    TEST_PROBA,
    TRAIN_METRICS_FILE,
    read_curves,
    read_errors,
    read_runs,
    read_train_metrics,
    test_errors,
    train_images,
)
from mnistlab.evidence.sweep.runs import (
    CENSOR_AT,
    CURVE_EXTRAS,
    CURVE_MODELS,
    CURVE_QUANTITIES,
    EPOCHS_TO,
    LABEL_COUNTS,
    LOWER_IS_BETTER,
    META_COLUMNS,
    QUALITY_METRICS,
    QUANTITIES,
    THRESHOLDS,
    TRAIN_METRICS,
    TRAIN_SIZE,
    UNFINISHED,
    UPDATES_TO,
    Run,
    UnreadableExperiment,
    drop_repeats,
    flatten_params,
    group_runs,
    local_path,
    metric_column,
    pair_counts,
    portable,
    resolve_train_size,
    runs_from_rows,
    same_as_baseline,
    select_rows,
    sort_key,
    varying_params,
)

#: The modules imported on first use (module docstring), with the public names of each.
_ON_FIRST_USE = {
    "summary": ("POINTS", "SUMMARY_FIELDS", "fmt", "fmt_value", "group_label", "summarize", "t_summary",
                "unit"),
    "paired": ("METHODS", "N_RESAMPLES", "accuracy_data", "censor_updates", "holm", "paired_difference",
               "paired_tests", "seed_independent", "seed_verdict"),
    "family": ("pair_comparisons", "select_family", "swept_params"),
    "provenance": ("baseline_group", "common_params", "params_differences",
                   "single_run_disagreements"),
    "report": ("EXTRA_FIELDS", "METHOD_TEXT", "runs_from_json", "sweep_json", "sweep_markdown",
               "sweep_notes", "write_outputs"),
}

__all__ = [
    "CENSOR_AT",
    "CURVE_EXTRAS",
    "CURVE_FILES",
    "CURVE_MODELS",
    "CURVE_QUANTITIES",
    "EPOCHS_TO",
    "EXTRA_FIELDS",
    "LABEL_COUNTS",
    "LOWER_IS_BETTER",
    "META_COLUMNS",
    "METHODS",
    "METHOD_TEXT",
    "N_RESAMPLES",
    "POINTS",
    "QUALITY_METRICS",
    "QUANTITIES",
    "Run",
    "SUMMARY_FIELDS",
    "TEST_PROBA",
    "THRESHOLDS",
    "TRAIN_METRICS",
    "TRAIN_METRICS_FILE",
    "TRAIN_SIZE",
    "UNFINISHED",
    "UPDATES_TO",
    "UnreadableExperiment",
    "accuracy_data",
    "baseline_group",
    "batch_size_of",
    "batch_size_param",
    "censor_updates",
    "common_params",
    "curve_quantities",
    "drop_repeats",
    "flatten_params",
    "fmt",
    "fmt_value",
    "group_label",
    "group_runs",
    "holm",
    "images_to_reach",
    "load_dvc_yaml",
    "local_path",
    "metric_column",
    "models_reached",
    "pair_comparisons",
    "pair_counts",
    "paired_difference",
    "paired_tests",
    "params_differences",
    "parse_tsv",
    "portable",
    "read_curves",
    "read_errors",
    "read_runs",
    "read_train_metrics",
    "resolve_train_size",
    "roughness",
    "roughness_on_grid",
    "runs_from_json",
    "runs_from_rows",
    "same_as_baseline",
    "seed_independent",
    "seed_verdict",
    "select_family",
    "select_rows",
    "single_run_disagreements",
    "sort_key",
    "spacing",
    "stage_instances",
    "summarize",
    "sweep_json",
    "sweep_markdown",
    "sweep_notes",
    "swept_params",
    "t_summary",
    "test_errors",
    "train_images",
    "training_params",
    "unit",
    "updates_to_images",
    "updates_to_reach",
    "varying_params",
    "write_outputs",
]


def __getattr__(name: str):
    """A name of the modules imported on first use: import its module, keep the name here."""
    for module, names in _ON_FIRST_USE.items():
        if name in names:
            value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
