"""Shared fixtures: the real MNIST sample shipped in data/sample, and small prepared splits."""

from pathlib import Path

import numpy as np
import pytest

from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import prepare, save_splits

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="session")
def sample_train() -> tuple[np.ndarray, np.ndarray]:
    """The sample's 10,000 training images (uint8, (N, 28, 28)) and labels."""
    return read_pair(SAMPLE / "train-images-idx3-ubyte.gz", SAMPLE / "train-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def sample_test() -> tuple[np.ndarray, np.ndarray]:
    """The sample's 2,000 test images and labels."""
    return read_pair(SAMPLE / "t10k-images-idx3-ubyte.gz", SAMPLE / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory, sample_train, sample_test) -> Path:
    """A prepared folder (train 2,000 / val 500 / test 500, deskewed) made from the real sample."""
    folder = tmp_path_factory.mktemp("prepared")
    splits = prepare(sample_train, sample_test, val_size=500, train_size=2000, test_size=500,
                     deskew_images=True, seed=0)
    save_splits(splits, folder)
    return folder
