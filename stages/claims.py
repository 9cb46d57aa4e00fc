"""DVC stage `claims`: other MNIST projects' claims checked against this project's evidence.

Reads the compare stage's metrics, the robustness stage's per-image correctness and metrics, the
committed sweep summaries (reports/{seeds,ablation,learning_curve}/sweep.json), params.yaml
(compare.alpha, compare.seed, compare.n_resamples; and whether each sweep was made with the current
params) and dvc.yaml (which params make the models); writes reports/claims.md. The same code as
``mnistlab claims`` (:mod:`mnistlab.cli.claims`, :mod:`mnistlab.evidence.claims`); every path comes
from the command line, and every input must exist (no ``--allow-partial`` here).
"""

import argparse

from mnistlab.cli.claims import add_arguments, run
from mnistlab.core.runtime import stage


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.allow_partial:
        parser.error("--allow-partial: the stage needs every input (`mnistlab claims` writes a partial "
                     "report)")
    run(args)


if __name__ == "__main__":
    main()
