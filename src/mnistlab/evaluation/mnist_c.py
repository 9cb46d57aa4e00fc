"""MNIST-C: the 15 corruptions of the field's robustness benchmark, and its official ``.npy`` files.

Mu and Gilmer (2019), "MNIST-C: A Robustness Benchmark for Computer Vision", arXiv:1906.02337
(ICML 2019 Workshop on Uncertainty and Robustness in Deep Learning), built their data set with
``corruptions.py`` of the google-research/mnist-c repository: each of the 15 corruptions below is
called on every one of the 10,000 MNIST test digits with its function's *default* severity (one
fixed setting per corruption, not graded), and the float result is rounded to uint8 before it is
saved (``round_and_astype`` of the repository's ``visualize_corruptions.ipynb``). The functions here
take the same parameters and follow the same definitions (the facts carry over; the code is ours,
batched with NumPy, ``scipy.ndimage`` and scikit-image instead of a loop over PIL images). Where
the reference calls ImageMagick (through ``wand``) or OpenCV, neither of which this project
installs, the docstring says how our re-implementation departs.

Conventions: every corruption takes ``images``, ndarray of shape (N, 28, 28), uint8 in [0, 255]
(light ink on black, as in the IDX files), and an ``np.random.Generator``, and returns a new array
of the same shape and dtype, rounded as MNIST-C's files are. Randomness comes only from the
generator (:func:`corruption_rng` seeds one per corruption from ``robustness.seed``), so a seed
gives the same images on every run; the reference draws from NumPy's global state instead, so
our images are not the official ones pixel for pixel. A user who has the official files points
``robustness.mnist_c_dir`` at them (:func:`load_official`).

Coordinates: (row, col) with row 0 at the top; the reference's scikit-image transforms use
(x, y) = (col, row). Geometric corruptions keep the image centre (13.5, 13.5) fixed, as the
reference does.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy import ndimage

from mnistlab.core.errors import MnistlabError
from mnistlab.evaluation.corruptions import _warp

#: Side of an MNIST image, pixels.
SIDE = 28


# -- helpers ------------------------------------------------------------------------------------

def _check(images: np.ndarray) -> np.ndarray:
    """``images`` as float64 in [0, 1]; raises ValueError unless (N, 28, 28) uint8."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    return images.astype(np.float64) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 0..255, clipped and rounded as MNIST-C's saved files are."""
    return np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)


def _gaussian(images: np.ndarray, sigma_rows: float, sigma_cols: float) -> np.ndarray:
    """``skimage.filters.gaussian`` of every image (edge-replicating ``mode='nearest'``, truncated at
    4 sigma, its defaults), one batched call; sigma in pixels along rows and columns."""
    return ndimage.gaussian_filter(images, sigma=(0.0, sigma_rows, sigma_cols), mode="nearest", truncate=4.0)


def _affine(unit: np.ndarray, matrices: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """``skimage.transform.warp(image, inverse_map=AffineTransform(...))`` about the centre:
    bilinear, zero outside (interpolating towards the zero border as scikit-image does).
    ``matrices`` (N, 2, 2) map output (row, col) to input (row, col) about the centre."""
    offsets = np.zeros((len(unit), 2)) if offsets is None else offsets
    return _warp(unit.astype(np.float32), matrices, offsets, mode="grid-constant").astype(np.float64)


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random +1 or -1 per image (the reference's ``np.random.choice([-1, 1])``)."""
    return rng.choice(np.array([-1.0, 1.0]), size=n)


def _line(c0: np.ndarray, r0: np.ndarray, c1: np.ndarray, r1: np.ndarray) -> np.ndarray:
    """The reference's ``line_from_points`` for N lines at once: (N, 28, 28) in [0, 1].

    A line through (col, row) = (c0, r0) and (c1, r1) whose intensity falls with the *vertical*
    distance d to it as ``log(1 - d / 2.3) + 1`` (0 from d = 1.45 px on), kept only in columns
    ``floor(c0) <= col < ceil(c1)``; all zero where ``c1 == c0``.
    """
    c0, r0, c1, r1 = (np.asarray(a, dtype=np.float64)[:, None, None] for a in (c0, r0, c1, r1))
    cols = np.arange(SIDE, dtype=np.float64)[None, None, :]
    rows = np.arange(SIDE, dtype=np.float64)[None, :, None]
    vertical = c1 == c0
    slope = (r1 - r0) / np.where(vertical, 1.0, c1 - c0)
    dist = np.clip(np.abs(rows - (slope * (cols - c0) + r0)), 0.0, 2.3 - 1e-10)
    line = np.clip(np.log(1.0 - dist / 2.3) + 1.0, 0.0, 1.0)
    inside = (cols >= np.floor(c0)) & (cols < np.ceil(c1))
    return np.where(inside & ~vertical, line, 0.0)


# -- the 15 corruptions -------------------------------------------------------------------------

def shot_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson (shot) noise: ``Poisson(3 x) / 3`` for x in [0, 1], clipped.

    Reference ``shot_noise``, default severity 5: ``c = 3`` photons at full intensity.
    """
    x = _check(images)
    return _to_uint8(rng.poisson(x * 3.0) / 3.0)


def impulse_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt-and-pepper noise: each pixel, with probability 0.17, set to 0 or 255 (even odds).

    Reference ``impulse_noise``, default severity 4: ``skimage.util.random_noise(mode='s&p',
    amount=0.17)`` (``salt_vs_pepper`` 0.5), drawn here per pixel as scikit-image's ``s&p`` does.
    """
    x = _check(images)
    flipped = rng.random(x.shape) < 0.17
    salted = rng.random(x.shape) < 0.5
    return _to_uint8(np.where(flipped, salted.astype(np.float64), x))


def glass_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, shuffle neighbouring pixels, blur again ("frosted glass").

    Reference ``glass_blur``, default severity 1: ``(sigma, max_delta, iterations) = (0.7, 1, 2)``.
    Blur with ``skimage.filters.gaussian(x, sigma=0.7, multichannel=True)``; on a 2-D image that
    call treats the last axis as colour channels, so the 2019 reference blurs along rows only (the
    vertical direction), and so do we. Between the blurs the image is cast to uint8 (truncating),
    then twice, for rows and columns h, w from 27 down to 2, with probability 1/2 the pixel (h, w)
    is swapped with (h + dy, w + dx), dx and dy drawn from {-1, 0} (``np.random.randint(-1, 1)``,
    whose upper bound is exclusive). The sequential sweep is kept (a pixel can travel), batched
    over the images.
    """
    x = _check(images)
    out = (_gaussian(x, 0.7, 0.0) * 255.0).astype(np.uint8)
    n = len(out)
    index = np.arange(n)
    sweep = [(h, w) for _ in range(2) for h in range(SIDE - 1, 1, -1) for w in range(SIDE - 1, 1, -1)]
    swap = rng.random((len(sweep), n)) < 0.5
    deltas = rng.integers(-1, 1, size=(len(sweep), 2, n))  # dx, dy in {-1, 0}
    for (h, w), chosen, (dx, dy) in zip(sweep, swap, deltas, strict=True):
        if not chosen.any():
            continue
        i, hp, wp = index[chosen], h + dy[chosen], w + dx[chosen]
        here, there = out[i, h, w], out[i, hp, wp]
        out[i, h, w] = there
        out[i, hp, wp] = here
    return _to_uint8(_gaussian(out / 255.0, 0.7, 0.0))


def motion_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One-sided motion blur along a random direction in [-45, 45] degrees from horizontal.

    Reference ``motion_blur``, default severity 1: ImageMagick's ``MotionBlurImage`` (through
    ``wand``) with ``radius=10, sigma=3, angle=uniform(-45, 45)``. Re-implemented here (no
    ImageMagick in this project) after ImageMagick's definition: a kernel of ``2 * 10 + 1 = 21``
    taps with weights ``exp(-i^2 / (2 * 3^2))``, i = 0..20, normalised to sum 1, tap i reading the
    pixel ``round(i cos a)`` columns and ``round(i sin a)`` rows away (rounding half down, as
    ImageMagick's ``ceil(v - 0.5)``), so ink is smeared to one side only; pixels beyond the border
    repeat the edge (ImageMagick's default virtual-pixel method). Departures: ImageMagick blurs the
    PNG-encoded 8-bit image at its own quantum depth and the reference decodes it with OpenCV; we
    blur in float64 and round once.
    """
    x = _check(images)
    n = len(x)
    angle = np.deg2rad(rng.uniform(-45.0, 45.0, size=n))
    taps = np.arange(21, dtype=np.float64)
    weights = np.exp(-(taps**2) / (2.0 * 3.0**2))
    weights /= weights.sum()
    d_cols = np.ceil(taps[:, None] * np.cos(angle)[None, :] - 0.5).astype(np.int64)  # (21, N)
    d_rows = np.ceil(taps[:, None] * np.sin(angle)[None, :] - 0.5).astype(np.int64)
    rows = np.arange(SIDE)[None, :, None]
    cols = np.arange(SIDE)[None, None, :]
    index = np.arange(n)[:, None, None]
    out = np.zeros_like(x)
    for weight, dr, dc in zip(weights, d_rows, d_cols, strict=True):
        src_r = np.clip(rows + dr[:, None, None], 0, SIDE - 1)
        src_c = np.clip(cols + dc[:, None, None], 0, SIDE - 1)
        out += weight * x[index, src_r, src_c]
    return _to_uint8(out)


def shear(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shear by an angle of 0.4 rad (random direction) about the centre.

    Reference ``shear``, default severity 2: ``skimage.transform.AffineTransform(shear=±0.4)`` as
    the inverse map of ``warp`` (bilinear, zero outside). In the scikit-image of 2019 the shear is
    an angle: in (x, y) the map is ``[[1, -sin s], [0, cos s]]``, so the input column moves by
    ``-sin(s) * (row - 13.5)`` and rows are read ``cos s`` apart (the digit is sheared and
    stretched vertically by ``1 / cos 0.4 = 1.086``). Written out here because scikit-image 0.19+
    reads ``shear`` differently.
    """
    x = _check(images)
    s = 0.4 * _signs(rng, len(x))
    matrices = np.zeros((len(x), 2, 2))
    matrices[:, 0, 0] = np.cos(s)  # input row = cos(s) * (row - c) + c
    matrices[:, 1, 0] = -np.sin(s)  # input col = (col - c) - sin(s) * (row - c) + c
    matrices[:, 1, 1] = 1.0
    return _to_uint8(_affine(x, matrices))


def scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrink the digit to 0.7 of its size about the centre.

    Reference ``scale``, default severity 3: ``AffineTransform(scale=(1/0.7, 1/0.7))`` as the inverse
    map of ``warp``: output pixel p reads the input at ``(p - c) / 0.7 + c``. Deterministic
    (``rng`` unused).
    """
    x = _check(images)
    matrices = np.broadcast_to(np.eye(2) / 0.7, (len(x), 2, 2))
    return _to_uint8(_affine(x, matrices))


def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate by 0.4 rad (22.9 degrees) about the centre, clockwise or counter-clockwise at random.

    Reference ``rotate``, default severity 2: ``AffineTransform(rotation=±0.4)`` as the inverse map of
    ``warp`` (bilinear, zero outside), with the translation that keeps (13.5, 13.5) fixed.
    """
    x = _check(images)
    a = 0.4 * _signs(rng, len(x))
    cos, sin = np.cos(a), np.sin(a)
    # (x, y) inverse map [[cos, -sin], [sin, cos]] written in (row, col) = (y, x)
    matrices = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)
    return _to_uint8(_affine(x, matrices))


def brightness(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raise the brightness: ``min(x + 0.5, 1)`` for x in [0, 1].

    Reference ``brightness``, default severity 5: gray -> RGB -> HSV, ``V += 0.5`` clipped to 1, back
    to RGB and to gray with ``skimage.color.rgb2gray`` (weights 0.2125 + 0.7154 + 0.0721 = 1). A gray
    pixel has saturation 0 and value x, so the route is exactly ``min(x + 0.5, 1)``: the background
    becomes mid-grey (128), the ink stays white. Deterministic (``rng`` unused).
    """
    return _to_uint8(_check(images) + 0.5)


def translate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift by 3 pixels along each axis (random signs): a diagonal move of 3 * sqrt(2) = 4.24 px.

    Reference ``translate``, default severity 3: ``AffineTransform(translation=[3 b0, 3 b1])`` with
    random b0, b1 in {-1, 1} as the inverse map of ``warp``: the digit moves by ``-3 b0`` columns and
    ``-3 b1`` rows; ink leaving the image is lost, zero fills in.
    """
    x = _check(images)
    bits = _signs(rng, 2 * len(x)).reshape(len(x), 2)  # (x, y) = (col, row) signs
    offsets = 3.0 * bits[:, ::-1]  # input = output + (dy, dx)
    return _to_uint8(_affine(x, np.broadcast_to(np.eye(2), (len(x), 2, 2)), offsets))


def stripe(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert columns 0-6 and 21-27 (``255 - x``): two white bands at the sides.

    Reference ``stripe`` (no severity). Deterministic (``rng`` unused).
    """
    _check(images)
    out = np.array(images, dtype=np.uint8, copy=True)
    out[:, :, :7] = 255 - out[:, :, :7]
    out[:, :, 21:] = 255 - out[:, :, 21:]
    return out


def plasma_fractal(
    rng: np.random.Generator, n: int, mapsize: int = 256, wibbledecay: float = 1.4, crop: int | None = None
) -> np.ndarray:
    """``n`` diamond-square height maps of side ``mapsize`` (a power of two), each scaled to [0, 1].

    The reference's ``plasma_fractal`` (a modification of FLHerne/mapgen's ``diamondsquare.py``,
    wrapping around at the borders with ``np.roll``), batched: at each level the new points are the
    mean of their four neighbours plus ``wibble * uniform(-wibble, wibble)``; ``wibble`` starts at
    100 and is divided by ``wibbledecay`` per level. Each map is shifted and scaled by its own
    minimum and maximum. Computed in float32 (the reference: float64), for speed; the [0, 1] map
    changes by rounding only.

    Parameters
    ----------
    rng : np.random.Generator
    n : int
        Maps to draw.
    mapsize : int
        Side, a power of two.
    wibbledecay : float
        Divisor of the noise amplitude per level.
    crop : int, optional
        Return only the top-left ``crop`` x ``crop`` corner of each map (still scaled by the whole
        map's minimum and maximum).

    Returns
    -------
    ndarray of shape (n, side, side), float32 in [0, 1], side ``crop`` or ``mapsize``
    """
    if mapsize < 2 or mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    maps = np.zeros((n, mapsize, mapsize), dtype=np.float32)
    step, wibble = mapsize, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        noise = rng.random(total.shape, dtype=np.float32)  # uniform(-w, w) * w, in place
        noise *= np.float32(2.0 * wibble * wibble)
        noise -= np.float32(wibble * wibble)
        total *= np.float32(0.25)
        total += noise
        return total

    while step >= 2:
        half = step // 2
        corners = maps[:, 0::step, 0::step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares += np.roll(squares, -1, axis=2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres = maps[:, half::step, half::step]
        left = centres + np.roll(centres, 1, axis=1)
        left += corners
        left += np.roll(corners, -1, axis=2)
        maps[:, 0::step, half::step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=2)
        top += corners
        top += np.roll(corners, -1, axis=1)
        maps[:, half::step, 0::step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    side = mapsize if crop is None else crop
    return (maps[:, :side, :side] - low) / (high - low)


def fog(images: np.ndarray, rng: np.random.Generator, chunk: int = 64) -> np.ndarray:
    """Add fog: ``x + 3 * plasma`` rescaled by ``max(x) / (max(x) + 3)``, clipped.

    Reference ``fog``, default severity 5: ``c = (3.0, 1.4)``, the fog the top-left 28 x 28 corner of
    a 256 x 256 :func:`plasma_fractal` with ``wibbledecay=1.4``; ``max(x)`` is each image's maximum.
    Every image gets its own map (computed ``chunk`` images at a time: 64 maps take 17 MB).
    """
    x = _check(images)
    out = np.empty_like(x)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        top = part.max(axis=(1, 2), keepdims=True)
        foggy = part + 3.0 * plasma_fractal(rng, len(part), crop=SIDE)
        out[start : start + chunk] = foggy * top / (top + 3.0)
    return _to_uint8(out)


def spatter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mud spatter: grey (63) blots where smoothed Gaussian noise is high.

    Reference ``spatter``, default severity 4: ``c = (0.65, 0.3, 1, 0.65, 1.5, 1)``: a liquid layer
    ``normal(0.65, 0.3)`` blurred with sigma 1 and zeroed below 0.65; its mask (> 0.65) blurred with
    sigma 1.5 and zeroed below 0.8 gives the blot weight m; ``x (1 - m) + (63 / 255) m``. Blurs are
    ``skimage.filters.gaussian`` (edge-replicating, 4 sigma).
    """
    x = _check(images)
    liquid = _gaussian(rng.normal(0.65, 0.3, size=x.shape), 1.0, 1.0)
    liquid[liquid < 0.65] = 0.0
    mask = _gaussian((liquid > 0.65).astype(np.float64), 1.5, 1.5)
    mask[mask < 0.8] = 0.0
    return _to_uint8(x * (1.0 - mask) + 63.0 / 255.0 * mask)


def dotted_line(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a dotted white line across the image, from row r0 at the left to row r1 at the right.

    Reference ``dotted_line``: r0, r1 uniform in 0..26, ``line_from_points(0, r0, 27, r1)`` (which
    keeps columns 0..26), then columns [0, 2), [4, 6), ..., [24, 26) blanked: dashes two columns long.
    """
    x = _check(images)
    r0, r1 = rng.integers(0, 27, size=(2, len(x)))
    line = _line(np.zeros(len(x)), r0, np.full(len(x), 27.0), r1)
    edges = np.arange(0, 30, 2)
    off = True
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        if off:
            line[:, :, low:high] = 0.0
        off = not off
    return _to_uint8(x + line)


def _zigzag_points(delta: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns and rows (relative to r0) of the reference ``zigzag``'s vertices for ``r1 - r0 = delta``."""
    a = b = 2.0
    c0, c1 = 2, 25
    theta = np.arctan(delta / (c1 - c0))
    d = (c1 - c0) / np.cos(theta)
    points = [(0.0, 0.0)]
    r_i = 0.0
    for i in range(int((d - a) // (2 * a)) + 1):
        r_i = (-1) ** i * b
        points.append(((2 * i + 1) * a, r_i))
    max_c = (2 * a) * (d // (2 * a))
    if d != max_c:
        points.append((d, r_i / (2 * (d - max_c))))
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cols, rows = turn @ np.array(points).T
    return cols + c0, rows


def zigzag(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a white zigzag (teeth 2 px high, 4 px long) from column 2 to column 25.

    Reference ``zigzag``: r0 uniform in 0..26, r1 = r0 + uniform(-5..4); the zigzag follows the
    line from (2, r0) to (25, r1), its segments drawn with ``line_from_points`` and summed,
    clipped to [0, 1] (summing first and clipping once gives the same result, all terms being
    non-negative).
    """
    x = _check(images)
    n = len(x)
    r0 = rng.integers(0, 27, size=n)
    delta = rng.integers(-5, 5, size=n)
    total = np.zeros_like(x)
    for value in np.unique(delta):
        chosen = delta == value
        cols, rows = _zigzag_points(int(value))
        start = r0[chosen].astype(np.float64)
        for i in range(1, len(cols)):
            k = int(chosen.sum())
            total[chosen] += _line(np.full(k, cols[i - 1]), rows[i - 1] + start,
                                   np.full(k, cols[i]), rows[i] + start)
    return _to_uint8(x + total)


def canny_edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the digit by its Canny edges: 255 on an edge pixel, 0 elsewhere.

    Reference ``canny_edges``: ``skimage.feature.canny(x)`` with its defaults (Gaussian sigma 1,
    hysteresis thresholds 0.1 and 0.2 of the intensity range), one image at a time. Departure: the
    installed scikit-image's ``canny``, whose smoothing at the border was revised after 2019, so a
    few edge pixels can differ from the official files. Deterministic (``rng`` unused).
    """
    from skimage.feature import canny

    x = _check(images)
    edges = np.stack([canny(image) for image in x]) if len(x) else np.zeros_like(x, dtype=bool)
    return np.where(edges, np.uint8(255), np.uint8(0)).astype(np.uint8)


#: The 15 corruptions of MNIST-C, in the order of the reference's ``CORRUPTIONS`` list.
CORRUPTIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotate": rotate,
    "brightness": brightness,
    "translate": translate,
    "stripe": stripe,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "canny_edges": canny_edges,
}

#: The fixed setting of each corruption (the reference function's default severity), for reports.
SETTINGS: dict[str, str] = {
    "shot_noise": "Poisson noise, 3 photons at full intensity (severity 5)",
    "impulse_noise": "salt and pepper on 17% of pixels (severity 4)",
    "glass_blur": "blur sigma 0.7 (rows), local swaps of +-1 px, 2 sweeps (severity 1)",
    "motion_blur": "21-tap one-sided blur, sigma 3, angle in [-45, 45] deg (severity 1)",
    "shear": "shear angle 0.4 rad, random direction (severity 2)",
    "scale": "shrink to 0.7 about the centre (severity 3)",
    "rotate": "0.4 rad = 22.9 deg, random direction (severity 2)",
    "brightness": "+0.5 of full intensity (severity 5)",
    "translate": "3 px along each axis, random signs (severity 3)",
    "stripe": "columns 0-6 and 21-27 inverted",
    "fog": "plasma fractal x 3, wibble decay 1.4 (severity 5)",
    "spatter": "mud blots, liquid sigma 1, mask sigma 1.5 (severity 4)",
    "dotted_line": "one dashed line from left to right edge",
    "zigzag": "one zigzag, teeth 2 px, from column 2 to 25",
    "canny_edges": "Canny edges (sigma 1) in place of the digit",
}

#: Published test errors (fractions) of the MNIST-C paper's models, model -> corruption -> error, with
#: the table they come from in :data:`PUBLISHED_SOURCE`. Empty: the per-corruption figures of
#: arXiv:1906.02337 could not be found in the sources available to us (the paper's full text, its
#: tables, was not among them); we did not copy numbers from secondary summaries.
PUBLISHED: dict[str, dict[str, float]] = {}
#: Where :data:`PUBLISHED` comes from (table and version of the paper), or why it is empty.
PUBLISHED_SOURCE = ("the per-corruption test errors of Mu & Gilmer (2019), arXiv:1906.02337, could not be "
                    "found in the sources we could search (abstracts and summaries only)")


def corruption_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one corruption: depends on ``seed`` and ``name`` only, so one corruption's
    images do not change when another is added, removed or reordered."""
    return np.random.default_rng([seed, zlib.crc32(b"mnist_c"), zlib.crc32(name.encode())])


def corrupt_mnist_c(images: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply MNIST-C corruption ``name`` to every image, seeded by (seed, name).

    Parameters
    ----------
    images : ndarray of shape (N, 28, 28), uint8 in [0, 255]
        Raw test digits.
    name : str
        A key of :data:`CORRUPTIONS`.
    seed : int

    Returns
    -------
    ndarray of shape (N, 28, 28), uint8

    Raises
    ------
    MnistlabError
        For an unknown name.
    ValueError
        If ``images`` is not uint8 of shape (N, 28, 28).
    """
    if name not in CORRUPTIONS:
        raise MnistlabError(f"unknown MNIST-C corruption {name!r}, expected one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name](images, corruption_rng(seed, name))


# -- the official files ------------------------------------------------------------------------

def official_root(folder: str | os.PathLike) -> Path:
    """``folder``, or its ``mnist_c`` subfolder when the archive was extracted one level up."""
    folder = Path(folder)
    if not (folder / "shot_noise").is_dir() and (folder / "mnist_c" / "shot_noise").is_dir():
        return folder / "mnist_c"
    return folder


def _load_npy(path: Path, key: str) -> np.ndarray:
    """A ``.npy`` file, its header checked before the data is read (memory-mapped)."""
    if not path.is_file():
        raise MnistlabError(f"{path}: not found; {key} must hold <corruption>/test_images.npy and "
                            "test_labels.npy as distributed with MNIST-C")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise MnistlabError(f"{path}: not a readable .npy file ({error})") from None


def load_official(
    folder: str | os.PathLike, names: Iterable[str] = tuple(CORRUPTIONS), key: str = "robustness.mnist_c_dir"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the official MNIST-C test files: ``folder/<name>/test_images.npy`` and ``test_labels.npy``.

    The layout of the released archive (Zenodo record 3239543, ``mnist_c.zip``): one folder per
    corruption (and ``identity``, the clean images), each with ``test_images.npy`` of shape
    (10000, 28, 28, 1) uint8 and ``test_labels.npy`` of shape (10000,). A ``folder`` holding the
    extracted ``mnist_c`` folder is accepted too.

    Parameters
    ----------
    folder : path-like
    names : iterable of str
        Corruptions to read (default: the 15); ``identity`` may be asked for too.
    key : str
        The params key named in error messages.

    Returns
    -------
    dict of str to (ndarray (N, 28, 28) uint8, ndarray (N,) uint8)

    Raises
    ------
    MnistlabError
        If ``folder`` or a file is missing or unreadable, images are not uint8 (N, 28, 28[, 1]),
        labels are not N integers in 0..9.
    """
    root = Path(folder)
    if not root.is_dir():
        raise MnistlabError(f"{key} = {str(folder)!r}: not a folder (expected the extracted MNIST-C files)")
    root = official_root(root)
    out = {}
    for name in names:
        images_path, labels_path = root / name / "test_images.npy", root / name / "test_labels.npy"
        images, labels = _load_npy(images_path, key), _load_npy(labels_path, key)
        shape = images.shape
        if images.dtype != np.uint8 or len(shape) not in (3, 4) or shape[1:3] != (SIDE, SIDE) or (
                len(shape) == 4 and shape[3] != 1):
            raise MnistlabError(f"{images_path}: expected uint8 images of shape (N, 28, 28, 1), "
                                f"got {images.dtype} {shape}")
        if labels.ndim != 1 or labels.shape[0] != shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise MnistlabError(f"{labels_path}: expected {shape[0]} integer labels, got {labels.dtype} "
                                f"{labels.shape}")
        labels = np.asarray(labels)
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise MnistlabError(f"{labels_path}: expected labels 0..9, got {labels.min()}..{labels.max()}")
        out[name] = (np.array(images, dtype=np.uint8).reshape(-1, SIDE, SIDE), labels.astype(np.uint8))
    return out
