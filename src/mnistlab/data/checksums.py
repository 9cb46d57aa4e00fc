"""Checksums of downloaded files: size, MD5 and SHA-256 in one pass, and ``SHA256SUMS`` lists.

MD5 is what the datasets publish (:mod:`mnistlab.core.sources`); SHA-256 is what
``source.json`` records and what a ``SHA256SUMS`` file in a source folder lists (the output
format of GNU coreutils ``sha256sum``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from mnistlab.core.errors import MnistlabError

#: Bytes read per chunk when hashing a file.
READ_BYTES = 1 << 20
_HEX = frozenset("0123456789abcdefABCDEF")


class Check(NamedTuple):
    """What a file must match: one digest and where the expected value comes from.

    Attributes
    ----------
    algorithm : {"md5", "sha256"}
        A key of the dict :func:`digest_chunks` returns.
    expected : str
        Lower-case hex digest.
    what : str
        Where ``expected`` comes from (``"published MD5"``, ``"SHA256SUMS"``); recorded in
        ``source.json`` as ``checked`` and shown in mismatch messages.
    """

    algorithm: str
    expected: str
    what: str

    def mismatch(self, digests: Mapping[str, object]) -> str | None:
        """None if ``digests`` matches, else a short reason (``"MD5 mismatch: got ..., expected ..."``)."""
        found = digests[self.algorithm]
        if found == self.expected:
            return None
        return f"{self.algorithm.upper()} mismatch: got {found}, expected {self.expected} ({self.what})"


def digest_chunks(chunks: Iterable[bytes], sink: Callable[[bytes], object] | None = None) -> dict:
    """Size, MD5 and SHA-256 of a stream of byte chunks, handing each chunk to ``sink`` on the way.

    This is the one hashing loop of the package: :func:`file_digests` feeds it a file, the HTTP
    download feeds it the response body with ``sink`` writing the file and moving the progress bar.

    Parameters
    ----------
    chunks : iterable of bytes
        The data, in order.
    sink : callable, optional
        Called with each chunk before it is hashed (e.g. ``fh.write``).

    Returns
    -------
    dict
        ``bytes`` (int, total size in bytes), ``md5`` and ``sha256`` (lower-case hex str).
    """
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    for chunk in chunks:
        if sink is not None:
            sink(chunk)
        md5.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return {"bytes": size, "md5": md5.hexdigest(), "sha256": sha256.hexdigest()}


def file_digests(path: str | os.PathLike) -> dict:
    """Size in bytes, MD5 and SHA-256 (lower-case hex) of a file, read once in 1 MiB chunks.

    Returns
    -------
    dict
        ``{"bytes": int, "md5": str, "sha256": str}``, as :func:`digest_chunks`.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    with open(path, "rb") as fh:
        return digest_chunks(iter(functools.partial(fh.read, READ_BYTES), b""))


def parse_sha256sums(text: str, where: str | os.PathLike) -> dict[str, str]:
    """Parse ``sha256sum`` output into file name -> lower-case hex digest.

    Each non-empty line that is not a ``#`` comment reads ``<64 hex digits>  <name>`` (text mode)
    or ``<64 hex digits> *<name>`` (binary mode). Only the last path component of ``<name>`` is
    kept, so ``sub/x.gz`` is listed as ``x.gz``.

    Parameters
    ----------
    text : str
        Contents of the ``SHA256SUMS`` file.
    where : str or path-like
        Its path or URL, for messages.

    Returns
    -------
    dict of str to str

    Raises
    ------
    MnistlabError
        If a line is not in that format; the message names ``where`` and the 1-based line number.
    """
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().removeprefix("*")
        if len(digest) != 64 or not name or not _HEX.issuperset(digest):
            raise MnistlabError(f"{where}: line {number} is not '<sha256 hex>  <file name>'")
        sums[Path(name).name] = digest.lower()
    return sums
