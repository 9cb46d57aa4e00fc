"""Read and write IDX files, the format of MNIST and Fashion-MNIST, with strict validation.

Format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"): two zero bytes,
a dtype code byte, a byte holding the number of dimensions ``ndim``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from mnistlab.core.constants import N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path

#: IDX dtype codes and the big-endian NumPy dtypes they stand for.
DTYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(MnistlabError):
    """An IDX file is missing, truncated, corrupt or inconsistent; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IDXError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise IDXError(f"{path}: is a folder, expected an IDX file") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IDXError(f"{path}: corrupt or truncated gzip stream ({err})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array.

    Parameters
    ----------
    path : str or path-like
        The file; gzip compression is detected from its first bytes, not its name.

    Returns
    -------
    ndarray
        Shape from the header (``(N, 28, 28)`` for MNIST images, ``(N,)`` for labels), dtype from
        the header's type code in native byte order (uint8 for MNIST).

    Raises
    ------
    IDXError
        If the file is missing, the gzip stream is corrupt, the magic number or dtype code is
        unknown, or the data length does not match the header's dimensions.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes, too short for an IDX header (4 bytes at least)")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: bad magic number 0x{raw[:4].hex()}, expected 0x0000 then dtype and ndim")
    code, ndim = raw[2], raw[3]
    if code not in DTYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in DTYPE_CODES)
        raise IDXError(f"{path}: unknown dtype code 0x{code:02X}, expected one of {known}")
    if ndim == 0:
        raise IDXError(f"{path}: header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXError(f"{path}: truncated header, {len(raw)} bytes for {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPE_CODES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_len
    if found != expected:
        kind = "truncated" if found < expected else "trailing bytes"
        raise IDXError(f"{path}: {kind}: shape {shape} needs {expected} data bytes, found {found}")
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``; atomic.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    array : ndarray
        Any shape with 1 to 255 dimensions; dtype one of uint8, int8, int16, int32, float32, float64.

    Raises
    ------
    ValueError
        If the dtype has no IDX code or ``array`` has no dimensions.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in DTYPE_CODES.items()}
    if array.dtype not in codes or not 1 <= array.ndim <= 255:
        raise ValueError(f"cannot write dtype {array.dtype} with {array.ndim} dimensions as IDX")
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            # No file name and mtime=0 keep the bytes (and so the checksums) identical across runs.
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
                fh.write(payload)
        else:
            tmp.write_bytes(payload)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX image file: uint8 of shape (N, rows, cols); raises :class:`IDXError` otherwise."""
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IDXError(f"{path}: expected uint8 images of shape (N, rows, cols), "
                       f"found {images.dtype} {images.shape}")
    return images


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX label file: uint8 of shape (N,) with values in 0..9; raises :class:`IDXError`."""
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise IDXError(f"{path}: expected uint8 labels of shape (N,), found {labels.dtype} {labels.shape}")
    if labels.size and labels.max() >= N_CLASSES:
        raise IDXError(f"{path}: label {int(labels.max())} out of range, expected 0..{N_CLASSES - 1}")
    return labels


def read_pair(
    images_path: str | os.PathLike, labels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files; raises :class:`IDXError` when their counts differ.

    Returns
    -------
    images : ndarray of shape (N, rows, cols), uint8
    labels : ndarray of shape (N,), uint8
    """
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise IDXError(f"{images_path} holds {len(images)} images but {labels_path} "
                       f"holds {len(labels)} labels; expected equal counts")
    return images, labels
