"""``mnistlab claims``: check other MNIST projects' claims against this project's measurements.

The command glue only: the inputs are read, the claims judged and ``reports/claims.md`` written by
:mod:`mnistlab.evidence.claims`.
"""

from __future__ import annotations

import argparse

from mnistlab.core.errors import MnistlabError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnistlab claims``: every input has a default path; a missing one is reported."""
    for name, default, what in [
            ("compare", "metrics/compare.json", "the compare stage's metrics"),
            ("robustness-pairs", "reports/robustness_svm_pairs.csv", "the robustness stage's paired tests"),
            ("seeds", "reports/seeds/sweep.json", "`mnistlab sweep --vary seed` JSON"),
            ("ablation", "reports/ablation/sweep.json", "`mnistlab sweep --vary mlp.dropout --vary "
             "mlp.weight_decay` JSON"),
            ("learning-curve", "reports/learning_curve/sweep.json", "`mnistlab sweep --vary "
             "prepare.train_size` JSON"),
            ("out", "reports/claims.md", "the report to write")]:
        parser.add_argument(f"--{name}", default=default, help=f"{what} (default: {default})")
    parser.add_argument("--alpha", type=float, help="level of the verdicts (default: compare's, else 0.05)")


def run(args: argparse.Namespace) -> int:
    """Read the inputs, judge every claim, write the report; exit code 0."""
    from mnistlab.evidence import claims as evidence

    compare = evidence.read_compare(args.compare)
    sweeps = {name: evidence.read_sweep(getattr(args, name))
              for name in ("seeds", "ablation", "learning_curve")}
    robustness = evidence.read_robustness_pairs(args.robustness_pairs)
    alpha = args.alpha or (compare or {}).get("alpha", 0.05)
    if not 0 < alpha < 1:
        raise MnistlabError(f"--alpha: expected a level between 0 and 1, got {alpha}")
    claims = evidence.evaluate_claims(compare, robustness, **sweeps, alpha=alpha,
                                      paths={"compare": args.compare, "robustness": args.robustness_pairs})
    sources = {"compare": (args.compare, compare is not None),
               "robustness pairs": (args.robustness_pairs, robustness is not None),
               **{name.replace("_", " "): (getattr(args, name), data is not None)
                  for name, data in sweeps.items()}}
    evidence.write_claims_md(claims, sources, args.out, alpha)
    verdicts = [r["verdict"] for c in claims for r in c["rows"]]
    print(f"{args.out}: {len(claims)} claims, {len(verdicts)} rows, "
          f"{sum(v == 'supported' for v in verdicts)} supported")
    return 0
