"""Benchmark: Gabor feature extraction, batched (torch conv2d) against a per-image scipy loop.

Reads the 19,690 training + 10,000 test images of ../shared/data/mnist-subset (or ``--data``),
fits :class:`mnistlab.features.gabor.GaborFeatures` with the ``gabor`` settings of params.yaml on the
training images (untimed), then times ``transform`` of all 29,690 images (best of ``--repeats``),
and a straightforward loop over a slice of images that computes the same features one image and
one filter at a time with ``scipy.ndimage.convolve`` (checked equal to the batched ones).
Prints exactly three lines::

    images_per_second: N
    loop_images_per_second: M
    speedup: R

Run from the repository root: ``python benchmarks/gabor_features.py``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.params import load_params
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import downsample, scale
from mnistlab.features.gabor import GaborFeatures

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "mnist-subset"


def load_images(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training and test images of an MNIST-layout folder, float32 (N, 28, 28) in [0, 1]."""
    train, _ = read_pair(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    test, _ = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    return scale(train), scale(test)


def loop_features(images: np.ndarray, features: GaborFeatures) -> np.ndarray:
    """The fitted transformer's features, one image and one filter at a time (the naive way)."""
    stride, window = features.stride, features.pool // features.stride
    rows = []
    for image in downsample(images, IMAGE_SIZE // features.resolution):
        pooled = []
        for kernel in features.bank_.kernels:
            # convolve with the flipped kernel = correlate with the kernel, as conv2d does
            real = ndimage.convolve(image, kernel.real[::-1, ::-1].astype(np.float32), mode="constant")
            imag = ndimage.convolve(image, kernel.imag[::-1, ::-1].astype(np.float32), mode="constant")
            modulus = np.hypot(real, imag)[::stride, ::stride]
            cells = -(-len(modulus) // window)
            padded = np.full((cells * window, cells * window), np.nan, np.float32)
            padded[: len(modulus), : len(modulus)] = modulus
            pooled.append(np.nanmean(padded.reshape(cells, window, cells, window), axis=(1, 3)).ravel())
        raw = np.concatenate(pooled)
        if features.mean_ is not None:
            raw = (raw - features.mean_) / features.scale_
        if features.components_ is not None:
            raw = (raw - features.pca_mean_) @ features.components_.T
        rows.append(raw)
    return np.array(rows, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SUBSET, help="folder of the four MNIST IDX files")
    parser.add_argument("--params", type=Path, default=REPO / "params.yaml")
    parser.add_argument("--loop-images", type=int, default=300, help="images timed in the loop")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    train, test = load_images(args.data)
    images = np.concatenate([train, test])
    features = GaborFeatures.from_params(load_params(args.params).gabor).fit(train)
    features.transform(images[:2048])  # warm up torch's kernels

    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        batched = features.transform(images)
        best = min(best, time.perf_counter() - start)

    sample = images[: args.loop_images]
    start = time.perf_counter()
    looped = loop_features(sample, features)
    loop_seconds = time.perf_counter() - start
    np.testing.assert_allclose(looped, batched[: len(sample)], rtol=1e-3, atol=1e-3)

    rate, loop_rate = len(images) / best, len(sample) / loop_seconds
    print(f"images_per_second: {rate:.0f}")
    print(f"loop_images_per_second: {loop_rate:.0f}")
    print(f"speedup: {rate / loop_rate:.1f}")


if __name__ == "__main__":
    main()
