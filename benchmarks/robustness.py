"""Benchmark: the robustness stage's corruption and preprocessing cost, without trained models.

Graded families: on the 2,000 test digits of data/sample (or ``--folder``), times every default
corruption of :data:`mnistlab.evaluation.corruptions.DEFAULT_CORRUPTIONS` (each severity in one
batched call), deskewing of all corrupted copies, and
:func:`mnistlab.evaluation.robustness.evaluate_robustness` end to end with a trivial predictor
(uniform probabilities). MNIST-C: on every test digit of ``--mnist-c-folder`` (data/raw, the
10,000 test images, when present; else the sample's 2,000), times each of the 15 corruptions of
:mod:`mnistlab.evaluation.mnist_c` and :func:`mnistlab.evaluation.robustness.evaluate_mnist_c` end
to end with the trivial predictor. What remains of the stage's time is the models' own
``predict_proba`` (see ``metrics/speed.json`` for their images per second).

Usage: python benchmarks/robustness.py [--folder data/sample] [--n 2000] [--repeats 3]
       [--mnist-c-folder data/raw]
Prints ``name: value`` lines: ``images``, ``conditions``, ``corrupted_images``,
``images_per_second_<family>`` (corruption only, best of ``--repeats``), ``corrupt_seconds``
(every condition once), ``deskew_seconds`` (every copy once), ``evaluate_seconds`` (the whole
graded evaluation with the trivial predictor: corrupt, deskew, predict, score);
``mnist_c_images``, ``mnist_c_seconds_<corruption>`` (one call on all images),
``mnist_c_corrupt_seconds`` (the 15), ``mnist_c_evaluate_seconds`` (the whole MNIST-C evaluation
with the trivial predictor: corrupt, scale, deskew, predict, score; 16 sets).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from mnistlab.data.prepare import deskew
from mnistlab.evaluation.corruptions import DEFAULT_CORRUPTIONS, corrupt
from mnistlab.evaluation.mnist_c import CORRUPTIONS as MNIST_C
from mnistlab.evaluation.mnist_c import corrupt_mnist_c
from mnistlab.evaluation.robustness import (
    conditions,
    evaluate_mnist_c,
    evaluate_robustness,
    load_test_subset,
    read_test_files,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


class Uniform:
    """A predictor that costs nothing: probability 0.1 for every class."""

    n_params = 0

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return np.full((len(images), 10), 0.1)


def best_seconds(func, repeats: int) -> float:
    """Smallest wall-clock time of ``repeats`` calls of ``func()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=SAMPLE)
    parser.add_argument("--n", type=int, default=2000, help="test digits (stratified subset)")
    parser.add_argument("--repeats", type=int, default=3)
    raw = REPO / "data" / "raw"
    parser.add_argument("--mnist-c-folder", type=Path,
                        default=raw if (raw / "t10k-images-idx3-ubyte.gz").is_file() else SAMPLE,
                        help="folder of the raw test files whose every digit MNIST-C corrupts")
    args = parser.parse_args()
    images, labels, _ = load_test_subset(args.folder, args.n, seed=0)
    conds = conditions(DEFAULT_CORRUPTIONS)
    print(f"images: {len(images)}")
    print(f"conditions: {len(conds)}")
    print(f"corrupted_images: {len(conds) * len(images)}")
    total = 0.0
    for family, severities in DEFAULT_CORRUPTIONS.items():
        seconds = sum(best_seconds(lambda f=family, s=s: corrupt(images, f, s, seed=0), args.repeats)
                      for s in severities)
        total += seconds
        print(f"images_per_second_{family}: {len(severities) * len(images) / seconds:.0f}")
    print(f"corrupt_seconds: {total:.2f}")
    print(f"deskew_seconds: {len(conds) * best_seconds(lambda: deskew(images), args.repeats):.2f}")
    start = time.perf_counter()
    evaluate_robustness({"uniform": Uniform()}, images, labels, DEFAULT_CORRUPTIONS, deskew=True, seed=0)
    print(f"evaluate_seconds: {time.perf_counter() - start:.2f}")

    raw_images, raw_labels = read_test_files(args.mnist_c_folder)
    print(f"mnist_c_images: {len(raw_images)}")
    total = 0.0
    for name in MNIST_C:
        start = time.perf_counter()
        corrupt_mnist_c(raw_images, name, seed=0)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"mnist_c_seconds_{name}: {seconds:.2f}")
    print(f"mnist_c_corrupt_seconds: {total:.2f}")
    start = time.perf_counter()
    evaluate_mnist_c({"uniform": Uniform()}, raw_images, raw_labels, deskew=True, seed=0)
    print(f"mnist_c_evaluate_seconds: {time.perf_counter() - start:.2f}")


if __name__ == "__main__":
    main()
