"""Gabor filter-bank features: kernels, a bank from ``gabor.*`` params, batched extraction.

A complex Gabor filter is a Gaussian envelope times a complex sinusoid; its real (even) and
imaginary (odd) parts form a quadrature pair, and the modulus of the complex response is a
phase-invariant measure of local oriented energy at one spatial frequency (Daugman 1985, "Uncertainty
relation for resolution in space, spatial frequency, and orientation optimized by two-dimensional
visual cortical filters", JOSA A 2(7); Movellan, "Tutorial on Gabor filters", UCSD MPLab 2002).

The feature pipeline (:class:`GaborFeatures`) for images of shape (N, 28, 28) or (N, 784), pixel
values in [0, 1] (checked by :func:`mnistlab.features.pixels.check_images`, as for the pixel SVM):

1. optional 2x2 mean pooling to 14x14 (``gabor.resolution``);
2. correlation with the 2F real kernels (real and imaginary parts of F complex filters) in one
   ``torch.nn.functional.conv2d`` call per batch of images, zero padding, sampled every
   ``gabor.stride`` pixels;
3. response modulus ``sqrt(re**2 + im**2)``;
4. average pooling over ``gabor.pool`` x ``gabor.pool`` pixel windows -> F x c x c numbers;
5. optional standardisation and PCA (exact, by eigendecomposition of the covariance), both
   fitted on the training images only.

The modulus is a smooth envelope (its spectrum is that of the complex response shifted to zero
frequency, of width about 1 / sigma), so sampling it every 2 pixels before pooling changes the
pooled features little while cutting the convolution cost fourfold.

The defaults in params.yaml (6 orientations x 0.1, 0.2, 0.3, 0.4 cycles/pixel, one-octave
bandwidth, pooling 4, 150 PCA components, no standardisation) were chosen on the validation split,
never on test images (frequencies, pooling and PCA size by ``mnistlab tune``, reports/tuning). The convolution
and pooling live in :mod:`mnistlab.features.filters`, the PCA in :mod:`mnistlab.features.pca`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import ValidationError
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.errors import InputError, MnistlabError
from mnistlab.core.io import dump_skops, load_skops
from mnistlab.core.params import GaborParams, describe_errors
from mnistlab.data.prepare import downsample
from mnistlab.features.filters import extract_features
from mnistlab.features.pca import fit_pca, project
from mnistlab.features.pixels import N_PIXELS, check_images, image_tags

#: The types of a saved :class:`GaborFeatures` beyond skops's default-trusted ones.
TRUSTED_TYPES = ["mnistlab.features.gabor.FilterBank", "mnistlab.features.gabor.GaborFeatures"]


def sigma_from_bandwidth(frequency: float, bandwidth: float = 1.0) -> float:
    """Envelope standard deviation (pixels) of a Gabor filter with a given octave bandwidth.

    ``sigma = (1 / pi) * sqrt(ln 2 / 2) * (2**b + 1) / (2**b - 1) / frequency``, the half-magnitude
    frequency bandwidth ``b`` in octaves (Movellan 2002, eq. for the half-peak bandwidth; the same
    rule as ``skimage.filters.gabor_kernel``'s ``bandwidth`` argument). ``b = 1`` gives
    ``sigma = 0.562 / frequency``.

    Parameters
    ----------
    frequency : float
        Cycles per pixel, > 0.
    bandwidth : float
        Octaves, > 0.

    Returns
    -------
    float
        Sigma in pixels.
    """
    prefactor = math.sqrt(math.log(2) / 2) / math.pi * (2**bandwidth + 1) / (2**bandwidth - 1)
    return prefactor / frequency


def gabor_kernel(
    frequency: float, theta: float, sigma: float, size: int, offset: float = 0.0
) -> np.ndarray:
    """Complex 2-D Gabor kernel with an isotropic Gaussian envelope, sampled on a size x size grid.

    ``g(x, y) = 1 / (2 pi sigma**2) * exp(-(x**2 + y**2) / (2 sigma**2))
    * exp(i (2 pi frequency x' + offset))``, with ``x' = x cos(theta) + y sin(theta)``, where ``x``
    is the column offset and ``y`` the row offset (downwards) from the centre pixel. This is the
    formula of ``skimage.filters.gabor_kernel`` with ``sigma_x = sigma_y = sigma``
    (https://en.wikipedia.org/wiki/Gabor_filter), but with an explicit kernel size instead of
    ``n_stds`` standard deviations; its real and imaginary parts are the even (cosine) and odd
    (sine) filters of a quadrature pair.

    Parameters
    ----------
    frequency : float
        Frequency of the carrier in cycles per pixel (wavelength ``1 / frequency`` pixels), > 0.
    theta : float
        Orientation of the carrier's wave vector in radians; 0 varies along columns (stripes are
        vertical), pi/2 along rows (stripes are horizontal).
    sigma : float
        Standard deviation of the Gaussian envelope in pixels, > 0.
    size : int
        Side of the square kernel in pixels, odd.
    offset : float
        Phase of the carrier at the centre, radians.

    Returns
    -------
    ndarray of shape (size, size), complex128

    Raises
    ------
    ValueError
        If ``size`` is not a positive odd integer or ``frequency``/``sigma`` is not positive.
    """
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd integer, got {size}")
    if frequency <= 0 or sigma <= 0:
        raise ValueError(f"frequency and sigma must be positive, got {frequency} and {sigma}")
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    rot_x = x * math.cos(theta) + y * math.sin(theta)
    envelope = np.exp(-(x**2 + y**2) / (2.0 * sigma**2)) / (2.0 * math.pi * sigma**2)
    return envelope * np.exp(1j * (2.0 * math.pi * frequency * rot_x + offset))


class FilterBank(NamedTuple):
    """Complex Gabor filters, frequency-major then orientation.

    Attributes
    ----------
    kernels : ndarray of shape (F, size, size), complex128
    thetas : ndarray of shape (F,), radians
    frequencies : ndarray of shape (F,), cycles per pixel
    sigmas : ndarray of shape (F,), pixels
    """

    kernels: np.ndarray
    thetas: np.ndarray
    frequencies: np.ndarray
    sigmas: np.ndarray


def make_bank(
    orientations: int,
    frequencies: list[float] | tuple[float, ...],
    size: int,
    sigma: float | None = None,
    bandwidth: float = 1.0,
) -> FilterBank:
    """Build ``orientations * len(frequencies)`` complex Gabor kernels.

    Orientations are ``theta_k = k * pi / orientations``, k = 0 .. orientations - 1 (the modulus of
    a complex filter at ``theta + pi`` equals that at ``theta``, so [0, pi) covers every direction).

    Parameters
    ----------
    orientations : int
        Number of evenly spaced orientations, >= 1.
    frequencies : sequence of float
        Carrier frequencies in cycles per pixel.
    size : int
        Kernel side in pixels, odd.
    sigma : float or None
        Envelope standard deviation in pixels for every filter; ``None`` derives it per
        frequency from ``bandwidth`` (:func:`sigma_from_bandwidth`).
    bandwidth : float
        Octaves; used only when ``sigma`` is ``None``.

    Returns
    -------
    FilterBank
    """
    thetas, freqs, sigmas, kernels = [], [], [], []
    for frequency in frequencies:
        s = sigma if sigma is not None else sigma_from_bandwidth(frequency, bandwidth)
        for k in range(orientations):
            theta = k * math.pi / orientations
            kernels.append(gabor_kernel(frequency, theta, s, size))
            thetas.append(theta)
            freqs.append(frequency)
            sigmas.append(s)
    return FilterBank(np.array(kernels), np.array(thetas), np.array(freqs), np.array(sigmas))


def _at_resolution(images: np.ndarray, resolution: int) -> np.ndarray:
    """The (N, 28, 28) images mean-pooled to ``resolution`` pixels a side (unchanged at 28)."""
    return images if resolution == IMAGE_SIZE else downsample(images, IMAGE_SIZE // resolution)


class GaborFeatures(TransformerMixin, BaseEstimator):
    """Scikit-learn transformer: images -> pooled Gabor moduli -> optional z-score -> optional PCA.

    Parameters mirror the ``gabor`` section of params.yaml (:class:`mnistlab.core.params.GaborParams`,
    which documents units and ranges); build one from it with :meth:`from_params`. Works inside a
    ``sklearn.pipeline.Pipeline`` in front of a classifier and saves with skops
    (:func:`save_transformer`). Follows scikit-learn's estimator rules except for the fixed 28x28
    input (tests/test_sklearn_rules.py): bad settings and bad images raise
    :class:`mnistlab.core.errors.InputError`, a ``ValueError``.

    Attributes
    ----------
    n_features_in_ : int
        784, the pixels of a flattened 28x28 image.
    bank_ : FilterBank
        The complex filters (``bank_.kernels`` of shape (F, kernel_size, kernel_size)).
    n_raw_features_ : int
        ``F * c * c`` pooled moduli per image, before PCA.
    mean_, scale_ : ndarray of shape (n_raw_features_,), float32, or None
        Training mean and standard deviation (zero stds replaced by 1) when ``standardize``.
    pca_mean_ : ndarray of shape (n_raw_features_,), float32, or None
        Mean of the (standardised) training features, when ``pca_components`` is set.
    components_ : ndarray of shape (pca_components, n_raw_features_), float32, or None
        Principal axes, by decreasing variance (:func:`fit_pca`).
    explained_variance_ : ndarray of shape (pca_components,), float64, or None
        Training variance along each axis.
    n_features_out_ : int
        Columns of :meth:`transform`'s output.
    """

    def __init__(
        self,
        orientations: int = 6,
        frequencies: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4),
        bandwidth: float = 1.0,
        sigma: float | None = None,
        resolution: int = 28,
        kernel_size: int = 13,
        stride: int = 2,
        pool: int = 4,
        standardize: bool = False,
        pca_components: int | None = 150,
        batch_size: int = 4096,
    ):
        self.orientations = orientations
        self.frequencies = frequencies
        self.bandwidth = bandwidth
        self.sigma = sigma
        self.resolution = resolution
        self.kernel_size = kernel_size
        self.stride = stride
        self.pool = pool
        self.standardize = standardize
        self.pca_components = pca_components
        self.batch_size = batch_size

    @classmethod
    def from_params(cls, params: GaborParams, batch_size: int = 4096) -> GaborFeatures:
        """A transformer with the settings of a validated ``gabor`` params section."""
        return cls(**params.model_dump(), batch_size=batch_size)

    def __sklearn_tags__(self) -> Tags:
        return image_tags(super().__sklearn_tags__())

    def _checked_params(self) -> GaborParams:
        """Validate the constructor arguments with :class:`GaborParams`; errors name the gabor key.

        Raises
        ------
        InputError
            One line naming the first bad ``gabor.*`` key.
        """
        values = {key: value for key, value in self.get_params().items() if key != "batch_size"}
        try:
            return GaborParams(**values)
        except ValidationError as err:
            raise InputError(describe_errors(err.errors()[:1], prefix="gabor")) from None

    def _raw_features(self, images: np.ndarray) -> np.ndarray:
        """Pooled moduli (N, n_raw_features_) float32 of checked float32 (N, 28, 28) images."""
        x = _at_resolution(images, self.resolution)
        return extract_features(x, self.bank_.kernels, self.stride, self.pool, self.batch_size)

    def _standardized(self, raw: np.ndarray) -> np.ndarray:
        return raw if self.mean_ is None else (raw - self.mean_) / self.scale_

    def _project(self, raw: np.ndarray) -> np.ndarray:
        out = self._standardized(raw)
        if self.components_ is not None:
            out = project(out, self.pca_mean_, self.components_)
        return out.astype(np.float32, copy=False)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """Fit on training images and return their features (computed once).

        Parameters
        ----------
        X : array-like of shape (N, 28, 28) or (N, 784), values in [0, 1], N >= 1
        y : ignored

        Returns
        -------
        ndarray of shape (N, n_features_out_), float32

        Raises
        ------
        InputError
            Bad settings (naming the ``gabor.*`` key), images that
            :func:`mnistlab.features.pixels.check_images` refuses (no images, wrong shape, NaN,
            infinity, values outside [0, 1], ...), or fewer training images than
            ``pca_components``; all checked before any feature is computed.
        """
        params = self._checked_params()
        images = check_images(X, "images given to GaborFeatures.fit", allow_empty=False)
        if params.pca_components is not None and params.pca_components > len(images):
            raise InputError(
                f"gabor.pca_components = {params.pca_components}: above the {len(images)} training images"
            )
        self.bank_ = make_bank(
            params.orientations, params.frequencies, params.kernel_size, params.sigma, params.bandwidth
        )
        self.n_features_in_ = N_PIXELS
        raw = self._raw_features(images)
        self.n_raw_features_ = raw.shape[1]
        self.mean_ = self.scale_ = self.pca_mean_ = self.components_ = self.explained_variance_ = None
        if params.standardize:
            self.mean_ = raw.mean(axis=0)
            std = raw.std(axis=0)
            self.scale_ = np.where(std > 1e-12, std, 1.0).astype(np.float32)
        if params.pca_components is not None:
            self.pca_mean_, self.components_, self.explained_variance_ = fit_pca(
                self._standardized(raw), params.pca_components
            )
        out = self._project(raw)
        self.n_features_out_ = out.shape[1]
        return out

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> GaborFeatures:
        """Fit standardisation and PCA on training images; see :meth:`fit_transform`."""
        self.fit_transform(X, y)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Features of images with the fitted bank, scaler and PCA, in one batched pass.

        Parameters
        ----------
        X : array-like of shape (N, 28, 28) or (N, 784), values in [0, 1]; N = 0 gives (0, n)

        Returns
        -------
        ndarray of shape (N, n_features_out_), float32

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit`.
        InputError
            Images that :func:`mnistlab.features.pixels.check_images` refuses.
        """
        check_is_fitted(self, "bank_")
        raw = self._raw_features(check_images(X, "images given to GaborFeatures.transform"))
        if len(raw) == 0:
            return np.zeros((0, self.n_features_out_), np.float32)
        return self._project(raw)


def save_transformer(path: str | os.PathLike, features: GaborFeatures) -> None:
    """Save a fitted :class:`GaborFeatures` with skops to ``path`` (``.skops``) atomically.

    The file holds only data (JSON and ``.npy`` arrays), the same bytes for the same transformer
    (:func:`mnistlab.core.io.dump_skops`).
    """
    dump_skops(features, path)


def load_transformer(path: str | os.PathLike) -> GaborFeatures:
    """Load a :class:`GaborFeatures` written by :func:`save_transformer`, running no code from it.

    Raises
    ------
    MnistlabError
        If the file is missing (run the gabor stage first), is an old ``.joblib`` pickle (not
        read), holds types outside :data:`TRUSTED_TYPES` (named, nothing built), or
        holds something else.
    """
    path = Path(path)
    if not path.is_file() and path.suffix != ".joblib":
        raise MnistlabError(f"{path}: not found; run `dvc repro gabor` first")
    return load_skops(path, GaborFeatures, "fitted GaborFeatures", trusted=TRUSTED_TYPES)


def load_features(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load the features of one split written by the gabor stage (``data/features/train.npz`` ...).

    Returns
    -------
    x : ndarray of shape (N, n_features), float32
    y : ndarray of shape (N,), uint8

    Raises
    ------
    MnistlabError
        If the file is missing (run the gabor stage first) or does not hold ``x`` and ``y``.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["x"], data["y"]
    except FileNotFoundError:
        raise MnistlabError(f"{path}: not found; run `dvc repro gabor` first") from None
    except (OSError, ValueError, KeyError) as err:
        raise MnistlabError(f"{path}: not a Gabor feature file with arrays x, y ({err})") from None
