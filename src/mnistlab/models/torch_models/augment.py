"""Random geometric augmentation of training batches, on tensors, without torchvision.

Random rotation and random perspective, as torchvision's ``RandomRotation(degrees)`` and
``RandomPerspective(distortion_scale, p)``, and random integer translations (the NumPy net's
``max_shift``, ``mnistlab.nn.train.random_shift``) are all projective maps of the plane, so one 3x3
matrix per image composes them and a single batched ``affine_grid``-style sampling grid plus
``torch.nn.functional.grid_sample`` warps the whole minibatch in one call (bilinear, zero
padding = black background). When only the shifts are on, :func:`shift_images` moves the pixels
by indexing instead (the same draws and result, several times faster). Matrices act on
normalised coordinates in [-1, 1] (``align_corners=False``) and map each *output* pixel to the
point it samples in the input.

Only training batches are augmented; normalisation with MNIST's mean and std is part of the
model (:class:`mnistlab.models.torch_models.models.Normalize`) so that it applies everywhere.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

#: the four corners of the image in normalised coordinates: top-left, top-right, bottom-right,
#: bottom-left (x to the right, y down)
CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def rotation_matrices(angles: Tensor) -> Tensor:
    """Sampling matrices of rotations of the image content by ``angles`` (radians) about its centre.

    Positive angles turn the content counter-clockwise as displayed (rows downwards), as
    torchvision's ``rotate`` and ``torch.rot90(x, 1, dims=(-2, -1))``.

    Parameters
    ----------
    angles : Tensor of shape (N,), float32, radians

    Returns
    -------
    Tensor of shape (N, 3, 3)
        Homogeneous matrices mapping output coordinates to input coordinates (the inverse rotation).
    """
    cos, sin = torch.cos(angles), torch.sin(angles)
    zero, one = torch.zeros_like(angles), torch.ones_like(angles)
    rows = [
        torch.stack([cos, -sin, zero], -1),
        torch.stack([sin, cos, zero], -1),
        torch.stack([zero, zero, one], -1),
    ]
    return torch.stack(rows, dim=-2)


def translation_matrices(shifts: Tensor, height: int, width: int) -> Tensor:
    """Sampling matrices of translations of the image content by ``shifts`` pixels.

    Parameters
    ----------
    shifts : Tensor of shape (N, 2), float32
        (dx, dy) in pixels, right and down.
    height, width : int
        Image size in pixels (normalised coordinates span 2 over the image).

    Returns
    -------
    Tensor of shape (N, 3, 3)
    """
    matrices = torch.eye(3).repeat(len(shifts), 1, 1)
    matrices[:, 0, 2] = -2.0 * shifts[:, 0] / width
    matrices[:, 1, 2] = -2.0 * shifts[:, 1] / height
    return matrices


def shift_images(images: Tensor, shifts: Tensor, max_shift: int) -> Tensor:
    """Translate each image's content by whole pixels, filling with zeros (black background).

    Parameters
    ----------
    images : Tensor of shape (N, C, H, W)
    shifts : Tensor of shape (N, 2), integer, same device
        (dx, dy) in pixels, right and down, each in ``-max_shift..max_shift``.
    max_shift : int
        The largest shift, pixels (the width of the zero padding).

    Returns
    -------
    Tensor of the shape, dtype and device of ``images``
    """
    n, channels, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    rows = max_shift - shifts[:, 1, None] + torch.arange(height, device=images.device)  # (N, H)
    cols = max_shift - shifts[:, 0, None] + torch.arange(width, device=images.device)  # (N, W)
    flat = rows[:, :, None] * (width + 2 * max_shift) + cols[:, None, :]  # (N, H, W) into padded
    flat = flat.reshape(n, 1, height * width).expand(n, channels, height * width)
    return padded.reshape(n, channels, -1).gather(2, flat).reshape(n, channels, height, width)


def homographies(src: Tensor, dst: Tensor) -> Tensor:
    """Projective maps sending four points ``src[i]`` to ``dst[i]`` (direct linear transform).

    Solves, for each image, the 8x8 system of ``u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1)`` and
    ``v = (h3 x + h4 y + h5) / (h6 x + h7 y + 1)`` over the four correspondences (Hartley and
    Zisserman, *Multiple View Geometry*, 2nd ed., sec. 4.1), as torchvision's
    ``_get_perspective_coeffs`` does.

    Parameters
    ----------
    src, dst : Tensor of shape (N, 4, 2), float32
        Point pairs (x, y); no three points of ``src`` may be collinear.

    Returns
    -------
    Tensor of shape (N, 3, 3)
        Matrices ``H`` with ``H @ (x, y, 1) ~ (u, v, 1)``.
    """
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    a = torch.cat([rows_u, rows_v], dim=1)  # (N, 8, 8)
    b = torch.cat([u, v], dim=1)  # (N, 8)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1).reshape(-1, 3, 3)


def perspective_matrices(n: int, distortion: float, p: float, generator: torch.Generator) -> Tensor:
    """Sampling matrices of random perspective distortions, as torchvision's ``RandomPerspective``.

    With probability ``p`` an image's four corners move inwards by independent uniform amounts in
    [0, ``distortion``] times half the image side along each axis, and the image is warped so that
    its corners land there; otherwise its matrix is the identity.

    Parameters
    ----------
    n : int
        Number of images.
    distortion : float in [0, 1]
        torchvision's ``distortion_scale``.
    p : float in [0, 1]
        Probability of distorting an image.
    generator : torch.Generator
        CPU generator of every random draw.

    Returns
    -------
    Tensor of shape (n, 3, 3), float32, on the CPU
    """
    corners = CORNERS.expand(n, 4, 2)
    shift = torch.rand(n, 4, 2, generator=generator) * distortion
    applied = torch.rand(n, generator=generator) < p
    moved = corners - corners.sign() * shift * applied[:, None, None]
    # The output's corner ``moved`` shows the input's corner: output -> input coordinates.
    return homographies(moved, corners)


class Augmenter:
    """Random perspective, rotation and translation of a batch of images, in one ``grid_sample`` call.

    Parameters
    ----------
    rotation_degrees : float
        Angles are uniform in [-rotation_degrees, rotation_degrees]; 0 switches rotation off.
    perspective_distortion : float in [0, 1]
        Corner displacement scale (torchvision's ``distortion_scale``); 0 switches it off.
    perspective_p : float in [0, 1]
        Probability that an image is distorted; 0 switches perspective off.
    max_shift : int
        Translations by whole pixels, uniform in -max_shift..max_shift on each axis (exact: the
        grid then hits pixel centres); 0 switches them off.
    enabled : bool
        False makes :meth:`__call__` the identity.
    """

    def __init__(
        self,
        rotation_degrees: float = 10.0,
        perspective_distortion: float = 0.2,
        perspective_p: float = 0.5,
        enabled: bool = True,
        max_shift: int = 0,
    ) -> None:
        self.rotation_degrees = rotation_degrees
        self.perspective_distortion = perspective_distortion
        self.perspective_p = perspective_p
        self.max_shift = max_shift
        self.enabled = enabled
        self._grid_cache: dict[tuple, Tensor] = {}

    @property
    def is_identity(self) -> bool:
        """True when no transform is switched on."""
        return not self.enabled or (self._shifts_only and self.max_shift == 0)

    @property
    def _perspective_on(self) -> bool:
        return self.perspective_distortion > 0 and self.perspective_p > 0

    @property
    def _shifts_only(self) -> bool:
        """No rotation and no perspective: whole-pixel shifts at most."""
        return self.rotation_degrees == 0 and not self._perspective_on

    def _shifts(self, n: int, generator: torch.Generator) -> Tensor:
        """Random (dx, dy) whole-pixel shifts (n, 2), int64, each in ``-max_shift..max_shift``."""
        return torch.randint(-self.max_shift, self.max_shift + 1, (n, 2), generator=generator)

    def matrices(self, n: int, generator: torch.Generator, size: tuple[int, int] = (28, 28)) -> Tensor:
        """Random sampling matrices (n, 3, 3), float32 on the CPU, for images of ``size`` (H, W).

        The content is distorted, then rotated, then shifted: the sampling matrix undoes the
        shift, then the rotation, then the perspective.
        """
        matrices = torch.eye(3).repeat(n, 1, 1)
        if self.max_shift > 0:
            matrices = translation_matrices(self._shifts(n, generator).float(), *size)
        if self.rotation_degrees > 0:
            angles = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(self.rotation_degrees)
            matrices = rotation_matrices(angles) @ matrices
        if self._perspective_on:
            perspective = perspective_matrices(n, self.perspective_distortion, self.perspective_p, generator)
            matrices = perspective @ matrices
        return matrices

    def _base_grid(self, height: int, width: int, device: torch.device) -> Tensor:
        """Homogeneous pixel-centre coordinates (H*W, 3) in [-1, 1], as ``affine_grid``."""
        key = (height, width, str(device))
        if key not in self._grid_cache:
            ys = (torch.arange(height, dtype=torch.float32) * 2 + 1) / height - 1
            xs = (torch.arange(width, dtype=torch.float32) * 2 + 1) / width - 1
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack([gx, gy, torch.ones_like(gx)], -1).reshape(-1, 3)
            self._grid_cache[key] = grid.to(device)
        return self._grid_cache[key]

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """Augment a batch.

        Parameters
        ----------
        images : Tensor of shape (N, C, H, W), float32 in [0, 1], on any device
        generator : torch.Generator
            CPU generator of the random transforms (seed it for reproducible runs).

        Returns
        -------
        Tensor of shape (N, C, H, W), float32 in [0, 1], same device
            ``images`` itself when :attr:`is_identity`.
        """
        if self.is_identity:
            return images
        n, _, height, width = images.shape
        if self._shifts_only:
            # the same draws as matrices(), moved by indexing: the result of the bilinear grid,
            # which is at pixel centres, several times faster than grid_sample
            return shift_images(images, self._shifts(n, generator).to(images.device), self.max_shift)
        return self.warp(images, self.matrices(n, generator, (height, width)).to(images.device))

    def warp(self, images: Tensor, matrices: Tensor) -> Tensor:
        """Sample each image through its matrix: bilinear, zero padding, clamped to [0, 1].

        Parameters
        ----------
        images : Tensor of shape (N, C, H, W), float32
        matrices : Tensor of shape (N, 3, 3), float32, on the device of ``images``
            Sampling matrices (output pixel -> input point) in normalised coordinates.
        """
        n, _, height, width = images.shape
        points = self._base_grid(height, width, images.device) @ matrices.transpose(1, 2)  # (N, H*W, 3)
        grid = (points[..., :2] / points[..., 2:]).reshape(n, height, width, 2)
        warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return warped.clamp_(0.0, 1.0)
