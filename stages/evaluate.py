"""DVC stage ``evaluate``: score every trained model of the registry on the test split.

Writes the quality metrics (accuracy, macro F1, log loss, expected calibration error) nested by
model, speed and size apart (outside the default ``dvc metrics`` set), each model's test
probabilities with the test labels (:func:`mnistlab.core.io.write_probabilities`: float32 (N, 10)
per model, for compare and report), one confusion CSV per model, per-class precision/recall (long
format) and the reliability-diagram bins (long format).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.core.io import read_split, write_csv, write_json, write_probabilities
from mnistlab.core.runtime import stage
from mnistlab.evaluation.calibration import reliability_bins
from mnistlab.evaluation.evaluate import confusion_rows, evaluate_all, per_class


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="folder of the trained models")
    parser.add_argument("--test", required=True, help="prepared test split (.npz)")
    parser.add_argument("--metrics", required=True, help="quality metrics to write (.json)")
    parser.add_argument("--speed", required=True, help="parameters and prediction speed to write (.json)")
    parser.add_argument("--proba", required=True, help="test labels and probabilities to write (.npz)")
    parser.add_argument("--confusion", required=True, help="folder of one confusion CSV per model")
    parser.add_argument("--per-class", required=True, help="per-class metrics to write (.csv)")
    parser.add_argument("--reliability", required=True, help="reliability bins to write (.csv)")
    args = parser.parse_args(argv)

    test = read_split(args.test)
    results = evaluate_all(args.models, test.x, test.y)
    write_json(args.metrics, {name: r["quality"] for name, r in results.items()})
    write_json(args.speed, {name: r["speed"] for name, r in results.items()})
    write_probabilities(args.proba, test.y, {name: r["proba"] for name, r in results.items()})
    per_class_rows, reliability_rows = [], []
    for name, r in results.items():
        predicted = r["proba"].argmax(axis=1)
        write_csv(Path(args.confusion) / f"{name}.csv", confusion_rows(test.y, predicted))
        per_class_rows += [{"model": name, **row} for row in per_class(test.y, predicted)]
        reliability_rows += [{"model": name, **row} for row in reliability_bins(test.y, r["proba"])]
    write_csv(args.per_class, per_class_rows)
    write_csv(args.reliability, reliability_rows)
    for name, r in results.items():
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in r["quality"].items()))


if __name__ == "__main__":
    main()
