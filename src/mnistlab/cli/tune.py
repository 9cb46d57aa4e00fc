"""``mnistlab tune``: one Optuna study per family on the validation split, the same budget for each.

The command glue only: the studies are :mod:`mnistlab.models.tuning`. It reads params.yaml (the
``tune`` section: search spaces, ``n_trials``, ``seed``, ``train_size``) and the prepared training
and validation splits, and no other data: there is no test option. It writes, per family,
``<out>/<family>.csv`` (every trial: values, validation accuracy, seconds) and ``<family>.json``,
then ``<out>/README.md`` from every family's summary in ``<out>``. Not a stage of ``dvc repro``:
docs/tuning.md gives its wall time and how to apply a choice.
"""

from __future__ import annotations

import argparse

from mnistlab.cli.main import check_output

FAMILIES = ("svm", "gabor", "mlp", "cnn")  # mnistlab.models.tuning.FAMILIES, without importing it here


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnistlab tune``."""
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--train", default="data/prepared/train.npz",
                        help="prepared training split (default: data/prepared/train.npz)")
    parser.add_argument("--val", default="data/prepared/val.npz",
                        help="prepared validation split, the only score of every trial "
                        "(default: data/prepared/val.npz)")
    parser.add_argument("--out", default="reports/tuning", help="output folder (default: reports/tuning)")
    parser.add_argument("--family", action="append", choices=FAMILIES, dest="families",
                        help="a family to tune (repeatable; default: all, in the order "
                        f"{', '.join(FAMILIES)})")


def run(args: argparse.Namespace) -> int:
    """Run the studies and write their records; exit code 0.

    Raises
    ------
    MnistlabError
        One line: the params or a split is missing or malformed, the output folder cannot be
        written, a search space does not fit the other params, or every trial of a family fails.
    """
    from mnistlab.core.io import read_split
    from mnistlab.core.params import load_params
    from mnistlab.core.runtime import limit_threads
    from mnistlab.models.tuning import run_study
    from mnistlab.reporting.tuning import write_readme, write_study

    limit_threads()  # $MNISTLAB_THREADS, as in the stages (docs/threads-and-sweeps.md)
    params = load_params(args.params)
    check_output(f"{args.out}/README.md", "--out")
    train, val = read_split(args.train), read_split(args.val)
    for family in args.families or FAMILIES:
        result = run_study(params, family, train, val)
        for path in write_study(args.out, result):
            print(f"wrote {path}")
        choice = result.choice
        seeds = f", mean of {len(result.confirm['seeds'])} seeds" if result.confirm else ""
        print(f"tune {family}: choice val_accuracy {result.mean_accuracy(choice):.4f} (trial "
              f"{choice.number}{seeds}) of {len(result.trials)} trials in {result.seconds:.0f} s")
    print(f"wrote {write_readme(args.out)}")
    return 0
