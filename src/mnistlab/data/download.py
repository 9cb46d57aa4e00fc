"""Fetch the four IDX files named by ``data.source`` into a raw-data folder, verified and recorded.

Sources (see :func:`download`): a known dataset from :mod:`mnistlab.data.sources` (mirrors tried in
order, each file checked against its published MD5), the real MNIST sample shipped in the repository,
a local folder or a ``file://`` / ``http(s)://`` URL of a folder holding the four standard names
(checked against a ``SHA256SUMS`` there when one exists), or a ``.csv`` file in the Kaggle
digit-recognizer layout (converted to the same four files).

Network policy. Every request goes through ``requests`` with urllib3's :class:`~urllib3.util.Retry`
(``retries`` extra attempts on connection errors, read errors and HTTP 429/5xx, exponential backoff
``0.5 * 2**(k-1)`` s capped at 4 s, the first retry immediate) and ``(connect, read)`` timeouts of
``timeout`` seconds. Any failure or checksum mismatch moves on to the next mirror; a mirror that could
not be connected to is not tried again in the same run. Until the first file arrives, all attempts
together get at most ``reach_budget`` seconds (30 by default), shared among the mirrors still to
try, so with no internet a run fails within that time plus start-up, however the network fails
(DNS errors are immediate; dropped packets cost at most the budget, even for hosts with several
addresses). Bytes stream to ``<name>.part`` and are renamed only once verified.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import requests
import urllib3
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util import Retry

from mnistlab.data import idx
from mnistlab.data.sources import (
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
from mnistlab.errors import MnistlabError
from mnistlab.io import write_json

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_DIR = Path("data/sample")
#: Seconds all attempts together may take before the first file has arrived (the offline bound).
REACH_BUDGET_S = 30.0
BACKOFF_FACTOR = 0.5  # seconds; urllib3 sleeps BACKOFF_FACTOR * 2**(k-1) before the k-th retry (k >= 2)
BACKOFF_MAX_S = 4.0
RETRY_STATUS = (429, 500, 502, 503, 504)
CHUNK_BYTES = 1 << 16
IMAGE_SHAPE = (28, 28)
USER_AGENT = "mnistlab/0.1 (python-requests)"
PIXEL_COLUMNS = tuple(f"pixel{i}" for i in range(IMAGE_SHAPE[0] * IMAGE_SHAPE[1]))


class DownloadError(MnistlabError):
    """No mirror delivered a file; the one-line message lists each mirror's failure and offline options."""


class _MirrorFailure(Exception):
    """One mirror failed for one file; ``str()`` is the reason."""


class _NoAnswer(Exception):
    """A request did not complete within its share of the reach budget."""


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


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
        ``"mnist"`` or ``"fashion-mnist"`` (see :data:`mnistlab.data.sources.DATASETS`), ``"sample"``
        (the folder ``sample_dir``, checked against its SHA256SUMS), a folder path or a ``file://``
        or ``http(s)://`` URL of a folder holding :data:`~mnistlab.data.sources.FILE_NAMES`
        (checked against a SHA256SUMS there when one exists; uncompressed files without ``.gz``
        are accepted from local folders and gzipped), a path or URL of a ``.csv`` file in the
        Kaggle digit-recognizer layout (``label,pixel0..pixel783``), or a :class:`Dataset`
        (tests use this to point at local mirrors).
    raw_dir : str or path-like
        Output folder (``data/raw`` in the pipeline). On success it holds exactly the four files and
        ``source.json``; other files in it are removed. Files already there that match the
        expected checksum are not fetched again.
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
        folder, url or csv), ``dataset``, image counts, and for each file ``origin`` (URL or path),
        ``bytes``, ``md5``, ``sha256`` and ``checked`` (what the file was verified against).

    Raises
    ------
    DownloadError
        If no mirror delivered a file: one line naming each mirror tried, why it failed, and how
        to run offline. ``raw_dir`` then holds no partial file and no ``source.json``.
    MnistlabError
        If the source is unknown, a source file is missing, fails its checksum or is not a valid
        IDX file (:class:`~mnistlab.data.idx.IDXError`, naming the source file), or the CSV is
        malformed.
    """
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    previous = _take_previous_record(raw_dir)
    settings = dict(timeout=timeout, retries=retries, reach_budget=reach_budget, progress=progress)
    try:
        record = _collect(source, raw_dir, Path(sample_dir), previous, settings, csv_test_size, seed)
        record["images"] = _validate(raw_dir, record["files"])
        _remove_strays(raw_dir)
        write_json(raw_dir / SOURCE_JSON, record)
    finally:
        for part in raw_dir.glob("*.part"):
            part.unlink(missing_ok=True)
    return record


# --------------------------------------------------------------------------------------------------
# Dispatch on the kind of source
# --------------------------------------------------------------------------------------------------


def _collect(source, raw_dir: Path, sample_dir: Path, previous: dict, settings: dict,
             csv_test_size, seed) -> dict:
    if isinstance(source, Dataset) or source in DATASETS:
        dataset = source if isinstance(source, Dataset) else DATASETS[source]
        files = _from_dataset(dataset, raw_dir, previous, settings, sample_dir)
        return {"source": dataset.name, "kind": "dataset", "dataset": dataset.name,
                "homepage": dataset.homepage, "files": files}
    if source == SAMPLE:
        files = _from_folder(sample_dir, raw_dir, require_sums=True)
        return {"source": SAMPLE, "kind": "sample", "dataset": "mnist (sample)", "files": files}
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        if urlparse(source).path.lower().endswith(".csv"):
            return _from_remote_csv(source, raw_dir, settings, sample_dir, csv_test_size, seed)
        files = _from_url_folder(source, raw_dir, previous, settings, sample_dir)
        return {"source": source, "kind": "url", "dataset": None, "files": files}
    path = _local_path(source)
    if path.is_dir():
        return {"source": source, "kind": "folder", "dataset": None,
                "files": _from_folder(path, raw_dir, require_sums=False)}
    if path.is_file() and path.suffix.lower() == ".csv":
        files, csv_record = csv_to_idx(path, raw_dir, test_size=csv_test_size, seed=seed)
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


def _from_dataset(dataset: Dataset, raw_dir: Path, previous: dict, settings: dict,
                  sample_dir: Path) -> dict:
    fetcher = _Fetcher(**settings)
    checks = {name: ("md5", dataset.md5[name], "published MD5") for name in FILE_NAMES}
    return _fetch_all(fetcher, dataset.name, dataset.mirrors, checks, raw_dir, previous, sample_dir)


def _from_url_folder(url: str, raw_dir: Path, previous: dict, settings: dict, sample_dir: Path) -> dict:
    base = url if url.endswith("/") else url + "/"
    fetcher = _Fetcher(**settings)
    sums = fetcher.fetch_text(base, base + SHA256SUMS)
    checks = {}
    if sums is not None:
        listed = parse_sha256sums(sums, base + SHA256SUMS)
        checks = {name: ("sha256", listed[name], SHA256SUMS) for name in FILE_NAMES if name in listed}
    return _fetch_all(fetcher, base, (base,), checks, raw_dir, previous, sample_dir)


def _fetch_all(fetcher: _Fetcher, label: str, mirrors: tuple[str, ...], checks: Mapping, raw_dir: Path,
               previous: dict, sample_dir: Path) -> dict:
    """Fetch each of the four files from the first mirror that delivers it intact."""
    files = {}
    for name in FILE_NAMES:
        check = checks.get(name)
        kept = _already_present(raw_dir / name, check, previous.get("files", {}).get(name))
        if kept is not None:
            log.info("%s: already present and verified, not fetched again", raw_dir / name)
            files[name] = kept
            continue
        try:
            origin, digests = fetcher.fetch(name, mirrors, check, raw_dir / name)
        except _AllFailed as failed:
            raise DownloadError(_offline_message(label, name, failed.failures, sample_dir)) from None
        files[name] = {"origin": origin, **digests, "checked": check[2] if check else "none"}
    return files


def _already_present(path: Path, check: tuple | None, recorded: dict | None) -> dict | None:
    """The file's record if ``path`` exists and matches its checksum (or the previous run's record)."""
    if not path.is_file():
        return None
    digests = file_digests(path)
    if check is not None:
        algorithm, expected, what = check
        if digests[algorithm] != expected:
            return None
        same = recorded and recorded.get("sha256") == digests["sha256"]
        origin = recorded.get("origin") if same else f"already present in {path.parent}"
        return {"origin": origin, **digests, "checked": what}
    if recorded and recorded.get("sha256") == digests["sha256"]:
        return {"origin": recorded.get("origin"), **digests, "checked": "previous run's sha256"}
    return None


def _from_remote_csv(url: str, raw_dir: Path, settings: dict, sample_dir: Path, test_size, seed) -> dict:
    name = Path(urlparse(url).path).name
    base = url[: len(url) - len(name)]
    fetcher = _Fetcher(**settings)
    with tempfile.TemporaryDirectory(prefix="mnistlab-csv-") as tmp:
        try:
            fetcher.fetch(name, (base,), None, Path(tmp) / name)
        except _AllFailed as failed:
            raise DownloadError(_offline_message(url, name, failed.failures, sample_dir)) from None
        files, csv_record = csv_to_idx(Path(tmp) / name, raw_dir, test_size=test_size, seed=seed)
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


class _AllFailed(Exception):
    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


class _Fetcher:
    """HTTP downloads with retries, timeouts, mirror fallback and a shared reach budget.

    One ``requests.Session`` per mirror, with an ``HTTPAdapter`` carrying a urllib3 ``Retry``.
    ``unreachable`` maps each mirror that could not be connected to onto the reason, so it is
    skipped for the remaining files.
    """

    def __init__(self, timeout: float, retries: int, reach_budget: float, progress: bool):
        self.timeout = timeout
        self.retries = retries
        self.progress = progress
        self.deadline: float | None = time.monotonic() + reach_budget  # None once a file arrived
        self.reach_budget = reach_budget
        self.unreachable: dict[str, str] = {}
        self._sessions: dict[str, requests.Session] = {}

    def _session(self, mirror: str) -> requests.Session:
        if mirror not in self._sessions:
            retry = Retry(
                total=self.retries, connect=self.retries, read=self.retries, status=self.retries,
                other=0, backoff_factor=BACKOFF_FACTOR, backoff_max=BACKOFF_MAX_S,
                status_forcelist=RETRY_STATUS, allowed_methods=frozenset({"GET"}),
                raise_on_status=False, respect_retry_after_header=False,
            )
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            adapter = HTTPAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._sessions[mirror] = session
        return self._sessions[mirror]

    def _share(self, pending: int) -> float:
        """Seconds the next mirror may use: the budget left split among ``pending`` mirrors."""
        if self.deadline is None:
            return math.inf
        return max(0.0, self.deadline - time.monotonic()) / max(1, pending)

    def _open(self, mirror: str, url: str, limit: float) -> requests.Response:
        """GET ``url`` (headers only, body streamed later); raises _MirrorFailure."""
        if limit <= 0:
            raise _MirrorFailure(f"not tried, the {self.reach_budget:g} s allowed to reach a mirror "
                                 "were spent")
        session = self._session(mirror)
        connect = min(self.timeout, limit)
        call = functools.partial(session.get, url, stream=True, timeout=(connect, self.timeout))
        try:
            return call() if math.isinf(limit) else _call_within(call, limit)
        except _NoAnswer:
            reason = f"no answer within {limit:.1f} s, its share of the {self.reach_budget:g} s reach budget"
            self.unreachable[mirror] = reason
            raise _MirrorFailure(reason) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
            reason = describe_failure(err, self.timeout)
            if _could_not_connect(err):
                self.unreachable[mirror] = reason
            raise _MirrorFailure(reason) from None

    def fetch(self, name: str, mirrors: Iterable[str], check: tuple | None, dest: Path) -> tuple[str, dict]:
        """Download ``name`` from the first mirror that delivers it intact to ``dest`` (atomic)."""
        mirrors = tuple(mirrors)
        failures = []
        for i, mirror in enumerate(mirrors):
            url = mirror + name
            if mirror in self.unreachable:
                failures.append(f"{url} -> {self.unreachable[mirror]}, not tried again")
                continue
            pending = sum(m not in self.unreachable for m in mirrors[i:])
            try:
                digests = self._fetch_one(mirror, url, check, dest, self._share(pending))
            except _MirrorFailure as err:
                failures.append(f"{url} -> {err}")
                continue
            if failures:
                log.warning("%s: fetched from %s after: %s", name, url, "; ".join(failures))
            return url, digests
        raise _AllFailed(failures)

    def _fetch_one(self, mirror: str, url: str, check: tuple | None, dest: Path, limit: float) -> dict:
        part = dest.with_name(dest.name + ".part")
        with self._open(mirror, url, limit) as response:
            if response.status_code != 200:
                raise _MirrorFailure(f"HTTP {response.status_code} {response.reason}")
            self.deadline = None  # the network works: ordinary timeouts and retries from here on
            try:
                digests = _stream_to(response, part, self.progress, Path(url).name)
            except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as err:
                part.unlink(missing_ok=True)
                raise _MirrorFailure(f"transfer broke off: {describe_failure(err, self.timeout)}") from None
        if check is not None and digests[check[0]] != check[1]:
            part.unlink(missing_ok=True)
            raise _MirrorFailure(
                f"{check[0].upper()} mismatch: got {digests[check[0]]}, expected {check[1]} ({check[2]})"
            )
        os.replace(part, dest)
        return digests

    def fetch_text(self, mirror: str, url: str) -> str | None:
        """The body of ``url`` as text, or None if it is missing or cannot be fetched."""
        try:
            with self._open(mirror, url, self._share(1)) as response:
                if response.status_code != 200:
                    return None
                self.deadline = None
                return response.text
        except (_MirrorFailure, requests.RequestException, urllib3.exceptions.HTTPError):
            return None


def _stream_to(response: requests.Response, part: Path, progress: bool, label: str) -> dict:
    """Write the raw body (no content decoding) to ``part``; return its size, MD5 and SHA-256."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    total = int(response.headers.get("Content-Length") or 0) or None
    size = 0
    with open(part, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                      desc=label, disable=not progress) as bar:
        for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
            fh.write(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return {"bytes": size, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def _call_within(func: Callable[[], requests.Response], seconds: float) -> requests.Response:
    """Run ``func`` in a daemon thread; raise :class:`_NoAnswer` if it is still running after ``seconds``.

    This bounds the time to reach a host whatever the socket layer does (urllib3 tries every address
    DNS returns, each with the full connect timeout). An abandoned call ends at its own timeouts.
    """
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = func()
        except BaseException as err:  # handed to the caller below
            box["error"] = err

    thread = threading.Thread(target=target, name="mnistlab-download", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise _NoAnswer
    if "error" in box:
        raise box["error"]
    return box["result"]


def _failure_chain(err: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
            err = err.reason
        elif isinstance(err, requests.RequestException) and err.args \
                and isinstance(err.args[0], BaseException):
            err = err.args[0]
        elif isinstance(err, urllib3.exceptions.ProtocolError) and len(err.args) > 1 \
                and isinstance(err.args[1], BaseException):
            err = err.args[1]
        else:
            err = err.__cause__ or err.__context__
    return chain


def _could_not_connect(err: BaseException) -> bool:
    return any(isinstance(e, urllib3.exceptions.ConnectTimeoutError) for e in _failure_chain(err))


def describe_failure(err: BaseException, timeout: float) -> str:
    """A short reason for a failed request, e.g. ``DNS lookup failed`` or ``connection refused``."""
    chain = _failure_chain(err)
    for e in chain:
        if isinstance(e, urllib3.exceptions.NameResolutionError):
            return "DNS lookup failed, host unknown or no internet"
        if isinstance(e, urllib3.exceptions.NewConnectionError):
            detail = str(e).split("Failed to establish a new connection: ")[-1]
            return f"cannot connect: {detail}"
        if isinstance(e, urllib3.exceptions.ConnectTimeoutError):
            return f"connect timed out after {timeout:g} s"
        if isinstance(e, urllib3.exceptions.ReadTimeoutError):
            return f"read timed out after {timeout:g} s"
        if isinstance(e, urllib3.exceptions.SSLError):
            return f"TLS error: {e}"
        if isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError) \
                or type(e).__name__ in ("RemoteDisconnected", "IncompleteRead"):
            return f"connection dropped by the server, {type(e).__name__}"
    last = chain[-1]
    return f"{type(last).__name__}: {str(last)[:200]}"


# --------------------------------------------------------------------------------------------------
# Local folders and the sample
# --------------------------------------------------------------------------------------------------


def _from_folder(folder: Path, raw_dir: Path, require_sums: bool) -> dict:
    """Copy the four files of ``folder`` into ``raw_dir``, checking them against its SHA256SUMS."""
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
        dest = raw_dir / name
        if gzip_it:
            digests = _gzip_copy(src, dest)
        elif not (dest.is_file() and file_digests(dest)["sha256"] == digests["sha256"]):
            part = dest.with_name(name + ".part")
            shutil.copyfile(src, part)
            os.replace(part, dest)
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
    part = dest.with_name(dest.name + ".part")
    with open(src, "rb") as fin, open(part, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as out:
            shutil.copyfileobj(fin, out)
    os.replace(part, dest)
    return file_digests(dest)


# --------------------------------------------------------------------------------------------------
# Kaggle CSV
# --------------------------------------------------------------------------------------------------


def csv_to_idx(path: str | os.PathLike, raw_dir: str | os.PathLike, *, test_size: int | float,
               seed: int) -> tuple[dict, dict]:
    """Convert a Kaggle digit-recognizer CSV into the four IDX files, carving out a test part.

    The CSV (https://www.kaggle.com/c/digit-recognizer/data, ``train.csv``) has a header
    ``label,pixel0,...,pixel783`` and one image per row, pixels row-major in 0..255. It has no
    labelled test part, so a stratified, seeded split (``sklearn.model_selection.train_test_split``)
    becomes the test files; both parts keep the CSV's row order.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    raw_dir : str or path-like
        Where the four ``.gz`` IDX files are written (atomically, with ``idx.write_idx``).
    test_size : int or float
        Test rows: a count (>= 1) or a fraction in (0, 1) of the rows.
    seed : int
        ``random_state`` of the split.

    Returns
    -------
    files : dict
        Per file name: ``origin``, ``bytes``, ``md5``, ``sha256``, ``checked``.
    csv_record : dict
        The CSV's path, SHA-256, row counts, ``test_size`` and ``seed``.

    Raises
    ------
    MnistlabError
        If the file is not CSV, lacks the ``label`` or a pixel column, holds values that are not
        integers in 0..255 (labels 0..9), or is too small for a stratified split; the message
        names the file.
    """
    import pandas as pd  # only CSV sources pay for the import
    from sklearn.model_selection import train_test_split

    path, raw_dir = Path(path), Path(raw_dir)
    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise MnistlabError(f"{path}: not a readable CSV file ({str(err).splitlines()[0]})") from None
    if "label" not in frame.columns:
        raise MnistlabError(f"{path}: no 'label' column; expected the Kaggle layout label,pixel0..pixel783 "
                            "(Kaggle's test.csv is unlabelled: use train.csv)")
    missing = [c for c in PIXEL_COLUMNS if c not in frame.columns]
    if missing:
        raise MnistlabError(f"{path}: {len(missing)} pixel columns missing (first: {missing[0]}); "
                            "expected label,pixel0..pixel783")
    labels = _integer_column_block(frame[["label"]], path, "label", 9).ravel()
    images = _integer_column_block(frame[list(PIXEL_COLUMNS)], path, "pixel", 255).reshape(-1, *IMAGE_SHAPE)
    try:
        train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=test_size,
                                               stratify=labels, random_state=seed)
    except ValueError as err:
        raise MnistlabError(f"{path}: cannot carve a stratified test part of {test_size} from "
                            f"{len(labels)} rows ({err})") from None
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    parts = {TRAIN_IMAGES: images[train_idx], TRAIN_LABELS: labels[train_idx],
             TEST_IMAGES: images[test_idx], TEST_LABELS: labels[test_idx]}
    files = {}
    for name, array in parts.items():
        idx.write_idx(raw_dir / name, array)
        files[name] = {"origin": str(path.resolve()), **file_digests(raw_dir / name),
                       "checked": "written from the CSV"}
    csv_record = {"path": str(path.resolve()), "sha256": file_digests(path)["sha256"], "rows": len(labels),
                  "train_rows": len(train_idx), "test_rows": len(test_idx), "test_size": test_size,
                  "seed": seed}
    return files, csv_record


def _integer_column_block(block, path: Path, what: str, high: int) -> np.ndarray:
    values = block.to_numpy()
    if not np.issubdtype(values.dtype, np.integer):
        raise MnistlabError(f"{path}: {what} values must be integers in 0..{high}, found dtype "
                            f"{values.dtype} (empty cells or decimals?)")
    if values.size and (values.min() < 0 or values.max() > high):
        raise MnistlabError(f"{path}: {what} values must be in 0..{high}, "
                            f"found {values.min()}..{values.max()}")
    return values.astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Checksums, validation, bookkeeping
# --------------------------------------------------------------------------------------------------


def file_digests(path: str | os.PathLike) -> dict:
    """Size in bytes, MD5 and SHA-256 (lower-case hex) of a file, read in one pass."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return {"bytes": size, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def parse_sha256sums(text: str, where: str | os.PathLike) -> dict[str, str]:
    """Parse ``sha256sum`` output (``<64 hex>  <name>`` or ``<64 hex> *<name>`` per line) into name -> hex.

    Raises
    ------
    MnistlabError
        If a non-empty, non-comment line is not in that format (the message names ``where``).
    """
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().removeprefix("*")
        if len(digest) != 64 or not name or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise MnistlabError(f"{where}: line {number} is not '<sha256 hex>  <file name>'")
        sums[Path(name).name] = digest.lower()
    return sums


def _validate(raw_dir: Path, files: Mapping[str, dict]) -> dict:
    """Read both pairs with idx.read_pair; on a defect, name the file it came from and drop all four."""
    counts = {}
    try:
        for split, (images_name, labels_name) in {"train": (TRAIN_IMAGES, TRAIN_LABELS),
                                                  "test": (TEST_IMAGES, TEST_LABELS)}.items():
            images, _ = idx.read_pair(raw_dir / images_name, raw_dir / labels_name)
            if images.shape[1:] != IMAGE_SHAPE:
                rows, cols = images.shape[1:]
                raise idx.IDXError(f"{raw_dir / images_name}: images are {rows}x{cols}, "
                                   f"expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}")
            counts[split] = len(images)
    except idx.IDXError as err:
        message = str(err)
        for name, entry in files.items():
            message = message.replace(str(raw_dir / name), str(entry["origin"]))
        for name in FILE_NAMES:
            (raw_dir / name).unlink(missing_ok=True)
        raise idx.IDXError(message) from None
    return counts


def _take_previous_record(raw_dir: Path) -> dict:
    """Read and remove ``source.json`` and leftover ``.part`` files, so a failed run leaves neither."""
    record_path = raw_dir / SOURCE_JSON
    try:
        previous = json.loads(record_path.read_text())
    except (OSError, ValueError):
        previous = {}
    record_path.unlink(missing_ok=True)
    for part in raw_dir.glob("*.part"):
        part.unlink(missing_ok=True)
    return previous if isinstance(previous, dict) else {}


def _remove_strays(raw_dir: Path) -> None:
    keep = {*FILE_NAMES, SOURCE_JSON}
    for path in raw_dir.iterdir():
        if path.is_file() and path.name not in keep:
            log.info("%s: removed (not one of the four IDX files)", path)
            path.unlink()
