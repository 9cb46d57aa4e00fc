"""Turn raw IDX images into model-ready arrays: scaling, deskewing, stratified splits and subsets.

Files written by the prepare stage (:func:`save_splits`), read by every training stage through
:func:`mnistlab.core.io.read_split`:
``data/prepared/{train,val,test}.npz`` with ``x`` float32 (N, 28, 28) in [0, 1] and ``y`` uint8
(N,). Downsampling to 14x14 (:func:`downsample`) belongs to the model pipelines that use it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.model_selection import train_test_split

from mnistlab.core.constants import N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import Split, write_split


def scale(images: np.ndarray) -> np.ndarray:
    """Map uint8 pixels (N, H, W) to float32 in [0, 1] by dividing by 255."""
    return images.astype(np.float32) / np.float32(255.0)


def downsample(images: np.ndarray, factor: int = 2) -> np.ndarray:
    """Mean-pool non-overlapping ``factor`` x ``factor`` blocks: (N, H, W) -> (N, H/factor, W/factor)."""
    n, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"image size {h}x{w} is not divisible by the pooling factor {factor}")
    pooled = images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return pooled.astype(images.dtype, copy=False)


def deskew(images: np.ndarray) -> np.ndarray:
    """Remove slant with a shear from second-order image moments, and centre by centre of mass.

    The shear ``alpha = cov(row, col) / var(row)`` makes the principal axis vertical, as in the
    "deskewing" pre-processing of LeCun et al. (1998), "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11), table of results ("deskewed" rows). All images are resampled
    in one batched bilinear ``scipy.ndimage.map_coordinates`` call.

    Parameters
    ----------
    images : ndarray of shape (N, H, W), float32 in [0, 1]

    Returns
    -------
    ndarray of shape (N, H, W), float32 in [0, 1]
    """
    n, h, w = images.shape
    rows, cols = np.mgrid[:h, :w].astype(np.float32)
    mass = images.sum(axis=(1, 2)) + 1e-8
    mu_r = (images * rows).sum(axis=(1, 2)) / mass
    mu_c = (images * cols).sum(axis=(1, 2)) / mass
    var_r = (images * (rows - mu_r[:, None, None]) ** 2).sum(axis=(1, 2)) / mass
    cov = (images * (rows - mu_r[:, None, None]) * (cols - mu_c[:, None, None])).sum(axis=(1, 2)) / mass
    alpha = np.where(var_r > 1e-8, cov / np.maximum(var_r, 1e-8), 0.0)[:, None, None]
    centre_r, centre_c = h / 2.0, w / 2.0
    src_r = rows + (mu_r[:, None, None] - centre_r)
    src_c = cols + alpha * (rows - centre_r) + (mu_c[:, None, None] - centre_c)
    index = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, h, w))
    coords = np.stack([index, np.broadcast_to(src_r, (n, h, w)), src_c])
    out = ndimage.map_coordinates(images, coords, order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _part_size(size: int | float, n: int, rounding) -> int:
    """Images in a part of ``size``: a count, or a fraction of ``n`` rounded as scikit-learn does
    (``test_size`` up, ``train_size`` down)."""
    return size if isinstance(size, int) else int(rounding(size * n))


def _check_stratified(size: int | float, n: int, what: str, rest: str, rounding=np.ceil) -> None:
    """Raise :class:`MnistlabError` naming ``what`` when a stratified split of ``n`` images into a
    part of ``size`` and the ``rest`` cannot hold one image of every class in each part."""
    part = _part_size(size, n, rounding)
    if part > n:
        raise MnistlabError(f"{what} = {size}: only {n} images are available")
    if part < N_CLASSES:
        raise MnistlabError(f"{what} = {size} ({part} images): a stratified split needs at least one "
                            f"image of each of the {N_CLASSES} classes, so at least {N_CLASSES} images")
    if n - part < N_CLASSES:
        raise MnistlabError(f"{what} = {size}: leaves {n - part} of the {n} images for {rest}; at least "
                            f"{N_CLASSES} are needed (one per class)")


def stratified_subset(
    x: np.ndarray, y: np.ndarray, size: int | float | None, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``size`` samples (a count, or a fraction in (0, 1)) with class proportions preserved.

    ``None`` or a size equal to ``len(y)`` keeps everything.

    Raises
    ------
    MnistlabError
        Naming the parameter ``what``, when the count is larger than what is available or too
        small (or too large) for every class to be kept.
    """
    if size is None or size == len(y):
        return x, y
    _check_stratified(size, len(y), what, "the images left out", rounding=np.floor)
    try:
        x_kept, _, y_kept, _ = train_test_split(x, y, train_size=size, stratify=y, random_state=seed)
    except ValueError as err:  # e.g. a class with a single image
        raise MnistlabError(f"{what} = {size}: {err}") from None
    return x_kept, y_kept


def split_train_val(
    x: np.ndarray, y: np.ndarray, val_size: int | float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded split of the training images into training and validation parts.

    Returns ``x_train, x_val, y_train, y_val``; raises :class:`MnistlabError` naming
    ``prepare.val_size`` when either part cannot hold one image of every class.
    """
    _check_stratified(val_size, len(y), "prepare.val_size", "training")
    try:
        return train_test_split(x, y, test_size=val_size, stratify=y, random_state=seed)
    except ValueError as err:
        raise MnistlabError(f"prepare.val_size = {val_size}: {err}") from None


def check_source_files(y_train: np.ndarray, y_test: np.ndarray, files: dict[str, Path]) -> None:
    """Refuse a source whose files look swapped or incomplete, before anything is trained on it.

    Parameters
    ----------
    y_train, y_test : ndarray of shape (N,) uint8
        The labels of the source's training and test files.
    files : dict of str to Path
        ``train_labels`` and ``test_labels`` paths (:data:`mnistlab.core.sources.STANDARD_FILES`
        keys), named in the messages.

    Raises
    ------
    MnistlabError
        If the training file holds fewer images than the test file (MNIST: 60,000 vs 10,000; a
        smaller training file usually means the two were swapped), or either file lacks a digit.
    """
    if len(y_train) < len(y_test):
        raise MnistlabError(
            f"{files['train_labels']}: {len(y_train):,} training images but {len(y_test):,} in "
            f"{files['test_labels']}: the training and test files look swapped (expected the "
            "training file to be the larger)")
    for key, labels in (("train_labels", y_train), ("test_labels", y_test)):
        absent = sorted(set(range(N_CLASSES)) - set(np.unique(labels).tolist()))
        if absent:
            raise MnistlabError(f"{files[key]}: no image of digit {', '.join(map(str, absent))}; "
                                f"expected all {N_CLASSES} digits")


def prepare(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    val_size: int | float,
    train_size: int | float | None = None,
    test_size: int | float | None = None,
    deskew_images: bool = False,
    seed: int = 0,
    train_limit: int | None = None,
) -> dict[str, Split]:
    """Build the train, validation and test splits from raw uint8 images and labels.

    ``train_limit`` first keeps the first N training images in file order. The validation part
    is then carved out of the training images (stratified); ``train_size`` subsamples what is
    left for training, and ``test_size`` the test images, both stratified and seeded. Test
    images are never mixed with training ones.

    Parameters
    ----------
    train, test : tuple of (ndarray of shape (N, 28, 28) uint8, ndarray of shape (N,) uint8)
    val_size, train_size, test_size : int or float or None
        Counts, or fractions in (0, 1); ``None`` keeps all.
    deskew_images : bool
        Apply :func:`deskew` to every split.
    seed : int
        Seed of every random choice.
    train_limit : int or None
        Keep only the first ``train_limit`` training images (``prepare.train_limit``); ``None``
        keeps all.

    Returns
    -------
    dict
        ``{"train": Split, "val": Split, "test": Split}``.

    Raises
    ------
    MnistlabError
        If ``train_limit`` is above the training images there are.
    """
    if train_limit is not None:
        if train_limit > len(train[1]):
            raise MnistlabError(f"prepare.train_limit = {train_limit}: the source has only "
                                f"{len(train[1]):,} training images")
        train = (train[0][:train_limit], train[1][:train_limit])
    x_train, x_val, y_train, y_val = split_train_val(*train, val_size, seed)
    x_train, y_train = stratified_subset(x_train, y_train, train_size, seed, "prepare.train_size")
    x_test, y_test = stratified_subset(*test, test_size, seed, "prepare.test_size")
    splits = {}
    for name, x, y in (("train", x_train, y_train), ("val", x_val, y_val), ("test", x_test, y_test)):
        x = scale(x)
        if deskew_images:
            x = deskew(x)
        splits[name] = Split(x=x, y=y.astype(np.uint8))
    return splits


def save_splits(splits: dict[str, Split], folder: str | os.PathLike) -> None:
    """Write each split to ``folder/<name>.npz`` with :func:`mnistlab.core.io.write_split`."""
    for name, split in splits.items():
        write_split(Path(folder) / f"{name}.npz", split)




def label_counts(splits: dict[str, Split]) -> list[dict[str, int]]:
    """Rows ``{"digit", <split>: count, ...}`` for digits 0..9, for the label-distribution plot."""
    counts = {name: np.bincount(split.y, minlength=N_CLASSES) for name, split in splits.items()}
    return [{"digit": d, **{name: int(c[d]) for name, c in counts.items()}} for d in range(N_CLASSES)]
