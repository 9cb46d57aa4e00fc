"""MNIST-C-style corruptions of digit images, each with graded severities.

After Mu and Gilmer (2019), "MNIST-C: A robustness benchmark for computer vision",
arXiv:1906.02337: a family of image transformations that leave the digit's label unchanged,
each applied at several severities. Every function here takes and returns a batch of images,
ndarray of shape (N, 28, 28), float32 in [0, 1] (light ink on black, as
:func:`mnistlab.data.prepare.scale` makes them), works on the whole batch in one
``scipy.ndimage`` call (no loop over images), and draws its randomness from the
``np.random.Generator`` it is given. At its identity severity (0 for all families, 1 for ``scale``)
each returns an unchanged copy.

Geometric corruptions resample with bilinear interpolation (``order=1``) about the image centre
(13.5, 13.5), the midpoint of the 28 pixel centres, and fill with background (0) outside the image.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mnistlab.core.errors import MnistlabError


def _warp(
    images: np.ndarray, matrices: np.ndarray, offsets: np.ndarray, mode: str = "constant"
) -> np.ndarray:
    """Resample each image with its own affine map about the centre, in one batched call.

    The output pixel at ``p = (row, col)`` takes the input value at
    ``matrices[i] @ (p - c) + c + offsets[i]``, with ``c`` the image centre; bilinear interpolation,
    zero outside the image.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), float32
    matrices : ndarray of shape (N, 2, 2)
        Output-to-input linear maps, in (row, col) coordinates.
    offsets : ndarray of shape (N, 2)
        Output-to-input shifts, pixels (row, col).
    mode : str
        ``scipy.ndimage.map_coordinates`` mode: ``"constant"`` (no interpolation across the border)
        or ``"grid-constant"`` (interpolating towards the zero outside, as scikit-image's ``warp``).
    """
    n, h, w = images.shape
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    grid = np.stack(np.mgrid[:h, :w].astype(np.float64)).reshape(2, -1) - centre[:, None]  # (2, H*W)
    source = np.einsum("nij,jp->inp", matrices, grid) + (centre[None, :] + offsets).T[:, :, None]
    index = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None], (n, h * w))
    coords = np.concatenate([index[None], source]).reshape(3, n, h, w)
    out = ndimage.map_coordinates(images, coords, order=1, mode=mode, cval=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _signs(rng: np.random.Generator | None, n: int) -> np.ndarray:
    """+1 for every image when ``rng`` is None, else a seeded random +1 or -1 per image."""
    return np.ones(n) if rng is None else rng.choice([-1.0, 1.0], size=n)


def rotate(images: np.ndarray, degrees: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Rotate every image by ``degrees`` (angle in degrees) about its centre.

    Positive angles turn the digit counter-clockwise as displayed (row 0 at the top), as
    ``scipy.ndimage.rotate`` does. With ``rng``, each image turns clockwise or counter-clockwise
    at random (seeded); without it, all turn counter-clockwise.
    """
    theta = np.deg2rad(degrees) * _signs(rng, len(images))
    cos, sin = np.cos(theta), np.sin(theta)
    # output -> input in (row, col): the inverse of a counter-clockwise turn on screen
    matrices = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)
    return _warp(images, matrices, np.zeros((len(images), 2)))


def translate(images: np.ndarray, pixels: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shift every image by ``pixels`` (a distance in pixels) in a direction drawn per image.

    With ``rng`` the direction is uniform in [0, 360) degrees (seeded); without it every image
    moves right. Sub-pixel shifts use bilinear interpolation, which keeps the total ink and moves
    the centre of mass by exactly ``pixels`` unless ink leaves the image.
    """
    angle = np.zeros(len(images)) if rng is None else rng.uniform(0.0, 2.0 * np.pi, size=len(images))
    shift = pixels * np.stack([np.sin(angle), np.cos(angle)], axis=1)  # (row, col)
    eye = np.broadcast_to(np.eye(2), (len(images), 2, 2))
    return _warp(images, eye, -shift)


def scale(images: np.ndarray, factor: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Zoom every image by ``factor`` (dimensionless, > 0) about its centre; 1 is the identity.

    Factors above 1 enlarge the digit (ink beyond the border is lost), below 1 shrink it.
    Deterministic: ``rng`` is accepted for a uniform interface and not used.
    """
    matrices = np.broadcast_to(np.eye(2) / factor, (len(images), 2, 2))
    return _warp(images, matrices, np.zeros((len(images), 2)))


def shear(images: np.ndarray, amount: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Shear every image horizontally by ``amount`` (the tangent of the shear angle) about its centre.

    A row ``d`` pixels below the centre moves ``amount * d`` pixels to the right (a vertical stroke
    leans like a backslash). With ``rng`` each image is sheared one way or the other at random (seeded).
    """
    k = amount * _signs(rng, len(images))
    matrices = np.zeros((len(images), 2, 2))
    matrices[:, 0, 0] = matrices[:, 1, 1] = 1.0
    matrices[:, 1, 0] = -k  # input col = col - k * (row - centre)
    return _warp(images, matrices, np.zeros((len(images), 2)))


def gaussian_noise(images: np.ndarray, std: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Add independent Gaussian noise of standard deviation ``std`` (pixel units, [0, 1]), clipped.

    ``rng`` defaults to ``np.random.default_rng(0)``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    noise = rng.normal(0.0, std, size=images.shape).astype(np.float32)
    return np.clip(images + noise, 0.0, 1.0).astype(np.float32)


def blur(images: np.ndarray, sigma: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels in both directions (zero outside).

    Deterministic: ``rng`` is not used.
    """
    out = ndimage.gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def stroke(images: np.ndarray, pixels: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Thicken (``pixels`` > 0, grey dilation) or thin (``pixels`` < 0, grey erosion) the strokes.

    ``pixels`` is the change of stroke width in whole pixels: a square footprint of side
    ``|pixels| + 1`` (even sides shift the digit by half a pixel). Deterministic: ``rng`` is not used.
    """
    side = int(round(abs(pixels))) + 1
    if side == 1:
        return images.copy()
    morph = ndimage.grey_dilation if pixels > 0 else ndimage.grey_erosion
    return morph(images, size=(1, side, side), mode="constant", cval=0.0).astype(np.float32)


def occlude(images: np.ndarray, side: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Paint a ``side`` x ``side`` pixel square of background (0) on every image.

    The square lies inside the central 20 x 20 box, where MNIST puts the digit (or is centred when
    it is larger); its position is uniform per image with ``rng`` (seeded), else central.
    """
    n, h, w = images.shape
    side = int(round(side))
    low, high = 4, max(4, h - 4 - side)  # top-left corners keeping the square in rows/cols 4..23
    if side > h - 8:
        low = high = max(0, (h - side) // 2)
    if rng is None:
        top = left = np.full(n, (low + high) // 2)
    else:
        top, left = rng.integers(low, high + 1, size=(2, n))
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + side)  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # (N, W)
    return np.where(in_rows[:, :, None] & in_cols[:, None, :], np.float32(0.0), images).astype(np.float32)


@dataclass(frozen=True)
class Family:
    """One corruption family.

    Attributes
    ----------
    func : callable
        ``func(images, severity, rng) -> images`` on (N, 28, 28) float32 in [0, 1].
    unit : str
        What a severity measures, for axis labels.
    identity : float
        The severity that leaves images unchanged.
    low, high : float
        Allowed severities (inclusive).
    random : bool
        Whether ``func`` draws from ``rng`` (so another seed gives other images).
    """

    func: Callable[[np.ndarray, float, np.random.Generator | None], np.ndarray]
    unit: str
    identity: float
    low: float
    high: float
    random: bool


#: Every corruption family by name.
FAMILIES: dict[str, Family] = {
    "rotation": Family(rotate, "degrees (random direction)", 0.0, 0.0, 180.0, True),
    "translation": Family(translate, "pixels (random direction)", 0.0, 0.0, 14.0, True),
    "scale": Family(scale, "zoom factor", 1.0, 0.25, 3.0, False),
    "shear": Family(shear, "shear factor (random direction)", 0.0, 0.0, 2.0, True),
    "noise": Family(gaussian_noise, "noise std (pixel units)", 0.0, 0.0, 1.0, True),
    "blur": Family(blur, "Gaussian sigma (pixels)", 0.0, 0.0, 5.0, False),
    "stroke": Family(stroke, "stroke width change (pixels)", 0.0, -3.0, 4.0, False),
    "occlusion": Family(occlude, "side of the blanked square (pixels)", 0.0, 0.0, 28.0, True),
}

#: Default families and severities (what ``robustness.corruptions`` defaults to): 26 corrupted
#: copies of the test subset, and the clean one.
DEFAULT_CORRUPTIONS: dict[str, list[float]] = {
    "rotation": [15, 30, 45, 60],
    "translation": [2, 4, 6],
    "scale": [0.6, 0.8, 1.2, 1.4],
    "shear": [0.3, 0.6, 0.9],
    "noise": [0.1, 0.25, 0.4],
    "blur": [1.0, 1.5, 2.0],
    "stroke": [-1, 1, 2],
    "occlusion": [6, 10, 14],
}


def corruption_problem(name: str, severities: Sequence[float]) -> str | None:
    """What is wrong with family ``name`` at ``severities`` (one line), or None when all is well.

    For a params validator: ``unknown corruption 'zoom', expected one of ...`` or
    ``noise = 1.5: expected a severity in [0, 1] (noise std (pixel units))``.
    """
    family = FAMILIES.get(name)
    if family is None:
        return f"unknown corruption {name!r}, expected one of {', '.join(FAMILIES)}"
    for severity in severities:
        if not family.low <= severity <= family.high:
            return (f"{name} = {severity!r}: expected a severity in [{family.low:g}, {family.high:g}] "
                    f"({family.unit})")
    return None


def check_corruptions(
    corruptions: Mapping[str, Sequence[float]], key: str = "robustness.corruptions"
) -> None:
    """Raise :class:`MnistlabError` (one line naming ``key``) for an unknown family or a bad severity."""
    for name, severities in corruptions.items():
        problem = corruption_problem(name, severities)
        if problem:
            raise MnistlabError(f"{key}: {problem}")


def condition_rng(seed: int, name: str, severity: float) -> np.random.Generator:
    """The generator of one (corruption, severity): depends on the seed, the name and the severity
    only, so adding or removing another family or severity leaves these images unchanged."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()),
                                  zlib.crc32(repr(float(severity)).encode())])


def corrupt(images: np.ndarray, name: str, severity: float, seed: int = 0) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` to every image, seeded by (seed, name, severity).

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), float32 in [0, 1]
    name : str
        A key of :data:`FAMILIES`.
    severity : float
        In the family's unit; its identity value returns an unchanged copy.
    seed : int

    Returns
    -------
    ndarray of shape (N, 28, 28), float32 in [0, 1]

    Raises
    ------
    MnistlabError
        For an unknown name or a severity out of the family's range.
    """
    check_corruptions({name: [severity]}, key="corruption")
    family = FAMILIES[name]
    images = np.asarray(images, dtype=np.float32)
    if severity == family.identity or len(images) == 0:
        return images.copy()
    return family.func(images, severity, condition_rng(seed, name, severity))
