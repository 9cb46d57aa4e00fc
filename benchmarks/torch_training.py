"""Training speed of the PyTorch models, with and without augmentation (images per second).

Times the training loop of :func:`mnistlab.models.torch_models.train.train_model` (shuffle, augment,
forward, backward, Adam step) on synthetic 28x28 images, so it needs no prepared data; the speed
does not depend on the pixel values. Prints ``name: value`` lines. Run from the repository root:

    python benchmarks/torch_training.py [--images 6400] [--device cpu]

Uses PyTorch's default number of threads; other processes on the machine slow it down.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mnistlab.data.prepare import Split
from mnistlab.models.torch_models.augment import Augmenter
from mnistlab.models.torch_models.models import MODEL_NAMES, architecture
from mnistlab.models.torch_models.train import TrainSettings, train_model


def synthetic_split(n: int, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28), dtype=np.float32)
    return Split(x=x, y=rng.integers(0, 10, n).astype(np.uint8))


def augment_speed(n_batches: int = 200, batch_size: int = 64) -> float:
    """Images per second of the augmentation alone (rotation + perspective with p=1)."""
    aug, gen = Augmenter(10, 0.2, 1.0), torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 1, 28, 28)
    aug(x, gen)
    start = time.perf_counter()
    for _ in range(n_batches):
        aug(x, gen)
    return n_batches * batch_size / (time.perf_counter() - start)


def training_speed(model: str, augment: bool, n_images: int, device: str) -> float:
    """Training images per second of one epoch over ``n_images`` (evaluation excluded)."""
    settings = TrainSettings(model=model, sizes=architecture(model), epochs=1, device=device,
                             augment=Augmenter(10, 0.2, 0.5, enabled=augment))
    result = train_model(settings, synthetic_split(n_images), synthetic_split(64, 1))
    return result.metrics["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6400, help="training images per timed epoch")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args()
    print(f"torch_threads: {torch.get_num_threads()}")
    print(f"augment_images_per_second: {augment_speed():.0f}")
    training_speed("cnn", False, 640, args.device)  # warm-up
    for model in MODEL_NAMES:
        for augment in (False, True) if model == "cnn" else (False,):
            label = f"{model}_{'augmented' if augment else 'plain'}"
            speed = training_speed(model, augment, args.images, args.device)
            print(f"{label}_train_images_per_second: {speed:.0f}")


if __name__ == "__main__":
    main()
