"""Support vector machines (scikit-learn) on raw pixels or Gabor features, saved as data (skops).

A trained model is an :class:`SVMModel`: a scikit-learn pipeline from images (N, 28, 28) to class
probabilities: a feature step (:class:`PixelFeatures` or a fitted
``mnistlab.features.gabor.GaborFeatures``), then the classifier wrapped in a sigmoid calibration
fitted on the validation split (Platt scaling, Platt 1999, "Probabilistic outputs for support vector
machines"), so that log loss is defined. The classifier (``svm.method``) is either

- ``exact``: ``sklearn.svm.SVC`` with an RBF kernel (libsvm; fit time grows roughly with the
  square of the training images), or
- ``nystroem``: the RBF kernel approximated by ``svm.n_components`` Nystroem features
  (``sklearn.kernel_approximation.Nystroem``; Williams and Seeger 2001, "Using the Nystroem method
  to speed up kernel machines") followed by a linear SVM (``sklearn.svm.LinearSVC``: squared
  hinge loss, one-vs-rest, liblinear's primal solver), linear in the training images, so hundreds
  of thousands of images stay trainable.

Models are saved with skops (``models/svm_<features>.skops``), a zip of JSON and ``.npy`` arrays:
loading builds only the types in :data:`TRUSTED_TYPES` (and skops's own safe defaults: builtins,
NumPy, scikit-learn estimators), never unpickles, and refuses any other type by name. Files of
older versions (``.joblib`` pickles, which run code when loaded) are refused unread.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, LinearSVC

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import dump_skops, load_skops
from mnistlab.data.prepare import downsample
from mnistlab.models.svm_kernel import BlasSVC

#: ``svm.method`` values.
METHODS = ("exact", "nystroem")
#: Types that a model or transformer written by this project holds beyond skops's default-trusted
#: ones, exactly as ``skops.io.get_untrusted_types`` lists them for the saved files
#: (both SVMs of the registry with either method, and ``data/features/gabor.skops``).
TRUSTED_TYPES = [
    "mnistlab.features.gabor.FilterBank",
    "mnistlab.features.gabor.GaborFeatures",
    "mnistlab.models.svm.PixelFeatures",
    "mnistlab.models.svm.SVMModel",
    "mnistlab.models.svm_kernel.BlasSVC",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


class PixelFeatures(TransformerMixin, BaseEstimator):
    """Flatten images to pixel vectors, optionally 2x2 mean-pooled to 14x14 first.

    Parameters
    ----------
    resolution : {14, 28}
        Side of the images fed to the SVM, pixels.
    """

    def __init__(self, resolution: int = 14):
        self.resolution = resolution

    def fit(self, images: np.ndarray, y: np.ndarray | None = None) -> PixelFeatures:
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 -> (N, resolution**2) float32."""
        images = np.asarray(images, dtype=np.float32)
        if self.resolution != images.shape[-1]:
            images = downsample(images, images.shape[-1] // self.resolution)
        return images.reshape(len(images), -1)


class SVMModel:
    """A fitted feature pipeline + calibrated SVM, with the predictor interface.

    Parameters
    ----------
    features : transformer
        Fitted; maps images (N, 28, 28) float32 to feature vectors (N, n_features).
    classifier : CalibratedClassifierCV
        Fitted by :func:`fit_svm` on those features.
    """

    def __init__(self, features, classifier: CalibratedClassifierCV):
        self.pipeline = Pipeline([("features", features), ("classifier", classifier)])

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, ndarray of shape (N, 10), for images of shape (N, 28, 28)."""
        return self.pipeline.predict_proba(images)

    @property
    def svm(self) -> SVC | Pipeline:
        """The uncalibrated classifier: an ``SVC``, or a ``Nystroem`` + ``LinearSVC`` pipeline."""
        return self.pipeline[-1].estimator.estimator

    @property
    def n_params(self) -> int:
        """Fitted numbers: support vectors, dual coefficients and intercepts (exact), or Nystroem
        landmarks, normalisation matrix, weights and intercepts (nystroem); plus the calibration's
        two sigmoid parameters per class."""
        svm = self.svm
        n_classes = len(svm.classes_)
        if isinstance(svm, SVC):
            arrays = (svm.support_vectors_, svm.dual_coef_, svm.intercept_)
        else:
            nystroem, linear = svm[0], svm[-1]
            arrays = (nystroem.components_, nystroem.normalization_, linear.coef_, linear.intercept_)
        return int(sum(a.size for a in arrays) + 2 * n_classes)


def resolve_gamma(gamma: str | float, x: np.ndarray) -> float:
    """The RBF coefficient as ``SVC`` computes it: ``scale`` is 1 / (n_features * x.var()),
    ``auto`` is 1 / n_features, a number is itself (1/feature units squared)."""
    if gamma == "scale":
        variance = float(np.var(x, dtype=np.float64))
        return 1.0 / (x.shape[1] * variance) if variance > 0 else 1.0
    if gamma == "auto":
        return 1.0 / x.shape[1]
    return float(gamma)


def make_svm(method: str, C: float, gamma: float, n_components: int = 1000, seed: int = 0,
             n_train: int | None = None) -> SVC | Pipeline:
    """An unfitted classifier for ``svm.method``.

    Parameters
    ----------
    method : {"exact", "nystroem"}
    C : float
        Regularisation, > 0 (the weight of the hinge losses in both methods).
    gamma : float
        RBF coefficient, > 0 (see :func:`resolve_gamma`).
    n_components : int
        Nystroem landmarks (``svm.n_components``); capped at ``n_train`` when given.
    seed : int
        Picks the Nystroem landmarks.

    Raises
    ------
    MnistlabError
        For an unknown ``method``.
    """
    if method == "exact":  # fitted by libsvm; decision function with BLAS (mnistlab.models.svm_kernel)
        return BlasSVC(C=C, gamma=gamma, kernel="rbf")
    if method == "nystroem":
        n_components = min(n_components, n_train) if n_train else n_components
        return Pipeline([
            ("nystroem", Nystroem(kernel="rbf", gamma=gamma, n_components=n_components, random_state=seed)),
            ("linear", LinearSVC(C=C, dual=False, max_iter=2000)),
        ])
    raise MnistlabError(f"svm.method = {method!r}: expected one of {', '.join(METHODS)}")


def fit_svm(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    C: float,
    gamma: str | float,
    method: str = "exact",
    n_components: int = 1000,
    seed: int = 0,
) -> tuple[CalibratedClassifierCV, dict]:
    """Fit an RBF SVM on feature vectors and calibrate its probabilities on the validation split.

    Parameters
    ----------
    x_train, x_val : ndarray of shape (n_samples, n_features), float32
    y_train, y_val : ndarray of shape (n_samples,), uint8
    C : float
        Regularisation (``svm.C``), > 0.
    gamma : {"scale", "auto"} or float
        RBF kernel coefficient (``svm.gamma``), 1/feature units squared; the strings mean what
        they mean for ``SVC`` in both methods (:func:`resolve_gamma` on the training features).
    method : {"exact", "nystroem"}
        ``svm.method``: libsvm's exact kernel SVM, or Nystroem features + a linear SVM.
    n_components : int
        ``svm.n_components``: Nystroem landmarks (ignored by ``exact``).
    seed : int
        Randomness of the Nystroem landmarks.

    Returns
    -------
    classifier : CalibratedClassifierCV
        The frozen classifier with a sigmoid calibration per class.
    metrics : dict
        ``val_accuracy`` (of the uncalibrated decision), ``train_seconds`` (fit and calibration,
        s), ``n_train``, and ``n_support_vectors`` (exact) or ``n_components`` (nystroem).

    Raises
    ------
    MnistlabError
        For an unknown ``method``.
    """
    start = time.perf_counter()
    svm = make_svm(method, C, resolve_gamma(gamma, x_train), n_components, seed, len(y_train))
    svm.fit(x_train, y_train)
    classifier = CalibratedClassifierCV(FrozenEstimator(svm), method="sigmoid").fit(x_val, y_val)
    seconds = time.perf_counter() - start
    metrics = {
        "val_accuracy": float(np.mean(svm.predict(x_val) == y_val)),
        "train_seconds": round(seconds, 3),
        "n_train": int(len(y_train)),
    }
    if isinstance(svm, SVC):
        metrics["n_support_vectors"] = int(svm.support_vectors_.shape[0])
    else:
        metrics["n_components"] = int(svm[0].n_components)
    return classifier, metrics


def save_svm(model: SVMModel, path: str | os.PathLike) -> None:
    """Save ``model`` with skops to ``path`` (``models/svm_<features>.skops``), atomically."""
    dump_skops(model, path)


def load_svm(path: str | os.PathLike) -> SVMModel:
    """Load a model saved by :func:`save_svm` without running code from the file.

    Raises
    ------
    MnistlabError
        See :func:`load_skops`.
    """
    return load_skops(path, SVMModel, "mnistlab SVM model", trusted=TRUSTED_TYPES)
