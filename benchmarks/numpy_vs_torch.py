"""Speed of the NumPy network against the same network in PyTorch (CPU).

Trains a 784-512-10 ReLU MLP for one epoch with Adam, float32, the same batch size, on the same
data (the prepared training split; synthetic digits-shaped noise when it is missing), once in
NumPy (``mnistlab.nn.train.train_one_epoch``) and once in PyTorch, alternating the two for
``--repeats`` rounds, and prints the medians::

    numpy_seconds: a
    torch_seconds: b
    ratio: a/b

Goal: ratio <= 1.15. Both loops read the loss of every batch (the NumPy loop checks it for
divergence; the PyTorch loop calls ``loss.item()``). Threads: library defaults of both.

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
import torch.nn.functional as F

from mnistlab.data.prepare import load_split
from mnistlab.nn.losses import SoftmaxCrossEntropy
from mnistlab.nn.model import build_mlp
from mnistlab.nn.optim import Adam
from mnistlab.nn.train import train_one_epoch
from mnistlab.params import load_params


def load_data(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """Training images (N, 784) float32 and labels (N,) int64; random ones if ``folder`` is missing."""
    if (Path(folder) / "train.npz").is_file():
        split = load_split(folder / "train.npz")
        return split.x.reshape(len(split.x), -1), split.y.astype(np.int64)
    print(f"# {folder}/train.npz not found: using 17,721 random images")
    rng = np.random.default_rng(0)
    return rng.random((17721, 784), dtype=np.float32), rng.integers(0, 10, 17721)


def numpy_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, lr: float, seed: int) -> float:
    """Seconds for one NumPy training epoch of a fresh He-initialised network."""
    model = build_mlp([512], init="he", rng=np.random.default_rng(seed))
    optimizer, loss_fn, rng = Adam(model.layers, lr), SoftmaxCrossEntropy(), np.random.default_rng(seed)
    start = time.perf_counter()
    train_one_epoch(model, loss_fn, optimizer, x, y, batch_size, rng)
    return time.perf_counter() - start


def torch_epoch(x: np.ndarray, y: np.ndarray, batch_size: int, lr: float, seed: int) -> float:
    """Seconds for one PyTorch training epoch of a fresh ``nn.Sequential`` of the same shape."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(y)))
    model.train()
    start = time.perf_counter()
    for first in range(0, len(y), batch_size):
        idx = order[first : first + batch_size]
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if not np.isfinite(loss.item()):
            raise RuntimeError("torch run diverged")
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
