"""Digests (one pass for size, MD5 and SHA-256) and SHA256SUMS parsing."""

from __future__ import annotations

import hashlib

import pytest
from support.paths import SAMPLE as SAMPLE_DIR

from mnistlab.core.errors import MnistlabError
from mnistlab.core.sources import FILE_NAMES, SHA256SUMS
from mnistlab.data.checksums import Check, digest_chunks, file_digests, parse_sha256sums


def test_file_digests_match_hashlib(tmp_path):
    data = bytes(range(256)) * 10_000  # 2.56 MB: several read chunks
    (tmp_path / "f").write_bytes(data)
    assert file_digests(tmp_path / "f") == {"bytes": len(data), "md5": hashlib.md5(data).hexdigest(),
                                            "sha256": hashlib.sha256(data).hexdigest()}
    (tmp_path / "empty").write_bytes(b"")
    assert file_digests(tmp_path / "empty")["sha256"] == hashlib.sha256(b"").hexdigest()


def test_digest_chunks_feeds_the_sink_in_order():
    seen = []
    digests = digest_chunks([b"ab", b"", b"cd"], sink=seen.append)
    assert seen == [b"ab", b"", b"cd"]
    assert digests == {"bytes": 4, "md5": hashlib.md5(b"abcd").hexdigest(),
                       "sha256": hashlib.sha256(b"abcd").hexdigest()}


def test_sample_matches_its_sha256sums():
    sums = parse_sha256sums((SAMPLE_DIR / SHA256SUMS).read_text(), SHA256SUMS)
    assert {name: file_digests(SAMPLE_DIR / name)["sha256"] for name in FILE_NAMES} == sums


def test_check_mismatch():
    check = Check("md5", "0" * 32, "published MD5")
    assert check.mismatch({"md5": "0" * 32}) is None
    expected = f"MD5 mismatch: got {'1' * 32}, expected {'0' * 32} (published MD5)"
    assert check.mismatch({"md5": "1" * 32}) == expected


def test_parse_sha256sums():
    sums = parse_sha256sums((SAMPLE_DIR / SHA256SUMS).read_text(), SHA256SUMS)
    assert set(sums) == set(FILE_NAMES)
    assert parse_sha256sums("# c\n" + "A" * 64 + " *sub/x.gz\n", "S") == {"x.gz": "a" * 64}
    with pytest.raises(MnistlabError, match="S: line 1"):
        parse_sha256sums("abc  x.gz", "S")
    with pytest.raises(MnistlabError, match="S: line 2"):
        parse_sha256sums("\n" + "g" * 64 + "  x.gz", "S")
