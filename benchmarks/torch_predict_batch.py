"""Benchmark: prediction speed of every trained PyTorch model against the forward-pass batch size.

Loads each ``models/torch_*.pt`` and predicts the first ``--n`` prepared test images with
``TorchPredictor.logits(batch_size=B)`` for each B, after one warm-up call. The predictor's default
per device is ``mnistlab.models.torch_models.predictor.PREDICT_BATCH``.

Usage: python benchmarks/torch_predict_batch.py [--models models] [--test data/prepared/test.npz]
       [--n 8192] [--batch 256 512 2048 8192]
Threads: set ``MNISTLAB_THREADS`` (default: every core).

Prints ``images_per_second: <model> <batch> <value>`` lines.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnistlab.core.io import read_split
from mnistlab.core.runtime import limit_threads
from mnistlab.models.registry import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models")
    parser.add_argument("--test", default="data/prepared/test.npz")
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--batch", type=int, nargs="+", default=[256, 512, 2048, 8192])
    args = parser.parse_args()
    limit_threads()
    x = read_split(args.test).x[: args.n]
    for path in sorted(Path(args.models).glob("torch_*.pt")):
        model = load_model(path)
        model.logits(x[:256])  # warm-up
        for batch in args.batch:
            start = time.perf_counter()
            model.logits(x, batch_size=batch)
            print(f"images_per_second: {path.stem} {batch} {len(x) / (time.perf_counter() - start):.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
