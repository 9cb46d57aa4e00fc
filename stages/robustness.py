"""DVC stage `robustness`: accuracy of every trained model on MNIST-C-style corruptions of test digits.

Reads the raw test files (``--raw``), a stratified subset of ``robustness.test_size`` of them, and
every model under ``--models``; corrupts the raw digits (``robustness.corruptions``), preprocesses
them as the prepare stage did (``prepare.deskew``) and writes:

- ``--metrics``: per model, clean accuracy, accuracy per corruption (mean over severities) and
  ``mean_corruption_accuracy``;
- ``--plots``/<corruption>.csv: rows ``model, severity, accuracy`` (one overlay plot per corruption);
- ``--heatmap``: PNG, models x corruptions; ``--strip``: PNG, one digit at every severity;
- ``--correct``: ``.npz`` of per-image correctness, bool (conditions, N) per model, for paired tests;
- ``--paired`` (optional): CSV of paired tests (McNemar, bootstrap interval) of the SVM on raw
  pixels against the SVM on Gabor features (:func:`mnistlab.evidence.robustness_pairs.svm_pair`)
  on the clean images and every rotation and scaling severity.
"""

import argparse
import time
from pathlib import Path

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_csv, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.evaluation.robustness import (
    corruption_strip,
    curve_rows,
    evaluate_robustness,
    load_test_subset,
    save_correct,
    summary,
)
from mnistlab.evidence.robustness_pairs import PAIRED_FAMILIES, paired_tests, svm_pair
from mnistlab.models.registry import find_models, load_model
from mnistlab.reporting.figures import plot_robustness_heatmap
from mnistlab.reporting.plots import plot_corruption_strip


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="params.yaml (robustness, prepare.deskew)")
    parser.add_argument("--raw", required=True, help="folder of the raw IDX files (t10k-*.gz)")
    parser.add_argument("--models", required=True, help="folder of the trained models")
    parser.add_argument("--metrics", required=True, help="accuracy per model and corruption to write (.json)")
    parser.add_argument("--plots", required=True, help="folder of one <corruption>.csv per family")
    parser.add_argument("--heatmap", required=True, help="models x corruptions heatmap to write (.png)")
    parser.add_argument("--strip", required=True, help="one digit at every severity to write (.png)")
    parser.add_argument("--correct", required=True, help="per-image correctness to write (.npz)")
    parser.add_argument("--paired", help="optional: paired tests of the pixel and Gabor SVMs to write (.csv)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings = params.robustness
    corruptions = settings.corruptions.families()
    images, labels, index = load_test_subset(args.raw, settings.test_size, settings.seed)
    paths = find_models(args.models)
    if not paths:
        raise MnistlabError(f"{args.models}: no trained model found; run `dvc repro` first")
    predictors = {name: load_model(path) for name, path in paths.items()}
    start = time.perf_counter()
    result = evaluate_robustness(predictors, images, labels, corruptions, params.prepare.deskew,
                                 settings.seed, settings.batch_size)
    print(f"robustness: {len(result.conditions)} conditions x {len(labels)} images in "
          f"{time.perf_counter() - start:.1f} s; predict seconds: "
          + ", ".join(f"{name} {s:.1f}" for name, s in result.seconds.items()))
    table = summary(result)
    write_json(args.metrics, table)
    for family, rows in curve_rows(result, corruptions).items():
        write_csv(Path(args.plots) / f"{family}.csv", rows)
    plot_robustness_heatmap(table, args.heatmap)
    plot_corruption_strip(corruption_strip(images[0], corruptions, settings.seed), args.strip,
                          label=int(labels[0]))
    save_correct(args.correct, result, index)
    if args.paired:
        model_a, model_b = svm_pair()
        write_csv(args.paired, paired_tests(result, model_a, model_b, PAIRED_FAMILIES, settings.seed))


if __name__ == "__main__":
    main()
