"""Support vector machines (scikit-learn ``SVC``, RBF kernel) on raw pixels or Gabor features.

A trained model is an :class:`SVMModel`: a scikit-learn pipeline from images (N, 28, 28) to class
probabilities: a feature step (:class:`PixelFeatures` or a fitted
``mnistlab.features.gabor.GaborFeatures``), then the SVC wrapped in a sigmoid calibration fitted on
the validation split (Platt scaling, Platt 1999, "Probabilistic outputs for support vector
machines"), so that log loss is defined. Saved with joblib as ``models/svm_<features>.joblib``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from mnistlab.data.prepare import downsample
from mnistlab.errors import MnistlabError
from mnistlab.io import atomic_path


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
    """A fitted feature pipeline + calibrated SVC, with the predictor interface.

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
    def svc(self) -> SVC:
        return self.pipeline[-1].estimator.estimator

    @property
    def n_params(self) -> int:
        """Support vectors, dual coefficients, intercepts and the calibration's sigmoid parameters."""
        svc = self.svc
        n_classes = len(svc.classes_)
        return int(svc.support_vectors_.size + svc.dual_coef_.size + svc.intercept_.size + 2 * n_classes)


def fit_svm(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    C: float,
    gamma: str | float,
) -> tuple[CalibratedClassifierCV, dict]:
    """Fit an RBF ``SVC`` on feature vectors and calibrate its probabilities on the validation split.

    Parameters
    ----------
    x_train, x_val : ndarray of shape (n_samples, n_features), float32
    y_train, y_val : ndarray of shape (n_samples,), uint8
    C : float
        Regularisation (``svm.C``), > 0.
    gamma : {"scale", "auto"} or float
        RBF kernel coefficient (``svm.gamma``), 1/feature units squared.

    Returns
    -------
    classifier : CalibratedClassifierCV
        The frozen SVC with a sigmoid calibration per class.
    metrics : dict
        ``val_accuracy`` (of the SVC's own decision), ``train_seconds`` (fit and calibration, s),
        ``n_support_vectors``, ``n_train``.
    """
    start = time.perf_counter()
    svc = SVC(C=C, gamma=gamma, kernel="rbf").fit(x_train, y_train)
    classifier = CalibratedClassifierCV(FrozenEstimator(svc), method="sigmoid").fit(x_val, y_val)
    seconds = time.perf_counter() - start
    metrics = {
        "val_accuracy": float(np.mean(svc.predict(x_val) == y_val)),
        "train_seconds": round(seconds, 3),
        "n_support_vectors": int(svc.support_vectors_.shape[0]),
        "n_train": int(len(y_train)),
    }
    return classifier, metrics


def save_svm(model: SVMModel, path: str | os.PathLike) -> None:
    """Save ``model`` with joblib to ``path`` (``.joblib``), atomically."""
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp)


def load_svm(path: str | os.PathLike) -> SVMModel:
    """Load a model saved by :func:`save_svm`; raises :class:`MnistlabError` if it is not one."""
    try:
        model = joblib.load(Path(path))
    except Exception as err:  # joblib/pickle raise many kinds for a file that is not theirs
        raise MnistlabError(f"{path}: not a readable joblib model ({type(err).__name__}: {err})") from None
    if not isinstance(model, SVMModel):
        raise MnistlabError(f"{path}: not an mnistlab SVM model (found {type(model).__name__})")
    return model
