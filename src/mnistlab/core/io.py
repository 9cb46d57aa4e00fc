"""Reading and writing the files between stages, each writer beside its reader.

Every output is written to a temporary file in the same folder, then renamed: a crash or a bad
input never leaves a half-written file under its final name. Readers check what they read and
raise :class:`~mnistlab.core.errors.MnistlabError` with one line naming the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

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
        file, a file that is not a skops zip, one holding types outside ``trusted``
        and skops's defaults (named; nothing is built), or one holding something else.
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
    try:
        untrusted = set(skops.io.get_untrusted_types(file=path)) - set(trusted)
    except Exception as err:  # zipfile, json and skops raise many kinds for a file that is not theirs
        raise MnistlabError(f"{path}: not a skops file ({type(err).__name__}: {err})") from None
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
