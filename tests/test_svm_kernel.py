"""BlasSVC equals libsvm's SVC: the pairs fitted in parallel give the same numbers, and the BLAS
decision function the same values, for many and for two classes."""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from mnistlab.models.svm_kernel import BATCH, BlasSVC


def data(n, n_classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 30)).astype(np.float32)
    y = rng.integers(0, n_classes, n)
    x[np.arange(n), y] += 1.0
    return x, y


@pytest.mark.parametrize("n_classes", [10, 3, 2])
def test_decision_function_and_probabilities_match_libsvm(n_classes):
    x, y = data(1500, n_classes, 0)
    test, _ = data(BATCH + 100, n_classes, 1)  # more than one batch
    libsvm, blas = SVC(C=5, gamma="scale").fit(x, y), BlasSVC(C=5, gamma="scale").fit(x, y)
    np.testing.assert_allclose(blas.decision_function(test), libsvm.decision_function(test),
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(blas.predict(test), libsvm.predict(test))
    val_x, val_y = data(300, n_classes, 2)
    calibrated = [CalibratedClassifierCV(FrozenEstimator(m), method="sigmoid").fit(val_x, val_y)
                  for m in (libsvm, blas)]
    np.testing.assert_allclose(*(c.predict_proba(test) for c in calibrated), rtol=0, atol=1e-9)


def test_other_kernels_use_libsvm():
    x, y = data(300, 3, 0)
    np.testing.assert_array_equal(BlasSVC(kernel="linear").fit(x, y).decision_function(x),
                                  SVC(kernel="linear").fit(x, y).decision_function(x))


def test_predict_matches_libsvm_on_overlapping_classes_with_any_labels():
    """Noisy classes give close votes (ties go to the lower class, as in libsvm); labels are
    mapped back through ``classes_``."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, 1200)
    x = rng.random((1200, 8)) + 0.15 * y[:, None] * (np.arange(8) % 5 == 0)
    labels = np.array(list("vwxyz"))[y]
    test = rng.random((3000, 8)) + 0.1
    libsvm = SVC(C=1, gamma=2.0, decision_function_shape="ovo").fit(x, labels)
    blas = BlasSVC(C=1, gamma=2.0).fit(x, labels)
    expected = libsvm.predict(test)
    assert len(set(expected)) > 1
    first, second = np.triu_indices(5, k=1)
    winners = np.where(libsvm.decision_function(test) > 0, first, second)  # ovo: positive -> first
    top = np.sort(np.stack([(winners == k).sum(axis=1) for k in range(5)], axis=1), axis=1)
    assert np.any(top[:, -1] == top[:, -2])  # some images have tied votes
    np.testing.assert_array_equal(blas.predict(test), expected)


FITTED = ("support_", "support_vectors_", "n_support_", "dual_coef_", "_dual_coef_", "intercept_",
          "_intercept_", "n_iter_", "fit_status_", "classes_")


def assert_same_fit(got, expected):
    """The same arrays: dtypes, shapes and values, exactly (a zero may differ in sign)."""
    for name in FITTED:
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(expected, name))
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("weights", ["none", "sample", "class"])
def test_fit_on_threads_gives_libsvms_numbers(threads, weights):
    """Pairs fitted one by one on threads: the same support vectors, coefficients, intercepts and
    iteration counts as libsvm's own multi-class training, exactly."""
    x, y = data(1200, 4, 3)
    x[:, :3] += 0.3 * np.random.default_rng(4).standard_normal((1200, 3))  # overlapping classes
    y = np.array([7, 2, 9, 5])[y]  # labels neither sorted by appearance nor 0..n-1
    kwargs = {"class_weight": {2: 3.0, 9: 0.5}} if weights == "class" else {}
    fit_kwargs = {"sample_weight": np.linspace(0.5, 2.0, len(y))} if weights == "sample" else {}
    libsvm = SVC(C=2, gamma="scale", **kwargs).fit(x, y, **fit_kwargs)
    with threadpool_limits(threads, user_api="blas"):
        blas = BlasSVC(C=2, gamma="scale", **kwargs).fit(x, y, **fit_kwargs)
    assert_same_fit(blas, libsvm)
    assert len(np.unique(libsvm.support_)) < len(y)  # not every sample is a support vector
    assert np.count_nonzero(libsvm._dual_coef_ == 0) > 0  # some support vectors sit out some pairs


def test_zero_sample_weights_are_left_to_libsvm():
    """libsvm drops samples of weight 0 before training (its support indices then count the
    remaining ones): such fits go through libsvm's own multi-class training."""
    x, y = data(600, 3, 5)
    weights = np.ones(len(y))
    weights[::7] = 0.0
    assert_same_fit(BlasSVC(C=2).fit(x, y, sample_weight=weights), SVC(C=2).fit(x, y, sample_weight=weights))
