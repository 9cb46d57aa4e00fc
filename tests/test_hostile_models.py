"""Crafted model files are refused or used within bounded memory and time (issue 23).

Every file is crafted at run time: tiny files whose architecture declares huge layers, zip bombs (a
few MB that inflate to 2 GiB), malformed ``.npz`` architectures, trusted skops types with bad
contents, and models of the wrong number of classes. Each is refused with one line naming the file
and what was expected, never a traceback. The memory cases also run through the CLI (``mnistlab
predict IMAGE --model FILE``) in a child process whose address space may grow at most 1 GiB beyond
what its imports take (``RLIMIT_AS``; 60 s of CPU, ``RLIMIT_CPU``), so that a regression fails the
test instead of exhausting the machine: exit code 2, one line on stderr, under 30 seconds.
"""

from __future__ import annotations

import functools
import io
import json
import os
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import MAX_METADATA_BYTES, MAX_MODEL_BYTES, MAX_ZIP_DIRECTORY_BYTES, check_zip_sizes
from mnistlab.core.params import MAX_WIDTH
from mnistlab.models.registry import load_model
from mnistlab.models.svm import PixelFeatures, SVMModel, fit_svm, load_svm, save_svm
from mnistlab.models.torch_models.models import build_model
from mnistlab.models.torch_models.predictor import save_torch
from mnistlab.nn.layers import Dropout, Flatten, Linear, PatchEmbedding, ReLU
from mnistlab.nn.model import CONFIG_KEYS, FORMAT, LAYERS, MAX_FEATURES, build_mlp, load_network

GiB = 2**30
#: Inflated size of every zip bomb here: twice the memory the CLI children may use.
BOMB_BYTES = 2 * GiB
#: What a model file may add to a child process's memory, beyond its imports (:func:`baseline`).
MEMORY_LIMIT = GiB
CPU_SECONDS = 60
WALL_SECONDS = 30


# -- crafting files --------------------------------------------------------------------------------


def npy_header(shape: tuple[int, ...], dtype="<f4") -> bytes:
    """The magic and header of an ``.npy`` file of ``shape`` and ``dtype`` (format 1.0)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def write_zip(path: Path, stored: dict[str, bytes], deflated: dict[str, tuple[bytes, int, int]] | None = None
              ) -> Path:
    """A zip of ``stored`` members (uncompressed) and ``deflated`` ones given as raw deflate data,
    CRC-32 and inflated size: the central directory declares the true sizes."""
    entries = [(name, 0, data, zlib.crc32(data), len(data)) for name, data in stored.items()]
    entries += [(name, 8, data, crc, size) for name, (data, crc, size) in (deflated or {}).items()]
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in entries:
        offset, encoded = len(out), name.encode()
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size,
                           len(encoded), 0) + encoded + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(data),
                               size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    start = len(out)
    out += central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central),
                                 start, 0)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture(scope="module")
def bomb() -> tuple[bytes, int, int]:
    """A raw deflate stream of an ``.npy`` uint8 array of BOMB_BYTES zeros: about 2 MB that inflate
    to 2 GiB (each 16 MiB of zeros compresses to the same bytes after a full flush, so the stream is
    one block repeated), with its CRC-32 and inflated size."""
    header, chunk = npy_header((BOMB_BYTES,), "|u1"), bytes(16 * 2**20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    repeats = BOMB_BYTES // len(chunk)
    data = head + block * repeats + compressor.flush()
    crc = zlib.crc32(header)
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    assert zlib.decompressobj(-15).decompress(data, 4096)[: len(header)] == header
    return data, crc, len(header) + BOMB_BYTES


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def linear(n_in: int, n_out: int) -> dict:
    return {"type": "Linear", "in_features": n_in, "out_features": n_out}


def architecture(layers: list, input_shape: list | None = None, **changes) -> dict:
    return {"format": FORMAT, "input_shape": [784] if input_shape is None else input_shape, "layers": layers,
            **changes}


def write_network(path: Path, config: object, **arrays: np.ndarray) -> Path:
    """An ``.npz`` as :meth:`Sequential.save` writes it, with any architecture and arrays."""
    with open(path, "wb") as fh:
        np.savez(fh, architecture=np.array(json.dumps(config)), **arrays)
    return path


def linear_weights(n_in: int = 784, n_out: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"0.W": rng.normal(0, 0.01, (n_in, n_out)).astype(np.float32), "0.b": np.zeros(n_out, np.float32)}


def torch_config(builder: str, sizes: dict, normalize: bool = True) -> dict:
    return {"model": f"torch_{builder}", "builder": builder, "sizes": sizes, "normalize": normalize,
            "format": 2}


def write_torch(path: Path, config: dict, state: dict | None = None) -> Path:
    torch.save({"state_dict": {} if state is None else state, "config": config}, path)
    return path


@pytest.fixture(scope="module")
def svm_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((60, 196), dtype=np.float32), np.arange(60) % 10


@pytest.fixture()
def svm_model(svm_data) -> SVMModel:
    """A fresh tiny SVM on 14x14 pixels (a test may damage it before saving it)."""
    x, y = svm_data
    classifier, _ = fit_svm(x, y, x, y, C=1.0, gamma="scale")
    return SVMModel(PixelFeatures(14), classifier)


def refused(path: Path, loader=load_model) -> str:
    """Load ``path``; return the one-line error message, which names the file."""
    with pytest.raises(MnistlabError) as error:
        loader(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


# -- the CLI under a memory limit ------------------------------------------------------------------


#: The child's environment: one thread per pool (thread pools reserve address space per thread).
CHILD_ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                 MALLOC_ARENA_MAX="2")
#: What ``mnistlab predict`` imports for the three families, measured by :func:`baseline`.
IMPORTS = ("mnistlab.cli.main", "mnistlab.cli.predict", "mnistlab.models.svm", "mnistlab.nn.model",
           "mnistlab.models.torch_models.predictor", "skops.io", "torch")


@functools.cache
def baseline() -> tuple[int, int]:
    """Peak address space and peak resident memory, bytes, of a child that only imports what the CLI
    needs: the libraries' own share (a CUDA build of PyTorch alone maps over 1 GiB of address space),
    on top of which a model file may use at most MEMORY_LIMIT."""
    code = ("import importlib\n"
            f"for name in {IMPORTS!r}: importlib.import_module(name)\n"
            "fields = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
            "print(int(fields['VmPeak'].split()[0]) * 1024, int(fields['VmHWM'].split()[0]) * 1024)")
    child = subprocess.run([sys.executable, "-c", code], env=CHILD_ENV, capture_output=True, text=True,
                           check=True)
    vm, rss = map(int, child.stdout.split())
    return vm, rss


def _limits(address_space: int) -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def predict_limited(tmp_path: Path, model: Path) -> tuple[int, str, str, float, int]:
    """``mnistlab predict digit.png --model MODEL`` in a child whose address space is limited to
    MEMORY_LIMIT (1 GiB) above what its imports take (:func:`baseline`; 1 GiB in all would do for
    the CPU build of PyTorch, whose imports take about 0.8 GiB) and its CPU time to CPU_SECONDS.

    Returns (exit code, stdout, stderr, wall seconds, peak resident bytes of the child).
    """
    image = tmp_path / "digit.png"
    if not image.exists():
        pixels = np.zeros((40, 30), np.uint8)
        pixels[8:32, 12:18] = 255
        Image.fromarray(pixels).save(image)
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    limit = baseline()[0] + MEMORY_LIMIT
    start = time.monotonic()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        command = [sys.executable, "-m", "mnistlab", "predict", str(image), "--model", str(model)]
        child = subprocess.Popen(command, cwd=tmp_path, env=CHILD_ENV, stdout=stdout, stderr=stderr,
                                 preexec_fn=functools.partial(_limits, limit))
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, out.read_text(), err.read_text(), seconds, usage.ru_maxrss * 1024


def assert_within_budget(seconds: float, peak: int) -> None:
    """Under WALL_SECONDS, and at most MEMORY_LIMIT resident beyond the imports' own peak (here the
    whole child stays under 1 GiB: 50 to 400 MiB)."""
    assert seconds < WALL_SECONDS, seconds
    assert peak < baseline()[1] + MEMORY_LIMIT, (peak, baseline())


def assert_refused_by_cli(tmp_path: Path, model: Path, *expected: str) -> str:
    code, stdout, stderr, seconds, peak = predict_limited(tmp_path, model)
    assert code == 2 and stdout == "", (code, stdout, stderr)
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(f"error: {model}: "), stderr
    for text in expected:
        assert text in stderr, stderr
    assert_within_budget(seconds, peak)
    return stderr


# -- memory and time: each through the CLI, under the limit ------------------------------------------


def test_tiny_npz_declaring_a_huge_layer(tmp_path):
    path = write_network(tmp_path / "mlp_sgd-he.npz", architecture([linear(30000, 20000)]))
    assert path.stat().st_size < 1000
    assert_refused_by_cli(tmp_path, path, "layer 0 (Linear): in_features = 30000: expected an integer from 1 "
                          f"to {MAX_FEATURES:,}", "MAX_WIDTH")


def test_npz_layer_of_298_gib(tmp_path):
    path = write_network(tmp_path / "mlp_sgd-he.npz", architecture([linear(200000, 200000)]))
    assert_refused_by_cli(tmp_path, path, "in_features = 200000")


def test_npz_architecture_nested_a_hundred_thousand_deep(tmp_path):
    path = tmp_path / "mlp_sgd-he.npz"
    with path.open("wb") as fh:  # 800 KB of "[[[...]]]": Python's JSON parser runs out of recursion
        np.savez(fh, architecture=np.array("[" * 100_000 + "]" * 100_000))
    assert "its architecture JSON is nested too deeply" in refused(path)


def test_npz_within_widths_but_too_many_parameters(tmp_path):
    """Every width allowed (16,384), but 281 million parameters: refused before any array is read."""
    relu, wide = {"type": "ReLU"}, MAX_WIDTH
    config = architecture([linear(784, wide), relu, linear(wide, wide), relu, linear(wide, 10)])
    path = write_network(tmp_path / "mlp_sgd-he.npz", config)
    assert_refused_by_cli(tmp_path, path, "declares 281,",
                          f"above the {MAX_MODEL_BYTES // 2**20} MiB limit on a model file")


def test_npz_array_header_declaring_a_huge_shape(tmp_path):
    """The architecture is fine; the .npy header of 0.W claims 40 billion numbers in a few bytes."""
    path = write_zip(tmp_path / "mlp_sgd-he.npz", {
        "architecture.npy": members(write_network(tmp_path / "a.npz", architecture([linear(784, 10)])))[
            "architecture.npy"],
        "0.W.npy": npy_header((200000, 200000)) + bytes(64),
        "0.b.npy": npy_header((10,)) + bytes(40),
    })
    assert_refused_by_cli(tmp_path, path, "parameter 0.W is shape (200000, 200000), expected shape (784, 10)")


def test_npz_zip_bomb(tmp_path, bomb):
    network = members(write_network(tmp_path / "a.npz", architecture([linear(784, 10)]), **linear_weights()))
    path = write_zip(tmp_path / "mlp_sgd-he.npz", network, {"extra.npy": bomb})
    assert path.stat().st_size < 4 * 2**20
    assert_refused_by_cli(tmp_path, path, "its contents would inflate to 2,048",
                          "(member 'extra.npy': 2,048.0 MiB)", f"{MAX_MODEL_BYTES // 2**20} MiB limit")
    network.pop("0.W.npy")  # the bomb as a declared parameter
    path = write_zip(tmp_path / "mlp_sgd-he.npz", network, {"0.W.npy": bomb})
    assert_refused_by_cli(tmp_path, path, "(member '0.W.npy': 2,048.0 MiB)")


def test_pt_with_a_hidden_size_of_a_million(tmp_path):
    path = write_torch(tmp_path / "torch_fnn.pt", torch_config("fnn", {"hidden_size": 1000000}))
    assert path.stat().st_size < 2000
    assert_refused_by_cli(tmp_path, path, "config sizes.hidden_size = 1000000: expected an integer from 1 to "
                          f"{MAX_WIDTH:,}", "MAX_WIDTH")


def test_pt_within_widths_but_too_many_parameters(tmp_path):
    """Two convolutions of 16,384 channels each: 2.4 billion parameters, refused before building
    (the shapes are computed on PyTorch's meta device, which allocates nothing)."""
    path = write_torch(tmp_path / "torch_cnn.pt", torch_config("cnn", {"channels": [MAX_WIDTH, MAX_WIDTH]}))
    assert_refused_by_cli(tmp_path, path, "parameters (", f"above the {MAX_MODEL_BYTES // 2**20} MiB limit")


def test_pt_zip_bomb(tmp_path, bomb):
    model = build_model("logreg", {}, True)
    save_torch(tmp_path / "a.pt", model, torch_config("logreg", {}))
    path = write_zip(tmp_path / "torch_logreg.pt", members(tmp_path / "a.pt"), {"a/data/9": bomb})
    assert_refused_by_cli(tmp_path, path, "(member 'a/data/9': 2,048.0 MiB)")


def test_skops_zip_bomb(tmp_path, bomb, svm_model):
    """The largest array of a real model (its support vectors) replaced by 2 GiB of zeros: refused
    from the zip directory, before skops reads anything."""
    save_svm(svm_model, tmp_path / "a.skops")
    files = members(tmp_path / "a.skops")
    largest = max((name for name in files if name.endswith(".npy")), key=lambda name: len(files[name]))
    del files[largest]
    path = write_zip(tmp_path / "svm_pixels.skops", files, {largest: bomb})
    assert path.stat().st_size < 4 * 2**20
    assert_refused_by_cli(tmp_path, path, f"(member '{largest}': 2,048.0 MiB)",
                          f"{MAX_MODEL_BYTES // 2**20} MiB limit")


def test_skops_schema_too_large_to_parse(tmp_path, svm_model):
    save_svm(svm_model, tmp_path / "a.skops")
    files = members(tmp_path / "a.skops")
    files["schema.json"] += b" " * MAX_METADATA_BYTES  # still valid JSON, but too large to parse safely
    path = write_zip(tmp_path / "svm_pixels.skops", files)
    message = refused(path)
    assert "member 'schema.json'" in message and f"{MAX_METADATA_BYTES // 2**20} MiB limit" in message


@pytest.mark.parametrize("suffix", [".npz", ".pt", ".skops"])
def test_zip_directory_of_too_many_entries(tmp_path, suffix):
    """A zip of 30,000 empty entries: zipfile would build an object per entry; refused from the end
    record, before the directory is parsed."""
    path = write_zip(tmp_path / f"model{suffix}", {f"{i:06d}": b"" for i in range(30000)})
    assert 30000 * 46 > MAX_ZIP_DIRECTORY_BYTES
    assert "zip directory lists 30,000 entries" in refused(path)


def test_the_cli_limit_lets_real_models_through(tmp_path, svm_model):
    """The same harness runs a legitimate model of each family: the limit is not what refuses."""
    write_network(tmp_path / "mlp_sgd-he.npz", architecture([linear(784, 10)]), **linear_weights())
    save_torch(tmp_path / "torch_cnn.pt", build_model("cnn", {}, True), torch_config("cnn", {}))
    save_svm(svm_model, tmp_path / "svm_pixels.skops")
    for name in ("mlp_sgd-he.npz", "torch_cnn.pt", "svm_pixels.skops"):
        code, stdout, stderr, seconds, peak = predict_limited(tmp_path, tmp_path / name)
        assert code == 0 and "Traceback" not in stderr, stderr
        assert stdout.startswith(f"{tmp_path / 'digit.png'}: ") and "(probability" in stdout, stdout
        assert_within_budget(seconds, peak)


# -- malformed .npz networks -----------------------------------------------------------------------


@pytest.mark.parametrize("config, expected", [
    ({"format": FORMAT, "input_shape": [784]}, "the architecture has no layers"),
    ({"format": FORMAT, "layers": [linear(784, 10)]}, "the architecture has no input_shape"),
    ({"format": "mnistlab.nn.Sequential/0", "input_shape": [784], "layers": []}, "unknown model format"),
    ([1, 2, 3], "the architecture is a JSON list"),
    (architecture([5]), "layer 0 = 5: expected an object whose type is one of Linear, ReLU"),
    (architecture([{"type": "Conv2d"}]), "layer 0 = {'type': 'Conv2d'}: expected an object whose type"),
    (architecture([linear(-5, 10)]),
     "layer 0 (Linear): in_features = -5: expected an integer from 1 to 16,384"),
    (architecture([linear(784, 10.0)]), "out_features = 10.0: expected an integer"),
    (architecture([linear(784, True)]), "out_features = True: expected an integer"),
    (architecture([{**linear(784, 10), "bias": False}]),
     "layer 0 (Linear) has the keys ['bias', 'in_features'"),
    (architecture([linear(784, 10)], [32, 32]), "input_shape = [32, 32]: expected the 28x28 = 784 pixels"),
    (architecture([linear(784, 10)], "784"), "input_shape = '784'"),
    (architecture([linear(100, 10)]), "in_features = 100, but its input has shape (784,) per image"),
    (architecture([linear(784, 10), {"type": "Dropout", "drop_prob": 1.5}]), "drop_prob = 1.5, expected a "
                                                                             "probability in [0, 1)"),
    (architecture([{"type": "PatchEmbedding", "patch_size": 4, "out_channels": 8, "in_channels": 1}]),
     "layer 0 (PatchEmbedding): expects (in_channels = 1, H, W)"),
    (architecture([{"type": "PatchEmbedding", "patch_size": 1, "out_channels": 1024, "in_channels": 1}],
                  [1, 28, 28]), "gives 802,816 numbers per image"),
    (architecture([{"type": "ReLU"}] * 65), "layers = 65 layers: expected a list of at most 64"),
    (architecture([]), "the network gives 784 numbers (784,) per image, expected 10: one score per digit"),
    (architecture([linear(784, 5)]), "the network gives 5 numbers (5,) per image, expected 10"),
], ids=["no-layers", "no-input-shape", "format", "not-an-object", "layer-5", "unknown-type", "negative",
        "float", "bool", "extra-key", "input-32x32", "input-string", "in-mismatch", "dropout",
        "patch-on-flat", "patch-too-wide", "too-many-layers", "no-layers-at-all", "five-classes"])
def test_malformed_architecture(tmp_path, config, expected):
    path = write_network(tmp_path / "mlp_sgd-he.npz", config)
    message = refused(path)
    assert expected in message, message
    assert refused(path, load_network) == message


def test_five_class_network_with_its_weights_is_refused(tmp_path):
    """Issue 23: a 5-class network predicted with probability 0.200."""
    path = write_network(tmp_path / "mlp_sgd-he.npz", architecture([linear(784, 5)]),
                         **linear_weights(784, 5))
    assert "expected 10: one score per digit" in refused(path)


@pytest.mark.parametrize("arrays, expected", [
    ({"0.W": np.zeros((784, 10), np.float32)}, "parameter 0.b is missing, expected shape (10,)"),
    ({**linear_weights(), "0.W": np.zeros((10, 784), np.float32)},
     "parameter 0.W is shape (10, 784), expected shape (784, 10)"),
    ({**linear_weights(), "0.W": np.zeros((784, 10), np.int64)},
     "parameter 0.W has dtype int64, expected float32"),
    ({**linear_weights(), "0.W": np.full((784, 10), np.nan, np.float32)},
     "parameter 0.W has values that are not finite"),
    ({**linear_weights(), "x": np.zeros(3)}, "holds arrays that its architecture does not declare (x.npy)"),
], ids=["missing", "transposed", "int", "nan", "extra"])
def test_parameters_checked_against_the_architecture(tmp_path, arrays, expected):
    path = write_network(tmp_path / "mlp_sgd-he.npz", architecture([linear(784, 10)]), **arrays)
    assert expected in refused(path)


def test_damaged_npz_files(tmp_path):
    good = members(write_network(tmp_path / "a.npz", architecture([linear(784, 10)]), **linear_weights()))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((tmp_path / "a.npz").read_bytes()[:-100])
    assert "not a saved NumPy network" in refused(truncated)
    short = write_zip(tmp_path / "short.npz", {**good, "0.W.npy": good["0.W.npy"][:-8]})
    assert "the array's member holds" in refused(short)
    corrupt = bytearray(good["0.W.npy"])
    corrupt[-5] ^= 0xFF
    bad_crc = tmp_path / "crc.npz"
    bad_crc.write_bytes((tmp_path / "a.npz").read_bytes().replace(good["0.W.npy"], bytes(corrupt)))
    assert "Bad CRC-32" in refused(bad_crc)
    numbers = io.BytesIO()
    np.save(numbers, np.zeros(3))
    not_text = write_zip(tmp_path / "numbers.npz", {**good, "architecture.npy": numbers.getvalue()})
    assert "its architecture is an array of shape (3,) and dtype float64, expected a JSON string" in refused(
        not_text)
    not_json = io.BytesIO()
    np.save(not_json, np.array("{layers: ["))
    assert "not a saved NumPy network (Expecting property name" in refused(
        write_zip(tmp_path / "json.npz", {**good, "architecture.npy": not_json.getvalue()}))
    version3 = write_zip(tmp_path / "v3.npz", {**good, "0.b.npy": b"\x93NUMPY\x03\x00" + good["0.b.npy"][8:]})
    assert ".npy format version (3, 0), expected 1.0 or 2.0" in refused(version3)


def test_saved_networks_round_trip_without_drawing_new_weights(tmp_path):
    """Every layer type is rebuilt from its config (CONFIG_KEYS matches config()), with the saved
    arrays, and predicts as the original."""
    model = build_mlp([16, 8], rng=np.random.default_rng(0), embedding=True, dropout=0.25)
    assert {type(layer) for layer in model.layers} == set(LAYERS.values())
    for layer in model.layers:
        assert tuple(layer.config()) == ("type", *CONFIG_KEYS[type(layer).__name__])
    model.save(tmp_path / "m.npz")
    loaded = load_network(tmp_path / "m.npz")
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in model.layers]
    images = np.random.default_rng(1).random((5, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
    for old, new in zip(model.layers, loaded.layers, strict=True):
        for key in old.params:
            assert new.params[key].shape == new.grads[key].shape and not new.grads[key].any()
    assert loaded.n_params == model.n_params and isinstance(loaded.layers[0], PatchEmbedding)
    assert [type(layer) for layer in loaded.layers[3:6]] == [Linear, ReLU, Dropout] and Flatten in map(
        type, loaded.layers)


# -- malformed .pt models --------------------------------------------------------------------------


@pytest.mark.parametrize("config, expected", [
    ({"builder": "fnn", "sizes": {}}, "model config without 'normalize'"),
    (torch_config("resnet", {}), "config builder = 'resnet': expected one of logreg, fnn, cnn"),
    (torch_config("fnn", [256]), "config sizes = [256]: expected a dict of fnn's sizes"),
    (torch_config("fnn", {}, normalize="yes"), "config normalize = 'yes': expected true or false"),
    (torch_config("fnn", {"width": 10}),
     "config sizes.width: not a size of fnn, expected some of hidden_size"),
    (torch_config("fnn", {"hidden_size": -1}), "config sizes.hidden_size = -1: expected an integer from 1"),
    (torch_config("fnn", {"hidden_size": 2.5}), "config sizes.hidden_size = 2.5: expected an integer"),
    (torch_config("mlp", {"hidden_sizes": [64] * 17}), "config sizes.hidden_sizes = [64, 64"),
    (torch_config("mlp", {"hidden_sizes": [64, 10**9]}), "config sizes.hidden_sizes[1] = 1000000000"),
    (torch_config("mlp", {"dropout": 2.0}), "config sizes.dropout = 2.0: expected a probability in [0, 1)"),
    (torch_config("cnn", {"channels": [8, 8, 8]}), "its architecture cnn"),
    (torch_config("patchnet", {"patch_size": 5}), "mlp.patch_size = 5: must divide the image side 28"),
], ids=["no-normalize", "builder", "sizes-list", "normalize", "unknown-size", "negative", "float", "deep",
        "wide-item", "dropout", "three-channels", "patch-size"])
def test_pt_config_out_of_bounds(tmp_path, config, expected):
    message = refused(write_torch(tmp_path / "torch_fnn.pt", config))
    assert expected in message, message


def test_pt_weights_checked_against_the_architecture(tmp_path):
    small = build_model("fnn", {"hidden_size": 8}, True).state_dict()
    path = write_torch(tmp_path / "torch_fnn.pt", torch_config("fnn", {"hidden_size": 16}), small)
    assert "weights do not fit the architecture fnn (2.weight is shape (8, 784)" in refused(path)
    state = dict(build_model("fnn", {"hidden_size": 8}, True).state_dict())
    del state["4.bias"]
    state["extra"] = torch.zeros(1)
    path = write_torch(tmp_path / "torch_fnn.pt", torch_config("fnn", {"hidden_size": 8}), state)
    assert "(missing 4.bias; unexpected extra)" in refused(path)
    ints = {key: value.to(torch.int64) for key, value in small.items()}
    path = write_torch(tmp_path / "torch_fnn.pt", torch_config("fnn", {"hidden_size": 8}), ints)
    assert "2.weight is shape (8, 784) of torch.int64, expected floats" in refused(path)
    nan = {key: torch.full_like(value, float("nan")) for key, value in small.items()}
    path = write_torch(tmp_path / "torch_fnn.pt", torch_config("fnn", {"hidden_size": 8}), nan)
    assert "probabilities for a blank image are not finite" in refused(path)


def test_pt_storage_smaller_than_its_tensor(tmp_path):
    """A tensor whose shape needs more numbers than its storage holds is refused by torch.load."""
    state = build_model("logreg", {}, True).state_dict()
    path = write_torch(tmp_path / "torch_logreg.pt", torch_config("logreg", {}), state)
    files = members(path)
    name = next(name for name in files if name.endswith("/data/0"))
    files[name] = files[name][:40]
    assert "not a PyTorch file" in refused(write_zip(tmp_path / "short.pt", files))


# -- skops models: trusted types, bad contents -----------------------------------------------------


def damaged(svm_model: SVMModel, change) -> SVMModel:
    change(svm_model)
    return svm_model


@pytest.mark.parametrize("change, expected", [
    (lambda m: setattr(m, "pipeline", 5), "its pipeline is a int, expected a scikit-learn Pipeline"),
    (lambda m: m.pipeline.steps.pop(), "its pipeline is a Pipeline, expected"),
    (lambda m: setattr(m.pipeline.steps[0][1], "resolution", 7),
     "PixelFeatures resolution = 7, expected 14 or 28"),
    (lambda m: m.pipeline.steps.__setitem__(0, ("features", "pixels")), "its feature step is a str"),
    (lambda m: m.pipeline.steps.__setitem__(1, ("classifier", m.svm)),
     "its classifier is a BlasSVC, expected a CalibratedClassifierCV"),
    (lambda m: setattr(m.svm, "_dual_coef_", np.zeros((9, 2))), "its SVC's _dual_coef_ has shape (9, 2), "
                                                               "expected (9, 60)"),
    (lambda m: setattr(m.svm, "_n_support", np.full(10, 7, np.int32)), "its SVC counts 70 support vectors, "
                                                                       "but holds 60"),
    (lambda m: setattr(m.svm, "support_vectors_", m.svm.support_vectors_[:, :100]), "support vectors have "
                                                                                   "shape (60, 100)"),
    (lambda m: setattr(m.svm, "kernel", "precomputed"), "its SVC has kernel 'precomputed'"),
    (lambda m: m.pipeline[-1].calibrated_classifiers_[0].calibrators.pop(), "its calibration has 9 sigmoids"),
], ids=["pipeline-int", "one-step", "resolution", "features-str", "no-calibration", "dual-coef", "n-support",
        "features-width", "kernel", "sigmoids"])
def test_skops_of_trusted_types_with_bad_contents(tmp_path, svm_model, change, expected):
    path = tmp_path / "svm_pixels.skops"
    save_svm(damaged(svm_model, change), path)
    message = refused(path)
    assert "not a usable mnistlab SVM model: " in message and expected in message, message
    assert refused(path, load_svm) == message


def test_skops_model_of_three_classes_is_refused(tmp_path, svm_data):
    """Issue 23: a 3-class scikit-learn model predicted with probability 0.333."""
    x, y = svm_data
    classifier, _ = fit_svm(x, y % 3, x, y % 3, C=1.0, gamma="scale")
    path = tmp_path / "svm_pixels.skops"
    save_svm(SVMModel(PixelFeatures(14), classifier), path)
    assert "its classifier has the classes [0, 1, 2], expected the 10 digits 0..9" in refused(path)


def test_skops_nystroem_model_checked(tmp_path, svm_data):
    x, y = svm_data
    classifier, _ = fit_svm(x, y, x, y, C=1.0, gamma="scale", method="nystroem", n_components=20)
    model = SVMModel(PixelFeatures(14), classifier)
    save_svm(model, tmp_path / "svm_pixels.skops")
    blank = np.zeros((2, 28, 28), np.float32)
    assert load_model(tmp_path / "svm_pixels.skops").predict_proba(blank).shape == (2, 10)
    model.svm[-1].coef_ = model.svm[-1].coef_[:, :5]
    save_svm(model, tmp_path / "svm_pixels.skops")
    message = refused(tmp_path / "svm_pixels.skops")
    assert "its LinearSVC weights have shape (10, 5), expected (10, 20)" in message
    model.svm[-1].coef_ = np.zeros((10, 20))
    model.svm[0].normalization_ = np.zeros((3, 3))  # not inspected by load_svm: predicting fails
    save_svm(model, tmp_path / "svm_pixels.skops")
    message = refused(tmp_path / "svm_pixels.skops")
    assert "not a usable model: predicting a blank image fails (ValueError: " in message, message


def test_skops_gabor_features_with_settings_out_of_bounds(tmp_path, svm_model):
    from mnistlab.features.gabor import GaborFeatures

    features = GaborFeatures(pca_components=None, resolution=14, kernel_size=7, pool=7, stride=1,
                             orientations=1, frequencies=(0.2,))
    features.fit(np.random.default_rng(0).random((4, 28, 28), dtype=np.float32))
    assert features.n_features_out_ == 4
    features.kernel_size = 99  # a filter bank this large would make the convolution costly
    svm_model.pipeline.steps[0] = ("features", features)
    save_svm(svm_model, tmp_path / "svm_gabor.skops")
    message = refused(tmp_path / "svm_gabor.skops")
    assert "its GaborFeatures settings are not valid params: gabor.kernel_size = 99" in message, message


def test_nan_calibration_is_caught_by_the_final_check(tmp_path, svm_model):
    """Contents the loaders do not inspect still cannot predict nonsense: load_model runs one blank
    image through every model and checks for 10 finite probabilities."""
    svm_model.pipeline[-1].calibrated_classifiers_[0].calibrators[0].a_ = float("nan")
    save_svm(svm_model, tmp_path / "svm_pixels.skops")
    load_svm(tmp_path / "svm_pixels.skops")  # the types and shapes are fine
    assert "probabilities for a blank image are not finite" in refused(tmp_path / "svm_pixels.skops")


def test_check_zip_sizes_reads_zip64_end_records(tmp_path):
    """torch.save writes zip64 end records: the directory is found through them."""
    save_torch(tmp_path / "m.pt", build_model("logreg", {}, True), torch_config("logreg", {}))
    infos = check_zip_sizes(tmp_path / "m.pt", "PyTorch file", metadata=("/data.pkl",))
    assert [info.filename for info in infos] == zipfile.ZipFile(tmp_path / "m.pt").namelist()
    (tmp_path / "m.npz").write_bytes(b"PK\x05\x06" + b"\x00" * 10)
    assert "not a saved NumPy network" in refused(tmp_path / "m.npz")
