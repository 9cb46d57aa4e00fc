"""``mnistlab claims``: check other MNIST projects' claims against this project's measurements.

The command glue only, shared with the ``claims`` stage of dvc.yaml (``stages/claims.py`` calls
:func:`add_arguments` and :func:`run`): the inputs are read, the claims judged and
``reports/claims.md`` written by :mod:`mnistlab.evidence.claims`. Every input has a default path.
A missing input is an error that names each missing one and what writes it, unless
``--allow-partial`` asks for a report from the others (whose rows without evidence say how to get
it); with none of the inputs there is nothing to judge and no report is written either way.

The level, bootstrap seed and resamples are ``compare.alpha``, ``compare.seed`` and
``compare.n_resamples`` of ``--params`` (``--alpha`` overrides the level). Each sweep is compared
with today's ``--params`` on the sections that make the models: ``--training-params``, or those
read from ``--pipeline`` (dvc.yaml; the stage names them on its command line, as DVC takes no
dvc.yaml as a dependency). Without a params file the level is compare.json's (else 0.05) and the
sweeps are not compared.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.cli.main import check_output
from mnistlab.core.errors import MnistlabError

#: option -> (default path, what it holds, what writes it): the inputs a report needs.
INPUTS = {
    "compare": ("metrics/compare.json", "the compare stage's metrics", "`dvc repro compare`"),
    "robustness-correct": ("data/evaluation/robustness_correct.npz", "the robustness stage's per-image "
                           "correctness (clean and corrupted digits)", "`dvc repro robustness`"),
    "seeds": ("reports/seeds/sweep.json", "`mnistlab sweep --vary seed` JSON",
              "`mnistlab sweep --vary seed --out-dir reports/seeds`"),
    "ablation": ("reports/ablation/sweep.json", "`mnistlab sweep --vary mlp.dropout --vary "
                 "mlp.weight_decay` JSON", "`mnistlab sweep --vary mlp.dropout --vary mlp.weight_decay "
                 "--out-dir reports/ablation`"),
    "learning-curve": ("reports/learning_curve/sweep.json", "`mnistlab sweep --vary prepare.train_size` "
                       "JSON", "`mnistlab sweep --vary prepare.train_size --out-dir reports/learning_curve`"),
}
#: option -> (default path, what it holds): read when present, never required.
OPTIONAL = {
    "robustness-metrics": ("metrics/robustness.json", "the robustness stage's metrics, for the MNIST-C "
                           "error rates of claim g"),
    "params": ("params.yaml", "today's params: compare.alpha / seed / n_resamples, and whether each sweep "
               "was made with them"),
    "pipeline": ("dvc.yaml", "the pipeline, for the params sections that make the models when "
                 "--training-params is not given"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnistlab claims``: every input has a default path; a missing one is reported."""
    for name, (default, what, *_) in [*INPUTS.items(), *OPTIONAL.items(),
                                      ("out", ("reports/claims.md", "the report to write"))]:
        parser.add_argument(f"--{name}", default=default, help=f"{what} (default: {default})")
    parser.add_argument("--robustness-pairs", metavar="CSV",
                        help="the robustness stage's paired-test CSV of older runs, in place of "
                        "--robustness-correct: it holds accuracies under corruption only, so claim g then "
                        "says what it needs")
    parser.add_argument("--training-params", metavar="SECTIONS",
                        help="comma-separated sections (or keys) of params.yaml that make the models, on "
                        "which each sweep is compared with today's params (default: read from --pipeline)")
    parser.add_argument("--alpha", type=float, help="level of the verdicts (default: compare.alpha of "
                        "--params, else compare.json's, else 0.05)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="write the report when some inputs are missing (their rows say how to make "
                        "them); without it a missing input is an error")


def run(args: argparse.Namespace) -> int:
    """Read the inputs, judge every claim, write the report; exit code 0.

    Raises
    ------
    MnistlabError
        One line: ``--out`` cannot be written, an input or the params file is not what it should
        be, or inputs are missing (each named, with what writes it) without ``--allow-partial``,
        or all of them are.
    """
    from mnistlab.core.params import load_params
    from mnistlab.evidence import claims as evidence
    from mnistlab.evidence.sweep import load_dvc_yaml

    check_output(args.out, "--out")
    compare = evidence.read_compare(args.compare)
    sweeps = {name: evidence.read_sweep(getattr(args, name))
              for name in ("seeds", "ablation", "learning_curve")}
    legacy = args.robustness_pairs is not None
    robustness_option = "robustness-pairs" if legacy else "robustness-correct"
    robustness_path = args.robustness_pairs if legacy else args.robustness_correct
    if legacy:
        robustness = None
        found_robustness = Path(robustness_path).is_file() or None
    else:
        robustness = found_robustness = evidence.read_robustness_correct(robustness_path)
    found = {"compare": compare, robustness_option: found_robustness,
             **{name.replace("_", "-"): data for name, data in sweeps.items()}}
    missing = [name for name, data in found.items() if data is None]
    if missing and (len(missing) == len(found) or not args.allow_partial):
        listed = "; ".join(f"--{name} {getattr(args, name.replace('-', '_'))} "
                           f"({INPUTS.get(name, INPUTS['robustness-correct'])[2]})" for name in missing)
        if len(missing) == len(found):
            raise MnistlabError(f"none of the inputs exists, nothing to judge the claims with: {listed}")
        raise MnistlabError(f"{len(missing)} of {len(found)} inputs missing: {listed}; make them, or pass "
                            f"--allow-partial to write {args.out} from the others")
    params = load_params(args.params).compare if Path(args.params).is_file() else None
    alpha = args.alpha or (params.alpha if params else (compare or {}).get("alpha", 0.05))
    if not 0 < alpha < 1:
        raise MnistlabError(f"--alpha: expected a level between 0 and 1, got {alpha}")
    today = evidence.today_params(args.params)
    if args.training_params is not None:
        training = [key.strip() for key in args.training_params.split(",") if key.strip()]
        if not training:
            raise MnistlabError("--training-params: expected comma-separated sections of params.yaml")
    else:
        training = evidence.training_sections(load_dvc_yaml(args.pipeline))
    note = (f" ({robustness_path} holds accuracies under corruption, not which images each model gets "
            "right: the drop from clean needs the per-image file)") if legacy and found_robustness else ""
    mnist_c = evidence.read_robustness_metrics(args.robustness_metrics)
    paths = {"compare": args.compare, "robustness": args.robustness_correct,
             "mnist_c": args.robustness_metrics, **{name: getattr(args, name) for name in sweeps}}
    claims = evidence.evaluate_claims(
        compare, robustness, **sweeps, alpha=alpha, mnist_c=mnist_c, today=today, training=training,
        seed=params.seed if params else 0, n_resamples=params.n_resamples if params else evidence.N_RESAMPLES,
        robustness_note=note, paths=paths)
    sources = {"compare": (args.compare, compare is not None),
               "robustness": (robustness_path, found_robustness is not None),
               "robustness metrics (MNIST-C)": (args.robustness_metrics, mnist_c is not None),
               **{name.replace("_", " "): (getattr(args, name), data is not None)
                  for name, data in sweeps.items()},
               "params": (args.params, today is not None)}
    sources["params sections that make the models"] = (", ".join(training or []) or args.pipeline,
                                                       training is not None)
    described = evidence.describe_sweeps({name: data for name, data in sweeps.items()}, today, training,
                                         {name: getattr(args, name) for name in sweeps})
    evidence.write_claims_md(claims, sources, args.out, alpha, described)
    verdicts = [r["verdict"] for c in claims for r in c["rows"]]
    print(f"{args.out}: {len(claims)} claims, {len(verdicts)} rows, "
          f"{sum(v == 'supported' for v in verdicts)} supported"
          + (f" ({len(missing)} inputs missing: {', '.join(missing)})" if missing else ""))
    return 0
