"""Reading and writing the files between stages, each writer beside its reader.

Every output is written to a temporary file in the same folder, then renamed: a crash or a bad
input never leaves a half-written file under its final name. Readers check what they read and
raise :class:`~mnistlab.core.errors.MnistlabError` with one line naming the file (and the stage
to rerun); writers check what they are given and raise ``ValueError`` (a programming error).

Pairs of this module:

- JSON objects: :func:`write_json` / :func:`read_json`;
- prepared splits (``data/prepared/{train,val,test}.npz``): :func:`write_split` / :func:`read_split`;
- test probabilities (``data/evaluation/test_proba.npz``): :func:`write_probabilities` /
  :func:`read_probabilities`;
- skops models: :func:`dump_skops` / :func:`load_skops`;
- model files (zip archives: ``.skops``, ``.npz``, ``.pt``): :func:`check_zip_sizes` refuses one whose
  declared sizes exceed :data:`MAX_MODEL_BYTES` before any member is read;
- CSV rows (:func:`write_csv`) and arrays (:func:`save_npz`), read by DVC and by the pipeline's
  own readers above.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError

_UMASK = os.umask(0)
os.umask(_UMASK)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold: no build time in the file


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The parent folder is created when missing. On an exception the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions of a new file
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str, required: bool = True) -> dict | None:
    """Read a JSON object, as :func:`write_json` writes it.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file should hold and what writes it, for messages
        (``"the compare stage's metrics (dvc repro compare)"``).
    required : bool
        When False, a missing file gives None instead of an error.

    Returns
    -------
    dict or None
        The object; None for a missing file that is not ``required``.

    Raises
    ------
    MnistlabError
        One line naming the file and ``what``: a missing required file, a file that cannot be read
        as UTF-8 text, invalid JSON, or JSON whose top level is not an object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return None
        raise MnistlabError(f"{path}: not found; expected {what}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise MnistlabError(f"{path}: cannot be read ({type(err).__name__}: {err}); expected {what}"
                            ) from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise MnistlabError(f"{path}: not valid JSON ({err}); expected {what}") from None
    if not isinstance(data, dict):
        raise MnistlabError(f"{path}: holds a JSON {type(data).__name__}, expected an object: {what}")
    return data


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save arrays to an uncompressed ``.npz`` at ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write dict rows (all with the same keys, in order) as a CSV with a header row, atomically."""
    import csv

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def _load_npz(path: Path, what: str, stage: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles), or a one-line :class:`MnistlabError`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise MnistlabError(f"{path}: not found; run `dvc repro {stage}` first") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise MnistlabError(f"{path}: not an .npz file of {what} ({err}); run `dvc repro {stage}` again"
                            ) from None


# -- prepared splits -----------------------------------------------------------------------------------

class Split(NamedTuple):
    """One prepared split (``data/prepared/<name>.npz``).

    Attributes
    ----------
    x : ndarray of shape (N, 28, 28), float32 in [0, 1]
    y : ndarray of shape (N,), uint8 in 0..9
    """

    x: np.ndarray
    y: np.ndarray


def _labels_problem(y: np.ndarray) -> str | None:
    """Why ``y`` is not a 1-D array of integer labels 0..9, or None when it is."""
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return f"labels of shape {y.shape} and dtype {y.dtype}, expected (N,) integers"
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= N_CLASSES):
        return f"labels from {int(y.min())} to {int(y.max())}, expected digits 0..{N_CLASSES - 1}"
    return None


def _split_problem(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why ``(x, y)`` is not a prepared split, or None when it is."""
    side = (IMAGE_SIZE, IMAGE_SIZE)
    if x.ndim != 3 or x.shape[1:] != side or not np.issubdtype(x.dtype, np.floating):
        return f"x of shape {x.shape} and dtype {x.dtype}, expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}) floats"
    if problem := _labels_problem(y):
        return problem
    if len(x) != len(y):
        return f"{len(x)} images but {len(y)} labels"
    if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        return "pixels outside [0, 1] (or not finite)"
    return None


def write_split(path: str | os.PathLike, split: Split) -> None:
    """Write one prepared split to ``path`` (``.npz`` with arrays ``x`` and ``y``), atomically.

    Parameters
    ----------
    path : str or path-like
        ``data/prepared/<name>.npz``.
    split : Split
        Images (N, 28, 28) float32 in [0, 1], labels (N,) uint8 0..9 (stored with these dtypes).

    Raises
    ------
    ValueError
        If ``split`` is not such a pair (nothing is written).
    """
    x, y = np.asarray(split.x), np.asarray(split.y)
    if problem := _split_problem(x, y):
        raise ValueError(f"{path}: not a prepared split: {problem}")
    save_npz(path, x=x.astype(np.float32, copy=False), y=y.astype(np.uint8, copy=False))


def read_split(path: str | os.PathLike) -> Split:
    """Read a prepared split written by :func:`write_split` and check it.

    Parameters
    ----------
    path : str or path-like
        ``data/prepared/train.npz``, ``val.npz`` or ``test.npz``.

    Returns
    -------
    Split
        ``x`` float32 (N, 28, 28) in [0, 1], ``y`` uint8 (N,) in 0..9.

    Raises
    ------
    MnistlabError
        One line naming the file: missing (run the prepare stage first), not an ``.npz``, without
        arrays ``x`` and ``y``, or arrays of the wrong shape, type or range.
    """
    path = Path(path)
    data = _load_npz(path, "a prepared split", "prepare")
    if not {"x", "y"} <= data.keys():
        raise MnistlabError(f"{path}: not a prepared split with arrays x and y (it holds "
                            f"{', '.join(sorted(data)) or 'nothing'}); run `dvc repro prepare` again")
    x, y = data["x"], data["y"]
    if problem := _split_problem(x, y):
        raise MnistlabError(f"{path}: not a prepared split: {problem}; run `dvc repro prepare` again")
    return Split(x=x.astype(np.float32, copy=False), y=y.astype(np.uint8, copy=False))


# -- test probabilities --------------------------------------------------------------------------------

#: Key of the labels in the probabilities file; every other array is one model's probabilities.
LABELS_KEY = "y"


def write_probabilities(path: str | os.PathLike, y_true: np.ndarray, proba: Mapping[str, np.ndarray]) -> None:
    """Write the test labels and each model's class probabilities to one ``.npz``, atomically.

    Parameters
    ----------
    path : str or path-like
        ``data/evaluation/test_proba.npz``.
    y_true : ndarray of shape (N,), integers 0..9
        Test labels, stored as uint8 under :data:`LABELS_KEY`.
    proba : mapping of str to ndarray of shape (N, 10)
        Model name -> probabilities, stored as float32 in the mapping's order.

    Raises
    ------
    ValueError
        If the labels are not (N,) digits, a model's array is not (N, 10), or a model is named
        :data:`LABELS_KEY` (nothing is written).
    """
    y = np.asarray(y_true)
    if problem := _labels_problem(y):
        raise ValueError(f"{path}: {problem}")
    arrays = {}
    for name, p in proba.items():
        p = np.asarray(p)
        if name == LABELS_KEY or p.shape != (len(y), N_CLASSES):
            raise ValueError(f"{path}: model {name!r}: probabilities of shape {p.shape}, expected "
                             f"({len(y)}, {N_CLASSES}) under a name other than {LABELS_KEY!r}")
        arrays[name] = p.astype(np.float32)
    save_npz(path, **{LABELS_KEY: y.astype(np.uint8)}, **arrays)


def read_probabilities(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read the file of :func:`write_probabilities` and check every shape.

    Parameters
    ----------
    path : str or path-like
        ``data/evaluation/test_proba.npz``.

    Returns
    -------
    y : ndarray of shape (N,), int64 in 0..9
        Test labels.
    proba : dict of str to ndarray of shape (N, 10), float64
        Model name -> class probabilities, in the order written (the registry's).

    Raises
    ------
    MnistlabError
        One line naming the file: missing or unreadable, without labels or without any model,
        labels that are not (N,) digits 0..9, or a model's array that is not finite of shape (N, 10).
    """
    path = Path(path)
    data = _load_npz(path, "test probabilities", "evaluate")
    if LABELS_KEY not in data:
        raise MnistlabError(f"{path}: no array {LABELS_KEY!r} of test labels (an older format?); "
                            "run `dvc repro evaluate` again")
    y = data.pop(LABELS_KEY)
    if problem := _labels_problem(y):
        raise MnistlabError(f"{path}: {problem}; run `dvc repro evaluate` again")
    if not data:
        raise MnistlabError(f"{path}: no model's probabilities in the file; run `dvc repro evaluate`")
    proba = {}
    for name, p in data.items():
        if p.shape != (len(y), N_CLASSES) or not np.issubdtype(p.dtype, np.floating):
            raise MnistlabError(f"{path}: model {name} has probabilities of shape {p.shape} ({p.dtype}), "
                                f"expected ({len(y)}, {N_CLASSES}) floats for its {len(y)} labels; "
                                "run `dvc repro evaluate` again")
        if not np.isfinite(p).all():
            raise MnistlabError(f"{path}: model {name} has non-finite probabilities; "
                                "run `dvc repro evaluate` again")
        proba[name] = p.astype(np.float64)
    return y.astype(np.int64), proba


# -- model files: sizes checked from the zip directory, before anything is read -----------------------

#: Largest model file accepted, bytes: on disk, and uncompressed (the sum of its zip members' sizes, as
#: the zip's central directory declares them; Python's zipfile never inflates a member past its declared
#: size). The pipeline's models are 0.03 to 5 MB uncompressed (models/*), and a NumPy MLP as wide as
#: params.yaml allows in one hidden layer (784 x 16,384 float32 weights, mnistlab.core.params.MAX_WIDTH)
#: is 51 MB; loaders hold a model's arrays in memory about once, so 256 MiB keeps a crafted file (a zip
#: bomb: a few MB that inflate to gigabytes) well under 1 GiB.
MAX_MODEL_BYTES = 256 * 2**20
#: Largest member that a loader turns into Python objects (a skops ``schema.json``, a PyTorch
#: ``data.pkl``, the ``architecture`` of an ``.npz`` network), bytes. Such objects take up to about 40
#: times the bytes of their text (an empty list is 2 bytes of pickle, 64 of memory); the pipeline's are
#: 1 KB (.npz, .pt) to 141 KB (svm_gabor.skops).
MAX_METADATA_BYTES = 4 * 2**20
#: Largest zip central directory, bytes. Python's zipfile builds an object of a few hundred bytes per
#: entry of it before anything can be checked; the pipeline's files have 5 to 40 entries (about 2 KB),
#: and 1 MiB allows some 20,000.
MAX_ZIP_DIRECTORY_BYTES = 2**20

_MiB = 2**20
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (APPNOTE.TXT 4.3.16), 22 bytes
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # zip64 end of central directory locator (4.3.15)
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # zip64 end of central directory record (4.3.14)


def _zip_directory(path: Path) -> tuple[int, int] | None:
    """``(entries, bytes)`` of the central directory of the zip at ``path``, read from its end records
    only (zip64 ones when present), or None when the file has no end record (not a zip)."""
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        tail_size = min(size, _EOCD.size + 0xFFFF)  # the record, then a comment of at most 65,535 bytes
        fh.seek(size - tail_size)
        tail = fh.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            return None
        entries, directory = _EOCD.unpack_from(tail, at)[4:6]
        locator = at - _ZIP64_LOCATOR.size
        if locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
            fh.seek(_ZIP64_LOCATOR.unpack_from(tail, locator)[2])
            record = fh.read(_ZIP64_EOCD.size)
            if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                entries, directory = _ZIP64_EOCD.unpack(record)[7:9]
    return entries, directory


def check_zip_sizes(path: str | os.PathLike, kind: str,
                    metadata: tuple[str, ...] = ()) -> list[zipfile.ZipInfo]:
    """Refuse a model file (a zip archive) whose declared sizes exceed the limits, reading only its
    directory: nothing is inflated or allocated by the file's contents.

    Parameters
    ----------
    path : str or path-like
        An existing ``.skops``, ``.npz`` or ``.pt`` file.
    kind : str
        What the file should be, for messages (``"skops file"``, ``"saved NumPy network"``).
    metadata : tuple of str
        Members turned into Python objects by the loader, held to :data:`MAX_METADATA_BYTES`: exact
        names, or ``"/name"`` for a member of that name in any folder (a PyTorch ``"/data.pkl"``).

    Returns
    -------
    list of zipfile.ZipInfo
        The members, as the central directory declares them.

    Raises
    ------
    MnistlabError
        One line naming the file and the limit with its reason: a file or central directory too
        large, an uncompressed total above :data:`MAX_MODEL_BYTES` (the largest member named), a
        metadata member above :data:`MAX_METADATA_BYTES`; or ``not a <kind>`` for a file that is not
        a readable zip archive.
    """
    path = Path(path)
    expected = f"the largest legitimate model here is a few MB; expected a {kind}"
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES + MAX_ZIP_DIRECTORY_BYTES:
            raise MnistlabError(f"{path}: refused unread: the file is {size / _MiB:,.1f} MiB, above the "
                                f"{MAX_MODEL_BYTES // _MiB} MiB limit on a model file ({expected})")
        directory = _zip_directory(path)
        if directory is None:
            raise MnistlabError(f"{path}: not a {kind} (not a zip archive)")
        if directory[1] > MAX_ZIP_DIRECTORY_BYTES:
            raise MnistlabError(
                f"{path}: refused unread: its zip directory lists {directory[0]:,} entries in "
                f"{directory[1]:,} bytes, above the limit of {MAX_ZIP_DIRECTORY_BYTES:,} bytes (a "
                f"model file has a few dozen entries; {expected})")
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, struct.error) as err:
        raise MnistlabError(f"{path}: not a {kind} (not a readable zip archive: {err})") from None
    total = sum(info.file_size for info in infos)
    if total > MAX_MODEL_BYTES:
        largest = max(infos, key=lambda info: info.file_size)
        raise MnistlabError(
            f"{path}: refused unread: its contents would inflate to {total / _MiB:,.1f} MiB (member "
            f"{largest.filename!r}: {largest.file_size / _MiB:,.1f} MiB), above the "
            f"{MAX_MODEL_BYTES // _MiB} MiB limit on a model file's uncompressed size ({expected})")
    for info in infos:
        name = info.filename
        if info.file_size > MAX_METADATA_BYTES and any(
                name == wanted or (wanted.startswith("/") and name.endswith(wanted)) for wanted in metadata):
            raise MnistlabError(
                f"{path}: refused unread: member {name!r} would inflate to {info.file_size / _MiB:,.1f} "
                f"MiB, above the {MAX_METADATA_BYTES // _MiB} MiB limit on the part read as Python objects "
                f"(the pipeline's are at most 141 KB; expected a {kind})")
    return infos


def _normalized_zip(data: bytes) -> bytes:
    """Rewrite a skops zip so that equal objects give equal bytes.

    skops names array files after ``id()`` (memory addresses) or ``uuid4``, keys its memo of shared
    objects (``__id__``) by ``id()``, and stamps entries with the current time. Files are renamed
    ``0.npy``, ``1.npy``, ... and memo keys numbered 0, 1, ... in the order the schema first
    names them (a one-to-one renaming, so shared objects stay shared), and every entry gets the
    same date and permissions.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        renames: dict[str, str] = {}
        ids: dict[int, int] = {}

        def rename(node):
            if isinstance(node, dict):
                name = node.get("file")
                if isinstance(name, str) and name in source.namelist():
                    node["file"] = renames.setdefault(name, f"{len(renames)}{Path(name).suffix}")
                if isinstance(node.get("__id__"), int):
                    node["__id__"] = ids.setdefault(node["__id__"], len(ids))
                for value in node.values():
                    rename(value)
            elif isinstance(node, list):
                for value in node:
                    rename(value)

        rename(schema)
        entries = [(new, source.read(old)) for old, new in renames.items()]
    entries.append(("schema.json", json.dumps(schema, indent=2).encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as target:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, content, compresslevel=6)
    return out.getvalue()


def dump_skops(obj: object, path: str | os.PathLike) -> None:
    """Save ``obj`` with skops to ``path`` atomically, the same bytes for the same object."""
    import skops.io

    data = _normalized_zip(skops.io.dumps(obj))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_skops(path: str | os.PathLike, expected: type, what: str, trusted: list[str]) -> object:
    """Load a skops file written by :func:`dump_skops`, building only trusted types.

    Parameters
    ----------
    path : str or path-like
    expected : type
        The class the file must hold.
    what : str
        What the file should be, for messages (``"mnistlab SVM model"``).
    trusted : list of str
        Types, beyond skops's safe defaults, that the file may hold (``module.Class``).

    Raises
    ------
    MnistlabError
        One line naming the file: a ``.joblib`` file of an older version (not read), a missing
        file, a file that is not a skops zip, one whose declared sizes exceed the limits of
        :func:`check_zip_sizes` (refused before anything is inflated), one holding types outside
        ``trusted`` and skops's defaults (named; nothing is built), or one holding something else.
    """
    import skops.io

    path = Path(path)
    if path.suffix == ".joblib":
        raise MnistlabError(
            f"{path}: old joblib model format, which can run code when loaded; retrain it with "
            "`dvc repro` (or convert it yourself if you trust its origin)"
        )
    if not path.is_file():
        raise MnistlabError(f"{path}: not found (train it with `dvc repro`)")
    check_zip_sizes(path, "skops file", metadata=("schema.json",))
    try:
        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(trusted)
    except Exception as err:  # zipfile, json and skops raise many kinds for a file that is not theirs
        raise MnistlabError(f"{path}: not a skops file ({type(err).__name__}: {err})") from None
    classes = {name.rsplit(".", 1)[-1] for name in trusted}
    # the same classes under the module paths of an older layout of the package
    moved = sorted(name for name in untrusted
                   if name.startswith("mnistlab.") and name.rsplit(".", 1)[-1] in classes)
    if moved:
        raise MnistlabError(f"{path}: written by an older version of mnistlab (it names "
                            f"{', '.join(moved)}); retrain it with `dvc repro`")
    if untrusted:
        raise MnistlabError(f"{path}: not loaded, it holds types mnistlab does not trust: "
                            f"{', '.join(sorted(untrusted))}")
    try:
        obj = skops.io.load(path, trusted=trusted)
    except Exception as err:  # only trusted types are built; anything else is a damaged file
        message = str(err).splitlines()[0] if str(err) else ""
        raise MnistlabError(f"{path}: not a readable {what} ({type(err).__name__}: {message})") from None
    if not isinstance(obj, expected):
        raise MnistlabError(f"{path}: holds a {type(obj).__name__}, expected a {what}")
    return obj
