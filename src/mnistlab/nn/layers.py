"""Layers of the NumPy network: Linear, ReLU, PatchEmbedding, Dropout, Flatten.

Two levels, as in the CS231n assignment code (``cs231n/layers.py``, ``fast_layers.py``):

- pure functions in one shape, ``out, cache = f_forward(x, ...)`` and
  ``dx, *dparams = f_backward(dout, cache)`` (``dx`` alone for a layer without parameters), in
  :mod:`mnistlab.nn.functional` (re-exported here), so each formula can be read and tested alone;
- thin classes with the protocol of :class:`Layer` (numpy-ml's ``LayerBase``, micrograd's ``+=``):
  ``forward`` calls the pure forward and keeps its cache, ``backward`` calls the pure backward and
  ADDS the parameter gradients into ``grads``; ``zero_grad()`` resets them.

Every function keeps the dtype of its inputs: float32 for training, float64 for gradient checks
(:meth:`Layer.astype`). Caches hold references to the inputs and weights, never copies.
"""

from __future__ import annotations

import abc

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.nn.functional import (  # noqa: F401  (re-exported: the layer's arithmetic)
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
    patch_embed_backward,
    patch_embed_forward,
    patches,
    relu_backward,
    relu_forward,
    unpatch,
)
from mnistlab.nn.init import initialize


class ShapeError(MnistlabError, ValueError):
    """An array of the wrong shape reached a layer; the message names the layer and the shapes."""


# ----------------------------------------------------------------------------------------------
# Layers: thin classes around the pure functions
# ----------------------------------------------------------------------------------------------


class Layer(abc.ABC):
    """The protocol of every layer (numpy-ml's ``LayerBase``, micrograd's ``+=``).

    Attributes
    ----------
    params : dict of str to ndarray
        Trainable arrays (``"W"``, ``"b"``); empty for a layer without parameters. Optimizers
        update them in place.
    grads : dict of str to ndarray
        The same keys, shapes and dtypes as ``params``: dL/dparam summed over :meth:`backward` calls.
    cache : tuple, ndarray or None
        The pure forward function's cache from the last :meth:`forward`; None before it.
    name : str
        Used in error messages; :class:`~mnistlab.nn.model.Sequential` sets ``"layer i (Type)"``.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.cache = None
        self.name = type(self).__name__

    @abc.abstractmethod
    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Output for a batch; keeps in ``cache`` only what :meth:`backward` needs.

        Parameters
        ----------
        x : ndarray of shape (N, ...), float32 (training) or float64 (checks)
            The shape each layer expects is in its class docstring.
        training : bool, default True
            False selects evaluation behaviour (dropout becomes the identity).

        Returns
        -------
        ndarray of shape (N, ...), the dtype of ``x``

        Raises
        ------
        ShapeError
            If ``x`` does not have the shape the layer expects.
        """

    @abc.abstractmethod
    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate through the last :meth:`forward`.

        ADDS dL/dparam into ``grads[key]`` (``+=``: the gradients of several backward passes
        accumulate until :meth:`zero_grad`); never changes ``params``.

        Parameters
        ----------
        grad_out : ndarray of the shape of the last output
            Upstream gradient dL/dout.
        input_grad : bool, default True
            False lets a layer skip dL/dx and return None where that saves work (the first layer
            of a network); layers for which it costs nothing return it anyway.

        Returns
        -------
        ndarray of the shape and dtype of the last input, or None
            dL/dx.

        Raises
        ------
        ShapeError
            If ``grad_out`` does not match the last output.
        RuntimeError
            If called before :meth:`forward`.
        """

    def zero_grad(self) -> None:
        """Set every gradient to 0 in place (``backward`` adds into them)."""
        for grad in self.grads.values():
            grad.fill(0)

    def astype(self, dtype) -> Layer:
        """Cast parameters and gradients to ``dtype`` (float64 for gradient checks); returns self."""
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

    def _cached(self):
        if self.cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return self.cache

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


class Linear(Layer):
    """Fully connected layer ``y = x @ W + b``: (N, in_features) -> (N, out_features).

    Parameters
    ----------
    in_features, out_features : int
    init : {"he", "random", "xavier"}, default "he"
        Initialiser of ``W`` (:mod:`mnistlab.nn.init`); ``b`` starts at 0.
    rng : np.random.Generator, optional
        Source of the initial weights; a fresh unseeded generator when None.
    random_std : float, default 0.01
        Standard deviation of the ``"random"`` initialiser.
    dtype : numpy dtype, default float32
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
        """(N, in_features) -> (N, out_features); caches ``(x, W)``."""
        self._check("input", x, (None, self.in_features))
        out, self.cache = linear_forward(x, self.params["W"], self.params["b"])
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """(N, out_features) -> (N, in_features) or None; adds into ``grads["W"]``, ``grads["b"]``."""
        cache = self._cached()
        self._check("gradient", grad_out, (cache[0].shape[0], self.out_features))
        dx, dW, db = linear_backward(grad_out, cache, need_dx=input_grad)
        self.grads["W"] += dW
        self.grads["b"] += db
        return dx

    def config(self) -> dict:
        return {"type": "Linear", "in_features": self.in_features, "out_features": self.out_features}


class ReLU(Layer):
    """Rectified linear unit ``max(x, 0)``, elementwise: any shape to the same shape."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out, self.cache = relu_forward(x)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        cache = self._cached()
        self._check("gradient", grad_out, cache.shape)
        return relu_backward(grad_out, cache)


class PatchEmbedding(Layer):
    """Non-overlapping ``p`` x ``p`` patches, each mapped linearly to ``out_channels`` numbers:
    a convolution with stride = kernel = ``p`` (the front end of a Vision Transformer).

    Maps (N, in_channels, H, W) to (N, out_channels, H/p, W/p), e.g. 28x28 digits with p = 4 and
    8 channels to 8 x 7 x 7.

    Parameters
    ----------
    patch_size : int
    out_channels : int
    in_channels : int, default 1
    init, rng, random_std, dtype
        As for :class:`Linear`; the fans are ``in_channels * p * p`` and ``out_channels * p * p``.

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
        out, self.cache = patch_embed_forward(x, self.params["W"], self.params["b"], p)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """(N, out_channels, H/p, W/p) -> (N, C, H, W) or None; adds into ``grads``."""
        cache = self._cached()
        (n, _, h, w), p = cache[2], self.patch_size
        self._check("gradient", grad_out, (n, self.out_channels, h // p, w // p))
        dx, dW, db = patch_embed_backward(grad_out, cache, need_dx=input_grad)
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
    """Inverted dropout (:func:`dropout_forward`), any shape: in training, zero each unit with
    probability ``drop_prob`` and scale the kept ones by ``1 / (1 - drop_prob)``; in evaluation,
    the identity.

    Parameters
    ----------
    drop_prob : float in [0, 1)
    rng : np.random.Generator, optional
        Source of the masks; a fresh unseeded generator when None.

    Raises
    ------
    MnistlabError
        If ``drop_prob`` is outside [0, 1).
    """

    def __init__(self, drop_prob: float, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise MnistlabError(f"Dropout: drop_prob = {drop_prob}, expected a probability in [0, 1)")
        self.drop_prob = drop_prob
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out, self.cache = dropout_forward(x, self.drop_prob, self.rng, training=training)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        cache = self._cached()
        self._check("gradient", grad_out, cache[1])
        return dropout_backward(grad_out, cache)

    def config(self) -> dict:
        return {"type": "Dropout", "drop_prob": self.drop_prob}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), a view; backward reshapes back."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        out, self.cache = flatten_forward(x)
        return out

    def backward(self, grad_out: np.ndarray, input_grad: bool = True) -> np.ndarray:
        shape = self._cached()
        self._check("gradient", grad_out, (shape[0], int(np.prod(shape[1:]))))
        return flatten_backward(grad_out, shape)
