"""Weight initialisers. Each draws from a seeded ``np.random.Generator`` passed in by the caller.

Shapes follow the layers: a :class:`~mnistlab.nn.layers.Linear` weight is ``(fan_in, fan_out)``;
a :class:`~mnistlab.nn.layers.PatchEmbedding` weight is ``(out_channels, in_channels, p, p)`` as
in ``torch.nn.Conv2d``, whose fans are ``in_channels * p * p`` and ``out_channels * p * p``.
"""

from __future__ import annotations

import numpy as np

from mnistlab.core.errors import MnistlabError

INITS = ("random", "he", "xavier")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(in, out)`` for a dense weight or ``(out, in, kh, kw)`` for a convolution kernel.

    Returns
    -------
    tuple of int
        Inputs and outputs of one unit, as ``torch.nn.init._calculate_fan_in_and_fan_out``.
    """
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    raise ValueError(f"cannot infer fans of a weight of shape {shape}: expected 2 or 4 dimensions")


def random_normal(
    shape: tuple[int, ...], rng: np.random.Generator, std: float = 0.01, dtype=np.float32
) -> np.ndarray:
    """The naive baseline: N(0, std^2) whatever the layer size (CS231n's ``0.01 * randn``).

    Parameters
    ----------
    shape : tuple of int
    rng : np.random.Generator
    std : float
        Standard deviation, 0.01 by default.
    dtype : numpy dtype

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    return (std * rng.standard_normal(shape)).astype(dtype)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """He et al. (2015), "Delving deep into rectifiers", ICCV: untruncated N(0, 2 / fan_in).

    Keeps the variance of ReLU activations constant from layer to layer.

    Parameters
    ----------
    shape : tuple of int
    rng : np.random.Generator
    dtype : numpy dtype

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    fan_in, _ = fans(shape)
    return (np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(dtype)


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
    networks", AISTATS, eq. 16: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).

    Parameters
    ----------
    shape : tuple of int
    rng : np.random.Generator
    dtype : numpy dtype

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def initialize(
    name: str, shape: tuple[int, ...], rng: np.random.Generator, random_std: float = 0.01, dtype=np.float32
) -> np.ndarray:
    """Draw a weight with the initialiser called ``name`` (``"random"``, ``"he"`` or ``"xavier"``).

    Raises
    ------
    MnistlabError
        If ``name`` is none of :data:`INITS`.
    """
    if name == "random":
        return random_normal(shape, rng, std=random_std, dtype=dtype)
    if name == "he":
        return he_normal(shape, rng, dtype=dtype)
    if name == "xavier":
        return xavier_uniform(shape, rng, dtype=dtype)
    raise MnistlabError(f"init = {name!r}: expected one of {', '.join(INITS)}")
