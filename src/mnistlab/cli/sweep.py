"""``mnistlab sweep``: summarise DVC experiments (means and intervals over seeds, paired tests).

The command glue only: runs are read by :mod:`mnistlab.evidence.sweep`, summarised, tested and
written by :mod:`mnistlab.evidence.sweep_report`, drawn by
:func:`mnistlab.reporting.evidence_figures.plot_sweep`. The pairs tested are ``compare.pairs`` of
params.yaml, at the level ``compare.alpha``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    from mnistlab.evidence import sweep_report
    from mnistlab.reporting.evidence_figures import plot_sweep

    section = load_params(args.params or Path(args.repo) / "params.yaml").compare
    pairs = [{"question": pair.question, "a": pair.a, "b": pair.b} for pair in section.pairs]
    out = Path(args.out_dir)
    paths = {name: getattr(args, name) or out / f"sweep.{ext}"
             for name, ext in [("csv", "csv"), ("figure", "png"), ("report", "md"), ("json", "json")]}
    if args.from_json:
        from mnistlab.core.io import read_json

        recorded = read_json(args.from_json, "sweep summary (sweep.json)")
        try:
            runs, dropped = sweep_report.runs_from_json(recorded), []
        except (KeyError, TypeError, ValueError) as err:
            raise MnistlabError(f"{args.from_json}: not a sweep summary written by `mnistlab sweep` "
                                f"({type(err).__name__}: {err})") from None
    else:
        runs, dropped = sweep.read_runs(args.repo, args.rev, args.name_prefix, args.include_baseline,
                                        args.num, not args.no_curves, args.vary, args.seed_param)
    if sweep.TRAIN_SIZE in sweep.varying_params(runs, args.seed_param):
        sweep.resolve_train_size(runs, args.all_size)
    summary = sweep_report.summarize(runs, args.seed_param, 1 - section.alpha)
    plot_sweep(runs, summary, args.metric, paths["figure"], args.seed_param)
    sweep_report.write_outputs(runs, summary, sweep_report.pair_comparisons(pairs), paths, args.seed_param,
                               dropped, section.alpha)
    print(f"{len(runs)} runs summarised: " + ", ".join(str(p) for p in paths.values()))
    return 0
