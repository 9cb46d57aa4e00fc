"""The download stage over HTTP: mirrors, checksums, retries, offline failure, URL folders, all-or-nothing.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) serves the repository's sample under
several prefixes, each a kind of mirror: ``good`` (the files and their SHA256SUMS), ``nosums``,
``missing`` (404), ``wrong`` (other bytes), ``drop`` (closes the connection), ``partial`` (half a
body), ``flaky`` (503 on the first request for each file), ``corrupt`` (a truncated IDX file),
``badsum`` (a SHA256SUMS with a wrong digest for the last file), ``lacks3`` (404 for the third file only).
Local folders and the sample are tested in test_download_local.py, Kaggle CSVs in test_kaggle.py.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.params import write_params
from support.paths import REPO
from support.paths import SAMPLE as SAMPLE_DIR
from support.raw_folder import assert_complete, listing, snapshot, staging_left

from mnistlab.core.sources import (
    DATASETS,
    FILE_NAMES,
    SHA256SUMS,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    Dataset,
)
from mnistlab.data import http as data_http
from mnistlab.data import idx
from mnistlab.data.download import DownloadError, download

SAMPLE_MD5 = {name: hashlib.md5((SAMPLE_DIR / name).read_bytes()).hexdigest() for name in FILE_NAMES}
FAST = dict(timeout=5.0, retries=1, progress=False, sample_dir=SAMPLE_DIR)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``/<behaviour>/<file name>``; every request path is appended to ``server.requests``."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        _, behaviour, name = self.path.split("/", 2)
        if behaviour == "drop":
            return  # close the connection without an answer
        if behaviour == "flaky" and self.server.requests.count(self.path) == 1:
            return self.send_error(503)
        if behaviour in ("nosums", "corrupt") and name == SHA256SUMS:
            return self.send_error(404)
        if behaviour == "lacks3" and name == FILE_NAMES[2]:
            return self.send_error(404)
        path = SAMPLE_DIR / name
        if behaviour == "extra" and name in self.server.extra:
            body = self.server.extra[name]
        elif behaviour == "missing" or not path.is_file():
            return self.send_error(404)
        else:
            body = path.read_bytes()
        if behaviour == "wrong":
            body = body[::-1]
        if behaviour == "corrupt" and name == TRAIN_LABELS:
            body = gzip.compress(gzip.decompress(body)[:-10], mtime=0)
        if behaviour == "badsum" and name == SHA256SUMS:
            lines = [("0" * 64 + line[64:]) if line.endswith(TEST_LABELS) else line
                     for line in body.decode().splitlines()]
            body = "\n".join([*lines, ""]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body[: len(body) // 2] if behaviour == "partial" else body)
        except ConnectionError:  # the client gave up (an interrupted download): nothing to report
            pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []
    httpd.extra = {}  # name -> bytes served under /extra/
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _dataset(server, *behaviours: str) -> Dataset:
    return Dataset("test-mnist", tuple(f"{server.base}/{b}/" for b in behaviours), SAMPLE_MD5)


@pytest.fixture
def earlier(tmp_path) -> Path:
    """A raw folder holding an earlier good download (the test part of the sample as both splits)."""
    folder = tmp_path / "earlier-source"
    images, labels = idx.read_pair(SAMPLE_DIR / TEST_IMAGES, SAMPLE_DIR / TEST_LABELS)
    for name, array in zip(FILE_NAMES, [images[:300], labels[:300], images[300:400], labels[300:400]],
                           strict=True):
        idx.write_idx(folder / name, array)
    raw = tmp_path / "raw"
    download(str(folder), raw, **FAST)
    (raw / "notes.txt").write_text("a stray file, removed only by a successful download")
    return raw


# ---------------------------------------------------------------------------------------------- http


def test_dataset_download_writes_four_files_and_record(server, tmp_path):
    record = download(_dataset(server, "good"), tmp_path / "raw", **FAST)
    assert_complete(tmp_path / "raw", record)
    assert record["images"] == {"train": 10_000, "test": 2_000}
    for name in FILE_NAMES:
        entry = record["files"][name]
        assert entry["origin"] == f"{server.base}/good/{name}"
        assert entry["md5"] == SAMPLE_MD5[name] and entry["checked"] == "published MD5"
        assert (tmp_path / "raw" / name).read_bytes() == (SAMPLE_DIR / name).read_bytes()


@pytest.mark.parametrize("bad", ["missing", "wrong", "drop", "partial"])
def test_failing_first_mirror_falls_back_to_second(server, tmp_path, bad):
    record = download(_dataset(server, bad, "good"), tmp_path / "raw", **FAST)
    assert_complete(tmp_path / "raw", record)
    assert {e["origin"].split("/")[-2] for e in record["files"].values()} == {"good"}


def test_server_errors_are_retried_on_the_same_mirror(server, tmp_path):
    record = download(_dataset(server, "flaky"), tmp_path / "raw", **FAST)
    assert {e["origin"].split("/")[-2] for e in record["files"].values()} == {"flaky"}
    assert server.requests.count(f"/flaky/{TRAIN_IMAGES}") == 2  # a 503, then the file


def test_every_mirror_failing_gives_one_clear_line_and_changes_nothing(server, earlier):
    before = snapshot(earlier)  # includes the earlier run's source.json: it still describes the files
    with pytest.raises(DownloadError) as caught:
        download(_dataset(server, "missing", "wrong", "partial"), earlier, **FAST)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{server.base}/missing/{TRAIN_IMAGES} -> HTTP 404" in message
    assert f"{server.base}/wrong/{TRAIN_IMAGES} -> MD5 mismatch" in message
    assert f"{server.base}/partial/{TRAIN_IMAGES} -> transfer broke off" in message
    assert "dvc exp run -S data.source=sample" in message and "data.source=/path/to/folder" in message
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_failure_on_a_later_file_keeps_nothing(server, tmp_path):
    md5 = {**SAMPLE_MD5, TEST_IMAGES: "0" * 32}
    with pytest.raises(DownloadError, match=TEST_IMAGES):
        download(Dataset("x", (f"{server.base}/good/",), md5), tmp_path / "raw", **FAST)
    assert snapshot(tmp_path / "raw") is None  # not even the two good files, no .part, no source.json
    assert listing(tmp_path) == set()  # and no staging folder


def test_present_verified_files_are_not_fetched_again(server, tmp_path):
    raw = tmp_path / "raw"
    first = download(_dataset(server, "good"), raw, **FAST)
    (raw / TEST_LABELS).write_bytes(b"damaged")
    (raw / "stray.txt").write_text("not ours")
    server.requests.clear()
    second = download(_dataset(server, "good"), raw, **FAST)
    assert server.requests == [f"/good/{TEST_LABELS}"]
    assert second["files"] == first["files"]
    assert_complete(raw, second)


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_unreachable_mirrors_fail_within_the_reach_budget(tmp_path):
    # A listener whose accept queue is full drops further SYNs: connecting hangs like a black hole.
    hole = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = [socket.socket() for _ in range(3)]
    for s in fillers:
        s.setblocking(False)
        s.connect_ex(hole.getsockname())
    closed = socket.create_server(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connection refused
    mirrors = (f"http://127.0.0.1:{refused_port}/", f"http://127.0.0.1:{hole.getsockname()[1]}/")
    start = time.monotonic()
    try:
        with pytest.raises(DownloadError) as caught:
            download(Dataset("x", mirrors, SAMPLE_MD5), tmp_path / "raw", timeout=20, retries=2,
                     reach_budget=3, progress=False, sample_dir=SAMPLE_DIR)
    finally:
        hole.close()
        for s in fillers:
            s.close()
    # the refused mirror's 2 attempts take 1 s, the hole the rest of the 3 s budget; far below the
    # 20 s timeout x 3 attempts it would take without the budget (margin for a loaded CI machine)
    assert time.monotonic() - start < 10
    assert "cannot connect" in str(caught.value) and "no answer within" in str(caught.value)
    assert listing(tmp_path) == set()


# ---------------------------------------------------------------------------------------- URL folder


def test_url_folder_is_checked_against_its_sha256sums(server, tmp_path):
    record = download(f"{server.base}/good", tmp_path / "raw", **FAST)
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS}
    assert record["kind"] == "url"
    assert_complete(tmp_path / "raw", record)


def test_url_folder_without_sha256sums(server, tmp_path):
    raw = tmp_path / "raw"
    record = download(f"{server.base}/nosums/", raw, **FAST)
    assert {e["checked"] for e in record["files"].values()} == {"none"}
    server.requests.clear()
    download(f"{server.base}/nosums/", raw, **FAST)  # the previous run's record vouches for them
    assert server.requests == [f"/nosums/{SHA256SUMS}"]


def test_files_from_another_source_are_not_kept_without_a_checksum(server, earlier):
    # earlier's source.json vouches for its files, but they came from another source
    record = download(f"{server.base}/nosums/", earlier, **FAST)
    origins = {e["origin"] for e in record["files"].values()}
    assert origins == {f"{server.base}/nosums/{n}" for n in FILE_NAMES}
    assert all((earlier / n).read_bytes() == (SAMPLE_DIR / n).read_bytes() for n in FILE_NAMES)


def test_corrupt_file_from_a_url_is_named(server, tmp_path):
    with pytest.raises(idx.IDXError) as caught:
        download(f"{server.base}/corrupt/", tmp_path / "raw", **FAST)
    assert str(caught.value).startswith(f"{server.base}/corrupt/{TRAIN_LABELS}: truncated")
    assert listing(tmp_path) == set()


def test_csv_from_a_url(server, tmp_path):
    images, labels = idx.read_pair(SAMPLE_DIR / TRAIN_IMAGES, SAMPLE_DIR / TRAIN_LABELS)
    header = ",".join(["label", *(f"pixel{i}" for i in range(784))])
    rows = [",".join(map(str, [y, *x.ravel()])) for x, y in zip(images[:100], labels[:100], strict=True)]
    server.extra["digits.csv"] = "\n".join([header, *rows, ""]).encode()
    record = download(f"{server.base}/extra/digits.csv", tmp_path / "raw", csv_test_size=20, **FAST)
    assert record["kind"] == "csv" and record["images"] == {"train": 80, "test": 20}
    assert record["files"][TRAIN_IMAGES]["origin"] == f"{server.base}/extra/digits.csv"
    assert record["csv"]["path"] == f"{server.base}/extra/digits.csv"
    assert_complete(tmp_path / "raw", record)  # the downloaded CSV stayed in the staging folder


# ----------------------------------------------------------------------------------- all or nothing


def test_sha256sums_mismatch_on_the_last_file_changes_nothing(server, earlier):
    before = snapshot(earlier)
    with pytest.raises(DownloadError) as caught:
        download(f"{server.base}/badsum/", earlier, **FAST)
    assert f"{server.base}/badsum/{TEST_LABELS} -> SHA256 mismatch" in str(caught.value)
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


@pytest.mark.parametrize("kind", ["dataset", "url"])
def test_404_on_the_third_file_changes_nothing(server, earlier, kind):
    before = snapshot(earlier)
    source = _dataset(server, "lacks3") if kind == "dataset" else f"{server.base}/lacks3/"
    server.requests.clear()
    with pytest.raises(DownloadError, match=f"lacks3/{FILE_NAMES[2]} -> HTTP 404"):
        download(source, earlier, **FAST)
    assert [r for r in server.requests if r.endswith(".gz")] == [f"/lacks3/{n}" for n in FILE_NAMES[:3]]
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_idx_defect_changes_nothing(server, earlier):
    before = snapshot(earlier)
    with pytest.raises(idx.IDXError, match=f"corrupt/{TRAIN_LABELS}: truncated"):
        download(f"{server.base}/corrupt/", earlier, **FAST)
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_a_good_download_replaces_an_earlier_one(server, earlier):
    record = download(f"{server.base}/good/", earlier, **FAST)
    assert_complete(earlier, record)  # the stray notes.txt is gone
    assert record["images"] == {"train": 10_000, "test": 2_000}


def test_interrupted_download_removes_its_staging_folder(server, earlier, monkeypatch):
    before = snapshot(earlier)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_http, "_stream_to", interrupt)
    with pytest.raises(KeyboardInterrupt):
        download(_dataset(server, "good"), earlier, **FAST)
    assert snapshot(earlier) == before
    assert staging_left(earlier) == []


def test_move_into_copies_across_file_systems(tmp_path, monkeypatch):
    src, dest = tmp_path / "a", tmp_path / "b"
    src.write_bytes(b"new")
    dest.write_bytes(b"old")
    real_replace = os.replace
    calls = []

    def replace(a, b):
        calls.append((a, b))
        if len(calls) == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(a, b)

    monkeypatch.setattr(data_http.os, "replace", replace)
    data_http.move_into(src, dest)
    assert dest.read_bytes() == b"new" and len(calls) == 2
    assert listing(tmp_path) == {"a", "b"}  # no temporary file left
    calls.clear()
    data_http.move_into(src, dest)  # same bytes already there: nothing to do
    assert calls == []


# -------------------------------------------------------------------------------------------- stage


def _run_stage(folder: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "stages" / "download.py"), "--params", "params.yaml",
               "--sample", str(SAMPLE_DIR), "--out", "data/raw"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60)


def test_stage_writes_the_raw_folder(server, tmp_path):
    write_params(tmp_path, {"data": {"source": f"{server.base}/good/"}})
    done = _run_stage(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"data/raw: {server.base}/good/ (url), 10000 training and 2000 test images; "
                           "origins in data/raw/source.json\n")
    assert_complete(tmp_path / "data" / "raw", json.loads((tmp_path / "data/raw/source.json").read_text()))


def test_stage_fails_with_one_line_and_exit_code_2(server, tmp_path):
    write_params(tmp_path, {"data": {"source": f"{server.base}/missing/", "retries": 1}})
    done = _run_stage(tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: could not download ")
    assert f"{server.base}/missing/{TRAIN_IMAGES} -> HTTP 404" in done.stderr
    assert snapshot(tmp_path / "data" / "raw") is None
    assert listing(tmp_path / "data") == set()  # no staging folder either


# ------------------------------------------------------------------------------------------ sources


def test_known_datasets_are_well_formed():
    assert list(DATASETS) == ["mnist", "fashion-mnist"]
    assert DATASETS["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert DATASETS["mnist"].md5[TRAIN_IMAGES] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert DATASETS["fashion-mnist"].md5[TEST_LABELS] == "bb300cfdad3c16e7a12a480ee83cd310"
