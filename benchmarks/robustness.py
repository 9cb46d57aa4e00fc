"""Benchmark: the robustness stage's corruption and preprocessing cost, without trained models.

On the 2,000 test digits of data/sample (or ``--folder``), times every default corruption of
:data:`mnistlab.evaluation.corruptions.DEFAULT_CORRUPTIONS` (each severity in one batched call), deskewing of
all corrupted copies, and :func:`mnistlab.evaluation.robustness.evaluate_robustness` end to end with a
trivial predictor (uniform probabilities), so what remains of the stage's time is the models'
own ``predict_proba``.

Usage: python benchmarks/robustness.py [--folder data/sample] [--n 2000] [--repeats 3]
Prints ``name: value`` lines: ``images``, ``conditions``, ``corrupted_images``,
``images_per_second_<family>`` (corruption only, best of ``--repeats``), ``corrupt_seconds``
(every condition once), ``deskew_seconds`` (every copy once), ``evaluate_seconds`` (the whole
evaluation with the trivial predictor: corrupt, deskew, predict, score).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from mnistlab.data.prepare import deskew
from mnistlab.evaluation.corruptions import DEFAULT_CORRUPTIONS, corrupt
from mnistlab.evaluation.robustness import conditions, evaluate_robustness, load_test_subset

REPO = Path(__file__).resolve().parents[1]


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
    parser.add_argument("--folder", type=Path, default=REPO / "data" / "sample")
    parser.add_argument("--n", type=int, default=2000, help="test digits (stratified subset)")
    parser.add_argument("--repeats", type=int, default=3)
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


if __name__ == "__main__":
    main()
