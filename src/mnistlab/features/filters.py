"""Batched Gabor filtering: the response moduli of many images to a filter bank, pooled.

One ``torch.nn.functional.conv2d`` call per batch of images correlates them with the real and
imaginary parts of every kernel (a quadrature pair), whose modulus is a phase-invariant measure of
local oriented energy (Daugman 1985); average pooling then summarises it over windows.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def response_modulus(images: torch.Tensor, kernels: np.ndarray, stride: int = 1) -> torch.Tensor:
    """Modulus of the complex responses of a batch of images to every filter, in one conv2d call.

    Computes the correlation (as ``scipy.ndimage.correlate`` with zero padding, and as
    ``torch.nn.functional.conv2d``) of each image with the real and the imaginary part of each
    kernel, keeping every ``stride``-th output pixel, then ``sqrt(re**2 + im**2)``.

    Parameters
    ----------
    images : Tensor of shape (N, H, W), float32
    kernels : ndarray of shape (F, k, k), complex
        ``k`` odd; outputs are centred on the input pixels (``padding = k // 2``).
    stride : int
        Sampling step of the output, pixels.

    Returns
    -------
    Tensor of shape (N, F, ceil(H / stride), ceil(W / stride)), float32
    """
    n_filters, size = len(kernels), kernels.shape[-1]
    weight = np.concatenate([kernels.real, kernels.imag]).astype(np.float32)[:, None]
    out = F.conv2d(images[:, None], torch.from_numpy(weight), padding=size // 2, stride=stride)
    return torch.hypot(out[:, :n_filters], out[:, n_filters:])


def pooled_size(resolution: int, stride: int, pool: int) -> int:
    """Side of the pooled maps: ``ceil(ceil(resolution / stride) / (pool / stride))`` cells."""
    return math.ceil(math.ceil(resolution / stride) / (pool // stride))


def extract_features(
    images: np.ndarray, kernels: np.ndarray, stride: int, pool: int, batch_size: int = 4096
) -> np.ndarray:
    """Pooled Gabor response moduli for many images, in batches of ``batch_size`` images.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), float
    kernels : ndarray of shape (F, k, k), complex
    stride : int
        Sampling step of the response maps, pixels; divides ``pool``.
    pool : int
        Side of the average-pooling window, pixels (partial windows at the border average the
        pixels they hold).
    batch_size : int
        Images per conv2d call (bounds memory: about ``batch_size * 8 * F * H * W / stride**2``
        bytes).

    Returns
    -------
    ndarray of shape (N, F * c * c), float32
        ``c = pooled_size(H, stride, pool)``; features ordered filter, row, column.
    """
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    window = pool // stride
    chunks = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            modulus = response_modulus(x[start : start + batch_size], kernels, stride)
            pooled = F.avg_pool2d(modulus, window, ceil_mode=True)
            chunks.append(pooled.reshape(len(pooled), -1))
    n_out = len(kernels) * pooled_size(images.shape[1], stride, pool) ** 2
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, n_out), np.float32)
