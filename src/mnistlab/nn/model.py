"""``Sequential``: a stack of layers with forward, backward, prediction and ``.npz`` save/load.

A saved model is one uncompressed ``.npz``: ``architecture`` (a JSON string: format, input shape,
the layers' constructor arguments) and one array per parameter, ``"<layer index>.<key>"``
(e.g. ``"0.W"``). :func:`load_network` rebuilds the network from that file alone, without
executing anything from it (``allow_pickle=False``), and checks the file before anything in it is
allocated: its declared sizes (:func:`mnistlab.core.io.check_zip_sizes`), the architecture
(:func:`architecture_shapes`: 28x28 inputs, widths bounded by :data:`MAX_FEATURES`, 10 outputs), then
each array's ``.npy`` header against the shape the architecture declares.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import MAX_MODEL_BYTES, check_zip_sizes, save_npz
from mnistlab.core.params import MAX_WIDTH
from mnistlab.nn.layers import Dropout, Flatten, Layer, Linear, PatchEmbedding, ReLU, ShapeError
from mnistlab.nn.losses import softmax

#: format tag stored in every saved network
FORMAT = "mnistlab.nn.Sequential/1"

#: layer type name -> class, for rebuilding saved networks
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Linear, ReLU, PatchEmbedding, Dropout, Flatten)
}
#: layer type name -> the keys of its saved config besides ``"type"`` (what its ``config()`` writes)
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features"),
    "ReLU": (),
    "PatchEmbedding": ("patch_size", "out_channels", "in_channels"),
    "Dropout": ("drop_prob",),
    "Flatten": (),
}
#: The most numbers per image that any layer of a saved network may take or give: the larger of the
#: input's 28 x 28 = 784 pixels and :data:`mnistlab.core.params.MAX_WIDTH` (16,384, the widest hidden
#: layer params.yaml allows), so that params and model files agree.
MAX_FEATURES = max(IMAGE_SIZE * IMAGE_SIZE, MAX_WIDTH)
#: The most layers a saved network may have: params.yaml allows 16 hidden layers (``mlp.hidden_sizes``),
#: each Linear, ReLU and Dropout, after the patch embedding's 3 layers and before the output Linear: 52.
MAX_LAYERS = 64
#: Name of the member of a saved network's ``.npz`` that holds the architecture.
ARCHITECTURE_MEMBER = "architecture.npy"
_WIDTH_REASON = (f"the widest layer accepted: the larger of the input's {IMAGE_SIZE * IMAGE_SIZE} pixels and "
                 f"mnistlab.core.params.MAX_WIDTH, the widest hidden layer params.yaml allows")


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


def _cut(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters: crafted values may be huge."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    return _cut(repr(value), limit)


def _count(where: str, value: object, high: int, reason: str) -> int:
    """``value`` if it is an int in 1..``high``, else a :class:`MnistlabError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise MnistlabError(f"{where} = {_short(value)}: expected an integer from 1 to {high:,} ({reason})")
    return value


def _layer_shapes(where: str, config: dict, shape: tuple[int, ...]) -> tuple[tuple[int, ...], dict]:
    """The per-image output shape of a layer config whose keys are checked, given its input shape,
    and its parameters' shapes; a :class:`MnistlabError` naming ``where`` if they do not fit."""
    kind = config["type"]
    if kind == "Linear":
        n_in = _count(f"{where}: in_features", config["in_features"], MAX_FEATURES, _WIDTH_REASON)
        n_out = _count(f"{where}: out_features", config["out_features"], MAX_FEATURES, _WIDTH_REASON)
        if shape != (n_in,):
            raise MnistlabError(f"{where}: in_features = {n_in}, but its input has shape {shape} per image")
        return (n_out,), {"W": (n_in, n_out), "b": (n_out,)}
    if kind == "PatchEmbedding":
        p = _count(f"{where}: patch_size", config["patch_size"], IMAGE_SIZE, "at most the image side")
        c_out = _count(f"{where}: out_channels", config["out_channels"], MAX_FEATURES, _WIDTH_REASON)
        c_in = _count(f"{where}: in_channels", config["in_channels"], MAX_FEATURES, _WIDTH_REASON)
        if len(shape) != 3 or shape[0] != c_in or shape[1] % p or shape[2] % p:
            raise MnistlabError(f"{where}: expects (in_channels = {c_in}, H, W) with H and W multiples of "
                                f"patch_size = {p}, but its input has shape {shape} per image")
        out = (c_out, shape[1] // p, shape[2] // p)
        if math.prod(out) > MAX_FEATURES:
            raise MnistlabError(f"{where}: gives {math.prod(out):,} numbers per image {out}, above "
                                f"{MAX_FEATURES:,} ({_WIDTH_REASON})")
        return out, {"W": (c_out, c_in, p, p), "b": (c_out,)}
    if kind == "Dropout":
        q = config["drop_prob"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q < 1:
            raise MnistlabError(f"{where}: drop_prob = {_short(q)}, expected a probability in [0, 1)")
        return shape, {}
    if kind == "Flatten":
        return (math.prod(shape),), {}
    return shape, {}  # ReLU


def architecture_shapes(config: object) -> list[dict[str, tuple[int, ...]]]:
    """Check a saved architecture (:meth:`Sequential.config`) without building anything.

    Follows the shape of one image through the layers: the input must be one 28x28 image
    (``input_shape`` ``[784]`` or ``[1, 28, 28]``, any shape of 784 numbers that the layers accept),
    every layer's numbers per image at most :data:`MAX_FEATURES`, at most :data:`MAX_LAYERS` layers,
    and the output exactly 10 scores, one per digit.

    Parameters
    ----------
    config : object
        The decoded JSON of a saved network's ``architecture``.

    Returns
    -------
    list of dict of str to tuple of int
        Per layer, the shape of each parameter (``{"W": (784, 512), "b": (512,)}``; ``{}`` for a
        layer without parameters).

    Raises
    ------
    MnistlabError
        One line (without the file) naming the key or layer and what was expected.
    """
    pixels = IMAGE_SIZE * IMAGE_SIZE
    if not isinstance(config, dict):
        raise MnistlabError(f"the architecture is a JSON {type(config).__name__}, expected an object "
                            f"with format, input_shape and layers")
    if config.get("format") != FORMAT:
        raise MnistlabError(f"unknown model format {_short(config.get('format'))}, expected {FORMAT}")
    missing = [key for key in ("input_shape", "layers") if key not in config]
    if missing:
        raise MnistlabError(f"the architecture has no {' and no '.join(missing)}, expected the keys "
                            f"format, input_shape and layers of {FORMAT}")
    shape = config["input_shape"]
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 3
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
            or math.prod(shape) != pixels):
        raise MnistlabError(f"input_shape = {_short(shape)}: expected the {IMAGE_SIZE}x{IMAGE_SIZE} = "
                            f"{pixels} pixels of one image, [{pixels}] or [1, {IMAGE_SIZE}, {IMAGE_SIZE}]")
    layers = config["layers"]
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        what = f"{len(layers)} layers" if isinstance(layers, list) else _short(layers)
        raise MnistlabError(f"layers = {what}: expected a list of at most {MAX_LAYERS} layer configs "
                            f"(params.yaml allows 16 hidden layers, 52 layers in all)")
    shape, shapes = tuple(shape), []
    for i, layer in enumerate(layers):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if not isinstance(kind, str) or kind not in LAYERS:
            raise MnistlabError(f"layer {i} = {_short(layer)}: expected an object whose type is one of "
                                f"{', '.join(LAYERS)}")
        where = f"layer {i} ({kind})"
        keys = sorted(set(layer) - {"type"})
        if keys != sorted(CONFIG_KEYS[kind]):
            raise MnistlabError(f"{where} has the keys {_short(keys, 120)}, expected "
                                f"{', '.join(CONFIG_KEYS[kind]) or 'none besides type'}")
        shape, params = _layer_shapes(where, layer, shape)
        shapes.append(params)
    if shape != (N_CLASSES,):
        raise MnistlabError(f"the network gives {math.prod(shape):,} numbers {shape} per image, expected "
                            f"{N_CLASSES}: one score per digit")
    return shapes


def _npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, header bytes)`` from the header of an ``.npy`` member; reads nothing else."""
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{info.filename}: .npy format version {version}, expected 1.0 or 2.0")
        return shape, dtype, fh.tell()


def _read_network(path: Path, archive: zipfile.ZipFile) -> tuple[dict, list[dict[str, np.ndarray]]]:
    """The checked architecture and, per layer, the saved parameters of the network in ``archive``,
    every size checked before an array is read (see :func:`load_network`)."""
    members = {info.filename: info for info in archive.infolist()}
    if ARCHITECTURE_MEMBER not in members:
        held = ", ".join(sorted(name.removesuffix(".npy") for name in members)[:5]) or "nothing"
        raise MnistlabError(f"{path}: not a saved NumPy network (no architecture array; it holds {held})")
    with archive.open(members[ARCHITECTURE_MEMBER]) as fh:  # held to MAX_METADATA_BYTES by check_zip_sizes
        text = np.lib.format.read_array(fh, allow_pickle=False)
    if text.ndim != 0 or text.dtype.kind != "U":
        raise MnistlabError(f"{path}: not a saved NumPy network (its architecture is an array of shape "
                            f"{text.shape} and dtype {text.dtype}, expected a JSON string)")
    try:
        config = json.loads(str(text))
    except RecursionError:  # a crafted file: JSON nested thousands of levels deep
        raise MnistlabError(f"{path}: not a saved NumPy network (its architecture JSON is nested too deeply; "
                            "a saved network's is a list of flat layer objects)") from None
    try:
        shapes = architecture_shapes(config)
    except MnistlabError as err:
        raise MnistlabError(f"{path}: not a saved NumPy network: {err}") from None
    n_params = sum(math.prod(shape) for layer in shapes for shape in layer.values())
    if 4 * n_params > MAX_MODEL_BYTES:
        raise MnistlabError(f"{path}: refused: its architecture declares {n_params:,} parameters "
                            f"({4 * n_params / 2**20:,.0f} MiB as float32), above the "
                            f"{MAX_MODEL_BYTES // 2**20} MiB limit on a model file (the largest legitimate "
                            "model here is a few MB)")
    wanted = {f"{i}.{key}.npy": shape for i, layer in enumerate(shapes) for key, shape in layer.items()}
    unexpected = sorted(set(members) - set(wanted) - {ARCHITECTURE_MEMBER})
    if unexpected:
        raise MnistlabError(f"{path}: not a saved NumPy network: it holds arrays that its architecture "
                            f"does not declare ({_cut(', '.join(unexpected), 80)})")
    for name, shape in wanted.items():  # every header, before any array is read
        key = name.removesuffix(".npy")
        if name not in members:
            raise MnistlabError(f"{path}: parameter {key} is missing, expected shape {shape}")
        saved, dtype, header = _npy_header(archive, members[name])
        if saved != shape:
            raise MnistlabError(f"{path}: parameter {key} is shape {saved}, expected shape {shape}")
        if dtype not in (np.float32, np.float64):
            raise MnistlabError(f"{path}: parameter {key} has dtype {dtype}, expected float32 or float64")
        n_bytes = math.prod(shape) * dtype.itemsize
        if header + n_bytes != members[name].file_size:
            raise MnistlabError(f"{path}: parameter {key}: the array's member holds "
                                f"{members[name].file_size:,} bytes, not the {header:,} + {n_bytes:,} of its "
                                f"header and {shape} {dtype} values")
    params: list[dict[str, np.ndarray]] = []
    for i, layer in enumerate(shapes):
        params.append({})
        for key in layer:
            with archive.open(members[f"{i}.{key}.npy"]) as fh:
                params[i][key] = value = np.lib.format.read_array(fh, allow_pickle=False)
            if not np.isfinite(value).all():
                raise MnistlabError(f"{path}: parameter {i}.{key} has values that are not finite (NaN or "
                                    "infinity), expected trained weights")
    return config, params


def _restored(config: dict, params: dict[str, np.ndarray]) -> Layer:
    """The layer of a checked ``config`` holding its saved ``params``.

    A layer with parameters is built at its smallest (every size 1), then given the saved sizes and
    arrays: its constructor would draw initial weights as large as the saved ones, only to drop them.
    """
    if not params:
        return layer_from_config(config)
    kind = config["type"]
    layer = LAYERS[kind](**{key: 1 for key in CONFIG_KEYS[kind]})
    vars(layer).update({key: config[key] for key in CONFIG_KEYS[kind]})
    for key, value in params.items():
        layer.params[key] = value
        layer.grads[key] = np.zeros(value.shape, value.dtype)  # calloc: no memory until written
    if layer.config() != config or layer.params.keys() != params.keys():  # the constructor has changed
        raise RuntimeError(f"{kind}: CONFIG_KEYS no longer matches the layer's attributes and config()")
    return layer


def load_network(path: str | os.PathLike) -> Sequential:
    """Rebuild a :class:`Sequential` saved by :meth:`Sequential.save`.

    The NumPy side's own loader; :func:`mnistlab.models.registry.load_model` dispatches to it by suffix.
    Nothing is allocated for the file's contents before its sizes are checked, in this order: the
    zip's declared sizes (:func:`mnistlab.core.io.check_zip_sizes`), the architecture
    (:func:`architecture_shapes`) and the parameters it declares (at most
    :data:`~mnistlab.core.io.MAX_MODEL_BYTES` as float32), then each array's ``.npy`` header (shape,
    dtype float32 or float64, and byte count) before the array is read. So a crafted file is refused or
    used within a few hundred MB of memory.

    Parameters
    ----------
    path : str or path-like
        ``models/mlp_<optimizer>-<init>.npz``.

    Returns
    -------
    Sequential
        With ``predict_proba``, ``hidden`` and ``n_params``; maps images (N, 28, 28) to (N, 10).

    Raises
    ------
    MnistlabError
        One line naming the file and what was expected: the file is missing, is not a saved network
        (not a zip, no architecture, a malformed architecture or layer, inputs other than 28x28,
        outputs other than 10, widths above :data:`MAX_FEATURES`), is too large, or a parameter is
        missing, of the wrong shape or dtype, or not finite.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    check_zip_sizes(path, "saved NumPy network", metadata=(ARCHITECTURE_MEMBER,))
    try:
        with zipfile.ZipFile(path) as archive:
            config, params = _read_network(path, archive)
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, struct.error, zlib.error,
            lzma.LZMAError, zipfile.BadZipFile) as err:  # what zipfile, numpy and json raise for bad bytes
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MnistlabError(f"{path}: not a saved NumPy network ({_cut(message, 200)})") from None
    layers = [_restored(layer, saved) for layer, saved in zip(config["layers"], params, strict=True)]
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
