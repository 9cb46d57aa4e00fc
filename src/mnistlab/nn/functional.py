"""The arithmetic of the NumPy network's layers, as pure functions in one shape.

As in the CS231n assignment code (``cs231n/layers.py``, ``fast_layers.py``):
``out, cache = f_forward(x, ...)`` and ``dx, *dparams = f_backward(dout, cache)`` (``dx`` alone
for a layer without parameters), so each formula can be read and tested on its own. The layer
classes of :mod:`mnistlab.nn.layers` are thin wrappers around them.

Every function keeps the dtype of its inputs: float32 for training, float64 for gradient checks.
Caches hold references to the inputs and weights, never copies.
"""

from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Affine map ``out = x @ W + b`` (CS231n ``affine_forward``).

    Parameters
    ----------
    x : ndarray of shape (N, D), float32 or float64
    W : ndarray of shape (D, M), the dtype of ``x``
    b : ndarray of shape (M,), the dtype of ``x``

    Returns
    -------
    out : ndarray of shape (N, M)
    cache : tuple (x, W)
        For :func:`linear_backward`.
    """
    out = x @ W
    out += b
    return out, (x, W)


def linear_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear_forward` (CS231n ``affine_backward``).

    Parameters
    ----------
    dout : ndarray of shape (N, M)
        Upstream gradient dL/dout.
    cache : tuple (x, W)
        From :func:`linear_forward`.
    need_dx : bool, default True
        False skips the input gradient (``dx`` is then None), one matmul saved in the first layer.

    Returns
    -------
    dx : ndarray of shape (N, D), or None
        ``dout @ W.T``
    dW : ndarray of shape (D, M)
        ``x.T @ dout``
    db : ndarray of shape (M,)
        ``dout`` summed over the batch.
    """
    x, W = cache
    dx = dout @ W.T if need_dx else None
    return dx, x.T @ dout, dout.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit ``out = max(x, 0)``, elementwise (CS231n ``relu_forward``).

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64

    Returns
    -------
    out : ndarray of the shape and dtype of ``x``
    cache : ndarray
        ``x`` itself (a reference), for the sign test of :func:`relu_backward`.
    """
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu_forward`: ``dout`` where the input was positive, 0 elsewhere.

    At the kink (input exactly 0) the subgradient 0 is used, as ``torch.relu`` does.

    Parameters
    ----------
    dout : ndarray of the shape of the input
    cache : ndarray
        The forward input.

    Returns
    -------
    dx : ndarray of the shape and dtype of ``dout``
    """
    return dout * (cache > 0)


def patches(x: np.ndarray, p: int) -> np.ndarray:
    """Cut images into non-overlapping ``p`` x ``p`` patches, one row per patch.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), H and W multiples of ``p``

    Returns
    -------
    ndarray of shape (N * H/p * W/p, C * p * p)
        Rows ordered (n, i, j) over patch positions; columns (c, di, dj), the memory order of a
        ``torch.nn.Conv2d`` kernel ``(out, C, p, p)``.
    """
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(n * (h // p) * (w // p), c * p * p)


def unpatch(rows: np.ndarray, shape: tuple[int, int, int, int], p: int) -> np.ndarray:
    """Inverse of :func:`patches`: rows (N * H/p * W/p, C * p * p) back to images ``shape``."""
    n, c, h, w = shape
    blocks = rows.reshape(n, h // p, w // p, c, p, p).transpose(0, 3, 1, 4, 2, 5)
    return blocks.reshape(shape)


def patch_embed_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, p: int) -> tuple[np.ndarray, tuple]:
    """Convolution with kernel size = stride = ``p`` and no padding, as a reshape, a transpose and
    one matmul (CS231n ``fast_layers.py``).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), H and W multiples of ``p``, float32 or float64
    W : ndarray of shape (K, C, p, p)
        The ``torch.nn.Conv2d`` weight layout.
    b : ndarray of shape (K,)
    p : int
        Patch size: kernel size and stride.

    Returns
    -------
    out : ndarray of shape (N, K, H/p, W/p)
        Equal to ``torch.nn.functional.conv2d(x, W, b, stride=p)``.
    cache : tuple (rows, W, x.shape, p)
        ``rows`` = :func:`patches` ``(x, p)``, of shape (N * H/p * W/p, C * p * p).

    Raises
    ------
    ValueError
        If the kernel of ``W`` is not ``p`` x ``p``.
    """
    if W.shape[2:] != (p, p):
        raise ValueError(f"patch_embed_forward: kernel of shape {W.shape}, expected (K, C, {p}, {p})")
    n, _, h, w = x.shape
    k = W.shape[0]
    rows = patches(x, p)
    out = rows @ W.reshape(k, -1).T
    out += b
    return out.reshape(n, h // p, w // p, k).transpose(0, 3, 1, 2), (rows, W, x.shape, p)


def patch_embed_backward(
    dout: np.ndarray, cache: tuple, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`patch_embed_forward`: the transposes of its matmul, then :func:`unpatch`.

    Parameters
    ----------
    dout : ndarray of shape (N, K, H/p, W/p)
    cache : tuple (rows, W, x.shape, p)
        From :func:`patch_embed_forward`.
    need_dx : bool, default True
        False skips the input gradient (``dx`` is then None).

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None
    dW : ndarray of shape (K, C, p, p)
    db : ndarray of shape (K,)
    """
    rows, W, x_shape, p = cache
    k = W.shape[0]
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, k)
    dW = (dout_rows.T @ rows).reshape(W.shape)
    dx = unpatch(dout_rows @ W.reshape(k, -1), x_shape, p) if need_dx else None
    return dx, dW, dout_rows.sum(axis=0)


def dropout_forward(
    x: np.ndarray, drop_prob: float, rng: np.random.Generator, training: bool = True
) -> tuple[np.ndarray, tuple]:
    """Inverted dropout (Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks
    from overfitting", JMLR 15; CS231n ``dropout_forward``).

    In training each unit is zeroed with probability ``drop_prob`` and the kept ones are scaled
    by ``1 / (1 - drop_prob)``, so the expected output is ``x``; in evaluation, the identity.

    Parameters
    ----------
    x : ndarray of any shape, float32 or float64
    drop_prob : float in [0, 1)
    rng : np.random.Generator
        Source of the mask (one float32 uniform per unit); not drawn from in evaluation or when
        ``drop_prob`` is 0.
    training : bool, default True

    Returns
    -------
    out : ndarray of the shape and dtype of ``x``
        ``x`` itself when nothing is dropped.
    cache : tuple (mask, x.shape)
        ``mask`` holds 0 or ``1 / (1 - drop_prob)`` in the dtype of ``x``; None when ``out`` is ``x``.
    """
    if not training or drop_prob == 0.0:
        return x, (None, x.shape)
    keep = rng.random(x.shape, dtype=np.float32) >= drop_prob
    mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - drop_prob))
    return x * mask, (mask, x.shape)


def dropout_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of :func:`dropout_forward`: ``dout`` times the same mask (``dout`` without one).

    Parameters
    ----------
    dout : ndarray of the shape of the input
    cache : tuple (mask, x.shape)

    Returns
    -------
    dx : ndarray of the shape of ``dout``
    """
    mask, _ = cache
    return dout if mask is None else dout * mask


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), a view; the cache is ``x.shape``."""
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:]))), x.shape


def flatten_backward(dout: np.ndarray, cache: tuple[int, ...]) -> np.ndarray:
    """Gradient of :func:`flatten_forward`: ``dout`` reshaped to the input shape ``cache``."""
    return dout.reshape(cache)
