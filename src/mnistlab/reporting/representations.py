"""What the networks learned: first-layer weights, first-layer filters and feature maps, as PNGs.

Three figures for the report stage, each drawn only when its trained models are present:

- the first ``Linear`` layer of a NumPy MLP and of its PyTorch twin, each hidden unit's 784
  incoming weights shown as a 28x28 image (the units of largest weight norm, the same rule for
  both networks);
- the CNN's first convolution filters beside the real parts of the Gabor filter bank, every pixel
  the same size on screen (a 3x3 filter next to a 13x13 kernel and a 28x28 digit);
- one test digit, its Gabor response moduli and the CNN's first feature maps (``ReLU(conv1(x))``).

The PyTorch models standardise their input first when saved with ``normalize`` (MNIST mean and
standard deviation); the weights then act on standardised pixels, which rescales each filter and
shifts its bias but leaves its pattern as drawn (every filter has its own colour scale).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.errors import MnistlabError
from mnistlab.reporting.plots import plt, save_figure

#: File names under the output folder.
FIGURES = {
    "weights": "weights_mlp_first_layer.png",
    "filters": "filters_cnn_vs_gabor.png",
    "maps": "feature_maps_one_digit.png",
}
PIXELS = IMAGE_SIZE * IMAGE_SIZE


# -- reading the networks ---------------------------------------------------------------------------

def first_linear_weights(network) -> np.ndarray:
    """Weights of the first layer of a network when it is a fully connected layer on the 784 pixels.

    Parameters
    ----------
    network : mnistlab.nn.model.Sequential or mnistlab.models.torch_models.predictor.TorchPredictor
        As returned by :func:`mnistlab.models.registry.load_model` for ``.npz`` and ``.pt`` files.

    Returns
    -------
    ndarray of shape (784, H), float64
        Column j holds hidden unit j's incoming weights in row-major pixel order.

    Raises
    ------
    MnistlabError
        If the first layer with parameters is not a fully connected layer on the pixels.
    """
    if hasattr(network, "layers"):  # NumPy Sequential: Linear.params["W"] is (in, out)
        first = next((layer for layer in network.layers if layer.params), None)
        weights = first.params.get("W") if first is not None and type(first).__name__ == "Linear" else None
    else:
        from torch import nn

        first = next((m for m in network.model.modules() if not list(m.children()) and
                      list(m.parameters(recurse=False))), None)
        weights = first.weight.detach().cpu().numpy().T if isinstance(first, nn.Linear) else None
    if weights is None or weights.ndim != 2 or weights.shape[0] != PIXELS:
        kind = type(first).__name__ if first is not None else "nothing"
        raise MnistlabError(f"the first layer with weights is {kind}, expected a fully connected layer "
                            f"on the {PIXELS} pixels")
    return np.asarray(weights, dtype=np.float64)


def _first_conv(predictor):
    from torch import nn

    modules = [m for m in predictor.model.modules() if not list(m.children())]
    index = next((i for i, m in enumerate(modules) if list(m.parameters(recurse=False))), None)
    if index is None or not isinstance(modules[index], nn.Conv2d) or modules[index].in_channels != 1:
        kind = type(modules[index]).__name__ if index is not None else "nothing"
        raise MnistlabError(f"the first layer with weights is {kind}, expected a convolution on the image")
    return modules, index


def first_conv_filters(predictor) -> np.ndarray:
    """The first convolution's filters of a PyTorch model, ndarray of shape (C, k, k), float64.

    Raises
    ------
    MnistlabError
        If the first layer with parameters is not a ``Conv2d`` on one input channel.
    """
    modules, index = _first_conv(predictor)
    return modules[index].weight.detach().cpu().numpy()[:, 0].astype(np.float64)


def first_feature_maps(predictor, image: np.ndarray) -> np.ndarray:
    """Output of the first convolution and the ReLU after it for one image.

    Every module up to that ReLU runs (the input standardisation included), in evaluation mode.

    Parameters
    ----------
    predictor : TorchPredictor
    image : ndarray of shape (28, 28), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (C, H, W), float64, non-negative
    """
    import torch
    from torch import nn

    modules, index = _first_conv(predictor)
    stop = next((i for i in range(index + 1, len(modules)) if isinstance(modules[i], nn.ReLU)), index)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32)).reshape(1, 1, *np.shape(image))
    with torch.no_grad():
        for module in modules[: stop + 1]:
            x = module(x.to(next(predictor.model.parameters()).device))
    return x[0].cpu().numpy().astype(np.float64)


def strongest_units(weights: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` columns of ``weights`` (784, H) with the largest L2 norm, largest first."""
    norms = np.linalg.norm(weights, axis=0)
    return np.argsort(-norms, kind="stable")[:n]


# -- drawing ----------------------------------------------------------------------------------------

def _symmetric(ax, values: np.ndarray, cmap: str = "RdBu_r") -> None:
    limit = max(float(np.abs(values).max()), 1e-12)
    ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_unit_weights(panels: dict[str, np.ndarray], path: str | os.PathLike, n_units: int = 32,
                      ncols: int = 8) -> None:
    """First-layer weights of one or more MLPs, each hidden unit's weights as a 28x28 image.

    Each panel shows the ``n_units`` units of largest weight norm of its network, largest first,
    each on its own colour scale centred at 0 (red positive, blue negative).

    Parameters
    ----------
    panels : dict of str to ndarray of shape (784, H)
        Panel title (which network) -> :func:`first_linear_weights`.
    path : path-like
        PNG to write.
    n_units, ncols : int
        Units shown per network, and per row.
    """
    nrows = -(-n_units // ncols)
    fig = plt.figure(figsize=(0.95 * ncols * len(panels) + 0.6, 1.05 * nrows + 1.2), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(1, len(panels), wspace=0.05))
    for subfig, (title, weights) in zip(subfigs, panels.items(), strict=True):
        units = strongest_units(weights, n_units)
        axes = subfig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, unit in zip(axes.flat, units, strict=False):
            ax.set_axis_on()
            _symmetric(ax, weights[:, unit].reshape(IMAGE_SIZE, IMAGE_SIZE))
            ax.set_title(f"unit {unit}", fontsize=7, pad=2)
        subfig.suptitle(f"{title}\n{len(units)} of {weights.shape[1]} hidden units, largest weight norm "
                        "first", fontsize=10)
    fig.suptitle("First-layer weights as 28x28 images: each hidden unit's weights on the pixels "
                 "(red positive, blue negative, each unit on its own scale centred at 0)", fontsize=11)
    save_figure(fig, path)


def plot_filters_same_scale(cnn_filters: np.ndarray, bank, image: np.ndarray, path: str | os.PathLike,
                            cnn_name: str = "CNN", bank_pixel: float = 1.0,
                            pixel_inches: float = 0.085) -> None:
    """The CNN's first-layer filters, the Gabor bank's real parts and a digit, one pixel one size.

    Every image pixel is drawn ``pixel_inches`` wide, so a 3x3 convolution filter appears at its
    true size next to a 13x13 Gabor kernel and the 28x28 digit they are applied to.

    Parameters
    ----------
    cnn_filters : ndarray of shape (C, k, k)
        :func:`first_conv_filters`.
    bank : mnistlab.features.gabor.FilterBank
        Kernels (F, s, s) complex, frequency-major then orientation, with thetas and frequencies.
    image : ndarray of shape (28, 28), float in [0, 1]
        A digit, for scale.
    path : path-like
        PNG to write.
    cnn_name : str
        The CNN's model name, for the labels.
    bank_pixel : float
        Image pixels per kernel pixel: 28 / ``gabor.resolution`` (2 when the bank filters 14x14 copies).
    pixel_inches : float
        Size of one image pixel on the page.
    """
    px, gap, margin = pixel_inches, 0.14, 0.45
    freqs = np.unique(np.round(bank.frequencies, 9))
    thetas = np.unique(np.round(bank.thetas, 9))
    kernel_in = bank.kernels.shape[-1] * bank_pixel * px
    digit_in = IMAGE_SIZE * px
    n_cnn, k_cnn = cnn_filters.shape[0], cnn_filters.shape[-1]
    cnn_in = k_cnn * px
    cnn_cols = min(n_cnn, 8)
    cnn_rows = -(-n_cnn // cnn_cols)
    bank_w = len(thetas) * kernel_in + (len(thetas) - 1) * gap
    left_w = max(digit_in, cnn_cols * cnn_in + (cnn_cols - 1) * gap)
    width = margin + left_w + 1.4 + bank_w + margin
    bank_h = len(freqs) * kernel_in + (len(freqs) - 1) * gap
    height = 1.2 + max(bank_h, digit_in + 0.9 + cnn_rows * (cnn_in + gap)) + margin + 0.3
    fig = plt.figure(figsize=(width, height))

    def axes_at(x: float, top: float, w: float, h: float):
        """Axes with its top-left corner ``top`` inches below the figure top, ``x`` from its left."""
        return fig.add_axes((x / width, 1 - (top + h) / height, w / width, h / height))

    top = 1.2
    ax = axes_at(margin, top, digit_in, digit_in)
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"a test digit, {IMAGE_SIZE}x{IMAGE_SIZE} px", fontsize=9)
    cnn_top = top + digit_in + 0.75
    fig.text(margin / width, 1 - (cnn_top - 0.2) / height, f"{cnn_name}: {n_cnn} first-layer filters, "
             f"{k_cnn}x{k_cnn} px", fontsize=9, va="bottom")
    for i, kernel in enumerate(cnn_filters):
        row, col = divmod(i, cnn_cols)
        ax = axes_at(margin + col * (cnn_in + gap), cnn_top + row * (cnn_in + gap), cnn_in, cnn_in)
        _symmetric(ax, kernel)
    x0 = margin + left_w + 1.4
    size = bank.kernels.shape[-1]
    for index, kernel in enumerate(bank.kernels):
        row = int(np.searchsorted(freqs, round(float(bank.frequencies[index]), 9)))
        col = int(np.searchsorted(thetas, round(float(bank.thetas[index]), 9)))
        ax = axes_at(x0 + col * (kernel_in + gap), top + row * (kernel_in + gap), kernel_in, kernel_in)
        _symmetric(ax, kernel.real)
        if row == 0:
            ax.set_title(f"θ = {np.degrees(bank.thetas[index]):.0f}°", fontsize=8)
        if col == 0:
            ax.set_ylabel(f"f = {bank.frequencies[index]:.2g}\nc/px", fontsize=8, rotation=0, ha="right",
                          va="center", labelpad=4)
    side = IMAGE_SIZE // round(bank_pixel)
    copy = f" of the {side}x{side} copy" if bank_pixel != 1 else ""
    fig.text(x0 / width, 1 - (top - 0.35) / height, f"Gabor bank: real parts of {len(bank.kernels)} kernels, "
             f"{size}x{size} px{copy}", fontsize=9, va="bottom")
    fig.suptitle("First-layer filters at the same scale: every square is one image pixel on screen "
                 f"(learned {k_cnn}x{k_cnn} CNN filters vs fixed {size}x{size} Gabor kernels)\nred positive, "
                 "blue negative, each filter on its own scale centred at 0", fontsize=10.5,
                 y=1 - 0.15 / height, va="top")
    save_figure(fig, path)


def plot_feature_maps(image: np.ndarray, caption: str, moduli: np.ndarray, bank, cnn_maps: np.ndarray,
                      path: str | os.PathLike, cnn_name: str = "CNN") -> None:
    """One digit, its Gabor response moduli and the CNN's first feature maps.

    Parameters
    ----------
    image : ndarray of shape (28, 28), float in [0, 1]
    caption : str
        Which digit (test index and label).
    moduli : ndarray of shape (F, h, w), non-negative
        ``|kernel * image|`` per Gabor filter (:func:`mnistlab.features.gabor.response_modulus`);
        one colour scale per frequency row.
    bank : mnistlab.features.gabor.FilterBank
        The filters behind ``moduli``, for the row and column labels.
    cnn_maps : ndarray of shape (C, H, W), non-negative
        :func:`first_feature_maps`; one colour scale for all channels.
    path : path-like
        PNG to write.
    cnn_name : str
    """
    freqs = np.unique(np.round(bank.frequencies, 9))
    thetas = np.unique(np.round(bank.thetas, 9))
    cnn_cols = min(len(cnn_maps), 8)
    cnn_rows = -(-len(cnn_maps) // cnn_cols)
    ncols = len(thetas) + 1
    fig = plt.figure(figsize=(1.4 * max(ncols, cnn_cols) + 0.8, 1.45 * (len(freqs) + cnn_rows) + 1.6),
                     layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[len(freqs) + 0.5, cnn_rows + 0.6])
    axes = top.subplots(len(freqs), ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[:, 0]:
        ax.set_axis_off()
    middle = axes[len(freqs) // 2, 0]
    middle.set_axis_on()
    middle.imshow(image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    middle.set_title(caption, fontsize=8)
    for row, frequency in enumerate(freqs):
        members = np.flatnonzero(np.isclose(bank.frequencies, frequency))
        vmax = max(float(moduli[members].max()), 1e-12)
        for index in members:
            col = 1 + int(np.searchsorted(thetas, round(float(bank.thetas[index]), 9)))
            axes[row, col].imshow(moduli[index], cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            if row == 0:
                axes[row, col].set_title(f"θ = {np.degrees(bank.thetas[index]):.0f}°", fontsize=8)
        axes[row, 1].set_ylabel(f"f = {frequency:.2g} c/px", fontsize=8)
    top.suptitle(f"Gabor response moduli |g * x| ({len(moduli)} filters; one colour scale per frequency row)",
                 fontsize=10)
    cnn_axes = bottom.subplots(cnn_rows, cnn_cols, squeeze=False)
    vmax = max(float(cnn_maps.max()), 1e-12)
    for ax in cnn_axes.flat:
        ax.set_axis_off()
    for channel, (ax, fmap) in enumerate(zip(cnn_axes.flat, cnn_maps, strict=False)):
        ax.imshow(fmap, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"channel {channel}", fontsize=7, pad=2)
    height, width = cnn_maps.shape[-2:]
    bottom.suptitle(f"{cnn_name}: first feature maps ReLU(conv1(x)), {height}x{width} ({len(cnn_maps)} "
                    "channels; one colour scale, dark = 0)", fontsize=10)
    fig.suptitle("What the first layers see in one test digit: fixed Gabor filters vs learned convolutions",
                 fontsize=12)
    save_figure(fig, path)


# -- the report stage's entry point -----------------------------------------------------------------

def _load(path: Path | None, what: str, notes: list[str]):
    from mnistlab.models.registry import load_model

    if path is None or not Path(path).is_file():
        notes.append(f"{path}: not found; skipping {what}")
        return None
    return load_model(path)


def write_representation_figures(
    folder: str | os.PathLike,
    mlp_path: str | os.PathLike | None,
    twin_path: str | os.PathLike | None,
    cnn_path: str | os.PathLike | None,
    bank,
    gabor_resolution: int,
    image: np.ndarray,
    caption: str,
    n_units: int = 32,
) -> tuple[list[Path], list[str]]:
    """Draw the three figures of this module into ``folder`` (file names in :data:`FIGURES`).

    Parameters
    ----------
    folder : path-like
        ``plots/images``.
    mlp_path, twin_path, cnn_path : path-like or None
        The NumPy MLP (``.npz``), its PyTorch twin and the CNN (``.pt``); a missing file skips what
        needs it, with a note.
    bank : mnistlab.features.gabor.FilterBank
        From the ``gabor`` params (:func:`mnistlab.features.gabor.make_bank`).
    gabor_resolution : int
        ``gabor.resolution``: 28, or 14 when the bank filters 2x2 mean-pooled copies.
    image : ndarray of shape (28, 28), float32 in [0, 1]
        The test digit of the feature-map figure.
    caption : str
        Which digit it is.
    n_units : int
        Hidden units shown per MLP.

    Returns
    -------
    written : list of Path
    notes : list of str
        What was skipped and why.
    """
    import torch

    from mnistlab.data.prepare import downsample
    from mnistlab.features.filters import response_modulus

    folder, notes, written = Path(folder), [], []
    panels = {}
    for path, kind in ((mlp_path, "NumPy MLP"), (twin_path, "PyTorch twin")):
        network = _load(Path(path) if path else None, f"the {kind} in the first-layer weights figure", notes)
        if network is not None:
            try:
                panels[f"{kind} {Path(path).stem}"] = first_linear_weights(network)
            except MnistlabError as err:
                notes.append(f"{path}: {err}; skipping it in the first-layer weights figure")
    if panels:
        plot_unit_weights(panels, folder / FIGURES["weights"], n_units=n_units)
        written.append(folder / FIGURES["weights"])
    cnn = _load(Path(cnn_path) if cnn_path else None, "the CNN filter and feature-map figures", notes)
    if cnn is not None:
        name = Path(cnn_path).stem
        try:
            filters, maps = first_conv_filters(cnn), first_feature_maps(cnn, image)
        except MnistlabError as err:
            notes.append(f"{cnn_path}: {err}; skipping the CNN filter and feature-map figures")
        else:
            factor = IMAGE_SIZE // gabor_resolution
            plot_filters_same_scale(filters, bank, image, folder / FIGURES["filters"], cnn_name=name,
                                    bank_pixel=factor)
            small = np.asarray(image, dtype=np.float32)[None]
            small = downsample(small, factor) if factor > 1 else small
            moduli = response_modulus(torch.from_numpy(np.ascontiguousarray(small)), bank.kernels).numpy()[0]
            plot_feature_maps(image, caption, moduli, bank, maps, folder / FIGURES["maps"], cnn_name=name)
            written += [folder / FIGURES["filters"], folder / FIGURES["maps"]]
    return written, notes
