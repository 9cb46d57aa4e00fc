"""Support vector machines (scikit-learn) on raw pixels or Gabor features, saved as data (skops).

A trained model is an :class:`SVMModel`: a scikit-learn pipeline from images (N, 28, 28) to class
probabilities: a feature step (:class:`mnistlab.features.pixels.PixelFeatures` or a fitted
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
import sys
import time

import numpy as np
from pydantic import ValidationError
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.kernel_approximation import Nystroem
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, LinearSVC

from mnistlab.core.constants import N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import dump_skops, load_skops
from mnistlab.core.params import GaborParams, describe_errors
from mnistlab.features.pixels import PixelFeatures as PixelFeatures  # re-exported (old import path)
from mnistlab.models.svm_kernel import BlasSVC

#: ``svm.method`` values.
METHODS = ("exact", "nystroem")
#: Types that a model or transformer written by this project holds beyond skops's default-trusted
#: ones, exactly as ``skops.io.get_untrusted_types`` lists them for the saved files
#: (both SVMs of the registry with either method, and ``data/features/gabor.skops``).
TRUSTED_TYPES = [
    "mnistlab.features.gabor.FilterBank",
    "mnistlab.features.gabor.GaborFeatures",
    "mnistlab.features.pixels.PixelFeatures",
    "mnistlab.models.svm.SVMModel",
    "mnistlab.models.svm_kernel.BlasSVC",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


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
    gamma_factor: float = 1.0,
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
    gamma_factor : float
        ``svm.gamma_factor``, > 0: the kernel uses ``gamma_factor`` times the resolved ``gamma``
        (how ``mnistlab tune`` searches one multiple of ``scale`` for both SVMs).

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
    svm = make_svm(method, C, gamma_factor * resolve_gamma(gamma, x_train), n_components, seed, len(y_train))
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


#: SVC kernels that a saved model may use (sklearn.svm.SVC's, less "precomputed" and callables).
KERNELS = ("rbf", "linear", "poly", "sigmoid")
#: Largest ``batch_size`` of saved Gabor features: params.yaml's bound on batch sizes.
MAX_GABOR_BATCH = 65536


def _shape_of(value: object) -> tuple | None:
    """The shape of an ndarray, or None for anything else."""
    return value.shape if isinstance(value, np.ndarray) else None


def _digits_problem(what: str, classes: object) -> str | None:
    """Why ``classes`` (a fitted estimator's ``classes_``) is not the ten digits 0..9, or None."""
    if isinstance(classes, np.ndarray) and classes.shape == (N_CLASSES,) and np.array_equal(
            classes, np.arange(N_CLASSES)):
        return None
    listed = isinstance(classes, np.ndarray) and classes.ndim == 1
    shown = ", ".join(map(str, classes[:12].tolist())) if listed else type(classes).__name__
    return f"{what} has the classes [{shown}], expected the {N_CLASSES} digits 0..{N_CLASSES - 1}"


def _features_problem(features: object) -> tuple[str | None, int]:
    """Why the feature step is not a :class:`PixelFeatures` or fitted Gabor features of 28x28 images
    (or None), and the number of features it gives."""
    if type(features) is PixelFeatures:
        resolution = getattr(features, "resolution", None)
        if resolution not in (14, 28) or isinstance(resolution, bool):
            return f"PixelFeatures resolution = {resolution!r}, expected 14 or 28", 0
        return None, resolution * resolution
    gabor = sys.modules.get("mnistlab.features.gabor")  # imported by skops when the file holds one
    if gabor is None or type(features) is not gabor.GaborFeatures:
        return (f"its feature step is a {type(features).__name__}, expected PixelFeatures or "
                "GaborFeatures"), 0
    try:
        settings = features.get_params()
        params = GaborParams(**{key: value for key, value in settings.items() if key != "batch_size"})
    except ValidationError as err:
        reason = describe_errors(err.errors()[:1], "gabor")
        return f"its GaborFeatures settings are not valid params: {reason}", 0
    except AttributeError as err:  # a setting missing from the saved object
        return f"its GaborFeatures lacks a setting ({err})", 0
    bank = getattr(features, "bank_", None)
    n_filters, side = params.orientations * len(params.frequencies), params.kernel_size
    if not isinstance(bank, gabor.FilterBank) or _shape_of(bank.kernels) != (n_filters, side, side):
        return (f"its Gabor filter bank is not {n_filters} kernels of {side}x{side} pixels, as its settings "
                "declare"), 0
    batch, n_out = getattr(features, "batch_size", None), getattr(features, "n_features_out_", None)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_GABOR_BATCH:
        return f"its GaborFeatures batch_size = {batch!r}, expected an integer from 1 to {MAX_GABOR_BATCH}", 0
    if isinstance(n_out, bool) or not isinstance(n_out, int) or n_out < 1:
        return f"its GaborFeatures n_features_out_ = {n_out!r}, expected a positive integer", 0
    return None, n_out


def _classifier_problem(svm: object, n_features: int) -> str | None:
    """Why the fitted classifier inside the calibration is not an SVC or a Nystroem + LinearSVC
    pipeline for ``n_features`` inputs and the ten digits, or None.

    An SVC's arrays are passed to libsvm's C code, which trusts their shapes: they are checked here.
    """
    if isinstance(svm, SVC):
        if svm.kernel not in KERNELS or getattr(svm, "_sparse", None) is not False:
            return f"its SVC has kernel {svm.kernel!r}, expected one of {', '.join(KERNELS)} on dense inputs"
        if problem := _digits_problem("its SVC", getattr(svm, "classes_", None)):
            return problem
        vectors, n_support = getattr(svm, "support_vectors_", None), getattr(svm, "_n_support", None)
        if _shape_of(vectors) is None or vectors.ndim != 2 or vectors.shape[1] != n_features:
            return (f"its SVC's support vectors have shape {_shape_of(vectors)}, expected (n, {n_features}) "
                    "for its feature step")
        n_sv, n_pairs = vectors.shape[0], N_CLASSES * (N_CLASSES - 1) // 2
        expected = {"_n_support": (N_CLASSES,), "support_": (n_sv,), "dual_coef_": (N_CLASSES - 1, n_sv),
                    "_dual_coef_": (N_CLASSES - 1, n_sv), "intercept_": (n_pairs,), "_intercept_": (n_pairs,)}
        for name, shape in expected.items():
            if _shape_of(getattr(svm, name, None)) != shape:
                return (f"its SVC's {name} has shape {_shape_of(getattr(svm, name, None))}, expected {shape} "
                        f"for {n_sv} support vectors and {N_CLASSES} classes")
        if int(np.sum(n_support)) != n_sv or np.min(n_support) < 0:
            return f"its SVC counts {int(np.sum(n_support))} support vectors, but holds {n_sv}"
        for name in ("_probA", "_probB"):
            if _shape_of(getattr(svm, name, None)) not in ((0,), (n_pairs,)):
                return (f"its SVC's {name} has shape {_shape_of(getattr(svm, name, None))}, expected (0,) or "
                        f"({n_pairs},)")
        return None
    steps = getattr(svm, "steps", None) if isinstance(svm, Pipeline) else None
    if (not isinstance(steps, list) or len(steps) != 2 or not isinstance(steps[0], tuple)
            or not isinstance(steps[1], tuple) or not isinstance(steps[0][-1], Nystroem)
            or not isinstance(steps[1][-1], LinearSVC)):
        return f"its classifier is a {type(svm).__name__}, expected an SVC or a Nystroem + LinearSVC pipeline"
    nystroem, linear = steps[0][-1], steps[1][-1]
    components = _shape_of(getattr(nystroem, "components_", None))
    if components is None or len(components) != 2 or components[1] != n_features:
        return (f"its Nystroem landmarks have shape {components}, expected (n, {n_features}) for its feature "
                "step")
    if problem := _digits_problem("its LinearSVC", getattr(linear, "classes_", None)):
        return problem
    if _shape_of(getattr(linear, "coef_", None)) != (N_CLASSES, components[0]):
        return (f"its LinearSVC weights have shape {_shape_of(getattr(linear, 'coef_', None))}, expected "
                f"({N_CLASSES}, {components[0]})")
    return None


def model_problem(model: SVMModel) -> str | None:
    """Why a loaded :class:`SVMModel` is not a pipeline from 28x28 images to the ten digits, or None.

    Checks the types and shapes that predicting relies on (nothing is computed): the pipeline's two
    steps, the feature step (:class:`PixelFeatures` at 14 or 28 pixels, or fitted Gabor features whose
    settings are valid ``gabor`` params), the calibrated classifier's classes (exactly 0..9), and
    each fitted SVM behind it (:func:`_classifier_problem`).
    """
    pipeline = getattr(model, "pipeline", None)
    steps = getattr(pipeline, "steps", None) if isinstance(pipeline, Pipeline) else None
    if (not isinstance(steps, list) or len(steps) != 2
            or not all(isinstance(step, tuple) and len(step) == 2 for step in steps)):
        return (f"its pipeline is a {type(pipeline).__name__}, expected a scikit-learn Pipeline of a feature "
                "step then a calibrated classifier")
    (_, features), (_, classifier) = steps
    problem, n_features = _features_problem(features)
    if problem:
        return problem
    if not isinstance(classifier, CalibratedClassifierCV):
        return f"its classifier is a {type(classifier).__name__}, expected a CalibratedClassifierCV"
    if problem := _digits_problem("its classifier", getattr(classifier, "classes_", None)):
        return problem
    calibrated = getattr(classifier, "calibrated_classifiers_", None)
    if not isinstance(calibrated, list) or not calibrated:
        return "its classifier is not calibrated (no calibrated_classifiers_), expected a fitted calibration"
    frozen = [classifier.estimator, *(getattr(c, "estimator", None) for c in calibrated)]
    for estimator in frozen:
        if not isinstance(estimator, FrozenEstimator):
            return f"its calibration wraps a {type(estimator).__name__}, expected a FrozenEstimator"
        if problem := _classifier_problem(getattr(estimator, "estimator", None), n_features):
            return problem
    for c in calibrated:
        calibrators = getattr(c, "calibrators", None)
        if not isinstance(calibrators, list) or len(calibrators) != N_CLASSES:
            count = len(calibrators) if isinstance(calibrators, list) else type(calibrators).__name__
            return f"its calibration has {count} sigmoids, expected one per digit ({N_CLASSES})"
    return None


def load_svm(path: str | os.PathLike) -> SVMModel:
    """Load a model saved by :func:`save_svm` without running code from the file, and check it.

    Raises
    ------
    MnistlabError
        One line naming the file: see :func:`load_skops` (a missing, damaged or too large file, or
        one holding untrusted types), or a model that does not map 28x28 images to the ten digits
        (:func:`model_problem`: wrong types, classes other than 0..9, inconsistent shapes).
    """
    model = load_skops(path, SVMModel, "mnistlab SVM model", trusted=TRUSTED_TYPES)
    if problem := model_problem(model):
        raise MnistlabError(f"{path}: not a usable mnistlab SVM model: {problem}")
    return model
