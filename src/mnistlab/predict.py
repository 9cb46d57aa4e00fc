"""``mnistlab predict IMAGE... --model models/<name>.<ext> [--json]``: classify your own digit images.

Any image Pillow reads (PNG, JPEG, BMP, ...), of any size, colour or grey, dark ink on a light
background or light ink on a dark one, is turned into an MNIST-like input the way the dataset was
made (LeCun, Cortes and Burges, "The MNIST database", yann.lecun.com/exdb/mnist: "normalized to fit
in a 20x20 pixel box while preserving their aspect ratio ... centered in a 28x28 image by computing
the center of mass of the pixels"), by :func:`to_mnist`:

1. grey levels in [0, 1] (ITU-R 601 luma for colour; transparent pixels drawn on white; the EXIF
   orientation of photos applied);
2. ink = distance from the background level, the median of the border pixels; so a light
   background is inverted and a dark one is not; the ink is stretched so its maximum is 1;
3. crop to the bounding box of the ink (pixels above ``INK_THRESHOLD`` of the maximum);
4. scale so the longer side is 20 pixels, keeping the aspect ratio, with Pillow's antialiased
   Lanczos resampling (no resampling when it is already 20);
5. paste into a 28x28 black field so that the centre of mass lands on pixel (14, 14), shifted by
   whole pixels, as in MNIST.

The models are trained on the prepared images, which are *deskewed* when ``prepare.deskew`` is true
in params.yaml (the default). So ``predict`` then applies :func:`mnistlab.data.prepare.deskew` to the
28x28 images when ``prepare.deskew`` is true in ``./params.yaml``, or when there is no params.yaml in
the current folder; ``--deskew`` / ``--no-deskew`` override this. Use the same setting as the model
was trained with.

An unreadable file, a blank image (no ink) or a missing model file is a user error
(:class:`~mnistlab.errors.MnistlabError`): one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnistlab.errors import MnistlabError

#: Side of the MNIST images, and of the box the digit is scaled into, pixels.
IMAGE_SIZE = 28
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
    """Pillow image -> float32 grey (H, W) in [0, 1]; EXIF orientation applied, alpha drawn on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _grey_from_array(np.asarray(image))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
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
        raise MnistlabError("empty image (0 pixels)")
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


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open and decode an image file with Pillow.

    Raises
    ------
    MnistlabError
        If the file is missing, is not an image Pillow can read, or is truncated.
    """
    path = Path(path)
    if path.is_dir():
        raise MnistlabError(f"{path}: is a folder, expected an image file")
    if not path.is_file():
        raise MnistlabError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (UnidentifiedImageError, Image.DecompressionBombError):
        message = f"{path}: not an image file Pillow can read (expected PNG, JPEG or BMP)"
        raise MnistlabError(message) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise MnistlabError(f"{path}: cannot decode the image ({str(err).splitlines()[0]})") from None


def default_deskew(params_path: str | os.PathLike = "params.yaml") -> bool:
    """``prepare.deskew`` of ``params_path``, or True (the pipeline's default) when the file is absent
    or is not a valid mnistlab params file (a note is printed to stderr then)."""
    if not Path(params_path).is_file():
        return True
    from mnistlab.params import load_params

    try:
        return load_params(params_path).prepare.deskew
    except MnistlabError as err:
        print(f"note: deskewing as by default, since {err}", file=sys.stderr)
        return True


def prepare_images(paths: list[str | os.PathLike], deskew: bool) -> np.ndarray:
    """Read image files and turn them into model inputs.

    Parameters
    ----------
    paths : list of path-like
    deskew : bool
        Apply :func:`mnistlab.data.prepare.deskew` after :func:`to_mnist`, as the prepare stage does
        when ``prepare.deskew`` is true.

    Returns
    -------
    ndarray of shape (len(paths), 28, 28), float32 in [0, 1]

    Raises
    ------
    MnistlabError
        Naming the first file that is missing, not an image, or blank.
    """
    images = []
    for path in paths:
        try:
            images.append(to_mnist(read_image(path)))
        except MnistlabError as err:
            message = str(err)
            raise MnistlabError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None
    x = np.stack(images).astype(np.float32)
    if deskew:
        from mnistlab.data.prepare import deskew as deskew_images

        x = deskew_images(x)
    return x


def format_results(paths: list[str], proba: np.ndarray, as_json: bool) -> str:
    """Text output: ``path: digit (probability 0.987)`` per line, or a JSON list with all ten.

    Parameters
    ----------
    paths : list of str
    proba : ndarray of shape (len(paths), 10)
    as_json : bool
        JSON: ``[{"image", "digit", "probability", "probabilities": [p0, ..., p9]}, ...]``.
    """
    digits = proba.argmax(axis=1)
    if as_json:
        rows = [
            {"image": str(path), "digit": int(d), "probability": round(float(p[d]), 6),
             "probabilities": [round(float(v), 6) for v in p]}
            for path, d, p in zip(paths, digits, proba, strict=True)
        ]
        return json.dumps(rows, indent=2)
    return "\n".join(
        f"{path}: {d} (probability {p[d]:.3f})" for path, d, p in zip(paths, digits, proba, strict=True)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mnistlab predict``."""
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, ...)")
    parser.add_argument("--model", required=True, help="a trained model: models/<name>.{joblib,npz,pt}")
    parser.add_argument("--json", action="store_true", help="print all ten class probabilities as JSON")
    parser.add_argument(
        "--deskew", action=argparse.BooleanOptionalAction, default=None,
        help="deskew the 28x28 images as the prepare stage does (default: prepare.deskew of "
             "./params.yaml, or true without one); must match how the model was trained",
    )


def run(args: argparse.Namespace) -> int:
    """Classify ``args.images`` with ``args.model``; prints one line per image (or JSON); returns 0."""
    from mnistlab.predictors import load_predictor

    deskew = default_deskew() if args.deskew is None else args.deskew
    predictor = load_predictor(args.model)
    images = prepare_images(args.images, deskew)
    proba = np.asarray(predictor.predict_proba(images), dtype=np.float64)
    try:
        print(format_results(args.images, proba, args.json), flush=True)
    except BrokenPipeError:  # e.g. `mnistlab predict ... | head`: stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0
