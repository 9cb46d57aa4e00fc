"""DVC stage `robustness`: every trained model on MNIST-C and on graded corruptions of test digits.

Reads the raw test files (``--raw``) and every model under ``--models``. **MNIST-C**
(:mod:`mnistlab.evaluation.mnist_c`): the benchmark's 15 corruptions of all the raw test digits
(or the official files of ``robustness.mnist_c_dir``). **Graded families**: a stratified subset of
``robustness.test_size`` raw digits under each family and severity of ``robustness.corruptions``.
Every corrupted digit is preprocessed as the prepare stage did (scaling, deskewing as recorded in
``--preprocessing``) before the models see it. Writes:

- ``--metrics``: per model, clean accuracy, accuracy per graded family (mean over severities),
  ``mean_corruption_accuracy``, and ``mnist_c``: test error per corruption, ``clean``, ``mce`` (mean
  corruption error) and ``relative_mce`` (``mce`` minus the clean error);
- ``--plots``/<family>.csv: rows ``model, severity, accuracy`` (one overlay plot per family);
- ``--mnist-c-plot``: CSV rows ``model, corruption, error, low, high`` (95 % Wilson interval);
- ``--curves``: PNG, degradation curves with Wilson bands; ``--strip``: PNG, one digit at every
  severity as the models see it; ``--mnist-c-figure``: PNG, MNIST-C errors with intervals;
  ``--mnist-c-strip``: PNG, one digit under each MNIST-C corruption, made and as seen;
- ``--report``: Markdown, MNIST-C errors beside the published figures and the graded curves;
- ``--correct``: ``.npz`` of per-image correctness, for paired tests: on the graded conditions,
  bool (conditions, N) per model; on MNIST-C, bool (sets, M) per model (``save_correct``);
- ``--paired`` (optional): CSV of paired tests (McNemar, bootstrap interval) of the SVM on raw
  pixels against the SVM on Gabor features (:func:`mnistlab.evidence.robustness_pairs.svm_pair`)
  on the clean images and every rotation and scaling severity.
"""

import argparse
import os
import time
from pathlib import Path

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path, write_csv, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.data.benchmark import read_deskew
from mnistlab.evaluation.corruptions import FAMILIES
from mnistlab.evaluation.mnist_c import PUBLISHED, PUBLISHED_SOURCE, SETTINGS
from mnistlab.evaluation.robustness import (
    corruption_strip,
    curve_counts,
    curve_rows,
    evaluate_mnist_c,
    evaluate_robustness,
    load_test_subset,
    mnist_c_counts,
    mnist_c_strip,
    mnist_c_summary,
    read_test_files,
    save_correct,
    summary,
)
from mnistlab.evidence.robustness_pairs import PAIRED_FAMILIES, paired_tests, svm_pair
from mnistlab.models.registry import find_models, load_model
from mnistlab.reporting.robustness_figures import (
    plot_corruption_strip,
    plot_mnist_c_errors,
    plot_mnist_c_strip,
    plot_robustness_curves,
    robustness_report,
    wilson,
)


def _relative(target: str, start: str) -> str:
    """``target`` relative to the folder of ``start`` (a link in the report), with forward slashes."""
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve().parent)).as_posix()


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="params.yaml (robustness)")
    parser.add_argument("--preprocessing", required=True,
                        help="data/prepared/preprocessing.json: the prepare stage's deskew decision")
    parser.add_argument("--raw", required=True, help="folder of the raw IDX files (t10k-*.gz)")
    parser.add_argument("--models", required=True, help="folder of the trained models")
    parser.add_argument("--metrics", required=True, help="accuracies, MNIST-C errors to write (.json)")
    parser.add_argument("--plots", required=True, help="folder of one <family>.csv per graded family")
    parser.add_argument("--mnist-c-plot", required=True, help="MNIST-C error per model and corruption (.csv)")
    parser.add_argument("--curves", required=True, help="degradation curves to write (.png)")
    parser.add_argument("--strip", required=True, help="one digit at every severity to write (.png)")
    parser.add_argument("--mnist-c-figure", required=True, help="MNIST-C errors with intervals (.png)")
    parser.add_argument("--mnist-c-strip", required=True, help="a digit under each MNIST-C corruption (.png)")
    parser.add_argument("--report", required=True, help="the robustness report to write (.md)")
    parser.add_argument("--correct", required=True, help="per-image correctness to write (.npz)")
    parser.add_argument("--paired", help="optional: paired tests of the pixel and Gabor SVMs to write (.csv)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    settings = params.robustness
    deskew = read_deskew(args.preprocessing)
    corruptions = settings.corruptions.families()
    all_images, all_labels = read_test_files(args.raw)
    images, labels, index = load_test_subset(args.raw, settings.test_size, settings.seed)
    paths = find_models(args.models)
    if not paths:
        raise MnistlabError(f"{args.models}: no trained model found; run `dvc repro` first")
    predictors = {name: load_model(path) for name, path in paths.items()}

    start = time.perf_counter()
    mnist_c = evaluate_mnist_c(predictors, all_images, all_labels, deskew, settings.seed, settings.batch_size,
                               settings.mnist_c_dir)
    sets = len(next(iter(mnist_c.correct.values()), {}))  # the clean set and the corruptions
    print(f"robustness: MNIST-C, {sets} sets x {len(all_labels)} images in "
          f"{time.perf_counter() - start:.1f} s; "
          + ", ".join(f"{name} {s:.1f}" for name, s in mnist_c.seconds.items()))
    start = time.perf_counter()
    result = evaluate_robustness(predictors, images, labels, corruptions, deskew, settings.seed,
                                 settings.batch_size)
    print(f"robustness: {len(result.conditions)} graded conditions x {len(labels)} images in "
          f"{time.perf_counter() - start:.1f} s; predict seconds: "
          + ", ".join(f"{name} {s:.1f}" for name, s in result.seconds.items()))

    errors = mnist_c_summary(mnist_c)
    table = summary(result)
    for model in table:
        table[model]["mnist_c"] = errors[model]
    write_json(args.metrics, table)
    for family, rows in curve_rows(result, corruptions).items():
        write_csv(Path(args.plots) / f"{family}.csv", rows)
    counts = mnist_c_counts(mnist_c)
    write_csv(args.mnist_c_plot, [
        {"model": r["model"], "corruption": r["corruption"], "error": round(r["errors"] / r["n"], 5),
         "low": round(wilson(r["errors"], r["n"])[0], 5), "high": round(wilson(r["errors"], r["n"])[1], 5)}
        for r in counts])

    preprocessing = ("scaling to [0, 1] and deskewing (`prepare.deskew`)" if deskew
                     else "scaling to [0, 1] only (no deskewing: `prepare.deskew`)")
    view = "after deskewing, as the models see them" if deskew else "as the models see them (no deskewing)"
    units = {family: FAMILIES[family].unit for family in corruptions}
    graded = curve_counts(result, corruptions)
    plot_robustness_curves(graded, units, args.curves, preprocessing.replace("`", ""))
    plot_corruption_strip(corruption_strip(images[0], corruptions, settings.seed, deskew=deskew), args.strip,
                          label=int(labels[0]), view=view)
    plot_mnist_c_errors(counts, args.mnist_c_figure, PUBLISHED, mnist_c.source)
    plot_mnist_c_strip(mnist_c_strip(all_images[0], settings.seed, deskew), args.mnist_c_strip,
                       label=int(all_labels[0]), view="after deskewing" if deskew else "scaled, not deskewed")
    figures = {"MNIST-C test errors with 95% intervals": args.mnist_c_figure,
               "one digit under each MNIST-C corruption, made and as the models see it": args.mnist_c_strip,
               "graded families: accuracy against severity with 95% Wilson bands": args.curves,
               "one digit at every graded severity, as the models see it": args.strip}
    links = {caption: _relative(path, args.report) for caption, path in figures.items()}
    text = robustness_report(errors, counts, graded, SETTINGS, units, preprocessing, mnist_c.source,
                             PUBLISHED, PUBLISHED_SOURCE, links)
    with atomic_path(args.report) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    save_correct(args.correct, result, index, mnist_c)
    if args.paired:
        model_a, model_b = svm_pair()
        write_csv(args.paired, paired_tests(result, model_a, model_b, PAIRED_FAMILIES, settings.seed,
                                            params.compare.alpha))


if __name__ == "__main__":
    main()
