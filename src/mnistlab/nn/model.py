"""``Sequential``: a stack of layers with forward, backward, prediction and ``.npz`` save/load.

A saved model is one uncompressed ``.npz``: ``architecture`` (a JSON string: format, input shape,
the layers' constructor arguments) and one array per parameter, ``"<layer index>.<key>"``
(e.g. ``"0.W"``). :func:`load_network` rebuilds the network from that file alone, without
executing anything from it (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import save_npz
from mnistlab.nn.layers import Dropout, Flatten, Layer, Linear, PatchEmbedding, ReLU, ShapeError
from mnistlab.nn.losses import softmax

#: format tag stored in every saved network
FORMAT = "mnistlab.nn.Sequential/1"

#: layer type name -> class, for rebuilding saved networks
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Linear, ReLU, PatchEmbedding, Dropout, Flatten)
}


class Sequential:
    """Layers applied in order; the last one produces the logits.

    Parameters
    ----------
    layers : sequence of Layer
    input_shape : tuple of int
        Shape of one input sample, e.g. ``(784,)`` for an MLP or ``(1, 28, 28)`` when a
        :class:`~mnistlab.nn.layers.PatchEmbedding` comes first. :meth:`predict_proba` reshapes
        (N, 28, 28) images to ``(N, *input_shape)``.
    """

    def __init__(self, layers: Sequence[Layer], input_shape: tuple[int, ...] = (IMAGE_SIZE * IMAGE_SIZE,)):
        self.layers = list(layers)
        self.input_shape = tuple(int(d) for d in input_shape)
        for i, layer in enumerate(self.layers):
            layer.name = f"layer {i} ({type(layer).__name__})"

    # -- training -------------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Logits of a batch; each layer keeps its cache for :meth:`backward`.

        Parameters
        ----------
        x : ndarray of shape (N, *input_shape), the dtype of the parameters
        training : bool, default True
            False for evaluation (dropout off).

        Returns
        -------
        ndarray of shape (N, 10)
        """
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """Back-propagate the gradient of the loss through every layer, last to first.

        Adds every parameter gradient into the layers' ``grads`` (call :meth:`zero_grad` between
        batches).

        Parameters
        ----------
        grad : ndarray of shape (N, 10)
            dL/dlogits, e.g. ``SoftmaxCrossEntropy.backward()``.
        input_grad : bool, default False
            Also compute dL/dx in the first layer (a matmul that training does not need).

        Returns
        -------
        ndarray of shape (N, *input_shape), or None
            dL/dx; None when ``input_grad`` is false and the first layer skips it.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, input_grad=input_grad or i > 0)
        return grad

    def zero_grad(self) -> None:
        """Reset every parameter gradient to 0."""
        for layer in self.layers:
            layer.zero_grad()

    def astype(self, dtype) -> Sequential:
        """Cast every parameter and gradient to ``dtype`` in place; returns ``self``."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def n_params(self) -> int:
        """Number of trainable numbers (weights and biases)."""
        return int(sum(p.size for layer in self.layers for p in layer.params.values()))

    @property
    def dtype(self):
        """Dtype of the parameters (float32 unless cast)."""
        for layer in self.layers:
            for param in layer.params.values():
                return param.dtype
        return np.dtype(np.float32)

    # -- prediction -----------------------------------------------------------------------------

    def _inputs(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim < 2 or int(np.prod(images.shape[1:])) != int(np.prod(self.input_shape)):
            raise ShapeError(
                f"model input: images of shape {images.shape} cannot be reshaped to "
                f"(N, {', '.join(map(str, self.input_shape))})"
            )
        return images.reshape(len(images), *self.input_shape).astype(self.dtype, copy=False)

    def _apply(self, images: np.ndarray, layers: Sequence[Layer], batch_size: int) -> np.ndarray:
        x = self._inputs(images)
        outputs = []
        for start in range(0, max(len(x), 1), batch_size):  # one pass even for 0 images
            out = x[start : start + batch_size]
            for layer in layers:
                out = layer.forward(out, training=False)
            outputs.append(out.reshape(len(out), int(np.prod(out.shape[1:]))))
        for layer in layers:
            layer.cache = None  # free the evaluation caches
        return np.concatenate(outputs)

    def logits(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Evaluation-mode logits (N, 10) of images (N, 28, 28) (or already (N, *input_shape))."""
        return self._apply(images, self.layers, batch_size)

    def predict_proba(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        images : ndarray of shape (N, 28, 28), float32 in [0, 1]
            Also accepted: (N, 784) or (N, 1, 28, 28); reshaped to ``(N, *input_shape)``.
        batch_size : int
            Images per forward pass (bounds memory).

        Returns
        -------
        ndarray of shape (N, 10), float32, rows summing to 1
        """
        return softmax(self.logits(images, batch_size))

    def predict(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Predicted digits (N,) int64 of images (N, 28, 28)."""
        return self.logits(images, batch_size).argmax(axis=1)

    def hidden(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Activations of the last hidden layer (the input of the last ``Linear``), evaluation mode.

        Parameters
        ----------
        images : ndarray of shape (N, 28, 28), float32 in [0, 1]

        Returns
        -------
        ndarray of shape (N, H)
            H = 512 for the default MLP; used for t-SNE/PCA embeddings.
        """
        last = max(i for i, layer in enumerate(self.layers) if isinstance(layer, Linear))
        return self._apply(images, self.layers[:last], batch_size)

    # -- files ----------------------------------------------------------------------------------

    def config(self) -> dict:
        """Architecture as JSON-ready data: format tag, input shape, the layers' configs."""
        return {
            "format": FORMAT,
            "input_shape": list(self.input_shape),
            "layers": [layer.config() for layer in self.layers],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture and parameters to one ``.npz`` at ``path`` atomically."""
        arrays = {
            f"{i}.{key}": param for i, layer in enumerate(self.layers) for key, param in layer.params.items()
        }
        save_npz(path, architecture=np.array(json.dumps(self.config())), **arrays)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], input_shape={self.input_shape})"


def layer_from_config(config: dict, rng: np.random.Generator | None = None) -> Layer:
    """Rebuild a layer from :meth:`Layer.config` (parameters freshly initialised; load them after).

    Parameters
    ----------
    config : dict
        ``{"type": <name in LAYERS>, <constructor arguments>}``.
    rng : np.random.Generator, optional
        For the initial weights and the dropout masks.

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


def load_network(path: str | os.PathLike) -> Sequential:
    """Rebuild a :class:`Sequential` saved by :meth:`Sequential.save`.

    The NumPy side's own loader; :func:`mnistlab.models.registry.load_model` dispatches to it by suffix.

    Parameters
    ----------
    path : str or path-like
        ``models/mlp_<optimizer>-<init>.npz``.

    Returns
    -------
    Sequential
        With ``predict_proba``, ``hidden`` and ``n_params``.

    Raises
    ------
    MnistlabError
        If the file is missing, is not a saved network, or a parameter has the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["architecture"]))
            arrays = {key: data[key] for key in data.files if key != "architecture"}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as err:
        raise MnistlabError(f"{path}: not a saved NumPy network ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise MnistlabError(f"{path}: unknown model format, expected {FORMAT}")
    layers = [layer_from_config(layer_config) for layer_config in config["layers"]]
    for i, layer in enumerate(layers):
        for key, param in layer.params.items():
            saved = arrays.get(f"{i}.{key}")
            if saved is None or saved.shape != param.shape:
                found = "missing" if saved is None else f"shape {saved.shape}"
                raise MnistlabError(f"{path}: parameter {i}.{key} is {found}, expected shape {param.shape}")
            layer.params[key] = saved
            layer.grads[key] = np.zeros_like(saved)
    return Sequential(layers, input_shape=tuple(config["input_shape"]))


def build_mlp(
    hidden_sizes: Sequence[int],
    init: str = "he",
    rng: np.random.Generator | None = None,
    dropout: float = 0.0,
    embedding: bool = False,
    patch_size: int = 4,
    embed_channels: int = 8,
    random_std: float = 0.01,
) -> Sequential:
    """The network of the ``mlp`` params.

    ``[PatchEmbedding(p, C) -> ReLU -> Flatten ->] (Linear -> ReLU [-> Dropout]) x len(hidden_sizes)
    -> Linear(., 10)``; 28x28 inputs, 10 classes.

    Parameters
    ----------
    hidden_sizes : sequence of int
        Widths of the hidden layers, e.g. ``[512]``.
    init : {"he", "random", "xavier"}
        Initialiser of every weight; biases start at 0.
    rng : np.random.Generator, optional
        Seeds the weights and the dropout masks.
    dropout : float in [0, 1)
        Drop probability after each hidden ReLU; 0 adds no Dropout layer.
    embedding : bool
        Put a :class:`PatchEmbedding` (``patch_size``, ``embed_channels``) and a ReLU first.
    random_std : float
        Standard deviation of the ``"random"`` initialiser.

    Raises
    ------
    MnistlabError
        If ``patch_size`` does not divide 28.
    """
    rng = np.random.default_rng() if rng is None else rng
    init_rng, dropout_rng = rng.spawn(2)
    layers: list[Layer] = []
    input_shape: tuple[int, ...] = (IMAGE_SIZE * IMAGE_SIZE,)
    width = IMAGE_SIZE * IMAGE_SIZE
    if embedding:
        if IMAGE_SIZE % patch_size:
            raise MnistlabError(f"mlp.patch_size = {patch_size}: must divide the image size {IMAGE_SIZE}")
        layers += [
            PatchEmbedding(patch_size, embed_channels, 1, init=init, rng=init_rng, random_std=random_std),
            ReLU(),
            Flatten(),
        ]
        input_shape = (1, IMAGE_SIZE, IMAGE_SIZE)
        width = embed_channels * (IMAGE_SIZE // patch_size) ** 2
    for size in hidden_sizes:
        layers += [Linear(width, size, init=init, rng=init_rng, random_std=random_std), ReLU()]
        if dropout > 0:
            layers.append(Dropout(dropout, rng=dropout_rng))
        width = size
    layers.append(Linear(width, N_CLASSES, init=init, rng=init_rng, random_std=random_std))
    return Sequential(layers, input_shape=input_shape)
