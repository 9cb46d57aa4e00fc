"""DVC stage `evaluate`: score every trained model on the test split.

Writes metrics/test.json (nested by model), plots/confusion/<model>.csv, plots/per_class/<model>.csv,
plots/leaderboard.csv, plots/svm_gain.csv (Gabor minus pixel SVM accuracy per digit) and
data/evaluation/test_proba.npz (each model's test probabilities, float32 (N, 10), for the report).
"""

import json
from pathlib import Path

import numpy as np

from mnistlab.data.prepare import load_split
from mnistlab.errors import exit_on_user_error
from mnistlab.evaluate import (
    confusion_rows,
    evaluate_all,
    find_models,
    leaderboard,
    per_class,
    per_class_gain,
)
from mnistlab.io import save_npz, write_csv, write_json


def train_metrics(names) -> dict[str, dict]:
    files = {name: Path(f"metrics/train/{name}.json") for name in names}
    return {name: json.loads(path.read_text()) for name, path in files.items() if path.is_file()}


@exit_on_user_error
def main() -> None:
    test = load_split("test")
    results = evaluate_all(find_models("models"), test.x, test.y)
    predictions = {name: r["proba"].argmax(axis=1) for name, r in results.items()}
    test_metrics = {name: r["metrics"] for name, r in results.items()}
    write_json("metrics/test.json", test_metrics)
    save_npz("data/evaluation/test_proba.npz",
             **{name: r["proba"].astype(np.float32) for name, r in results.items()})
    for name, pred in predictions.items():
        write_csv(f"plots/confusion/{name}.csv", confusion_rows(test.y, pred))
        write_csv(f"plots/per_class/{name}.csv", per_class(test.y, pred))
    write_csv("plots/leaderboard.csv", leaderboard(test_metrics, train_metrics(results)))
    if {"svm_pixels", "svm_gabor"} <= predictions.keys():
        pair = {name: predictions[name] for name in ("svm_pixels", "svm_gabor")}
        write_csv("plots/svm_gain.csv", per_class_gain(test.y, pair))


if __name__ == "__main__":
    main()
