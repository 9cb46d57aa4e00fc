"""Benchmark: the exact RBF SVM, libsvm's multi-class ``SVC`` against ``BlasSVC``.

``BlasSVC`` hands libsvm the same one-vs-one binary problems that ``SVC`` solves one after
another, on every BLAS thread (``MNISTLAB_THREADS`` limits them), and assembles the same model;
it predicts with batched matrix products. This script fits both on the pixel SVM's input (the
first ``--train-size`` training images of an MNIST-layout folder, scaled to [0, 1], deskewed as
the prepare stage would (``prepare.deskew``; ``auto``: by the benchmark the test labels identify),
mean-pooled to ``svm.resolution``; ``svm.C``, ``svm.gamma`` and ``svm.gamma_factor`` of
params.yaml), times each fit and each prediction of the folder's test images, and checks that the
fitted arrays are equal (values exactly; a zero coefficient may differ in sign) and so are the
predicted labels. Prints::

    deskewed: true|false
    n_train: N
    n_support_vectors: S
    libsvm_fit_seconds: A
    blas_fit_seconds: B
    fit_speedup: A/B
    equal_fit: true|false
    n_test: M
    libsvm_predict_seconds: C
    blas_predict_seconds: D
    same_predictions: true|false
    blas_predict_seconds_batch: B D_B      (one line per --predict-batch B: images per kernel block)

Usage: python benchmarks/svm_fit.py [FOLDER] [--train-size N] [--predict-batch B ...]
  e.g. python benchmarks/svm_fit.py /usr/share/datasets/fashion-mnist
FOLDER defaults to ../shared/data/mnist-subset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.svm import SVC

from mnistlab.core.params import load_params
from mnistlab.core.runtime import limit_threads
from mnistlab.data.benchmark import identify_benchmark, resolve_deskew
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew, scale
from mnistlab.features.pixels import PixelFeatures
from mnistlab.models import svm_kernel
from mnistlab.models.svm import resolve_gamma
from mnistlab.models.svm_kernel import BlasSVC

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "mnist-subset"
FITTED = ("support_", "support_vectors_", "_n_support", "_dual_coef_", "_intercept_", "n_iter_",
          "fit_status_")


def pixels(folder: Path, part: str, size: int | None, deskewed: bool, resolution: int):
    """Feature vectors (float64) and labels of the first ``size`` images of ``part`` (train, t10k)."""
    images, labels = read_pair(folder / f"{part}-images-idx3-ubyte.gz",
                               folder / f"{part}-labels-idx1-ubyte.gz")
    images = scale(images[:size])
    images = deskew(images) if deskewed else images
    return PixelFeatures(resolution).transform(images).astype(np.float64), labels[:size]


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=SUBSET)
    parser.add_argument("--train-size", type=int, default=None, help="first N training images (default: all)")
    parser.add_argument("--predict-batch", type=int, nargs="*", default=[],
                        help="also time BlasSVC's prediction with these kernel blocks (svm_kernel.BATCH)")
    args = parser.parse_args()
    limit_threads()
    params = load_params(REPO / "params.yaml")
    test_labels = read_pair(args.folder / "t10k-images-idx3-ubyte.gz",
                            args.folder / "t10k-labels-idx1-ubyte.gz")[1]
    deskewed = resolve_deskew(params.prepare.deskew, identify_benchmark(test_labels, str(args.folder))[0])
    x, y = pixels(args.folder, "train", args.train_size, deskewed, params.svm.resolution)
    test_x, _ = pixels(args.folder, "t10k", None, deskewed, params.svm.resolution)
    gamma = params.svm.gamma_factor * resolve_gamma(params.svm.gamma, x)
    print(f"deskewed: {str(deskewed).lower()}")
    libsvm, libsvm_fit = timed(SVC(C=params.svm.C, gamma=gamma).fit, x, y)
    blas, blas_fit = timed(BlasSVC(C=params.svm.C, gamma=gamma).fit, x, y)
    equal = all(np.array_equal(getattr(libsvm, a), getattr(blas, a)) for a in FITTED)
    libsvm_labels, libsvm_predict = timed(SVC.predict, libsvm, test_x)
    blas_labels, blas_predict = timed(blas.predict, test_x)
    print(f"n_train: {len(y)}")
    print(f"n_support_vectors: {len(libsvm.support_)}")
    print(f"libsvm_fit_seconds: {libsvm_fit:.1f}")
    print(f"blas_fit_seconds: {blas_fit:.1f}")
    print(f"fit_speedup: {libsvm_fit / blas_fit:.2f}")
    print(f"equal_fit: {str(equal).lower()}")
    print(f"n_test: {len(test_x)}")
    print(f"libsvm_predict_seconds: {libsvm_predict:.1f}")
    print(f"blas_predict_seconds: {blas_predict:.1f}")
    print(f"same_predictions: {str(bool(np.array_equal(libsvm_labels, blas_labels))).lower()}")
    default = svm_kernel.BATCH
    for batch in args.predict_batch:
        svm_kernel.BATCH = batch
        labels, seconds = timed(blas.predict, test_x)
        same = np.array_equal(labels, blas_labels)
        print(f"blas_predict_seconds_batch: {batch} {seconds:.1f}{'' if same else ' (other labels)'}")
    svm_kernel.BATCH = default


if __name__ == "__main__":
    main()
