"""Put the four IDX files named by ``data.source`` into a raw-data folder, all verified, or change nothing.

Sources (see :func:`download`): a known dataset from :mod:`mnistlab.core.sources` (mirrors tried in
order, each file checked against its published MD5), the real MNIST sample shipped in the repository,
a local folder or a ``file://`` / ``http(s)://`` URL of a folder holding the four standard names
(checked against a ``SHA256SUMS`` there when one exists), or a ``.csv`` file in the Kaggle
digit-recognizer layout (converted by :mod:`mnistlab.data.kaggle`). HTTP, retries, mirrors and the
offline time bound are :mod:`mnistlab.data.http`'s; digests are :mod:`mnistlab.data.checksums`'.

All or nothing. Every file is fetched, copied or converted into a staging folder beside the raw
folder (``data/.raw-staging-XXXXXXXX``); once all four pass their checksums and
:func:`mnistlab.data.idx.read_pair`, they are renamed into the raw folder and ``source.json`` is
written. Any failure before that leaves the raw folder as it was, byte for byte; the staging
folder is removed in every case.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mnistlab.core.constants import IMAGE_SIZE
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_json
from mnistlab.core.sources import (
    DATASETS,
    FILE_NAMES,
    SAMPLE,
    SHA256SUMS,
    SOURCE_JSON,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    Dataset,
)
from mnistlab.data import idx
from mnistlab.data.checksums import Check, file_digests, parse_sha256sums
from mnistlab.data.http import REACH_BUDGET_S, AllMirrorsFailed, Fetcher, move_into, staging_folder
from mnistlab.data.kaggle import csv_to_idx

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_DIR = Path("data/sample")


class DownloadError(MnistlabError):
    """No mirror delivered a file; the one-line message lists each mirror's failure and offline options."""


@dataclass(frozen=True)
class _Run:
    """What one :func:`download` call works with."""

    raw_dir: Path  # the destination, only read until everything is verified
    staging: Path  # where the four files are assembled
    sample_dir: Path
    previous: dict  # the raw folder's source.json, or {}
    fetcher: Fetcher
    csv_test_size: int | float
    seed: int


def download(
    source: str | Dataset,
    raw_dir: str | os.PathLike,
    *,
    sample_dir: str | os.PathLike = DEFAULT_SAMPLE_DIR,
    timeout: float = 20.0,
    retries: int = 2,
    csv_test_size: int | float = 0.2,
    seed: int = 0,
    reach_budget: float = REACH_BUDGET_S,
    progress: bool = True,
) -> dict:
    """Put the four standard IDX files of ``source`` into ``raw_dir``, verified, with ``source.json``.

    Parameters
    ----------
    source : str or Dataset
        ``"mnist"`` or ``"fashion-mnist"`` (see :data:`mnistlab.core.sources.DATASETS`, whose
        mirrors and MD5s are the datasets' published ones), ``"sample"`` (the folder
        ``sample_dir``, checked against its SHA256SUMS), a folder path or a ``file://`` or
        ``http(s)://`` URL of a folder holding :data:`~mnistlab.core.sources.FILE_NAMES`
        (checked against a SHA256SUMS there when one exists; uncompressed files without ``.gz``
        are accepted from local folders and gzipped), a path or URL of a ``.csv`` file in the
        Kaggle digit-recognizer layout (``label,pixel0..pixel783``), or a :class:`Dataset`
        (tests use this to point at local mirrors).
    raw_dir : str or path-like
        Output folder (``data/raw`` in the pipeline). On success it holds exactly the four files and
        ``source.json``; other files in it are removed. Files already there that match the
        expected checksum (or the SHA-256 in its ``source.json``) are not fetched again. On any
        failure it is left exactly as it was (not created if it did not exist).
    sample_dir : str or path-like
        The repository's sample folder (``data/sample``), used when ``source == "sample"``.
    timeout : float
        Seconds, used as both the connect and the read timeout of each HTTP attempt.
    retries : int
        Extra attempts per file and mirror (urllib3 ``Retry``), with exponential backoff.
    csv_test_size : int or float
        For a CSV source: size of the stratified test part, a count (>= 1) or a fraction in (0, 1).
    seed : int
        Seed of the CSV test split (``random_state`` of ``train_test_split``).
    reach_budget : float
        Seconds that all attempts together may take until the first file has arrived.
    progress : bool
        Show a tqdm progress bar (on stderr) for each downloaded file.

    Returns
    -------
    dict
        The record written to ``raw_dir/source.json``: ``source``, ``kind`` (dataset, sample,
        folder, url or csv), ``dataset``, for each file ``origin`` (URL or path), ``bytes``,
        ``md5``, ``sha256`` and ``checked`` (what the file was verified against), and ``images``
        (``{"train": int, "test": int}``, image counts).

    Raises
    ------
    DownloadError
        If no mirror delivered a file: one line naming each mirror tried, why it failed, and how
        to run offline.
    MnistlabError
        If the source is unknown, a source file is missing, fails its checksum or is not a valid
        IDX file (:class:`~mnistlab.data.idx.IDXError`, naming the source file), or the CSV is
        malformed (:func:`mnistlab.data.kaggle.csv_to_idx`). ``raw_dir`` is then unchanged.
    """
    raw_dir = Path(raw_dir)
    if raw_dir.exists() and not raw_dir.is_dir():
        raise MnistlabError(f"{raw_dir}: exists and is not a folder; expected the raw-data folder")
    fetcher = Fetcher(timeout=timeout, retries=retries, reach_budget=reach_budget, progress=progress)
    with staging_folder(raw_dir) as staging:
        run = _Run(raw_dir, staging, Path(sample_dir), _previous_record(raw_dir), fetcher,
                   csv_test_size, seed)
        record = _collect(source, run)
        record["images"] = _validate(staging, record["files"])
        _publish(staging, raw_dir, record)
    return record


# --------------------------------------------------------------------------------------------------
# Dispatch on the kind of source; each fills run.staging and returns the record without "images"
# --------------------------------------------------------------------------------------------------


def _collect(source: str | Dataset, run: _Run) -> dict:
    if isinstance(source, Dataset) or source in DATASETS:
        dataset = source if isinstance(source, Dataset) else DATASETS[source]
        checks = {name: Check("md5", dataset.md5[name], "published MD5") for name in FILE_NAMES}
        files = _fetch_all(run, dataset.name, dataset.mirrors, checks)
        return {"source": dataset.name, "kind": "dataset", "dataset": dataset.name,
                "homepage": dataset.homepage, "files": files}
    if source == SAMPLE:
        files = _from_folder(run.sample_dir, run.staging, require_sums=True)
        return {"source": SAMPLE, "kind": "sample", "dataset": "mnist (sample)", "files": files}
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        if urlparse(source).path.lower().endswith(".csv"):
            return _from_remote_csv(source, run)
        return {"source": source, "kind": "url", "dataset": None, "files": _from_url_folder(source, run)}
    path = _local_path(source)
    if path.is_dir():
        return {"source": source, "kind": "folder", "dataset": None,
                "files": _from_folder(path, run.staging, require_sums=False)}
    if path.is_file() and path.suffix.lower() == ".csv":
        files, csv_record = csv_to_idx(path, run.staging, test_size=run.csv_test_size, seed=run.seed)
        return {"source": source, "kind": "csv", "dataset": None, "csv": csv_record, "files": files}
    if path.exists():
        raise MnistlabError(f"{path}: data.source must be a folder of the four IDX files or a .csv file")
    raise MnistlabError(
        f"data.source = {source!r}: no such file or folder; expected one of {', '.join(DATASETS)}, "
        f"{SAMPLE}, a folder path, a file:// or http(s):// URL of a folder, or a .csv file"
    )


def _local_path(source: str) -> Path:
    parsed = urlparse(source)
    if parsed.scheme.lower() == "file":
        if parsed.netloc not in ("", "localhost"):
            raise MnistlabError(f"data.source = {source!r}: file:// URLs must name a local path")
        return Path(url2pathname(parsed.path))  # also undoes %-escapes
    return Path(os.path.expanduser(source))


# --------------------------------------------------------------------------------------------------
# Remote sources
# --------------------------------------------------------------------------------------------------


def _from_url_folder(url: str, run: _Run) -> dict:
    base = url if url.endswith("/") else url + "/"
    sums = run.fetcher.fetch_text(base, base + SHA256SUMS)
    checks = {}
    if sums is not None:
        listed = parse_sha256sums(sums, base + SHA256SUMS)
        checks = {name: Check("sha256", listed[name], SHA256SUMS) for name in FILE_NAMES if name in listed}
    return _fetch_all(run, base, (base,), checks)


def _fetch_all(run: _Run, label: str, mirrors: tuple[str, ...], checks: Mapping[str, Check]) -> dict:
    """Stage each of the four files: kept from the raw folder if verified, else fetched from a mirror."""
    files = {}
    for name in FILE_NAMES:
        check = checks.get(name)
        recorded = run.previous.get("files", {}).get(name)
        kept = _already_present(run.raw_dir / name, check, recorded, {m + name for m in mirrors})
        if kept is not None:
            log.info("%s: already present and verified, not fetched again", run.raw_dir / name)
            shutil.copyfile(run.raw_dir / name, run.staging / name)
            files[name] = kept
            continue
        try:
            origin, digests = run.fetcher.fetch(name, mirrors, check, run.staging / name)
        except AllMirrorsFailed as failed:
            raise DownloadError(_offline_message(label, name, failed.failures, run.sample_dir)) from None
        files[name] = {"origin": origin, **digests, "checked": check.what if check else "none"}
    return files


def _already_present(path: Path, check: Check | None, recorded: dict | None,
                     urls: set[str]) -> dict | None:
    """The record of ``path`` if it may stand in for a download, else None.

    It may if it matches ``check``; with no check, if its SHA-256 matches ``recorded`` (its entry
    in the raw folder's ``source.json``) and that entry says it came from one of ``urls``, so
    files of another source are never kept unverified.
    """
    if not path.is_file():
        return None
    digests = file_digests(path)
    same_as_recorded = bool(recorded) and recorded.get("sha256") == digests["sha256"]
    if check is not None:
        if check.mismatch(digests) is not None:
            return None
        origin = recorded.get("origin") if same_as_recorded else f"already present in {path.parent}"
        return {"origin": origin, **digests, "checked": check.what}
    if same_as_recorded and recorded.get("origin") in urls:
        return {"origin": recorded.get("origin"), **digests, "checked": "previous run's sha256"}
    return None


def _from_remote_csv(url: str, run: _Run) -> dict:
    name = Path(urlparse(url).path).name
    base = url[: len(url) - len(name)]
    try:
        run.fetcher.fetch(name, (base,), None, run.staging / name)
    except AllMirrorsFailed as failed:
        raise DownloadError(_offline_message(url, name, failed.failures, run.sample_dir)) from None
    files, csv_record = csv_to_idx(run.staging / name, run.staging, test_size=run.csv_test_size,
                                   seed=run.seed)
    csv_record["path"] = url
    for entry in files.values():
        entry["origin"] = url
    return {"source": url, "kind": "csv", "dataset": None, "csv": csv_record, "files": files}


def _offline_message(label: str, name: str, failures: list[str], sample_dir: Path) -> str:
    return (
        f"could not download {name} of {label} from any mirror: {'; '.join(failures)}. "
        f"To run offline: `dvc exp run -S data.source={SAMPLE}` (the MNIST sample in {sample_dir}), "
        f"or `dvc exp run -S data.source=/path/to/folder` with the four IDX files "
        f"({', '.join(FILE_NAMES)})"
    )


# --------------------------------------------------------------------------------------------------
# Local folders and the sample
# --------------------------------------------------------------------------------------------------


def _from_folder(folder: Path, staging: Path, require_sums: bool) -> dict:
    """Copy the four files of ``folder`` into ``staging``, checking them against its SHA256SUMS."""
    sums_path = folder / SHA256SUMS
    if not folder.is_dir():
        raise MnistlabError(f"{folder}: no such folder")
    sums = parse_sha256sums(sums_path.read_text(), sums_path) if sums_path.is_file() else None
    if require_sums and sums is None:
        raise MnistlabError(f"{sums_path}: file not found; the sample must come with its checksums")
    files = {}
    for name in FILE_NAMES:
        src, gzip_it = _find_in_folder(folder, name)
        digests = file_digests(src)
        expected = sums.get(src.name) if sums else None
        if expected is None and require_sums:
            raise MnistlabError(f"{sums_path}: no checksum for {src.name}")
        if expected is not None and digests["sha256"] != expected:
            raise MnistlabError(f"{src}: SHA-256 {digests['sha256']} does not match {sums_path} ({expected})")
        if gzip_it:
            digests = _gzip_copy(src, staging / name)
        else:
            shutil.copyfile(src, staging / name)
        files[name] = {"origin": str(src.resolve()), **digests,
                       "checked": SHA256SUMS if expected is not None else "none"}
    return files


def _find_in_folder(folder: Path, name: str) -> tuple[Path, bool]:
    """``folder/name``, or its uncompressed twin (name without ``.gz``, to be gzipped)."""
    if (folder / name).is_file():
        return folder / name, False
    plain = folder / name.removesuffix(".gz")
    if plain.is_file():
        return plain, True
    raise MnistlabError(f"{folder / name}: file not found; a source folder must hold {', '.join(FILE_NAMES)}")


def _gzip_copy(src: Path, dest: Path) -> dict:
    """Gzip ``src`` into ``dest`` (no name, mtime 0: the same bytes every run); digests of ``dest``."""
    with open(src, "rb") as fin, open(dest, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as out:
            shutil.copyfileobj(fin, out)
    return file_digests(dest)


# --------------------------------------------------------------------------------------------------
# Validation and publication
# --------------------------------------------------------------------------------------------------


def _validate(staging: Path, files: Mapping[str, dict]) -> dict:
    """Read both pairs with idx.read_pair; image counts by split, or an IDXError naming the source file."""
    counts = {}
    try:
        for split, (images_name, labels_name) in {"train": (TRAIN_IMAGES, TRAIN_LABELS),
                                                  "test": (TEST_IMAGES, TEST_LABELS)}.items():
            images, _ = idx.read_pair(staging / images_name, staging / labels_name)
            if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
                rows, cols = images.shape[1:]
                raise idx.IDXError(f"{staging / images_name}: images are {rows}x{cols}, "
                                   f"expected {IMAGE_SIZE}x{IMAGE_SIZE}")
            counts[split] = len(images)
    except idx.IDXError as err:
        message = str(err)
        for name, entry in files.items():
            message = message.replace(str(staging / name), str(entry["origin"]))
        raise idx.IDXError(message) from None
    return counts


def _publish(staging: Path, raw_dir: Path, record: dict) -> None:
    """Move the four verified files into ``raw_dir``, write ``source.json``, remove other files.

    The old ``source.json`` goes first and the new one is written last, so only a crash during
    these few renames could leave a mix of files, and then no record vouches for it.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / SOURCE_JSON).unlink(missing_ok=True)
    for name in FILE_NAMES:
        move_into(staging / name, raw_dir / name)
    write_json(raw_dir / SOURCE_JSON, record)
    keep = {*FILE_NAMES, SOURCE_JSON}
    for path in raw_dir.iterdir():
        if path.is_file() and path.name not in keep:
            log.info("%s: removed (not one of the four IDX files)", path)
            path.unlink()


def _previous_record(raw_dir: Path) -> dict:
    """The raw folder's ``source.json`` (read only), or {} when it is missing or unreadable."""
    try:
        previous = json.loads((raw_dir / SOURCE_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}
