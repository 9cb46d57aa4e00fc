"""The download stage from local sources: the repository's sample, folders, ``file://`` URLs.

No network: every source is a copy of data/sample (or an uncompressed version of part of it) in
the test's temporary folder. Failures must leave the raw folder byte-identical and no staging
folder behind.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.paths import SAMPLE as SAMPLE_DIR
from support.raw_folder import assert_complete, listing, snapshot, staging_left

from mnistlab.core.errors import MnistlabError
from mnistlab.core.sources import (
    FILE_NAMES,
    SHA256SUMS,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
)
from mnistlab.data import idx
from mnistlab.data.download import download

FAST = dict(timeout=5.0, retries=1, progress=False, sample_dir=SAMPLE_DIR)


def _copy_sample(folder: Path, sums: bool = True) -> Path:
    folder.mkdir()
    for name in (*FILE_NAMES, SHA256SUMS) if sums else FILE_NAMES:
        shutil.copyfile(SAMPLE_DIR / name, folder / name)
    return folder


@pytest.fixture
def earlier(tmp_path) -> Path:
    """A raw folder holding an earlier good download of the sample, plus a stray file."""
    raw = tmp_path / "raw"
    download("sample", raw, **FAST)
    (raw / "notes.txt").write_text("a stray file, removed only by a successful download")
    return raw


def test_sample_source(tmp_path):
    record = download("sample", tmp_path / "raw", **FAST)
    assert record["kind"] == "sample"
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS}
    assert_complete(tmp_path / "raw", record)


def test_sample_checksum_mismatch_is_named(tmp_path):
    sample = _copy_sample(tmp_path / "sample")
    (sample / TRAIN_LABELS).write_bytes(gzip.compress(b"\0" * 20))
    with pytest.raises(MnistlabError, match=f"{sample / TRAIN_LABELS}: SHA-256 .* does not match"):
        download("sample", tmp_path / "raw", **{**FAST, "sample_dir": sample})
    assert snapshot(tmp_path / "raw") is None and staging_left(tmp_path / "raw") == []


@pytest.mark.parametrize("sums", [True, False])
def test_local_folder_and_file_url(tmp_path, sums):
    folder = _copy_sample(tmp_path / "my folder", sums=sums)
    record = download(str(folder), tmp_path / "raw", **FAST)
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS if sums else "none"}
    assert record["files"][TRAIN_IMAGES]["origin"] == str(folder / TRAIN_IMAGES)
    assert_complete(tmp_path / "raw", record)
    again = download(folder.as_uri(), tmp_path / "raw2", **FAST)  # file:///.../my%20folder
    assert again["files"] == record["files"]


@pytest.mark.parametrize("as_uri", [False, True])
def test_sha256sums_mismatch_on_the_last_file_changes_nothing(tmp_path, earlier, as_uri):
    # The issue: the first three files passed, were copied into data/raw and stayed there.
    folder = _copy_sample(tmp_path / "folder")
    (folder / TEST_LABELS).write_bytes(gzip.compress(idx.read_idx(folder / TEST_LABELS)[::-1].tobytes()))
    before = snapshot(earlier)
    with pytest.raises(MnistlabError, match=f"{folder / TEST_LABELS}: SHA-256 .* does not match"):
        download(folder.as_uri() if as_uri else str(folder), earlier, **FAST)
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_corrupt_file_in_a_source_folder_is_named(tmp_path):
    folder = _copy_sample(tmp_path / "folder", sums=False)
    (folder / TEST_IMAGES).write_bytes((folder / TEST_IMAGES).read_bytes()[:1000])
    with pytest.raises(idx.IDXError) as caught:
        download(str(folder), tmp_path / "raw", **FAST)
    assert str(caught.value).startswith(f"{folder / TEST_IMAGES}: corrupt or truncated gzip")
    assert "\n" not in str(caught.value)
    assert snapshot(tmp_path / "raw") is None and staging_left(tmp_path / "raw") == []


@pytest.mark.parametrize("defect", ["truncated gzip", "count mismatch", "label out of range", "14x14"])
def test_idx_defect_in_a_source_folder_changes_nothing(tmp_path, earlier, defect):
    folder = tmp_path / "folder"
    images, labels = idx.read_pair(SAMPLE_DIR / TEST_IMAGES, SAMPLE_DIR / TEST_LABELS)
    parts = dict(zip(FILE_NAMES, [images[:300], labels[:300], images[300:400], labels[300:400]],
                     strict=True))
    if defect == "count mismatch":
        parts[TEST_LABELS] = labels[300:399]
    elif defect == "label out of range":
        parts[TEST_LABELS] = np.where(labels[300:400] == 3, 10, labels[300:400]).astype(np.uint8)
    elif defect == "14x14":
        parts[TEST_IMAGES] = images[300:400, ::2, ::2]
    for name, array in parts.items():
        idx.write_idx(folder / name, array)
    if defect == "truncated gzip":
        (folder / TEST_IMAGES).write_bytes((folder / TEST_IMAGES).read_bytes()[:500])
    before = snapshot(earlier)
    with pytest.raises(idx.IDXError) as caught:
        download(str(folder), earlier, **FAST)
    assert str(folder / "t10k-") in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_missing_file_in_a_source_folder_is_named(tmp_path, earlier):
    folder = _copy_sample(tmp_path / "folder")
    (folder / TEST_LABELS).unlink()
    before = snapshot(earlier)
    with pytest.raises(MnistlabError, match=f"{folder / TEST_LABELS}: file not found"):
        download(str(folder), earlier, **FAST)
    assert snapshot(earlier) == before and staging_left(earlier) == []


def test_uncompressed_files_in_a_folder_are_gzipped(tmp_path):
    folder = tmp_path / "plain"
    images, labels = idx.read_pair(SAMPLE_DIR / TEST_IMAGES, SAMPLE_DIR / TEST_LABELS)
    parts = [images[:300], labels[:300], images[300:400], labels[300:400]]
    for name, array in zip(FILE_NAMES, parts, strict=True):
        idx.write_idx(folder / name.removesuffix(".gz"), array)
    record = download(str(folder), tmp_path / "raw", **FAST)
    assert record["files"][TEST_IMAGES]["origin"] == str(folder / "t10k-images-idx3-ubyte")
    found = idx.read_pair(tmp_path / "raw" / TEST_IMAGES, tmp_path / "raw" / TEST_LABELS)
    assert np.array_equal(found[0], images[300:400]) and np.array_equal(found[1], labels[300:400])
    again = download(str(folder), tmp_path / "raw2", **FAST)  # gzipped the same way every run
    assert again["files"] == record["files"]


def test_unchanged_files_are_left_in_place(tmp_path, earlier):
    inodes = {name: (earlier / name).stat().st_ino for name in FILE_NAMES}
    record = download("sample", earlier, **FAST)
    assert_complete(earlier, record)  # the stray file is gone
    assert {name: (earlier / name).stat().st_ino for name in FILE_NAMES} == inodes


def test_unknown_source(tmp_path):
    with pytest.raises(MnistlabError, match="data.source = 'nosuch': no such file or folder"):
        download("nosuch", tmp_path / "raw", **FAST)
    assert listing(tmp_path) == set()


def test_raw_dir_that_is_a_file(tmp_path):
    (tmp_path / "raw").write_text("")
    with pytest.raises(MnistlabError, match="raw: exists and is not a folder"):
        download("sample", tmp_path / "raw", **FAST)
