"""Where the repository and its shipped MNIST sample are, for every test module and helper."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # tests/support/paths.py -> the repository root
SAMPLE = REPO / "data" / "sample"  # the real MNIST sample: 10,000 training and 2,000 test images
