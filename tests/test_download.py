"""The download stage's library: mirrors, checksums, retries, offline failure, folders, URLs, CSV.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) serves the repository's sample under
several prefixes, each a kind of mirror: ``good`` (the files and their SHA256SUMS), ``nosums``,
``missing`` (404), ``wrong`` (other bytes), ``drop`` (closes the connection), ``partial`` (half a
body), ``flaky`` (503 on the first request for each file), ``corrupt`` (a truncated IDX file).
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mnistlab.data import idx
from mnistlab.data.download import DownloadError, download, file_digests, parse_sha256sums
from mnistlab.data.sources import (
    DATASETS,
    FILE_NAMES,
    SHA256SUMS,
    SOURCE_JSON,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    Dataset,
)
from mnistlab.errors import MnistlabError

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "data" / "sample"
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
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if behaviour == "partial" else body)


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


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _assert_complete(raw: Path, record: dict) -> None:
    assert _listing(raw) == {*FILE_NAMES, SOURCE_JSON}
    assert json.loads((raw / SOURCE_JSON).read_text()) == record
    for name in FILE_NAMES:
        assert record["files"][name] == {**record["files"][name], **file_digests(raw / name)}


# ---------------------------------------------------------------------------------------------- http


def test_dataset_download_writes_four_files_and_record(server, tmp_path):
    record = download(_dataset(server, "good"), tmp_path / "raw", **FAST)
    _assert_complete(tmp_path / "raw", record)
    assert record["images"] == {"train": 10_000, "test": 2_000}
    for name in FILE_NAMES:
        entry = record["files"][name]
        assert entry["origin"] == f"{server.base}/good/{name}"
        assert entry["md5"] == SAMPLE_MD5[name] and entry["checked"] == "published MD5"
        assert (tmp_path / "raw" / name).read_bytes() == (SAMPLE_DIR / name).read_bytes()


@pytest.mark.parametrize("bad", ["missing", "wrong", "drop", "partial"])
def test_failing_first_mirror_falls_back_to_second(server, tmp_path, bad):
    record = download(_dataset(server, bad, "good"), tmp_path, **FAST)
    _assert_complete(tmp_path, record)
    assert {e["origin"].split("/")[-2] for e in record["files"].values()} == {"good"}


def test_server_errors_are_retried_on_the_same_mirror(server, tmp_path):
    record = download(_dataset(server, "flaky"), tmp_path, **FAST)
    assert {e["origin"].split("/")[-2] for e in record["files"].values()} == {"flaky"}
    assert server.requests.count(f"/flaky/{TRAIN_IMAGES}") == 2  # a 503, then the file


def test_every_mirror_failing_gives_one_clear_line_and_leaves_nothing_partial(server, tmp_path):
    (tmp_path / SOURCE_JSON).write_text("{}")  # a previous run's record must not survive
    with pytest.raises(DownloadError) as caught:
        download(_dataset(server, "missing", "wrong", "partial"), tmp_path, **FAST)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{server.base}/missing/{TRAIN_IMAGES} -> HTTP 404" in message
    assert f"{server.base}/wrong/{TRAIN_IMAGES} -> MD5 mismatch" in message
    assert f"{server.base}/partial/{TRAIN_IMAGES} -> transfer broke off" in message
    assert "dvc exp run -S data.source=sample" in message and "data.source=/path/to/folder" in message
    assert _listing(tmp_path) == set()


def test_failure_on_a_later_file_keeps_only_complete_verified_files(server, tmp_path):
    md5 = {**SAMPLE_MD5, TEST_IMAGES: "0" * 32}
    with pytest.raises(DownloadError, match=TEST_IMAGES):
        download(Dataset("x", (f"{server.base}/good/",), md5), tmp_path, **FAST)
    assert _listing(tmp_path) == {TRAIN_IMAGES, TRAIN_LABELS}  # no .part, no source.json


def test_present_verified_files_are_not_fetched_again(server, tmp_path):
    first = download(_dataset(server, "good"), tmp_path, **FAST)
    (tmp_path / TEST_LABELS).write_bytes(b"damaged")
    (tmp_path / "stray.txt").write_text("not ours")
    server.requests.clear()
    second = download(_dataset(server, "good"), tmp_path, **FAST)
    assert server.requests == [f"/good/{TEST_LABELS}"]
    assert second["files"] == first["files"]
    _assert_complete(tmp_path, second)


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
            download(Dataset("x", mirrors, SAMPLE_MD5), tmp_path, timeout=20, retries=2,
                     reach_budget=3, progress=False, sample_dir=SAMPLE_DIR)
    finally:
        hole.close()
        for s in fillers:
            s.close()
    # the refused mirror's 2 attempts take 1 s, the hole the rest of the 3 s budget; far below the
    # 20 s timeout x 3 attempts it would take without the budget (margin for a loaded CI machine)
    assert time.monotonic() - start < 10
    assert "cannot connect" in str(caught.value) and "no answer within" in str(caught.value)
    assert _listing(tmp_path) == set()


# ---------------------------------------------------------------------------------------- URL folder


def test_url_folder_is_checked_against_its_sha256sums(server, tmp_path):
    record = download(f"{server.base}/good", tmp_path, **FAST)
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS}
    assert record["kind"] == "url"
    _assert_complete(tmp_path, record)


def test_url_folder_without_sha256sums(server, tmp_path):
    record = download(f"{server.base}/nosums/", tmp_path, **FAST)
    assert {e["checked"] for e in record["files"].values()} == {"none"}
    server.requests.clear()
    download(f"{server.base}/nosums/", tmp_path, **FAST)  # the previous run's record vouches for them
    assert server.requests == [f"/nosums/{SHA256SUMS}"]


def test_corrupt_file_from_a_url_is_named(server, tmp_path):
    with pytest.raises(idx.IDXError) as caught:
        download(f"{server.base}/corrupt/", tmp_path, **FAST)
    assert str(caught.value).startswith(f"{server.base}/corrupt/{TRAIN_LABELS}: truncated")
    assert not set(FILE_NAMES) & _listing(tmp_path)


# ------------------------------------------------------------------------------------- local folders


def _copy_sample(folder: Path, sums: bool = True) -> Path:
    folder.mkdir()
    for name in (*FILE_NAMES, SHA256SUMS) if sums else FILE_NAMES:
        shutil.copyfile(SAMPLE_DIR / name, folder / name)
    return folder


def test_sample_source(tmp_path):
    record = download("sample", tmp_path / "raw", **FAST)
    assert record["kind"] == "sample"
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS}
    _assert_complete(tmp_path / "raw", record)


def test_sample_checksum_mismatch_is_named(tmp_path):
    sample = _copy_sample(tmp_path / "sample")
    (sample / TRAIN_LABELS).write_bytes(gzip.compress(b"\0" * 20))
    with pytest.raises(MnistlabError, match=f"{sample / TRAIN_LABELS}: SHA-256 .* does not match"):
        download("sample", tmp_path / "raw", **{**FAST, "sample_dir": sample})


@pytest.mark.parametrize("sums", [True, False])
def test_local_folder_and_file_url(tmp_path, sums):
    folder = _copy_sample(tmp_path / "my folder", sums=sums)
    record = download(str(folder), tmp_path / "raw", **FAST)
    assert {e["checked"] for e in record["files"].values()} == {SHA256SUMS if sums else "none"}
    assert record["files"][TRAIN_IMAGES]["origin"] == str(folder / TRAIN_IMAGES)
    _assert_complete(tmp_path / "raw", record)
    again = download(folder.as_uri(), tmp_path / "raw2", **FAST)  # file:///.../my%20folder
    assert again["files"] == record["files"]


def test_corrupt_file_in_a_source_folder_is_named(tmp_path):
    folder = _copy_sample(tmp_path / "folder", sums=False)
    (folder / TEST_IMAGES).write_bytes((folder / TEST_IMAGES).read_bytes()[:1000])
    with pytest.raises(idx.IDXError) as caught:
        download(str(folder), tmp_path / "raw", **FAST)
    assert str(caught.value).startswith(f"{folder / TEST_IMAGES}: corrupt or truncated gzip")
    assert "\n" not in str(caught.value)
    assert _listing(tmp_path / "raw") == set()


def test_missing_file_in_a_source_folder_is_named(tmp_path):
    folder = _copy_sample(tmp_path / "folder")
    (folder / TEST_LABELS).unlink()
    with pytest.raises(MnistlabError, match=f"{folder / TEST_LABELS}: file not found"):
        download(str(folder), tmp_path / "raw", **FAST)


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


def test_unknown_source(tmp_path):
    with pytest.raises(MnistlabError, match="data.source = 'nosuch': no such file or folder"):
        download("nosuch", tmp_path, **FAST)


# ----------------------------------------------------------------------------------------------- CSV


def _write_kaggle_csv(path: Path, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    images, labels = idx.read_pair(SAMPLE_DIR / TRAIN_IMAGES, SAMPLE_DIR / TRAIN_LABELS)
    images, labels = images[:n], labels[:n]
    frame = pd.DataFrame(images.reshape(n, -1), columns=[f"pixel{i}" for i in range(784)])
    frame.insert(0, "label", labels)
    frame.to_csv(path, index=False)
    return images, labels


def test_csv_round_trip_with_a_stratified_seeded_test_part(tmp_path):
    images, labels = _write_kaggle_csv(tmp_path / "train.csv")
    record = download(str(tmp_path / "train.csv"), tmp_path / "raw", csv_test_size=0.25, seed=3, **FAST)
    _assert_complete(tmp_path / "raw", record)
    raw = tmp_path / "raw"
    x_train, y_train = idx.read_pair(raw / TRAIN_IMAGES, raw / TRAIN_LABELS)
    x_test, y_test = idx.read_pair(raw / TEST_IMAGES, raw / TEST_LABELS)
    assert (len(x_train), len(x_test)) == (450, 150)
    assert (record["csv"]["train_rows"], record["csv"]["test_rows"]) == (450, 150)
    # Every CSV row lands in exactly one part, unchanged.
    def rows(x, y):
        return sorted(map(bytes, np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1)))

    assert rows(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])) == rows(images, labels)
    # Stratified: each class's share of the test part is within one image of 25 %.
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - np.bincount(labels, minlength=10) * 0.25) <= 1)
    # Seeded: the same seed gives the same bytes, another seed another split.
    again = download(str(tmp_path / "train.csv"), tmp_path / "raw2", csv_test_size=0.25, seed=3, **FAST)
    other = download(str(tmp_path / "train.csv"), tmp_path / "raw3", csv_test_size=150, seed=4, **FAST)
    assert again["files"][TEST_LABELS]["sha256"] == record["files"][TEST_LABELS]["sha256"]
    assert other["files"][TEST_IMAGES]["sha256"] != record["files"][TEST_IMAGES]["sha256"]
    assert other["images"] == {"train": 450, "test": 150}


def test_csv_from_a_url(server, tmp_path):
    _write_kaggle_csv(tmp_path / "train.csv", n=100)
    server.extra["digits.csv"] = (tmp_path / "train.csv").read_bytes()
    record = download(f"{server.base}/extra/digits.csv", tmp_path / "raw", csv_test_size=20, **FAST)
    assert record["kind"] == "csv" and record["images"] == {"train": 80, "test": 20}
    assert record["files"][TRAIN_IMAGES]["origin"] == f"{server.base}/extra/digits.csv"


def test_csv_without_labels_or_with_bad_values_is_named(tmp_path):
    _write_kaggle_csv(tmp_path / "train.csv", n=50)
    frame = pd.read_csv(tmp_path / "train.csv")
    frame.drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(MnistlabError, match=r"test.csv: no 'label' column.*use train.csv"):
        download(str(tmp_path / "test.csv"), tmp_path / "raw", **FAST)
    frame.loc[3, "pixel100"] = 300
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(MnistlabError, match=r"bad.csv: pixel values must be in 0..255"):
        download(str(tmp_path / "bad.csv"), tmp_path / "raw", **FAST)


# -------------------------------------------------------------------------------------------- stage


def test_stage_fails_with_one_line_and_exit_code_2(server, tmp_path):
    (tmp_path / "params.yaml").write_text(f"data:\n  source: {server.base}/missing/\n  retries: 1\n")
    done = subprocess.run([sys.executable, str(REPO / "stages" / "download.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: could not download ")
    assert f"{server.base}/missing/{TRAIN_IMAGES} -> HTTP 404" in done.stderr
    assert _listing(tmp_path / "data" / "raw") == set()


# ------------------------------------------------------------------------------------------ sources


def test_known_datasets_are_well_formed():
    assert list(DATASETS) == ["mnist", "fashion-mnist"]
    assert DATASETS["mnist"].mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert DATASETS["mnist"].md5[TRAIN_IMAGES] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert DATASETS["fashion-mnist"].md5[TEST_LABELS] == "bb300cfdad3c16e7a12a480ee83cd310"


def test_parse_sha256sums():
    sums = parse_sha256sums((SAMPLE_DIR / SHA256SUMS).read_text(), SHA256SUMS)
    assert set(sums) == set(FILE_NAMES)
    assert parse_sha256sums("# c\n" + "A" * 64 + " *sub/x.gz\n", "S") == {"x.gz": "a" * 64}
    with pytest.raises(MnistlabError, match="S: line 1"):
        parse_sha256sums("abc  x.gz", "S")
