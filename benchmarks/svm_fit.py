"""Benchmark: fitting the exact RBF SVM, libsvm's multi-class ``SVC`` against ``BlasSVC``.

``BlasSVC`` hands libsvm the same one-vs-one binary problems that ``SVC`` solves one after
another, on every BLAS thread (``MNISTLAB_THREADS`` limits them), and assembles the same model.
This script fits both on the pixel SVM's input (the first ``--train-size`` training images of an
MNIST-layout folder, scaled to [0, 1], deskewed, mean-pooled to 14x14; ``svm.C`` and ``svm.gamma``
of params.yaml), times each fit, and checks that the support vectors, dual coefficients and
intercepts are bit-identical. Prints::

    n_train: N
    n_support_vectors: S
    libsvm_fit_seconds: A
    blas_fit_seconds: B
    speedup: A/B
    identical: true|false

Usage: python benchmarks/svm_fit.py [FOLDER] [--train-size N]
  e.g. python benchmarks/svm_fit.py /usr/share/datasets/fashion-mnist --train-size 54000
FOLDER defaults to ../shared/data/mnist-subset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.svm import SVC

from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew, downsample, scale
from mnistlab.params import load_params
from mnistlab.runtime import limit_threads
from mnistlab.svm import resolve_gamma
from mnistlab.svm_kernel import BlasSVC

REPO = Path(__file__).resolve().parents[1]
SUBSET = REPO.parent / "shared" / "data" / "mnist-subset"
FITTED = ("support_", "_n_support", "_dual_coef_", "_intercept_", "n_iter_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=SUBSET)
    parser.add_argument("--train-size", type=int, default=None, help="first N training images (default: all)")
    args = parser.parse_args()
    limit_threads()
    images, labels = read_pair(args.folder / "train-images-idx3-ubyte.gz",
                               args.folder / "train-labels-idx1-ubyte.gz")
    images, labels = images[: args.train_size], labels[: args.train_size]
    x = downsample(deskew(scale(images))).reshape(len(images), -1).astype(np.float64)
    svm = load_params(REPO / "params.yaml").svm
    gamma = resolve_gamma(svm.gamma, x)
    fitted, seconds = {}, {}
    for name, model in (("libsvm", SVC(C=svm.C, gamma=gamma)), ("blas", BlasSVC(C=svm.C, gamma=gamma))):
        start = time.perf_counter()
        fitted[name] = model.fit(x, labels)
        seconds[name] = time.perf_counter() - start
    identical = all(np.array_equal(getattr(fitted["libsvm"], a), getattr(fitted["blas"], a)) for a in FITTED)
    print(f"n_train: {len(labels)}")
    print(f"n_support_vectors: {len(fitted['libsvm'].support_)}")
    print(f"libsvm_fit_seconds: {seconds['libsvm']:.1f}")
    print(f"blas_fit_seconds: {seconds['blas']:.1f}")
    print(f"speedup: {seconds['libsvm'] / seconds['blas']:.2f}")
    print(f"identical: {str(identical).lower()}")


if __name__ == "__main__":
    main()
