"""The PyTorch models: logistic regression, a feed-forward net, a small CNN, and twins of the NumPy nets.

Every model maps images of shape (N, 1, 28, 28), float32 in [0, 1], to logits of shape (N, 10)
(softmax is left to ``torch.nn.functional.cross_entropy`` and to the predictor). With
``normalize=True`` the first module standardises the pixels with MNIST's mean and standard
deviation, so a saved model carries its own preprocessing.

``patchnet`` and ``mlp`` mirror the from-scratch NumPy network (``mnistlab.nn``) layer for layer:
``patchnet`` is ``PatchEmbedding(patch_size -> embed_channels) -> ReLU -> Flatten -> Linear ... -> 10``
(the NumPy net with ``mlp.embedding: true``) and ``mlp`` is ``Flatten -> Linear(784, h) -> ReLU ...
-> Linear(h, 10)`` (``mlp.embedding: false``), with the hidden sizes of ``mlp.hidden_sizes``.
A patch embedding whose stride equals its kernel size is exactly ``Conv2d(1, C, p, stride=p)``.

A *builder* is a function returning the list of layers; its keyword arguments and their defaults
are the architecture's sizes, saved with the weights so :func:`build_model` can rebuild it.
:data:`BUILDERS` names every builder; the ``builder`` field of a PyTorch model in
:data:`mnistlab.models.registry.MODELS` is one of its keys.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from mnistlab.core.constants import IMAGE_SIZE, MNIST_MEAN, MNIST_STD, N_CLASSES
from mnistlab.core.errors import MnistlabError


class Normalize(nn.Module):
    """Standardise pixels: ``(x - mean) / std`` with MNIST's statistics (no learnable parameters)."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


def _mlp_layers(in_features: int, hidden_sizes: Sequence[int], dropout: float = 0.0) -> list[nn.Module]:
    """``Linear -> ReLU [-> Dropout(dropout)]`` for each hidden size, then ``Linear(.., 10)``."""
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [nn.Linear(in_features, size), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        in_features = size
    layers.append(nn.Linear(in_features, N_CLASSES))
    return layers


def logreg() -> list[nn.Module]:
    """Multinomial logistic regression: ``Flatten -> Linear(784, 10)`` (7,850 parameters)."""
    return [nn.Flatten(), nn.Linear(IMAGE_SIZE * IMAGE_SIZE, N_CLASSES)]


def fnn(hidden_size: int = 256) -> list[nn.Module]:
    """Feed-forward net ``784 -> hidden_size ReLU -> 10`` (203,530 parameters for 256)."""
    return [nn.Flatten(), *_mlp_layers(IMAGE_SIZE * IMAGE_SIZE, [hidden_size])]


def cnn(channels: tuple[int, int] = (16, 32), hidden_size: int = 128) -> list[nn.Module]:
    """Two 3x3 convolutions (padding 1) with ReLU and 2x2 max-pooling, then ``fc hidden -> 10``.

    Shapes: (N, 1, 28, 28) -> (N, 16, 14, 14) -> (N, 32, 7, 7) -> (N, 1568) -> (N, 128) -> (N, 10);
    206,922 parameters with the defaults.
    """
    c1, c2 = channels
    side = IMAGE_SIZE // 4
    return [
        nn.Conv2d(1, c1, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * side * side, hidden_size),
        nn.ReLU(),
        nn.Linear(hidden_size, N_CLASSES),
    ]


def patchnet(
    hidden_sizes: Sequence[int] = (512,), patch_size: int = 4, embed_channels: int = 8, dropout: float = 0.0
) -> list[nn.Module]:
    """Twin of the NumPy net with patch embedding.

    ``Conv2d(1, embed_channels, patch_size, stride=patch_size) -> ReLU -> Flatten -> (Linear -> ReLU
    [-> Dropout]) ... -> Linear(.., 10)``; with the defaults (N, 1, 28, 28) -> (N, 8, 7, 7) ->
    (N, 392) -> (N, 512) -> (N, 10), 206,482 parameters. ``dropout`` is the drop probability after
    each hidden ReLU, as ``mlp.dropout`` in the NumPy net.

    Raises
    ------
    MnistlabError
        If ``patch_size`` does not divide 28 (names ``mlp.patch_size``).
    """
    if IMAGE_SIZE % patch_size:
        raise MnistlabError(f"mlp.patch_size = {patch_size}: must divide the image side {IMAGE_SIZE}")
    side = IMAGE_SIZE // patch_size
    return [
        nn.Conv2d(1, embed_channels, kernel_size=patch_size, stride=patch_size),
        nn.ReLU(),
        nn.Flatten(),
        *_mlp_layers(embed_channels * side * side, hidden_sizes, dropout),
    ]


def mlp(hidden_sizes: Sequence[int] = (512,), dropout: float = 0.0) -> list[nn.Module]:
    """Twin of the NumPy MLP: ``Flatten -> Linear(784, 512) -> ReLU [-> Dropout] -> Linear(512, 10)``.

    407,050 parameters with the defaults; ``dropout`` as in :func:`patchnet`.
    """
    return [nn.Flatten(), *_mlp_layers(IMAGE_SIZE * IMAGE_SIZE, hidden_sizes, dropout)]


#: Builder name (a registry ``builder`` field) -> the function returning the layers.
BUILDERS: dict[str, Callable[..., list[nn.Module]]] = {
    "logreg": logreg,
    "fnn": fnn,
    "cnn": cnn,
    "patchnet": patchnet,
    "mlp": mlp,
}
#: Shape of one input image of every builder's model: a batch is (N, *INPUT_SHAPE), float32 in [0, 1].
INPUT_SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)


def default_sizes(builder: str) -> dict:
    """The keyword defaults of ``builder``: the sizes of the architecture as the pipeline trains it.

    Raises
    ------
    MnistlabError
        If ``builder`` is not a key of :data:`BUILDERS`.
    """
    function = _builder(builder)
    return {name: (list(p.default) if isinstance(p.default, tuple) else p.default)
            for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _builder(name: str) -> Callable[..., list[nn.Module]]:
    """The builder function of :data:`BUILDERS` named ``name``, or a one-line :class:`MnistlabError`."""
    try:
        return BUILDERS[name]
    except (KeyError, TypeError):
        raise MnistlabError(f"PyTorch architecture {name!r}: no builder function of that name in "
                            f"mnistlab.models.torch_models.models.BUILDERS (one of {', '.join(BUILDERS)})"
                            ) from None


def build_model(builder: str, sizes: dict | None = None, normalize: bool = True) -> nn.Sequential:
    """Build an architecture from its builder's name and sizes.

    Parameters
    ----------
    builder : str
        A key of :data:`BUILDERS`.
    sizes : dict, optional
        Keyword arguments of the builder; its defaults when None.
    normalize : bool
        Put :class:`Normalize` (MNIST mean 0.1307, std 0.3081) in front.

    Returns
    -------
    torch.nn.Sequential
        Maps (N, *INPUT_SHAPE) = (N, 1, 28, 28) float32 to logits (N, 10); weights use PyTorch's default
        initialisation from the global RNG (seed it with ``torch.manual_seed``).

    Raises
    ------
    MnistlabError
        If the builder is unknown or the sizes do not fit it.
    """
    function = _builder(builder)
    kwargs = {key: tuple(value) if isinstance(value, list) else value for key, value in (sizes or {}).items()}
    try:
        layers = function(**kwargs)
    except TypeError as err:
        raise MnistlabError(f"PyTorch architecture {builder!r}: sizes {sizes} do not fit ({err})") from None
    return nn.Sequential(*([Normalize()] if normalize else []), *layers)


def count_params(model: nn.Module) -> int:
    """Number of trainable numbers (weights and biases) in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
