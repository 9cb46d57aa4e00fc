"""Speed of the NumPy network against the same network in PyTorch (CPU).

Trains a 784-512-10 ReLU MLP for one epoch with Adam, float32, the same batch size, on the same
data (the prepared training split; synthetic digits-shaped noise when it is missing), once with
the NumPy loop (``mnistlab.nn.train.train_one_epoch``) and once with the library's PyTorch loop
(``mnistlab.models.torch_models.train.train_one_epoch``), alternating the two for ``--repeats`` rounds,
and prints the medians::

    numpy_seconds: a
    torch_seconds: b
    ratio: a/b

Goal: ratio <= 1.15. Each loop does the per-update bookkeeping of its training function: the
NumPy loop checks every batch loss and adds it to the curve window; the PyTorch loop adds the loss
to the window as a tensor and checks it at the end, as a curve point would. Threads: library
defaults of both.

Usage: ``python benchmarks/numpy_vs_torch.py [--data data/prepared] [--batch-size N] [--repeats 5]``
(the batch size and learning rate default to ``mlp.adam`` in params.yaml).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mnistlab.core.curves import CurveLogger, check_finite
from mnistlab.core.io import read_split
from mnistlab.core.params import load_params
from mnistlab.models.torch_models import train as torch_train
from mnistlab.models.torch_models.models import build_model
from mnistlab.models.torch_models.train import shuffled_batches
from mnistlab.nn import train as nn_train
from mnistlab.nn.losses import SoftmaxCrossEntropy
from mnistlab.nn.model import build_mlp
from mnistlab.nn.optim import Adam


def load_data(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """Training images (N, 784) float32 and labels (N,) int64; random ones if ``folder`` is missing."""
    if (Path(folder) / "train.npz").is_file():
        split = read_split(Path(folder) / "train.npz")
        return split.x.reshape(len(split.x), -1), split.y.astype(np.int64)
    print(f"# {folder}/train.npz not found: using 17,721 random images")
    rng = np.random.default_rng(0)
    return rng.random((17721, 784), dtype=np.float32), rng.integers(0, 10, 17721)


def numpy_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, lr: float, seed: int) -> float:
    """Seconds for one NumPy training epoch of a fresh He-initialised network, with the per-update
    bookkeeping of :func:`mnistlab.nn.train.fit` (divergence check, curve window)."""
    model = build_mlp([512], init="he", rng=np.random.default_rng(seed))
    optimizer, loss_fn, rng = Adam(model.layers, lr), SoftmaxCrossEntropy(), np.random.default_rng(seed)
    curves = CurveLogger()

    def on_batch(loss: float, correct: int, n: int) -> None:
        check_finite(loss, "loss", 0, lr, "lr")
        curves.add_batch(loss, correct, n)

    start = time.perf_counter()
    nn_train.train_one_epoch(model, loss_fn, optimizer, x, y, batch_size, rng, on_batch)
    return time.perf_counter() - start


def torch_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, lr: float, seed: int) -> float:
    """Seconds for one epoch of the library's PyTorch loop (:func:`mnistlab.models.torch_models.train.
    train_one_epoch`, with the curve window of ``train_model``) on ``nn.Sequential`` of the same shape."""
    torch.manual_seed(seed)
    model = build_model("mlp", {"hidden_sizes": [512], "dropout": 0.0}, normalize=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    images, labels = torch.from_numpy(x).reshape(-1, 1, 28, 28), torch.from_numpy(y)
    curves = CurveLogger()

    def on_update(logits, target, loss) -> None:
        curves.add_batch(loss, (logits.argmax(1) == target).sum(), len(target))

    start = time.perf_counter()
    batches = shuffled_batches(images, labels, batch_size, torch.Generator().manual_seed(seed))
    torch_train.train_one_epoch(model, batches, optimizer, on_update)
    check_finite(curves.window.metrics()["train/loss"], "train/loss", 0, lr, "lr")
    return time.perf_counter() - start


def main() -> None:
    adam = load_params().mlp.adam
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/prepared", help="folder with train.npz")
    parser.add_argument("--batch-size", type=int, default=adam.batch_size)
    parser.add_argument("--lr", type=float, default=adam.lr)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x, y = load_data(args.data)
    print(f"# {len(y)} images, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    numpy_epoch(x[:2048], y[:2048], args.batch_size, args.lr, 0)  # warm-up both
    torch_epoch(x[:2048], y[:2048], args.batch_size, args.lr, 0)
    times: dict[str, list[float]] = {"numpy": [], "torch": []}
    for r in range(args.repeats):
        times["numpy"].append(numpy_epoch(x, y, args.batch_size, args.lr, r))
        times["torch"].append(torch_epoch(x, y, args.batch_size, args.lr, r))
        print(f"# round {r}: numpy {times['numpy'][-1]:.3f} s, torch {times['torch'][-1]:.3f} s")
    a, b = statistics.median(times["numpy"]), statistics.median(times["torch"])
    print(f"numpy_seconds: {a:.3f}")
    print(f"torch_seconds: {b:.3f}")
    print(f"ratio: {a / b:.3f}")


if __name__ == "__main__":
    main()
