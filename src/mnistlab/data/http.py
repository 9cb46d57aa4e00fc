"""HTTP downloads with retries, mirror fallback and a progress bar; the staging folder they land in.

Network policy. Every request goes through ``requests`` with urllib3's :class:`~urllib3.util.Retry`
(``retries`` extra attempts on connection errors, read errors and HTTP 429/5xx, exponential backoff
``0.5 * 2**(k-1)`` s capped at 4 s, the first retry immediate) and ``(connect, read)`` timeouts of
``timeout`` seconds. Any failure or checksum mismatch moves on to the next mirror; a mirror that could
not be connected to is not tried again in the same run. Until the first file arrives, all attempts
together get at most ``reach_budget`` seconds (30 by default), shared among the mirrors still to
try, so with no internet a run fails within that time plus start-up, however the network fails
(DNS errors are immediate; dropped packets cost at most the budget, even for hosts with several
addresses): a watchdog thread abandons a request that overruns its share. Bytes stream to
``<name>.part`` and are renamed only once verified.

Downloads go into a staging folder (:func:`staging_folder`) beside the destination, which the caller
fills, verifies as a whole and then moves into place with :func:`move_into`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util import Retry

from mnistlab.data.checksums import Check, digest_chunks

log = logging.getLogger(__name__)

#: Seconds all attempts together may take before the first file has arrived (the offline bound).
REACH_BUDGET_S = 30.0
BACKOFF_FACTOR = 0.5  # seconds; urllib3 sleeps BACKOFF_FACTOR * 2**(k-1) before the k-th retry (k >= 2)
BACKOFF_MAX_S = 4.0  # seconds
RETRY_STATUS = (429, 500, 502, 503, 504)
CHUNK_BYTES = 1 << 16  # bytes read from the socket at a time
USER_AGENT = "mnistlab/0.1 (python-requests)"
_UMASK = os.umask(0)
os.umask(_UMASK)


class AllMirrorsFailed(Exception):
    """No mirror delivered a file. ``failures`` holds one ``"<url> -> <reason>"`` per mirror."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


class _MirrorFailure(Exception):
    """One mirror failed for one file; ``str()`` is the reason."""


class _NoAnswer(Exception):
    """A request did not complete within its share of the reach budget."""


class Fetcher:
    """HTTP downloads with retries, timeouts, mirror fallback and a shared reach budget.

    One ``requests.Session`` per mirror, with an ``HTTPAdapter`` carrying a urllib3 ``Retry``.
    ``unreachable`` maps each mirror that could not be connected to onto the reason, so it is
    skipped for the remaining files.

    Parameters
    ----------
    timeout : float
        Seconds, both the connect and the read timeout of each attempt.
    retries : int
        Extra attempts per file and mirror.
    reach_budget : float
        Seconds all attempts together may take until the first response arrives.
    progress : bool
        Show a tqdm progress bar (stderr) per downloaded file.
    """

    def __init__(self, timeout: float, retries: int, reach_budget: float = REACH_BUDGET_S,
                 progress: bool = True):
        self.timeout = timeout
        self.retries = retries
        self.progress = progress
        self.deadline: float | None = time.monotonic() + reach_budget  # None once a file arrived
        self.reach_budget = reach_budget
        self.unreachable: dict[str, str] = {}
        self._sessions: dict[str, requests.Session] = {}

    def fetch(self, name: str, mirrors: Iterable[str], check: Check | None, dest: Path) -> tuple[str, dict]:
        """Download ``mirror + name`` from the first mirror that delivers it intact to ``dest``.

        Parameters
        ----------
        name : str
            File name appended to each mirror URL.
        mirrors : iterable of str
            Folder URLs ending in ``/``, tried in order.
        check : Check or None
            Digest the body must match; a mismatch counts as that mirror's failure.
        dest : Path
            Where the verified body is renamed to (from ``dest.part``).

        Returns
        -------
        url : str
            The URL that delivered the file.
        digests : dict
            ``bytes``, ``md5``, ``sha256`` of the body as received (no content decoding).

        Raises
        ------
        AllMirrorsFailed
            With one reason per mirror (HTTP status, DNS failure, timeout, broken transfer, mismatch).
        """
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
        raise AllMirrorsFailed(failures)

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

    def _fetch_one(self, mirror: str, url: str, check: Check | None, dest: Path, limit: float) -> dict:
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
        reason = check.mismatch(digests) if check is not None else None
        if reason is not None:
            part.unlink(missing_ok=True)
            raise _MirrorFailure(reason)
        os.replace(part, dest)
        return digests


def _stream_to(response: requests.Response, part: Path, progress: bool, label: str) -> dict:
    """Write the raw body (no content decoding) to ``part``; return its size in bytes, MD5 and SHA-256."""
    total = int(response.headers.get("Content-Length") or 0) or None
    with open(part, "wb") as fh, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                      desc=label, disable=not progress) as bar:

        def write(chunk: bytes) -> None:
            fh.write(chunk)
            bar.update(len(chunk))

        return digest_chunks(response.raw.stream(CHUNK_BYTES, decode_content=False), sink=write)


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
    """A short reason for a failed request, e.g. ``DNS lookup failed`` or ``connection refused``.

    Parameters
    ----------
    err : BaseException
        What ``requests``/urllib3 raised; its chain of causes is searched for a known kind.
    timeout : float
        The timeout in seconds, quoted in timeout reasons.
    """
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
# Staging folder
# --------------------------------------------------------------------------------------------------


def staging_prefix(dest: Path) -> str:
    """Name prefix of the staging folders of ``dest`` (``.raw-staging-`` for ``data/raw``)."""
    return f".{dest.name}-staging-"


@contextlib.contextmanager
def staging_folder(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder beside ``dest`` (``data/.raw-staging-XXXXXXXX``); remove it on exit.

    Beside ``dest`` means on the same file system, so :func:`move_into` is a rename. The folder and
    everything in it is removed however the block ends (return, exception, Ctrl-C); ``dest`` itself
    is not touched. Only a killed process (SIGKILL, power loss) leaves one behind.

    Parameters
    ----------
    dest : str or path-like
        The folder the staged files are meant for; its parent is created when missing.

    Yields
    ------
    Path
        The staging folder, empty, mode 0700.

    Raises
    ------
    OSError
        If the parent of ``dest`` cannot be created or written to.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=staging_prefix(dest), dir=dest.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def move_into(src: Path, dest: Path) -> None:
    """Move the file ``src`` onto ``dest``, replacing it atomically (a rename, or a copy and a rename).

    When ``dest`` already holds the same bytes it is left alone (so a file DVC linked from its cache
    stays linked, and its inode and mtime do not change). Across file systems (``dest``'s folder a
    mount, or a symlink to another disk) ``src`` is copied to a temporary name in ``dest``'s
    folder, then renamed.

    Parameters
    ----------
    src, dest : Path
        Files; ``dest``'s folder must exist.

    Raises
    ------
    OSError
        If the rename or the copy fails.
    """
    if dest.is_file() and dest.stat().st_size == src.stat().st_size and _same_bytes(src, dest):
        return
    try:
        os.replace(src, dest)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while chunk := fa.read(CHUNK_BYTES * 16):
            if chunk != fb.read(len(chunk)):
                return False
        return not fb.read(1)
