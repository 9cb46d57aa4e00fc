"""Layers of the NumPy network: Linear, ReLU, PatchEmbedding, Dropout, Flatten.

Every layer follows one protocol (numpy-ml's ``LayerBase``, micrograd's ``+=``):

- ``params`` and ``grads`` are dicts with the same keys (``"W"``, ``"b"``; empty without
  parameters);
- ``forward(x, training=True)`` returns the output and keeps in ``cache`` only what
  ``backward`` needs;
- ``backward(grad_out)`` returns the gradient with respect to the input and ADDS the parameter
  gradients into ``grads``; ``zero_grad()`` resets them.

The arithmetic lives in short pure functions (``linear_forward``, ``linear_backward``, ...) as in
the CS231n assignment code, so each formula can be read and tested on its own. Arrays are float32
for training and float64 for gradient checks (:meth:`Layer.astype`).
"""

from __future__ import annotations

import numpy as np

from mnistlab.errors import MnistlabError
from mnistlab.nn.init import initialize


class ShapeError(MnistlabError, ValueError):
    """An array of the wrong shape reached a layer; the message names the layer and the shapes."""


# ----------------------------------------------------------------------------------------------
# Pure functions
# ----------------------------------------------------------------------------------------------


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine map ``out = x @ W + b``.

    Parameters
    ----------
    x : ndarray of shape (N, D)
    W : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    ndarray of shape (N, M)
    """
    out = x @ W
    out += b
    return out


def linear_backward(
    dout: np.ndarray, x: np.ndarray, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, M)
        Upstream gradient.
    x : ndarray of shape (N, D)
        The forward input.
    W : ndarray of shape (D, M)
    need_dx : bool
        Skip the input gradient (``dx`` is then ``None``), as for the first layer of a network.

    Returns
    -------
    dx : ndarray of shape (N, D) or None
        ``dout @ W.T``
    dW : ndarray of shape (D, M)
        ``x.T @ dout``
    db : ndarray of shape (M,)
        ``dout`` summed over the batch.
    """
    dx = dout @ W.T if need_dx else None
    return dx, x.T @ dout, dout.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out = max(x, 0)``; returns ``(out, mask)`` with the boolean mask ``x > 0`` for backward."""
    return np.maximum(x, 0), x > 0


def relu_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Gradient of ReLU: ``dout`` where the input was positive, 0 elsewhere (0 at the kink)."""
    return dout * mask


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


def patch_embed_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convolution with stride = kernel size = p, as a reshape, a transpose and one matmul
    (CS231n ``fast_layers.py``).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    W : ndarray of shape (K, C, p, p)
    b : ndarray of shape (K,)

    Returns
    -------
    out : ndarray of shape (N, K, H/p, W/p)
        Equal to ``torch.nn.functional.conv2d(x, W, b, stride=p)``.
    rows : ndarray of shape (N * H/p * W/p, C * p * p)
        The patches, kept for the weight gradient.
    """
    n, _, h, w = x.shape
    k, p = W.shape[0], W.shape[2]
    rows = patches(x, p)
    out = rows @ W.reshape(k, -1).T
    out += b
    return out.reshape(n, h // p, w // p, k).transpose(0, 3, 1, 2), rows


def patch_embed_backward(
    dout: np.ndarray,
    rows: np.ndarray,
    W: np.ndarray,
    x_shape: tuple[int, int, int, int],
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`patch_embed_forward`.

    Parameters
    ----------
    dout : ndarray of shape (N, K, H/p, W/p)
    rows : ndarray of shape (N * H/p * W/p, C * p * p)
        The patches from the forward pass.
    W : ndarray of shape (K, C, p, p)
    x_shape : tuple (N, C, H, W)
    need_dx : bool
        Skip the input gradient (``dx`` is then ``None``).

    Returns
    -------
    dx : ndarray of shape (N, C, H, W) or None
    dW : ndarray of shape (K, C, p, p)
    db : ndarray of shape (K,)
    """
    k, p = W.shape[0], W.shape[2]
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, k)
    dW = (dout_rows.T @ rows).reshape(W.shape)
    dx = unpatch(dout_rows @ W.reshape(k, -1), x_shape, p) if need_dx else None
    return dx, dW, dout_rows.sum(axis=0)


def dropout_mask(shape: tuple[int, ...], drop_prob: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """Inverted-dropout mask: 0 with probability ``drop_prob``, else ``1 / (1 - drop_prob)``.

    Srivastava et al. (2014), "Dropout", JMLR 15; the inverted form scales at training time so
    evaluation is the identity.
    """
    keep = rng.random(shape, dtype=np.float32) >= drop_prob
    return keep.astype(dtype) * dtype(1.0 / (1.0 - drop_prob))


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------


class Layer:
    """Base class: empty ``params``/``grads``, ``cache`` set by ``forward``, ``zero_grad``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache: tuple | None = None
        self.name = type(self).__name__

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient to 0 (``backward`` adds into them)."""
        for grad in self.grads.values():
            grad.fill(0)

    def astype(self, dtype) -> Layer:
        """Cast parameters and gradients to ``dtype`` in place (float64 for gradient checks)."""
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
            self.grads[key] = self.grads[key].astype(dtype)
        return self

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (saved with the model)."""
        return {"type": type(self).__name__}

    def _init_param(self, key: str, value: np.ndarray) -> None:
        self.params[key] = value
        self.grads[key] = np.zeros_like(value)

    def _check(self, what: str, array: np.ndarray, expected: tuple) -> None:
        """Raise :class:`ShapeError` unless ``array.shape`` matches ``expected`` (None: any)."""
        shape = np.shape(array)
        mismatch = len(shape) != len(expected) or any(
            e is not None and e != s for e, s in zip(expected, shape, strict=True)
        )
        if mismatch:
            wanted = "(" + ", ".join("N" if e is None else str(e) for e in expected) + ")"
            raise ShapeError(f"{self.name}: {what} has shape {shape}, expected {wanted}")

    def _cached(self) -> tuple:
        if self.cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self.cache

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class Linear(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
    init : {"he", "random", "xavier"}
        Initialiser of ``W`` (see :mod:`mnistlab.nn.init`); ``b`` starts at 0.
    rng : np.random.Generator, optional
        Source of the initial weights; a fresh unseeded generator when None.
    random_std : float
        Standard deviation of the ``"random"`` initialiser.
    dtype : numpy dtype
        float32 for training, float64 for checks.

    Attributes
    ----------
    params : dict
        ``"W"`` of shape (in_features, out_features), ``"b"`` of shape (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init: str = "he",
        rng: np.random.Generator | None = None,
        random_std: float = 0.01,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng() if rng is None else rng
        W = initialize(init, (in_features, out_features), rng, random_std=random_std, dtype=dtype)
        self._init_param("W", W)
        self._init_param("b", np.zeros(out_features, dtype=dtype))

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """(N, in_features) -> (N, out_features)."""
        self._check("input", x, (None, self.in_features))
        self.cache = (x,)
        return linear_forward(x, self.params["W"], self.params["b"])

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """(N, out_features) -> (N, in_features); adds into ``grads["W"]`` and ``grads["b"]``.

        ``input_grad=False`` skips the input gradient and returns None (first layer of a network).
        """
        (x,) = self._cached()
        self._check("gradient", grad_out, (x.shape[0], self.out_features))
        dx, dW, db = linear_backward(grad_out, x, self.params["W"], need_dx=input_grad)
        self.grads["W"] += dW
        self.grads["b"] += db
        return dx

    def config(self) -> dict:
        return {"type": "Linear", "in_features": self.in_features, "out_features": self.out_features}


class ReLU(Layer):
    """Rectified linear unit ``max(x, 0)``, elementwise, any shape."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out, mask = relu_forward(x)
        self.cache = (mask,)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        (mask,) = self._cached()
        self._check("gradient", grad_out, mask.shape)
        return relu_backward(grad_out, mask)


class PatchEmbedding(Layer):
    """Non-overlapping ``p`` x ``p`` patches, each mapped linearly to ``out_channels`` numbers:
    a convolution with stride = kernel = ``p`` (the front end of a Vision Transformer).

    Maps (N, in_channels, H, W) to (N, out_channels, H/p, W/p); the default 28x28 digits with
    p = 4 and 8 channels give 7x7x8.

    Parameters
    ----------
    patch_size : int
    out_channels : int
    in_channels : int
    init, rng, random_std, dtype
        As for :class:`Linear`; fans are ``in_channels * p * p`` and ``out_channels * p * p``.

    Attributes
    ----------
    params : dict
        ``"W"`` of shape (out_channels, in_channels, p, p) (``torch.nn.Conv2d`` layout) and
        ``"b"`` of shape (out_channels,).
    """

    def __init__(
        self,
        patch_size: int,
        out_channels: int,
        in_channels: int = 1,
        init: str = "he",
        rng: np.random.Generator | None = None,
        random_std: float = 0.01,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.patch_size, self.out_channels, self.in_channels = patch_size, out_channels, in_channels
        rng = np.random.default_rng() if rng is None else rng
        shape = (out_channels, in_channels, patch_size, patch_size)
        self._init_param("W", initialize(init, shape, rng, random_std=random_std, dtype=dtype))
        self._init_param("b", np.zeros(out_channels, dtype=dtype))

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """(N, C, H, W) -> (N, out_channels, H/p, W/p); H and W must be multiples of p."""
        p = self.patch_size
        self._check("input", x, (None, self.in_channels, None, None))
        if x.shape[2] % p or x.shape[3] % p:
            raise ShapeError(
                f"{self.name}: input has shape {x.shape}, whose height and width are not multiples "
                f"of the patch size {p}"
            )
        out, rows = patch_embed_forward(x, self.params["W"], self.params["b"])
        self.cache = (rows, x.shape)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """(N, out_channels, H/p, W/p) -> (N, C, H, W); adds into ``grads``."""
        rows, x_shape = self._cached()
        p = self.patch_size
        self._check("gradient", grad_out, (x_shape[0], self.out_channels, x_shape[2] // p, x_shape[3] // p))
        dx, dW, db = patch_embed_backward(grad_out, rows, self.params["W"], x_shape, need_dx=input_grad)
        self.grads["W"] += dW
        self.grads["b"] += db
        return dx

    def config(self) -> dict:
        return {
            "type": "PatchEmbedding",
            "patch_size": self.patch_size,
            "out_channels": self.out_channels,
            "in_channels": self.in_channels,
        }


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``drop_prob`` and scale the
    kept ones by ``1 / (1 - drop_prob)``; in evaluation, the identity.

    Parameters
    ----------
    drop_prob : float in [0, 1)
    rng : np.random.Generator, optional
        Source of the masks; a fresh unseeded generator when None.
    """

    def __init__(self, drop_prob: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise MnistlabError(f"Dropout: drop_prob = {drop_prob}, expected a probability in [0, 1)")
        self.drop_prob = drop_prob
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if not training or self.drop_prob == 0.0:
            self.cache = (None, x.shape)
            return x
        mask = dropout_mask(x.shape, self.drop_prob, self.rng, x.dtype.type)
        self.cache = (mask, x.shape)
        return x * mask

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        mask, shape = self._cached()
        self._check("gradient", grad_out, shape)
        return grad_out if mask is None else grad_out * mask

    def config(self) -> dict:
        return {"type": "Dropout", "drop_prob": self.drop_prob}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), a view; backward reshapes back."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.cache = (x.shape,)
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        (shape,) = self._cached()
        self._check("gradient", grad_out, (shape[0], int(np.prod(shape[1:]))))
        return grad_out.reshape(shape)


#: layer type name -> class, for rebuilding saved models
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Linear, ReLU, PatchEmbedding, Dropout, Flatten)
}


def layer_from_config(config: dict, rng: np.random.Generator | None = None) -> Layer:
    """Rebuild a layer from :meth:`Layer.config` (parameters freshly initialised; load them after).

    Raises
    ------
    MnistlabError
        If the type is unknown or the arguments do not fit.
    """
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in LAYERS:
        raise MnistlabError(f"unknown layer type {kind!r}, expected one of {', '.join(LAYERS)}")
    if kind in ("Linear", "PatchEmbedding", "Dropout"):
        config["rng"] = rng
    try:
        return LAYERS[kind](**config)
    except TypeError as err:
        raise MnistlabError(f"layer {kind}: bad arguments {config} ({err})") from None
