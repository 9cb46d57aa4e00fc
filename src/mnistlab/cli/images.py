"""Reading image files from users safely: size limits checked before decoding, memory bounded.

A user's photo or scan can be huge (a 20000 x 20000 PNG compresses to a few kilobytes) or
malformed. :func:`read_image` reads the size from the header first, refuses images over
``MAX_PIXELS`` without decoding them, decodes large JPEGs at reduced scale (``Image.draft``) and
shrinks everything else strip by strip (:func:`shrink`), so the digit's few hundred pixels are
all that is kept. Every failure is one line naming the file.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mnistlab.core.errors import MnistlabError

#: Images with more pixels than this are refused before decoding: 120 megapixels, above a
#: 10000 x 10000 scan and the largest phone photos (about 50 megapixels). Pillow's own
#: decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) is set to it while an image is decoded.
#: Decoding holds the full image, at most 4 bytes a pixel (480 MB) for PNG and other formats;
#: JPEG is decoded at reduced scale.
MAX_PIXELS = 120_000_000
#: Longest side, pixels, an image is shrunk to (by a whole factor) as it is read: the digit is
#: scaled to 20 pixels anyway, so a few hundred pixels per side keep all it needs.
MAX_SIDE = 512
#: Pixels per strip when shrinking, so no full-size copy of the image is made.
STRIP_PIXELS = 2**22


@contextlib.contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Within the block (reading a file): Pillow's decompression-bomb limit is ``max_pixels`` (None:
    no check), its ``DecompressionBombWarning`` is raised as an error, its other warnings are not
    shown (the image is used as Pillow reads it)."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def shrink(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Shrink by the smallest whole factor that makes the longer side at most ``max_side``.

    Box averaging (``Image.reduce``; alpha premultiplied), strip by strip (``STRIP_PIXELS``), so
    no full-size copy is made. Modes that cannot be averaged are converted, strip by strip:
    bilevel and palette to L, palette or colour-keyed images with transparency to RGBA, 16-bit
    grey to I and back. ``image.info`` (EXIF orientation included) is kept, less ``transparency``.

    Parameters
    ----------
    image : PIL.Image.Image
        Any size and mode.

    Returns
    -------
    PIL.Image.Image
        ``image`` itself when its longer side is at most ``max_side``; else of size
        ceil(W / factor) x ceil(H / factor), a new image.
    """
    width, height = image.size
    factor = -(-max(width, height) // max_side)
    if factor <= 1:
        return image
    mode = image.mode
    if image.has_transparency_data and mode not in ("LA", "RGBA"):
        work = "RGBA"  # a palette or a colour key: alpha for averaging
    elif mode in ("1", "P"):
        work = "L"
    elif mode.startswith("I;16"):
        work = "I"
    else:
        work = mode
    out = Image.new(work, (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, STRIP_PIXELS // (width * factor))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        strip = strip if strip.mode == work else strip.convert(work)
        out.paste(strip.reduce(factor), (0, top // factor))
    if mode.startswith("I;16"):
        out = out.convert(mode)
    out.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return out


def read_image(path: str | os.PathLike) -> Image.Image:
    """Open and decode an image file with Pillow, shrunk to ``MAX_SIDE`` pixels (:func:`shrink`).

    The size is read from the header first: an image over ``MAX_PIXELS`` is refused without being
    decoded. A JPEG is decoded directly at 1/2, 1/4 or 1/8 scale when it is large
    (``Image.draft``). Pillow's warnings are not shown.

    Returns
    -------
    PIL.Image.Image
        Loaded, at most ``MAX_SIDE`` pixels per side, in the file's mode (see :func:`shrink`).

    Raises
    ------
    MnistlabError
        One line naming the file: missing, a folder, not an image Pillow can read, over
        ``MAX_PIXELS``, or truncated/corrupt.
    """
    path = Path(path)
    if path.is_dir():
        raise MnistlabError(f"{path}: is a folder, expected an image file")
    if not path.is_file():
        raise MnistlabError(f"{path}: file not found, expected an image file (PNG, JPEG, BMP, ...)")
    limit = f"the limit of {MAX_PIXELS / 1e6:.0f} megapixels"
    try:
        with _pillow_limit(None):  # the header only: nothing is decoded here
            image = Image.open(path)
        with image, _pillow_limit(MAX_PIXELS):
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise MnistlabError(
                    f"{path}: image of {width} x {height} pixels ({width * height / 1e6:.0f} megapixels) "
                    f"is over {limit}; expected a smaller image (a digit needs a few hundred pixels a side)"
                )
            scale = MAX_SIDE / max(width, height)
            if scale < 1:
                image.draft(None, (max(1, round(width * scale)), max(1, round(height * scale))))
            image.load()
            return shrink(image)
    except UnidentifiedImageError:
        message = f"{path}: not an image file Pillow can read (expected PNG, JPEG or BMP)"
        raise MnistlabError(message) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MnistlabError(f"{path}: a frame of the image is over {limit}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        message = f"{path}: cannot decode the image ({reason}), expected a complete image file"
        raise MnistlabError(message) from None
