"""``mnistlab predict IMAGE... --model models/<name>.<ext> [--json]``: classify your own digit images.

Any image Pillow reads (PNG, JPEG, BMP, ...), of any size up to ``mnistlab.cli.images.MAX_PIXELS``,
colour or grey, dark ink on a light background or light ink on a dark one, is turned into an
MNIST-like input the way the dataset was made (LeCun, Cortes and Burges, "The MNIST database",
yann.lecun.com/exdb/mnist: "normalized to fit in a 20x20 pixel box while preserving their aspect
ratio ... centered in a 28x28 image by computing the center of mass of the pixels"), by
:func:`mnistlab.cli.images.read_image` and :func:`to_mnist`:

0. images with a side over ``MAX_SIDE`` pixels are shrunk as they are read, by a whole factor
   (JPEG: decoded at 1/2, 1/4 or 1/8 scale by ``Image.draft``; then box averaging,
   ``Image.reduce``), so memory stays bounded; images over ``MAX_PIXELS`` are refused unread;
1. grey levels in [0, 1] (ITU-R 601 luma for colour; transparent pixels drawn on white; the EXIF
   orientation of photos applied);
2. ink = distance from the background level, the median of the border pixels; so a light
   background is inverted and a dark one is not; the ink is stretched so its maximum is 1;
3. crop to the bounding box of the ink (pixels above ``INK_THRESHOLD`` of the maximum);
4. scale so the longer side is 20 pixels, keeping the aspect ratio, with Pillow's antialiased
   Lanczos resampling (no resampling when it is already 20);
5. paste into a 28x28 black field so that the centre of mass lands on pixel (14, 14), shifted by
   whole pixels, as in MNIST.

The models are trained on the prepared images, which are *deskewed* when the prepare stage decided
so (``prepare.deskew``: true, or ``auto`` on digits, the default). So ``predict`` applies
:func:`mnistlab.data.prepare.deskew` to the 28x28 images as that decision says: the prepare stage's
record ``data/prepared/preprocessing.json`` when ``prepare.deskew`` is ``auto``, ``prepare.deskew``
of ``./params.yaml`` when it is true or false, and deskewing when neither is there; ``--deskew`` /
``--no-deskew`` override this. Use the same setting as the model was trained with.

Output: one line per image, in the order given, ``path: digit (probability 0.987)`` on stdout, or
``error: path: what is wrong, what was expected`` on stderr for an image that is missing, not an
image, too large or blank (a :class:`~mnistlab.core.errors.MnistlabError`). With ``--json``, one JSON
list on stdout with one object per image, ``{"image", "error"}`` for a failed one. The exit code is
2 when any image failed, 0 otherwise. A missing or malformed model file is one line on stderr and
exit code 2, before any image is read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mnistlab.cli.images import read_image
from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.data.benchmark import PREPROCESSING_JSON, read_deskew

# The one place the model loader is named (it raises MnistlabError, one line, for a bad file).
from mnistlab.models.registry import load_model

#: Side of the box the digit is scaled into, pixels (MNIST).
BOX_SIZE = 20
#: Where the centre of mass goes, (row, column) in pixel indices: the MNIST test images average
#: (13.99, 14.00) (measured on data/sample).
CENTRE = (14.0, 14.0)
#: A pixel is ink for the bounding box when its ink level exceeds this fraction of the maximum.
#: MNIST's own anti-aliased edges are fainter: at 0.3 the box of every MNIST digit stays 20 pixels
#: (all 500 sample test images checked).
INK_THRESHOLD = 0.3
#: Below this ink contrast (the largest distance from the background grey, in [0, 1]) an image is blank.
MIN_CONTRAST = 0.1
#: Width of the border strip whose median grey is taken as the background, as a fraction of the side.
BORDER_FRACTION = 0.05


def _grey_from_array(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array -> float32 grey (H, W) in [0, 1]."""
    image = np.asarray(image)
    if image.dtype.kind in "ui":
        top = 255.0 if image.max(initial=0) <= 255 else float(np.iinfo(image.dtype).max)
        image = image / top
    image = image.astype(np.float32)
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        if image.shape[2] == 1:
            image = image[..., 0]
        else:
            image = image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma
    if image.ndim != 2:
        raise MnistlabError(f"image array of shape {image.shape}: expected (H, W) or (H, W, 1|3|4)")
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _grey_from_pil(image: Image.Image) -> np.ndarray:
    """Pillow image -> float32 grey (H, W) in [0, 1]; EXIF orientation applied, alpha drawn on white.

    Pillow's UserWarnings (corrupt EXIF data, palette transparency as bytes) are not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            return _grey_from_array(np.asarray(image))
        if image.has_transparency_data:
            image = image.convert("RGBA")
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image)
        return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)


def to_grey(image: Image.Image | np.ndarray) -> np.ndarray:
    """Grey levels of a Pillow image or an array.

    Parameters
    ----------
    image : PIL.Image.Image or ndarray of shape (H, W), (H, W, 3) or (H, W, 4)
        Integer arrays are taken as 0..255 (0..65535 when larger values occur), float arrays as
        [0, 1]. Colour becomes ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B); transparency is drawn
        on white.

    Returns
    -------
    ndarray of shape (H, W), float32 in [0, 1]
    """
    if isinstance(image, Image.Image):
        return _grey_from_pil(image)
    return _grey_from_array(image)


def ink_map(grey: np.ndarray) -> np.ndarray:
    """Ink level of each pixel: its distance from the background grey, on the ink's side.

    The background grey is the median of a border strip (``BORDER_FRACTION`` of each side, at
    least one pixel). A light background (median above 0.5) means dark ink, so the image is inverted.

    Parameters
    ----------
    grey : ndarray of shape (H, W), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (H, W), float32 in [0, 1]
        0 on the background, 1 at the strongest ink.

    Raises
    ------
    MnistlabError
        If the image is empty or blank: no pixel differs from the background by ``MIN_CONTRAST``.
    """
    if grey.size == 0:
        raise MnistlabError("empty image (0 pixels), expected at least one pixel")
    h, w = grey.shape
    bh, bw = max(1, round(h * BORDER_FRACTION)), max(1, round(w * BORDER_FRACTION))
    strips = (grey[:bh], grey[-bh:], grey[:, :bw], grey[:, -bw:])
    border = np.concatenate([strip.ravel() for strip in strips])
    background = float(np.median(border))
    ink = background - grey if background > 0.5 else grey - background
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise MnistlabError(
            f"blank image: no ink (largest difference from the background grey {background:.2f} "
            f"is {contrast:.3f}, expected at least {MIN_CONTRAST})"
        )
    return np.clip(ink / contrast, 0.0, 1.0).astype(np.float32)


def crop_to_ink(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> np.ndarray:
    """The bounding box of the pixels whose ink exceeds ``threshold`` (of the maximum, 1).

    Parameters
    ----------
    ink : ndarray of shape (H, W), float32 in [0, 1] with maximum 1

    Returns
    -------
    ndarray of shape (h, w), float32, h <= H and w <= W
    """
    rows = np.flatnonzero((ink > threshold).any(axis=1))
    cols = np.flatnonzero((ink > threshold).any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_box(ink: np.ndarray, box: int = BOX_SIZE) -> np.ndarray:
    """Scale so the longer side is ``box`` pixels, keeping the aspect ratio (shorter side >= 1).

    Antialiased Lanczos resampling (Pillow ``Image.resize`` on a float image), clipped to [0, 1];
    an image whose longer side is already ``box`` is returned unchanged.

    Parameters
    ----------
    ink : ndarray of shape (h, w), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (box, round(w * box / h)) or (round(h * box / w), box), float32 in [0, 1]
    """
    h, w = ink.shape
    if max(h, w) == box:
        return ink
    factor = box / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))  # Pillow sizes are (width, height)
    resized = Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def centre_by_mass(
    ink: np.ndarray, size: int = IMAGE_SIZE, centre: tuple[float, float] = CENTRE
) -> np.ndarray:
    """Paste ``ink`` into a ``size`` x ``size`` black field with its centre of mass at ``centre``.

    The shift is a whole number of pixels (no resampling), limited so that the whole digit stays
    inside the field.

    Parameters
    ----------
    ink : ndarray of shape (h, w), float32, h and w <= size, not all zero

    Returns
    -------
    ndarray of shape (size, size), float32
    """
    h, w = ink.shape
    rows, cols = np.indices(ink.shape)
    mass = float(ink.sum())
    com_r, com_c = float((ink * rows).sum()) / mass, float((ink * cols).sum()) / mass
    top = int(np.clip(round(centre[0] - com_r), 0, size - h))
    left = int(np.clip(round(centre[1] - com_c), 0, size - w))
    out = np.zeros((size, size), dtype=np.float32)
    out[top : top + h, left : left + w] = ink
    return out


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """Turn one image of a digit into an MNIST-like 28x28 input, as the dataset was made.

    Grey levels (:func:`to_grey`); ink relative to the border's background grey, inverted when the
    background is light, stretched to a maximum of 1 (:func:`ink_map`); crop to the ink
    (:func:`crop_to_ink`); longer side scaled to 20 pixels with antialiasing, aspect ratio kept
    (:func:`fit_box`); centre of mass moved to pixel (14, 14) of a 28x28 field
    (:func:`centre_by_mass`). An MNIST image comes back almost unchanged (its anti-aliased edges
    below ``INK_THRESHOLD`` outside the ink's box are dropped). Deskewing is not part of this
    function (see :func:`prepare_images`).

    Parameters
    ----------
    image : PIL.Image.Image or ndarray of shape (H, W), (H, W, 3) or (H, W, 4)
        Any size; colour or grey; dark-on-light or light-on-dark. Arrays: integers in 0..255 or
        floats in [0, 1].

    Returns
    -------
    ndarray of shape (28, 28), float32 in [0, 1]
        Light digit on black, as the prepared MNIST images (before deskewing).

    Raises
    ------
    MnistlabError
        If the image is empty or blank (no ink), or the array has an unsupported shape.
    """
    ink = ink_map(to_grey(image))
    return centre_by_mass(fit_box(crop_to_ink(ink)))


def default_deskew(params_path: str | os.PathLike = "params.yaml") -> bool:
    """Whether the training images were deskewed, as far as the project folder says.

    ``prepare.deskew`` of ``params_path`` when true or false; when ``auto``, the prepare stage's
    decision in ``data/prepared/preprocessing.json`` beside ``params_path``. True (deskewing, the
    pipeline's choice for digits) when there is no ``params_path`` or no record; also, with a
    note on stderr, when either file is not valid.
    """
    if not Path(params_path).is_file():
        return True
    from mnistlab.core.params import load_params

    record = Path(params_path).parent / "data" / "prepared" / PREPROCESSING_JSON
    try:
        setting = load_params(params_path).prepare.deskew
        if isinstance(setting, bool):
            return setting
        # no record (a model used without its pipeline's data): digits, deskewed; --no-deskew otherwise
        return read_deskew(record) if record.is_file() else True
    except MnistlabError as err:
        print(f"note: deskewing as by default, since {err}", file=sys.stderr)
        return True


def prepare_image(path: str | os.PathLike) -> np.ndarray:
    """:func:`read_image`, then :func:`to_mnist`: ndarray of shape (28, 28), float32 in [0, 1], not
    deskewed. Raises :class:`MnistlabError`, one line beginning with ``path`` as given."""
    try:
        return to_mnist(read_image(path))
    except MnistlabError as err:
        raise MnistlabError(f"{path}: {str(err).removeprefix(f'{Path(path)}: ')}") from None


def prepare_images(paths: list[str | os.PathLike], deskew: bool) -> tuple[np.ndarray, list[str | None]]:
    """Read image files and turn them into model inputs; a bad file does not stop the others.

    Parameters
    ----------
    paths : list of path-like
    deskew : bool
        Apply :func:`mnistlab.data.prepare.deskew` after :func:`to_mnist`, as the prepare stage does
        when it deskews (:func:`default_deskew`).

    Returns
    -------
    images : ndarray of shape (n_read, 28, 28), float32 in [0, 1]
        The images that could be read, in the order of ``paths``.
    errors : list of (str or None), one per path
        None for an image in ``images``; else the one-line :class:`MnistlabError` message, which
        begins with the path.
    """
    images, errors = [], []
    for path in paths:
        try:
            images.append(prepare_image(path))
            errors.append(None)
        except MnistlabError as err:
            errors.append(str(err))
    x = np.stack(images).astype(np.float32) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    if deskew and len(x):
        from mnistlab.data.prepare import deskew as deskew_images

        x = deskew_images(x)
    return x, errors


def results(paths: list[str], proba: np.ndarray, errors: list[str | None]) -> list[dict]:
    """One record per path, in order: ``{"image", "digit", "probability", "probabilities": [p0, ...,
    p9]}`` (6 decimals), taking the rows of ``proba`` (n_read, 10) in turn, or ``{"image", "error"}``
    where ``errors`` (as :func:`prepare_images` returns) has a message (less its ``path: ``)."""
    rows, read = [], iter(proba)
    for path, error in zip(paths, errors, strict=True):
        path = str(path)
        if error is not None:
            rows.append({"image": path, "error": error.removeprefix(f"{path}: ")})
            continue
        p = next(read)
        digit = int(p.argmax())
        rows.append({"image": path, "digit": digit, "probability": round(float(p[digit]), 6),
                     "probabilities": [round(float(v), 6) for v in p]})
    return rows


def print_results(rows: list[dict], as_json: bool) -> None:
    """JSON: the list of ``rows`` on stdout. Text: ``path: digit (probability 0.987)`` on stdout,
    or ``error: path: message`` on stderr, one line per row in order (each flushed)."""
    if as_json:
        print(json.dumps(rows, indent=2), flush=True)
        return
    for row in rows:
        if "error" in row:
            print(f"error: {row['image']}: {row['error']}", file=sys.stderr, flush=True)
        else:
            print(f"{row['image']}: {row['digit']} (probability {row['probability']:.3f})", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mnistlab predict``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, ...)")
    parser.add_argument("--model", required=True, help="a trained model: models/<name>.{skops,npz,pt}")
    parser.add_argument("--json", action="store_true", help="print all ten class probabilities as JSON")
    parser.add_argument(
        "--deskew", action=argparse.BooleanOptionalAction, default=None,
        help="deskew the 28x28 images as the prepare stage does (default: as ./params.yaml's "
             "prepare.deskew and data/prepared/preprocessing.json say, or true without them); "
             "must match how the model was trained",
    )


def run(args: argparse.Namespace) -> int:
    """Classify ``args.images`` with ``args.model``, one line (or JSON object) per image; return 0, or
    2 when any image failed (1 when stdout closed early). A bad model raises :class:`MnistlabError`
    before any image is read."""
    deskew = default_deskew() if args.deskew is None else args.deskew
    predictor = load_model(args.model)
    images, errors = prepare_images(args.images, deskew)
    proba = np.zeros((0, N_CLASSES))
    if len(images):
        proba = np.asarray(predictor.predict_proba(images), dtype=np.float64)
    rows = results(args.images, proba, errors)
    try:
        print_results(rows, args.json)
    except BrokenPipeError:  # e.g. `mnistlab predict ... | head`: stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    failed = sum(error is not None for error in errors)
    if failed and args.json:
        print(f'error: {failed} of {len(errors)} images could not be classified (see "error" in the JSON)',
              file=sys.stderr)
    return 2 if failed else 0
