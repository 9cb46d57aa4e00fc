"""Save, load and run trained PyTorch models: no training code, so predicting never imports it.

A model file ``models/torch_<variant>.pt`` is ``torch.save({"state_dict": ..., "config":
{"model", "builder", "sizes", "normalize", "format"}})``, written through an in-memory buffer so
the same weights always give the same bytes (``torch.save`` to a path records the file's name in
the archive, and the stage writes to a random temporary name first). It is read back with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain data.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mnistlab.core.constants import IMAGE_SIZE, N_CLASSES
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path
from mnistlab.models.torch_models.models import build_model, count_params

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
    def logits(self, images: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Logits (N, 10) float32 of images (N, 28, 28) float32 in [0, 1].

        Raises
        ------
        MnistlabError
            If ``images`` is not of shape (N, 28, 28).
        """
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise MnistlabError(f"images of shape {images.shape}: expected (N, {IMAGE_SIZE}, {IMAGE_SIZE})")
        x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).to(self.device)
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


def load_torch(path: str | os.PathLike, device: str | torch.device = "cpu") -> TorchPredictor:
    """Load a ``.pt`` file written by :func:`save_torch` as a :class:`TorchPredictor`.

    Raises
    ------
    MnistlabError
        One line naming the file and what was expected, if it is missing, not a PyTorch file,
        holds objects other than tensors and plain data (refused, never run), or is not a model
        saved by :func:`save_torch`.
    """
    path = Path(path)
    if not path.is_file():
        raise MnistlabError(f"{path}: model file not found (train it with `dvc repro`)")
    if not zipfile.is_zipfile(path):  # torch.save's format since PyTorch 1.6 is a zip archive
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise MnistlabError(f"{path}: refused: it holds Python objects other than tensors and plain "
                                f"data, which could run code when loaded; {EXPECTED}") from None
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError):
        raise MnistlabError(f"{path}: not a PyTorch file; {EXPECTED}") from None
    config = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(config, dict) or not isinstance(saved.get("state_dict"), dict):
        raise MnistlabError(f"{path}: holds a {type(saved).__name__}; {EXPECTED}")
    try:
        model = build_model(config["builder"], config["sizes"], config["normalize"])
        model.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError) as err:
        raise MnistlabError(f"{path}: model config without {err}; {EXPECTED}") from None
    except (RuntimeError, MnistlabError) as err:
        reason = str(err).splitlines()[0]
        raise MnistlabError(f"{path}: weights do not fit the architecture ({reason})") from None
    return TorchPredictor(model, config, device)
