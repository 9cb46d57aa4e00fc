"""Save, load and run trained PyTorch models: no training code, so predicting never imports it.

A model file ``models/torch_<variant>.pt`` is ``torch.save({"state_dict": ..., "config":
{"model", "builder", "sizes", "normalize", "format"}})``, written through an in-memory buffer so
the same weights always give the same bytes (``torch.save`` to a path records the file's name in
the archive, and the stage writes to a random temporary name first). It is read back with
``torch.load(weights_only=True, mmap=True)``, which refuses anything but tensors and plain data and
maps the tensors from the file rather than reading them, after the zip's declared sizes are checked
(:func:`mnistlab.core.io.check_zip_sizes`); the saved architecture's sizes are checked against bounds
(:func:`check_config`) and its parameters' shapes against the saved tensors on PyTorch's ``meta``
device, which allocates nothing, before the model is built.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import MAX_MODEL_BYTES, atomic_path, check_zip_sizes
from mnistlab.core.params import MAX_WIDTH
from mnistlab.models.torch_models.models import BUILDERS, build_model, count_params, default_sizes

FORMAT_VERSION = 2


def save_torch(path: str | os.PathLike, model: nn.Module, config: dict) -> None:
    """Save ``{"state_dict", "config"}`` to ``path`` (``.pt``) atomically, tensors on the CPU.

    The bytes depend only on the weights and the config.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "config": {**config, "format": FORMAT_VERSION}}, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


#: Images per forward pass when predicting, by device type (``TorchPredictor.logits``).
PREDICT_BATCH = {"cpu": 512, "cuda": 4096}


class TorchPredictor:
    """A trained PyTorch model behind the common predictor interface.

    Attributes
    ----------
    model : torch.nn.Sequential
        In eval mode, on ``device``.
    config : dict
        ``model``, ``builder``, ``sizes``, ``normalize``.
    n_params : int
        Trainable numbers in the model.
    """

    def __init__(self, model: nn.Module, config: dict, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.n_params = count_params(model)

    @torch.no_grad()
    def logits(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Logits (N, 10) float32 of images (N, 28, 28) float32 in [0, 1].

        The images go through the network ``batch_size`` at a time: by default
        :data:`PREDICT_BATCH` for the device (on a CPU, a batch of 512 keeps the activations in
        cache and predicted the CNNs 1.4 to 1.7 times faster than 2,048 or 8,192:
        ``python benchmarks/torch_predict_batch.py``).

        Raises
        ------
        MnistlabError
            If ``images`` is not of shape (N, 28, 28).
        """
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise MnistlabError(f"images of shape {images.shape}: expected (N, {IMAGE_SIZE}, {IMAGE_SIZE})")
        x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).to(self.device)
        batch_size = batch_size or PREDICT_BATCH.get(self.device.type, PREDICT_BATCH["cpu"])
        out = [self.model(x[start : start + batch_size]) for start in range(0, len(x), batch_size)]
        return torch.cat(out).cpu().numpy() if out else np.zeros((0, N_CLASSES), np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10), float64 rows summing to 1, of images (N, 28, 28) float32 in [0, 1]."""
        logits = self.logits(images).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Predicted digits (N,) int64."""
        return self.logits(images).argmax(axis=1)


EXPECTED = "expected a mnistlab PyTorch model (a dict with 'state_dict' and 'config', saved by `dvc repro`)"
#: The most layers a saved size list (``hidden_sizes``, ``channels``) may name: params.yaml allows 16
#: hidden layers (``mlp.hidden_sizes``).
MAX_DEPTH = 16
_WIDTH_REASON = "mnistlab.core.params.MAX_WIDTH, the widest layer params.yaml allows"


def _cut(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters: crafted values may be huge."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    return _cut(repr(value), limit)


def _width(where: str, value: object) -> int:
    """``value`` if it is an int in 1..MAX_WIDTH, else a :class:`MnistlabError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WIDTH:
        raise MnistlabError(f"{where} = {_short(value)}: expected an integer from 1 to {MAX_WIDTH:,} "
                            f"({_WIDTH_REASON})")
    return value


def check_config(config: dict) -> tuple[str, dict, bool]:
    """Check the ``config`` of a saved model against bounds, building nothing.

    ``builder`` must name a function of :data:`~mnistlab.models.torch_models.models.BUILDERS`;
    ``sizes`` may set only that builder's keyword arguments, each like its default: an integer from
    1 to :data:`mnistlab.core.params.MAX_WIDTH` (16,384), a list of 1 to :data:`MAX_DEPTH` such
    integers, or a probability in [0, 1) (dropout); ``normalize`` is a bool.

    Returns
    -------
    builder : str
    sizes : dict
    normalize : bool

    Raises
    ------
    MnistlabError
        One line (without the file) naming the key and what was expected.
    """
    missing = [key for key in ("builder", "sizes", "normalize") if key not in config]
    if missing:
        raise MnistlabError(f"model config without {', '.join(map(repr, missing))}")
    builder, sizes, normalize = config["builder"], config["sizes"], config["normalize"]
    if not isinstance(builder, str) or builder not in BUILDERS:
        raise MnistlabError(f"config builder = {_short(builder)}: expected one of {', '.join(BUILDERS)}")
    if not isinstance(sizes, dict):
        raise MnistlabError(f"config sizes = {_short(sizes)}: expected a dict of {builder}'s sizes")
    if not isinstance(normalize, bool):
        raise MnistlabError(f"config normalize = {_short(normalize)}: expected true or false")
    defaults = default_sizes(builder)
    for key, value in sizes.items():
        where = f"config sizes.{_cut(str(key), 40)}"
        if key not in defaults:
            raise MnistlabError(f"{where}: not a size of {builder}, expected some of {', '.join(defaults)}")
        default = defaults[key]
        if isinstance(default, list):
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_DEPTH:
                raise MnistlabError(f"{where} = {_short(value)}: expected a list of 1 to {MAX_DEPTH} "
                                    f"integers (params.yaml allows {MAX_DEPTH} hidden layers)")
            for i, item in enumerate(value):
                _width(f"{where}[{i}]", item)
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise MnistlabError(f"{where} = {_short(value)}: expected a probability in [0, 1)")
        else:
            _width(where, value)
    return builder, sizes, normalize


def _checked_model(path: Path, config: dict, state: dict) -> nn.Module:
    """The model of a checked ``config`` with the weights of ``state``, its shapes compared on the
    ``meta`` device (nothing allocated) before it is built."""
    builder, sizes, normalize = check_config(config)
    try:
        with torch.device("meta"):
            skeleton = build_model(builder, sizes, normalize)
    except (MnistlabError, TypeError, ValueError) as err:
        raise MnistlabError(f"{path}: its architecture {builder} {_short(sizes, 120)} cannot be built "
                            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    shapes = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    n_bytes = sum(4 * math.prod(shape) for shape in shapes.values())
    if n_bytes > MAX_MODEL_BYTES:
        raise MnistlabError(f"{path}: refused: its architecture {builder} {_short(sizes, 120)} has "
                            f"{n_bytes // 4:,} parameters ({n_bytes / 2**20:,.0f} MiB as float32), above the "
                            f"{MAX_MODEL_BYTES // 2**20} MiB limit on a model file (the largest legitimate "
                            f"model here is a few MB)")
    missing = [key for key in shapes if key not in state]
    unexpected = [str(key) for key in state if key not in shapes]
    if missing or unexpected:
        detail = "; ".join(part for part in (missing and f"missing {_cut(', '.join(missing), 80)}",
                                             unexpected and f"unexpected {_cut(', '.join(unexpected), 80)}")
                           if part)
        raise MnistlabError(f"{path}: weights do not fit the architecture {builder} ({detail})")
    for key, shape in shapes.items():
        value = state[key]
        tensor = isinstance(value, torch.Tensor)
        if not tensor or tuple(value.shape) != shape or not value.is_floating_point():
            found = f"shape {tuple(value.shape)} of {value.dtype}" if tensor else f"a {type(value).__name__}"
            raise MnistlabError(f"{path}: weights do not fit the architecture {builder} ({key} is {found}, "
                                f"expected floats of shape {shape})")
    model = build_model(builder, sizes, normalize)
    model.load_state_dict(state)
    return model


def load_torch(path: str | os.PathLike, device: str | torch.device = "cpu") -> TorchPredictor:
    """Load a ``.pt`` file written by :func:`save_torch` as a :class:`TorchPredictor`.

    Nothing is allocated for the file's contents before its sizes are checked: the zip's declared
    sizes (:func:`mnistlab.core.io.check_zip_sizes`; ``data.pkl``, unpickled into Python objects, at
    most :data:`~mnistlab.core.io.MAX_METADATA_BYTES`), then the tensors are mapped from the file
    (``mmap=True``), the config's sizes checked (:func:`check_config`) and the architecture's
    parameter shapes compared with the saved tensors on the ``meta`` device; only then is the model
    built, its output 10 classes (every builder ends in ``Linear(., 10)``).

    Raises
    ------
    MnistlabError
        One line naming the file and what was expected, if it is missing, not a PyTorch file, too
        large, holds objects other than tensors and plain data (refused, never run), is not a model
        saved by :func:`save_torch`, declares sizes out of bounds, or holds weights that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    if not zipfile.is_zipfile(path):  # torch.save's format since PyTorch 1.6 is a zip archive
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}")
    check_zip_sizes(path, "PyTorch file", metadata=("/data.pkl",))
    try:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            saved = torch.load(path, map_location="cpu", weights_only=True)  # a file mmap cannot map
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise MnistlabError(f"{path}: refused: it holds Python objects other than tensors and plain "
                                f"data, which could run code when loaded; {EXPECTED}") from None
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, TypeError, KeyError,
            AttributeError, IndexError):  # what a damaged archive or pickle raises in torch.load
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}") from None
    config = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(config, dict) or not isinstance(saved.get("state_dict"), dict):
        raise MnistlabError(f"{path}: holds a {type(saved).__name__}; {EXPECTED}")
    try:
        model = _checked_model(path, config, saved["state_dict"])
    except MnistlabError as err:
        message = str(err)
        raise MnistlabError(message if message.startswith(f"{path}: ") else f"{path}: {message}; {EXPECTED}"
                            ) from None
    except RuntimeError as err:
        reason = str(err).splitlines()[0]
        raise MnistlabError(f"{path}: weights do not fit the architecture ({reason})") from None
    return TorchPredictor(model, config, device)
