"""DVC stage `compare`: paired tests of the model pairs in params.yaml `compare.pairs` on the test set.

Reads the test labels and every model's test probabilities (data/evaluation/test_proba.npz, written
by the evaluate stage), and writes the comparison metrics (JSON), the forest-plot rows (CSV), the
forest plot (PNG) and reports/comparisons.md. All paths come from the command line.
"""

import argparse

from mnistlab.core.io import read_probabilities, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.evidence.compare import (
    compare_models,
    metrics_summary,
    write_compare_rows,
    write_comparisons_md,
)
from mnistlab.reporting.evidence_figures import plot_forest


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, help_text in [("params", "params.yaml"),
                            ("proba", "test labels and probabilities, one array per model"),
                            ("metrics", "output JSON"), ("plot", "output CSV of the forest plot"),
                            ("figure", "output PNG"), ("report", "output markdown")]:
        parser.add_argument(f"--{name}", required=True, help=help_text)
    args = parser.parse_args(argv)
    section = load_params(args.params).compare
    y, proba = read_probabilities(args.proba)
    pairs = [{"question": pair.question, "a": pair.a, "b": pair.b} for pair in section.pairs]
    result = compare_models(y, proba, pairs, seed=section.seed, alpha=section.alpha,
                            n_resamples=section.n_resamples)
    write_json(args.metrics, metrics_summary(result))
    write_compare_rows(result, args.plot)
    plot_forest(result, args.figure)
    write_comparisons_md(result, args.report)


if __name__ == "__main__":
    main()
