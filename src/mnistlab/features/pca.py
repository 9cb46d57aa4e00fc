"""Principal component analysis of feature vectors, exact and deterministic, with torch."""

from __future__ import annotations

import numpy as np
import torch


def fit_pca(features: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal component analysis by eigendecomposition of the float64 covariance matrix.

    Exact and deterministic (no random projection, so no seed), and fast when there are many more
    samples than features. Computed with torch so that it shares the thread pool of the
    convolutions (NumPy's OpenBLAS threads would compete with torch's idle OpenMP threads). Each
    axis's sign is fixed so that its largest-magnitude entry is positive, as
    ``sklearn.utils.extmath.svd_flip`` does for ``sklearn.decomposition.PCA``.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
    n_components : int
        Number of axes kept, at most ``n_features``.

    Returns
    -------
    mean : ndarray of shape (n_features,), float32
    components : ndarray of shape (n_components, n_features), float32
        Unit-norm axes by decreasing variance.
    explained_variance : ndarray of shape (n_components,), float64
        Variance along each axis (divisor ``n_samples - 1``).
    """
    x = torch.from_numpy(np.asarray(features, dtype=np.float64))
    mean = x.mean(dim=0)
    centred = x - mean
    covariance = centred.T @ centred / max(len(x) - 1, 1)
    variances, vectors = torch.linalg.eigh(covariance)  # ascending
    variances, vectors = variances.flip(0)[:n_components], vectors.flip(1)[:, :n_components].T
    largest = vectors.abs().argmax(dim=1)
    vectors *= torch.sign(vectors[torch.arange(len(vectors)), largest])[:, None]
    return mean.float().numpy(), vectors.float().numpy(), variances.clamp(min=0).numpy()


def project(features: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``(features - mean) @ components.T``, float32 (N, k), computed with torch (see :func:`fit_pca`)."""
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    return ((x - torch.from_numpy(mean)) @ torch.from_numpy(components).T).numpy()
