"""An RBF SVM fitted on every core and evaluated with matrix products (BLAS).

libsvm trains a multi-class SVM as one binary SVM per pair of classes (one-vs-one), one pair after
another on one core, and evaluates it one test image and one support vector at a time: at 60,000
training images (tens of thousands of support vectors) the fit takes minutes and prediction a few
hundred images per second. :class:`BlasSVC` gives the same model faster:

- **fit**: the ``n_classes * (n_classes - 1) / 2`` binary problems are handed to libsvm one by
  one, on as many threads as BLAS may use (libsvm runs without the GIL), and their support
  vectors and coefficients are assembled in libsvm's multi-class layout. Each binary problem is
  the one libsvm's multi-class training builds (the two classes' samples in their original
  order, the first class labelled +1; Chang and Lin 2011, "LIBSVM: a library for support vector
  machines", ACM TIST 2(3), section 7), so the fitted numbers are those of ``SVC`` (equal
  values; the tests compare them), computed faster: on several threads, and each problem on a
  compact copy of its rows.
- **decision function**, in three dense steps batched over images:

  1. squared distances ``|x|^2 + |s|^2 - 2 x.s`` to every support vector (one matrix product);
  2. the RBF kernel ``K = exp(-gamma * d^2)``;
  3. for each pair of classes (i, j), ``sum_{s in SV_i} a_{j-1,s} K(x, s) + sum_{s in SV_j}
     a_{i,s} K(x, s) + b_ij``, the one-vs-one decision value of libsvm (ibid.; the layout of
     ``SVC.dual_coef_`` in the scikit-learn user guide, "Multi-class classification").

  In float64 these equal libsvm's values to rounding (the tests check 1e-9), so predictions and
  calibrated probabilities are unchanged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import combinations, repeat

import numpy as np
from sklearn.svm import SVC
from sklearn.svm import _libsvm as libsvm
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_info

#: Test images per batch: the kernel block is batch x n_support_vectors float64 (512 x 20,000 is
#: 82 MB). The element-wise passes over the block are memory-bound, so a smaller block predicts
#: faster: ``python benchmarks/svm_fit.py --predict-batch 512 2048`` prints the time of each.
BATCH = 512


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


def fit_ovo_pairs(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, class_weight: np.ndarray,
                  options: dict, threads: int) -> tuple:
    """Fit a multi-class C-SVM as libsvm does, one binary problem per pair of classes, on threads.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features), float64, C order
    y : ndarray of shape (n_samples,), float64
        Class indices 0 .. n_classes - 1.
    sample_weight : ndarray of shape (n_samples,) or (0,), float64
    class_weight : ndarray of shape (n_classes,), float64
        Multiplies ``C`` per class (``SVC.class_weight_``).
    options : dict
        The other keyword arguments of ``sklearn.svm._libsvm.fit`` (kernel, C, gamma, tol,
        cache_size, ...) but ``random_seed``, which is -1 here (libsvm then leaves its global
        generator alone, which C-SVC without probabilities does not use); ``cache_size`` (MB) is
        shared by the threads.
    threads : int
        Binary problems fitted at once.

    Returns
    -------
    tuple
        ``support`` (n_SV,) int32, ``support_vectors`` (n_SV, n_features) float64, ``n_support``
        (n_classes,) int32, ``dual_coef`` (n_classes - 1, n_SV) float64, ``intercept`` (n_pairs,)
        float64, ``fit_status`` int and ``n_iter`` (n_pairs,) int32: what ``_libsvm.fit`` returns
        for the multi-class problem (without probability estimates), in its layout.

    Notes
    -----
    Every sample weight must be positive: libsvm drops the others from each problem, and the
    indices it returns would no longer be rows of ``x`` (:class:`BlasSVC` leaves such fits to
    libsvm). A coefficient that is zero (a support vector that sits out a pair) is +0.0 here,
    where libsvm's multi-class training may leave -0.0: equal values, which change no sum.
    """
    options = dict(options, random_seed=-1, cache_size=options["cache_size"] / threads)
    n_classes = int(y.max()) + 1
    members = [np.flatnonzero(y == k) for k in range(n_classes)]
    pairs = list(combinations(range(n_classes), 2))

    def fit_pair(pair):
        i, j = pair
        rows = np.concatenate([members[i], members[j]])
        fitted = libsvm.fit(x[rows], (y[rows] == j).astype(np.float64),
                            sample_weight=sample_weight[rows] if sample_weight.size else sample_weight,
                            class_weight=class_weight[[i, j]], probability=False, **options)
        support, _, n_sv, coef, intercept, _, _, status, n_iter = fitted
        return rows[support], int(n_sv[0]), coef[0], intercept[0], status, n_iter[0]

    with ThreadPoolExecutor(threads) as pool:
        fits = list(pool.map(fit_pair, pairs))
    # a class's support vectors: those of any of its pairs, in training order (libsvm's grouping)
    per_class = [set() for _ in range(n_classes)]
    for (i, j), (rows, n_first, *_) in zip(pairs, fits, strict=True):
        per_class[i].update(rows[:n_first].tolist())
        per_class[j].update(rows[n_first:].tolist())
    per_class = [np.array(sorted(rows), dtype=np.int64) for rows in per_class]
    support = np.concatenate(per_class)
    position = np.empty(len(y), dtype=np.int64)
    position[support] = np.arange(len(support))
    dual_coef = np.zeros((n_classes - 1, len(support)))
    for (i, j), (rows, n_first, coef, *_) in zip(pairs, fits, strict=True):
        dual_coef[j - 1, position[rows[:n_first]]] = coef[:n_first]
        dual_coef[i, position[rows[n_first:]]] = coef[n_first:]
    intercept = np.array([fit[3] for fit in fits], dtype=np.float64)
    n_iter = np.array([fit[5] for fit in fits], dtype=np.int32)
    return (support.astype(np.int32), x[support], np.array([len(c) for c in per_class], dtype=np.int32),
            dual_coef, intercept, max(fit[4] for fit in fits), n_iter)


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
    """scikit-learn's ``SVC`` whose one-vs-one binary problems are fitted by libsvm in parallel
    (:func:`fit_ovo_pairs`) and whose RBF decision function (and so ``decision_function``,
    ``predict`` and the calibrated probabilities built on them) is computed by
    :func:`rbf_ovo_decision`, batched with BLAS, on every thread BLAS may use
    (``MNISTLAB_THREADS`` in a stage). Two classes, a precomputed or callable kernel,
    ``probability=True``, a sample weight <= 0, sparse input and ``break_ties`` go through libsvm
    unchanged."""

    def _dense_fit(self, X, y, sample_weight, solver_type, kernel, random_seed):
        if (len(self.classes_) < 3 or self._impl != "c_svc" or kernel == "precomputed"
                or callable(self.kernel) or self._effective_probability
                or (sample_weight.size and sample_weight.min() <= 0)):
            return super()._dense_fit(X, y, sample_weight, solver_type, kernel, random_seed)
        options = dict(svm_type=solver_type, kernel=kernel, C=self.C, nu=self.nu, degree=self.degree,
                       shrinking=self.shrinking, tol=self.tol, cache_size=self.cache_size,
                       coef0=self.coef0, gamma=self._gamma, epsilon=self.epsilon,
                       max_iter=self.max_iter)
        libsvm.set_verbosity_wrap(self.verbose)
        (self.support_, self.support_vectors_, self._n_support, self.dual_coef_, self.intercept_,
         self.fit_status_, self._num_iter) = fit_ovo_pairs(X, y, sample_weight, self.class_weight_,
                                                           options, _blas_threads())
        self._probA = self._probB = np.empty(0)
        self._warn_from_fit_status()

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
