"""mnistlab: a reproducible MNIST research pipeline (DVC + NumPy + scikit-learn + PyTorch)."""

__version__ = "0.1.0"
