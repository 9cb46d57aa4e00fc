"""``mnistlab sweep``: summarise DVC experiments (means and intervals over seeds, paired tests).

The command glue only: runs are read, summarised, tested and written by
:mod:`mnistlab.evidence.sweep`, drawn by
:func:`mnistlab.reporting.evidence_figures.plot_sweep`. The pairs tested are ``compare.pairs`` of
params.yaml, at the level ``compare.alpha``.

Every output path is checked before the runs are read (one line naming the option when it cannot be
written). An experiment that cannot be read is reported in one line (``warning: experiment ...``)
and left out; the others are summarised.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from mnistlab.cli.main import check_output
from mnistlab.core.errors import MnistlabError
from mnistlab.evidence import sweep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnistlab sweep``."""
    parser.add_argument("--repo", default=".", help="DVC repository (default: the current folder)")
    parser.add_argument("--params", help="params.yaml whose compare.pairs and compare.alpha are used "
                        "(default: <repo>/params.yaml)")
    parser.add_argument("--rev", action="append", help="experiment name or commit to include (repeatable); "
                        "default: every experiment of the current baseline")
    parser.add_argument("--name-prefix", help="only experiments whose name starts with this")
    parser.add_argument("--vary", action="append", metavar="PARAM",
                        help="only experiments whose params equal their baseline's except these (repeatable) "
                        "and the seed, e.g. --vary seed, --vary prepare.train_size")
    parser.add_argument("--from-json", metavar="SWEEP_JSON",
                        help="re-summarise the runs recorded in a sweep.json (no DVC experiments read): "
                        "regenerates a committed sweep's outputs with the current code and params")
    parser.add_argument("--include-baseline", action="store_true", help="count the baseline commit as a run")
    parser.add_argument("--num", type=int, default=1, help="baselines to list (dvc exp show -n)")
    parser.add_argument("--seed-param", default="seed", help="the param that distinguishes repeats")
    parser.add_argument("--metric", default="accuracy", choices=sweep.QUALITY_METRICS,
                        help="metric of the figure")
    parser.add_argument("--no-curves", action="store_true", help="skip reading the validation curves")
    parser.add_argument("--all-size", type=int, metavar="N",
                        help=f"training images when {sweep.TRAIN_SIZE} is null and the run's "
                        f"{sweep.LABEL_COUNTS} cannot be read")
    parser.add_argument("--out-dir", default="reports/sweep",
                        help="folder of sweep.csv, .png, .md and .json (default: reports/sweep)")
    for name, what in [("csv", "summary rows"), ("figure", "figure (.png)"), ("report", "markdown"),
                       ("json", "numbers for `mnistlab claims`")]:
        parser.add_argument(f"--{name}", help=f"{what}; default: <out-dir>/sweep.<ext>")


def run(args: argparse.Namespace) -> int:
    """Read the runs, write the summary CSV, the figure, the markdown and the JSON; exit code 0."""
    from mnistlab.core.params import load_params
    from mnistlab.reporting.evidence_figures import plot_sweep

    section = load_params(args.params or Path(args.repo) / "params.yaml").compare
    pairs = [{"question": pair.question, "a": pair.a, "b": pair.b} for pair in section.pairs]
    out = Path(args.out_dir)
    paths = {name: getattr(args, name) or out / f"sweep.{ext}"
             for name, ext in [("csv", "csv"), ("figure", "png"), ("report", "md"), ("json", "json")]}
    for name, path in paths.items():
        check_output(path, f"--{name}" if getattr(args, name) else "--out-dir")
    if args.from_json:
        from mnistlab.core.io import read_json

        recorded = read_json(args.from_json, "sweep summary (sweep.json)")
        try:
            runs, dropped = sweep.runs_from_json(recorded), []
        except (KeyError, TypeError, ValueError) as err:
            raise MnistlabError(f"{args.from_json}: not a sweep summary written by `mnistlab sweep` "
                                f"({type(err).__name__}: {err})") from None
    else:
        runs, dropped = read_runs_reporting(args)
    if sweep.TRAIN_SIZE in sweep.varying_params(runs, args.seed_param):
        sweep.resolve_train_size(runs, args.all_size)
    summary = sweep.summarize(runs, args.seed_param, 1 - section.alpha)
    plot_sweep(runs, summary, args.metric, paths["figure"], args.seed_param, repo=args.repo)
    sweep.write_outputs(runs, summary, sweep.pair_comparisons(pairs), paths, args.seed_param,
                        dropped, section.alpha, repo=args.repo, recipe=args.vary or ())
    print(f"{len(runs)} runs summarised: " + ", ".join(str(p) for p in paths.values()))
    return 0


def read_runs_reporting(args: argparse.Namespace) -> tuple[list, list[str]]:
    """:func:`mnistlab.evidence.sweep.read_runs` with the options of ``args``; prints one line on
    stderr for each experiment it cannot read (all of it, or some test metrics), and leaves out the
    runs without any test metric.

    Raises
    ------
    MnistlabError
        If no run with a test metric is left.
    """
    runs, dropped, unreadable = [], [], {}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", sweep.UnreadableExperiment)
            runs, dropped = sweep.read_runs(args.repo, args.rev, args.name_prefix, args.include_baseline,
                                            args.num, not args.no_curves, args.vary, args.seed_param)
    finally:  # the warnings are shown even when no run is left (read_runs then raises)
        for item in caught:
            if isinstance(item.message, sweep.UnreadableExperiment):
                unreadable[item.message.experiment] = item.message  # the last word: select_rows' comes last
            else:  # not ours: shown as Python would have shown it
                warnings.showwarning(item.message, item.category, item.filename, item.lineno)
        kept, notes = [], {name: str(warning) for name, warning in unreadable.items()}
        for run in runs:
            if any(quantity in sweep.QUALITY_METRICS for _, quantity in run.values):
                kept.append(run)
                continue
            detail = unreadable[run.name].detail if run.name in unreadable else ""
            detail = f" ({detail})" if detail else ""
            notes[run.name] = f"experiment {run.name}: no test metric could be read{detail}: left out"
        for note in notes.values():
            print(f"warning: {note}", file=sys.stderr)
    if not kept:
        raise MnistlabError(f"--repo {args.repo}: none of the selected experiments has a test metric that "
                            "could be read (see the warnings above)")
    return kept, dropped
