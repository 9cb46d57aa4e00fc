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

from concurrent.futures import ThreadPoolExecutor
from itertools import repeat

import numpy as np
from sklearn.svm import SVC
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_info

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
    # per class k, its support vectors' coefficients in each of its pairs: (n_k, n_classes - 1)
    coefs = [np.ascontiguousarray(dual_coef[:, bounds[k] : bounds[k + 1]].T) for k in range(n_classes)]
    out = np.empty((len(x), n_classes * (n_classes - 1) // 2))
    threads = _blas_threads()
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(x), BATCH):
            block = x[start : start + BATCH]
            kernel = block @ sv.T
            norms = np.einsum("ij,ij->i", block, block)
            # NumPy's element-wise loops use one core (without the GIL): rows split over the threads
            step = -(-len(block) // threads)
            rows = [slice(i, i + step) for i in range(0, len(block), step)]
            list(pool.map(_rbf_in_place, [kernel[r] for r in rows], [norms[r] for r in rows],
                          repeat(sv_norms), repeat(gamma)))
            # partial[k][:, m]: the sum over class k's support vectors, coefficients of its m-th pair
            partial = [kernel[:, bounds[k] : bounds[k + 1]] @ coefs[k] for k in range(n_classes)]
            decision = out[start : start + BATCH]
            pair = 0
            for i in range(n_classes):
                for j in range(i + 1, n_classes):
                    decision[:, pair] = partial[i][:, j - 1] + partial[j][:, i] + intercept[pair]
                    pair += 1
    return out


def _rbf_in_place(products: np.ndarray, x_norms: np.ndarray, sv_norms: np.ndarray, gamma: float) -> None:
    """``x.s`` -> ``exp(-gamma * max(|x|^2 + |s|^2 - 2 x.s, 0))``, in place."""
    products *= -2.0
    products += x_norms[:, None]
    products += sv_norms[None, :]
    np.maximum(products, 0.0, out=products)
    products *= -gamma
    np.exp(products, out=products)


def _blas_threads() -> int:
    """The number of threads BLAS may use now (``MNISTLAB_THREADS`` in a stage)."""
    return max((info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"), default=1)


class BlasSVC(SVC):
    """scikit-learn's ``SVC``, fitted by libsvm as usual, whose RBF decision function (and so
    ``decision_function``, ``predict`` and the calibrated probabilities built on them) is computed by
    :func:`rbf_ovo_decision`, batched with BLAS on every thread it may use. Other kernels, sparse
    input and ``break_ties`` go through libsvm unchanged."""

    def _dense_decision_function(self, X):
        if self.kernel != "rbf":
            return super()._dense_decision_function(X)
        X = check_array(X, dtype=np.float64, order="C")
        return rbf_ovo_decision(X, self.support_vectors_, self._n_support, self._dual_coef_,
                                self._intercept_, self._gamma)

    def predict(self, X):
        """Class labels by libsvm's one-vs-one vote: each pair (i, j) votes i when its decision
        value is positive, else j; the most votes win, ties to the lower class index (as libsvm's
        ``svm_predict``)."""
        check_is_fitted(self)
        if self.kernel != "rbf" or self.break_ties or self._sparse:
            return super().predict(X)
        decision = self._dense_decision_function(self._validate_for_predict(X))
        first, second = np.triu_indices(len(self.classes_), k=1)  # pairs in libsvm's order
        winners = np.where(decision > 0, first, second)
        votes = np.stack([(winners == k).sum(axis=1) for k in range(len(self.classes_))], axis=1)
        return self.classes_[votes.argmax(axis=1)]
