"""The RBF SVM's decision function computed with matrix products (BLAS), for fast prediction.

libsvm evaluates a trained kernel SVM one test image and one support vector at a time, on one
core: at 60,000 training images (tens of thousands of support vectors) it classifies a few
hundred images per second. The same numbers come from three dense steps, batched over images:

1. squared distances ``|x|^2 + |s|^2 - 2 x.s`` to every support vector (one matrix product);
2. the RBF kernel ``K = exp(-gamma * d^2)``;
3. for each pair of classes (i, j), ``sum_{s in SV_i} a_{j-1,s} K(x, s) + sum_{s in SV_j} a_{i,s}
   K(x, s) + b_ij``, the one-vs-one decision value of libsvm (Chang and Lin 2011, "LIBSVM: a
   library for support vector machines", ACM TIST 2(3), section 7; the layout of
   ``SVC.dual_coef_`` in the scikit-learn user guide, "Multi-class classification").

In float64 they equal libsvm's values to rounding (the tests check 1e-9), so predictions and
calibrated probabilities are unchanged; only the speed differs.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC
from sklearn.utils import check_array

#: Test images per batch: the kernel block is batch x n_support_vectors float64 (2048 x 20,000 is
#: 330 MB at most).
BATCH = 2048


def rbf_ovo_decision(x: np.ndarray, support_vectors: np.ndarray, n_support: np.ndarray,
                     dual_coef: np.ndarray, intercept: np.ndarray, gamma: float) -> np.ndarray:
    """One-vs-one decision values of a multi-class RBF SVM, as ``libsvm.decision_function``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features), float64
    support_vectors : ndarray of shape (n_SV, n_features)
        Grouped by class, ``n_support[k]`` of class k in class order (``SVC.support_vectors_``).
    n_support : ndarray of shape (n_classes,), int
    dual_coef : ndarray of shape (n_classes - 1, n_SV)
        libsvm's coefficients (``SVC._dual_coef_``).
    intercept : ndarray of shape (n_classes * (n_classes - 1) / 2,)
        libsvm's constants, pairs in the order (0,1), (0,2), ..., (1,2), ... (``SVC._intercept_``).
    gamma : float
        Kernel coefficient, 1 / feature units squared.

    Returns
    -------
    ndarray of shape (n_samples, n_pairs), float64
        Positive for the first class of the pair.
    """
    sv = np.asarray(support_vectors, dtype=np.float64)
    sv_norms = np.einsum("ij,ij->i", sv, sv)
    bounds = np.concatenate([[0], np.cumsum(n_support)])
    n_classes = len(n_support)
    out = np.empty((len(x), n_classes * (n_classes - 1) // 2))
    for start in range(0, len(x), BATCH):
        block = x[start : start + BATCH]
        sq = np.einsum("ij,ij->i", block, block)[:, None] + sv_norms[None, :] - 2.0 * (block @ sv.T)
        kernel = np.exp(-gamma * np.maximum(sq, 0.0))
        pair = 0
        for i in range(n_classes):
            rows_i = slice(bounds[i], bounds[i + 1])
            for j in range(i + 1, n_classes):
                rows_j = slice(bounds[j], bounds[j + 1])
                out[start : start + BATCH, pair] = (kernel[:, rows_i] @ dual_coef[j - 1, rows_i]
                                                    + kernel[:, rows_j] @ dual_coef[i, rows_j]
                                                    + intercept[pair])
                pair += 1
    return out


class BlasSVC(SVC):
    """scikit-learn's ``SVC``, fitted by libsvm as usual, whose RBF decision function (and so
    ``decision_function`` and the calibrated probabilities built on it) is computed by
    :func:`rbf_ovo_decision`, batched with BLAS on every thread it may use. Other kernels, sparse
    input and ``predict`` go through libsvm unchanged."""

    def _dense_decision_function(self, X):
        if self.kernel != "rbf":
            return super()._dense_decision_function(X)
        X = check_array(X, dtype=np.float64, order="C")
        return rbf_ovo_decision(X, self.support_vectors_, self._n_support, self._dual_coef_,
                                self._intercept_, self._gamma)
