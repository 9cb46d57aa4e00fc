"""Images as scikit-learn input: one check of type, values and shape, and the pixel feature step.

Both feature steps in front of the SVMs (:class:`PixelFeatures` here and
:class:`mnistlab.features.gabor.GaborFeatures`) take the same input, checked by
:func:`check_images`: MNIST images of 28x28 pixels (LeCun, Cortes and Burges, "The MNIST database
of handwritten digits"), as an array of shape (N, 28, 28) or flattened to (N, 784), with pixel
values in [0, 1] (uint8 files divided by 255, as :func:`mnistlab.data.prepare.scale` does).
Anything else raises :class:`mnistlab.core.errors.InputError`, a ``ValueError`` as scikit-learn's
estimator rules ask (``sklearn.utils.estimator_checks.check_estimator``), with one line saying
what was given and what was expected.

The fixed image size is declared to scikit-learn through the estimator tags
(``__sklearn_tags__``: 2-D and 3-D input, values >= 0, float32 out); scikit-learn has no tag for a
fixed number of features, so its checks that fit on a few random columns cannot pass (see
tests/test_sklearn_rules.py for the list and the same checks redone on 28x28 images).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.errors import InputError
from mnistlab.data.prepare import downsample

#: Pixels of one flattened image (28 x 28 = 784): the ``n_features_in_`` of both feature steps.
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
#: The accepted shapes, as messages name them.
EXPECTED = f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}) or (N, {N_PIXELS})"
#: Image sides (pixels) that :class:`PixelFeatures` can feed the SVM: 2x2 mean pooling or none.
RESOLUTIONS = (14, 28)


def _shape_problem(shape: tuple[int, ...]) -> str:
    """What is wrong with an array of ``shape`` as images, with a hint for the usual mistakes."""
    if len(shape) == 2 and shape[1] == 0:  # in scikit-learn's words (check_array)
        return f"0 feature(s) (shape={shape}) while a minimum of {N_PIXELS} is required; expected {EXPECTED}"
    message = f"shape {shape}, expected {EXPECTED}"
    if shape == (IMAGE_SIZE, IMAGE_SIZE):
        message += "; for one image add the leading axis: image[None]"
    elif shape == (N_PIXELS,):
        message += f"; for one flattened image add the leading axis: image.reshape(1, {N_PIXELS})"
    return message


def check_images(images, what: str = "images", allow_empty: bool = True) -> np.ndarray:
    """Check images given to a feature step and return them as float32 (N, 28, 28).

    The checks read the pixels twice (their minimum and maximum, which also reveal NaN and
    infinity) and copy nothing: float32 input comes back as a view (reshaped when flattened);
    other numeric dtypes are converted once, after the checks (objects and strings before them,
    to numbers).

    Parameters
    ----------
    images : array-like of shape (N, 28, 28) or (N, 784)
        Pixel values in [0, 1], any real dtype (bool, integer or float); not sparse.
    what : str
        Names the input in messages, e.g. ``"images given to GaborFeatures.fit"``.
    allow_empty : bool
        Whether N = 0 is accepted (``transform``: yes; ``fit``: no).

    Returns
    -------
    ndarray of shape (N, 28, 28), float32

    Raises
    ------
    InputError
        One line starting with ``what``, in this order: a sparse matrix; complex or non-numeric
        values; any other shape (one (28, 28) image too, which is not 28 images of 28 pixels); no
        images when ``allow_empty`` is false; NaN; infinity; negative values; values above 1
        (0..255 images not divided by 255).
    """
    if sparse.issparse(images):
        raise InputError(f"{what}: a sparse {type(images).__name__}: sparse input is not supported; "
                         f"expected a dense array of shape {EXPECTED}")
    try:
        images = np.asarray(images)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise InputError(f"{what}: not an array of shape {EXPECTED} ({err})") from None
    if images.dtype.kind == "c":  # "Complex data not supported": scikit-learn's words (check_array)
        raise InputError(f"{what}: dtype {images.dtype}: Complex data not supported; "
                         "expected real pixel values in [0, 1]")
    if images.dtype.kind not in "biuf":  # objects, strings: numbers only if they convert
        try:
            images = images.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"{what}: dtype {images.dtype}, not numbers ({err}); "
                             "expected pixel values in [0, 1]") from None
    shape = images.shape
    if images.ndim == 2 and shape[1] == N_PIXELS:
        images = images.reshape(len(images), IMAGE_SIZE, IMAGE_SIZE)
    elif images.ndim != 3 or shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(f"{what}: {_shape_problem(shape)}")
    if not allow_empty and len(images) == 0:
        raise InputError(f"{what}: no images (shape {shape}); at least one is needed")
    if images.size:  # min and max are NaN if any pixel is, +-inf if any is
        low, high = float(images.min()), float(images.max())
        if np.isnan(low) or np.isnan(high):
            count = int(np.count_nonzero(np.isnan(images)))
            raise InputError(f"{what}: {count} NaN pixel value(s); expected finite values in [0, 1]")
        if np.isinf(low) or np.isinf(high):
            count = int(np.count_nonzero(np.isinf(images)))
            raise InputError(f"{what}: {count} infinite (inf) pixel value(s); "
                             "expected finite values in [0, 1]")
        if low < 0:  # "Negative values in data": scikit-learn's words for positive-only input
            raise InputError(f"{what}: Negative values in data (minimum {low:g}); "
                             "expected pixel values in [0, 1]")
        if high > 1:
            raise InputError(f"{what}: pixel values up to {high:g}, expected values in [0, 1] "
                             "(divide 0..255 images by 255, as mnistlab.data.prepare.scale does)")
    return images.astype(np.float32, copy=False)


def image_tags(tags: Tags, requires_fit: bool = True) -> Tags:
    """Declare the input of a feature step in scikit-learn's estimator tags (``__sklearn_tags__``).

    (N, 784) and (N, 28, 28) arrays, dense, values >= 0 (in [0, 1]; scikit-learn's
    ``positive_only``), no NaN; float32 out whatever the input dtype.
    """
    tags.requires_fit = requires_fit
    tags.input_tags.two_d_array = True
    tags.input_tags.three_d_array = True
    tags.input_tags.sparse = False
    tags.input_tags.allow_nan = False
    tags.input_tags.positive_only = True
    tags.transformer_tags.preserves_dtype = ["float32"]
    return tags


class PixelFeatures(TransformerMixin, BaseEstimator):
    """Flatten images to pixel vectors, optionally 2x2 mean-pooled to 14x14 first.

    Stateless: :meth:`transform` needs no :meth:`fit` (which only checks the images and sets
    ``n_features_in_``).

    Parameters
    ----------
    resolution : {14, 28}
        Side of the images fed to the SVM, pixels (``svm.resolution``).

    Attributes
    ----------
    n_features_in_ : int
        784, the pixels of a flattened 28x28 image; set by :meth:`fit`.
    """

    def __init__(self, resolution: int = 14):
        self.resolution = resolution

    def _pooling(self) -> int:
        """The mean-pooling factor (1 or 2) of ``resolution``."""
        resolution = self.resolution
        whole = isinstance(resolution, (int, np.integer)) and not isinstance(resolution, bool)
        if not whole or resolution not in RESOLUTIONS:
            raise InputError(f"PixelFeatures resolution = {self.resolution!r} (svm.resolution): "
                             f"expected one of {', '.join(map(str, RESOLUTIONS))} pixels")
        return IMAGE_SIZE // int(resolution)

    def fit(self, X, y=None) -> PixelFeatures:
        """Check the settings and the images; nothing is learnt.

        Parameters
        ----------
        X : array-like of shape (N, 28, 28) or (N, 784), values in [0, 1], N >= 1
        y : ignored

        Raises
        ------
        InputError
            A bad ``resolution``, or images that :func:`check_images` refuses.
        """
        self._pooling()
        check_images(X, "images given to PixelFeatures.fit", allow_empty=False)
        self.n_features_in_ = N_PIXELS
        return self

    def transform(self, X) -> np.ndarray:
        """Pixel vectors of the images, mean-pooled to ``resolution`` pixels a side.

        Parameters
        ----------
        X : array-like of shape (N, 28, 28) or (N, 784), values in [0, 1]

        Returns
        -------
        ndarray of shape (N, resolution**2), float32
            A view of float32 input at resolution 28.

        Raises
        ------
        InputError
            A bad ``resolution``, or images that :func:`check_images` refuses.
        """
        factor = self._pooling()
        images = check_images(X, "images given to PixelFeatures.transform")
        if factor > 1:
            images = downsample(images, factor)
        return images.reshape(len(images), self.resolution * self.resolution)

    def __sklearn_tags__(self) -> Tags:
        return image_tags(super().__sklearn_tags__(), requires_fit=False)
