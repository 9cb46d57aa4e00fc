"""The PyTorch models: logistic regression, a feed-forward net, three CNNs, and twins of the NumPy nets.

Every model maps images of shape (N, 1, 28, 28), float32 in [0, 1], to logits of shape (N, 10)
(softmax is left to ``torch.nn.functional.cross_entropy`` and to the predictor). With
``normalize=True`` the first module standardises the pixels with MNIST's mean and standard
deviation, so a saved model carries its own preprocessing.

The CNNs: ``cnn``, the seed projects' small CNN (kept as they describe it); ``lenet5``, LeNet-5
of LeCun et al. 1998, so that a row of LeCun's MNIST table is reproduced; ``cnn_bn``, a small CNN
of today's standard (batch normalisation, dropout), the candidate for the best network.

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


class BatchNorm(nn.BatchNorm2d):
    """``torch.nn.BatchNorm2d`` whose state holds floats only.

    PyTorch's batch normalisation keeps an int64 counter ``num_batches_tracked``, used only when
    ``momentum=None`` (a cumulative average); with the default momentum 0.1 it is never read. It is
    left out here, so that a saved model is weights and running statistics, all floating point (what
    :func:`mnistlab.models.torch_models.predictor.load_torch` accepts). Normalises over the batch and
    the spatial positions of each channel (Ioffe and Szegedy 2015): running mean and variance for
    evaluation, ``eps`` 1e-5, momentum 0.1, a learnable scale and shift per channel.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.num_batches_tracked = None  # a None buffer is left out of state_dict()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args) -> None:
        # version 2 of PyTorch's format: no counter added to a state without one
        super()._load_from_state_dict(state_dict, prefix, {**local_metadata, "version": 2}, *args)


def lenet5(channels: tuple[int, int] = (6, 16), hidden_sizes: tuple[int, int] = (120, 84)) -> list[nn.Module]:
    """LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11):2278-2324, Fig. 2 and Section II.B), with modern units.

    As in the paper: the 28x28 digit is placed in a 32x32 field (2 pixels on each side), then
    C1 6@5x5 convolution -> 6@28x28, S2 2x2 subsampling -> 6@14x14, C3 16@5x5 convolution -> 16@10x10,
    S4 2x2 subsampling -> 16@5x5, C5 120 units fully connected to the 400 inputs (the paper's 5x5
    convolution on a 5x5 map), F6 84 units, 10 outputs. Shapes: (N, 1, 28, 28) -> (N, 1, 32, 32) ->
    (N, 6, 28, 28) -> (N, 6, 14, 14) -> (N, 16, 10, 10) -> (N, 16, 5, 5) -> (N, 400) -> (N, 120) ->
    (N, 84) -> (N, 10); 61,706 parameters with the defaults (the paper: 60,000 trainable).

    Departures from the paper:

    - **padding**: the 2-pixel border repeats the image's edge pixels (``ReplicationPad2d``), which
      are background in MNIST (the digits lie in the central 20x20), so the border is background
      whether or not the pixels are standardised (the paper: background -0.1, ink 1.175);
    - **subsampling**: 2x2 max-pooling instead of the paper's trainable subsampling (the sum of
      each 2x2 block times a learned coefficient, plus a learned bias, then a sigmoid);
    - **units**: ReLU instead of the scaled hyperbolic tangent ``1.7159 tanh(2a/3)``;
    - **C3**: every C3 map sees all 6 S2 maps (2,416 parameters) instead of the paper's partial
      connection table (Table I, 1,516 parameters);
    - **output**: 10 linear units trained with softmax cross-entropy instead of the 10 Euclidean
      radial basis function units with fixed +1/-1 codes and the paper's MAP criterion;
    - **training**: Adam with the recipe of ``torch.models.lenet5`` in params.yaml (and its
      augmentation, ``torch.augment``) instead of stochastic diagonal Levenberg-Marquardt for 20
      passes; distortions here are random rotations and perspective (and whole-pixel shifts when
      ``torch.augment.max_shift`` > 0), those of the paper's "distortions" row random affine maps.
    """
    c1, c3 = channels
    f5, f6 = hidden_sizes
    return [
        nn.ReplicationPad2d(2),
        nn.Conv2d(1, c1, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c3, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        *_mlp_layers(c3 * 5 * 5, [f5, f6]),
    ]


def cnn_bn(channels: tuple[int, ...] = (16, 32, 64), hidden_size: int = 128, dropout: float = 0.25
           ) -> list[nn.Module]:
    """A small CNN of today's standard: 3x3 convolutions with batch normalisation, dropout.

    Each entry of ``channels`` is a block ``Conv2d(3x3, padding 1, no bias) -> MaxPool2d(2) ->
    BatchNorm -> ReLU`` halving the side (28 -> 14 -> 7 -> 3); then ``Flatten -> Dropout(dropout) ->
    Linear -> ReLU -> Dropout(dropout) -> Linear(hidden_size, 10)`` (no normalisation in the head:
    a last training batch of one image would have nothing to normalise over). Pooling before
    normalising gives the same result as after it for every channel whose learned scale is
    positive, and normalises 4 times fewer numbers (the CPU's time). Shapes with the defaults:
    (N, 1, 28, 28) -> (N, 16, 14, 14) -> (N, 32, 7, 7) -> (N, 64, 3, 3) (the last pooling drops
    the 7th row and column) -> (N, 576) -> (N, 128) -> (N, 10); 98,554 parameters
    (batch-normalisation scales and shifts included; the running statistics are not parameters).

    The widths are those the CPU budget allows; how they were chosen on the validation split is in
    docs/tuning.md.

    Raises
    ------
    MnistlabError
        If ``channels`` has no entry or more than 3 (the side would fall below 3 pixels).
    """
    if not 1 <= len(channels) <= 3:
        raise MnistlabError(f"cnn_bn: channels {list(channels)}: expected 1 to 3 convolution blocks")
    layers: list[nn.Module] = []
    side, previous = IMAGE_SIZE, 1
    for width in channels:
        layers += [nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False), nn.MaxPool2d(2),
                   BatchNorm(width), nn.ReLU()]
        side, previous = side // 2, width
    return [
        *layers,
        nn.Flatten(),
        nn.Dropout(dropout),
        *_mlp_layers(previous * side * side, [hidden_size], dropout),
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
    "lenet5": lenet5,
    "cnn_bn": cnn_bn,
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
