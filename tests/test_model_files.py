"""Model files are data, never code: a crafted file of every suffix the project loads is refused
with one line, and its payload never runs (issue 10, item 1).

Each malicious file carries a payload that would create a marker file if it ran; the test loads it
through the one entry point (``mnistlab.models.registry.load_model``) and checks the error and that the
marker does not exist. Sanity checks show that each payload is live when loaded the unsafe way.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mnistlab.core.errors import MnistlabError
from mnistlab.models.registry import load_model
from mnistlab.models.svm import PixelFeatures, SVMModel, fit_svm, load_svm, save_svm

try:
    from mnistlab.models.registry import load_model
except ImportError:  # before the registry: the older dispatcher
    from mnistlab.predictors import load_predictor as load_model


class Payload:
    """Unpickling this runs ``os.system(command)`` (the classic pickle exploit)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def touch_command(marker: Path) -> str:
    return f"echo pwned > '{marker}'"


def refused(path: Path) -> str:
    """Load ``path`` through the registry; return the one-line error message."""
    with pytest.raises(MnistlabError) as error:
        load_model(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message, message
    return message


# -- skops -----------------------------------------------------------------------------------------


def skops_state(obj) -> dict:
    """The schema node skops writes for ``obj`` (to build payload arguments)."""
    import skops.io

    with zipfile.ZipFile(io.BytesIO(skops.io.dumps(obj))) as zf:
        state = json.loads(zf.read("schema.json"))
    return {key: value for key, value in state.items() if key not in ("protocol", "_skops_version")}


def system_node(command: str) -> dict:
    """A skops node whose construction calls ``os.system(command)``: skops builds
    ``ConstructorFromReduceNode`` objects by calling ``module.class(*content)``."""
    return {"__class__": "system", "__module__": "os", "__loader__": "ConstructorFromReduceNode",
            "content": skops_state((command,))}


def write_skops(path: Path, schema: dict, files: dict[str, bytes] | None = None) -> Path:
    import skops
    from skops.io._protocol import PROTOCOL

    with zipfile.ZipFile(path, "w") as zf:
        for name, content in (files or {}).items():
            zf.writestr(name, content)
        zf.writestr("schema.json", json.dumps({**schema, "protocol": PROTOCOL,
                                               "_skops_version": skops.__version__}))
    return path


def find_node(node, class_name: str) -> dict | None:
    """The first schema node of class ``class_name`` (depth first)."""
    if isinstance(node, dict):
        if node.get("__class__") == class_name:
            return node
        children = node.values()
    else:
        children = node if isinstance(node, list) else []
    for child in children:
        found = find_node(child, class_name) if isinstance(child, (dict, list)) else None
        if found is not None:
            return found
    return None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 196), dtype=np.float32), np.arange(60) % 10
    classifier, _ = fit_svm(x, y, x, y, C=1.0, gamma="scale")
    path = tmp_path_factory.mktemp("model") / "svm_pixels.skops"
    save_svm(SVMModel(PixelFeatures(14), classifier), path)
    return path


def test_skops_payload_is_live_when_trusted(tmp_path):
    import skops.io

    marker = tmp_path / "marker"
    path = write_skops(tmp_path / "evil.skops", system_node(touch_command(marker)))
    assert skops.io.get_untrusted_types(file=path) == ["os.system"]
    skops.io.load(path, trusted=["os.system"])  # what trusted=True would do: the payload runs
    assert marker.exists()


def test_skops_file_with_untrusted_type_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = write_skops(tmp_path / "svm_pixels.skops", system_node(touch_command(marker)))
    message = refused(path)
    assert "os.system" in message and "not loaded" in message
    assert not marker.exists()


def test_untrusted_type_hidden_inside_a_real_model_is_refused(tiny_model, tmp_path):
    marker = tmp_path / "marker"
    with zipfile.ZipFile(tiny_model) as zf:
        files = {name: zf.read(name) for name in zf.namelist() if name != "schema.json"}
        schema = json.loads(zf.read("schema.json"))
    features = find_node(schema, "PixelFeatures")
    features["content"]["content"]["resolution"] = system_node(touch_command(marker))
    path = write_skops(tmp_path / "svm_pixels.skops", schema, files)
    message = refused(path)
    assert message.endswith("os.system") and not marker.exists()


def test_real_model_loads_and_lists_only_trusted_types(tiny_model):
    import skops.io

    from mnistlab.models.svm import TRUSTED_TYPES

    assert set(skops.io.get_untrusted_types(file=tiny_model)) <= set(TRUSTED_TYPES)
    assert isinstance(load_model(tiny_model), SVMModel)


def test_skops_holding_something_else(tmp_path):
    import skops.io

    skops.io.dump({"not": "a model"}, tmp_path / "svm_pixels.skops")
    assert "expected a mnistlab SVM model" in refused(tmp_path / "svm_pixels.skops")
    (tmp_path / "text.skops").write_text("hello")
    assert "not a skops file" in refused(tmp_path / "text.skops")


# -- joblib (older versions) -----------------------------------------------------------------------


def test_old_joblib_pickle_is_refused_unread(tmp_path):
    marker, live = tmp_path / "marker", tmp_path / "live"
    payload = pickle.dumps(Payload(touch_command(marker)))
    pickle.loads(pickle.dumps(Payload(touch_command(live))))  # the payload is live when unpickled
    assert live.exists()
    path = tmp_path / "svm_pixels.joblib"
    path.write_bytes(payload)
    message = refused(path)
    assert message == (f"{path}: old joblib model format, which can run code when loaded; retrain it "
                       "with `dvc repro` (or convert it yourself if you trust its origin)")
    assert not marker.exists()
    with pytest.raises(MnistlabError, match="old joblib model format"):
        load_svm(path)
    assert not marker.exists()


# -- npz (NumPy networks) --------------------------------------------------------------------------


def test_npz_with_object_array_is_refused(tmp_path):
    marker, live = tmp_path / "marker", tmp_path / "live"
    path = tmp_path / "mlp_adam-he.npz"
    np.savez(path, architecture=np.array([Payload(touch_command(marker))], dtype=object))
    np.savez(tmp_path / "live.npz", a=np.array([Payload(touch_command(live))], dtype=object))
    np.load(tmp_path / "live.npz", allow_pickle=True)["a"]  # live when pickles are allowed
    assert live.exists()
    refused(path)
    assert not marker.exists()


# -- pt (PyTorch) ----------------------------------------------------------------------------------


def test_pt_with_reduce_payload_is_refused(tmp_path):
    marker, live = tmp_path / "marker", tmp_path / "live"
    path = tmp_path / "torch_cnn.pt"
    torch.save({"config": Payload(touch_command(marker)), "state_dict": {}}, path)
    torch.save(Payload(touch_command(live)), tmp_path / "live.pt")
    torch.load(tmp_path / "live.pt", weights_only=False)  # live with weights_only=False
    assert live.exists()
    refused(path)
    assert not marker.exists()


def test_text_file_renamed_pt(tmp_path):
    path = tmp_path / "torch_cnn.pt"
    path.write_text("this is not a model\n")
    message = refused(path)
    assert "544502645" not in message and "expected" in message, message


def test_pt_holding_a_plain_tensor(tmp_path):
    path = tmp_path / "torch_cnn.pt"
    torch.save(torch.zeros(3), path)
    message = refused(path)
    assert "expected" in message, message


def test_skops_file_of_the_old_package_layout_says_to_retrain(tiny_model, tmp_path):
    """A model saved before the package moved into layers names mnistlab.svm.SVMModel: one line
    saying to retrain, and nothing is built."""
    with zipfile.ZipFile(tiny_model) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    entries["schema.json"] = entries["schema.json"].replace(b"mnistlab.models.svm", b"mnistlab.svm")
    old = tmp_path / "svm_pixels.skops"
    with zipfile.ZipFile(old, "w") as target:
        for name, content in entries.items():
            target.writestr(name, content)
    with pytest.raises(MnistlabError) as info:
        load_model(old)
    message = str(info.value)
    assert "written by an older version of mnistlab" in message and "mnistlab.svm.SVMModel" in message
    assert "`dvc repro`" in message and "\n" not in message
