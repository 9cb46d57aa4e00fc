"""scikit-learn's rules for the two feature steps, GaborFeatures and PixelFeatures.

``check_estimator`` passes except the checks that fit on a few random columns, which the fixed
28x28 input rules out (listed below with reasons; each is shown to fail on the image shape alone);
the same properties are then checked here on 28x28 images. Bad input raises one line of
:class:`InputError`, both a MnistlabError and a ValueError, in fit and in transform alike.
"""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted

from mnistlab.core.errors import InputError, MnistlabError, exit_on_user_error
from mnistlab.features.gabor import GaborFeatures
from mnistlab.features.pixels import N_PIXELS, PixelFeatures, check_images

#: What every shape message says.
SHAPES = "expected (N, 28, 28) or (N, 784)"


def fits(n: int, k: int, then: str = "") -> str:
    """The reason a check cannot pass: it fits (or transforms) random data of shape (n, k)."""
    return f"uses random data of shape ({n}, {k}), refused: the input is 28x28 images (784 features){then}"


UNCHANGED = "test_fit_changes_no_parameter_and_transform_no_state"
#: Checks of scikit-learn 1.9 that the fixed image size rules out, and why; each property is checked
#: on 28x28 images by the test named in brackets.
FIXED_SIZE = {
    "check_fit_score_takes_y": fits(30, 3, " [test_fit_takes_y_and_fit_transform_is_fit_then_transform]"),
    "check_estimators_overwrite_params": fits(21, 2, f" [{UNCHANGED}]"),
    "check_dont_overwrite_parameters": fits(20, 3, f" [{UNCHANGED}]"),
    "check_estimators_fit_returns_self": fits(21, 2, " [test_fit_returns_self_and_sets_n_features_in]"),
    "check_readonly_memmap_input": fits(21, 2, " [test_every_input_form_gives_the_same_features]"),
    "check_n_features_in_after_fitting": fits(15, 4, " [test_fit_returns_self_and_sets_n_features_in]"),
    "check_positive_only_tag_during_fit": fits(150, 4, "; the shape is refused before the negative "
                                               "values are seen [test_bad_input_is_one_line]"),
    "check_estimators_dtypes": fits(20, 5, " [test_every_input_form_gives_the_same_features]"),
    "check_dtype_object": fits(56, 10, " [test_every_input_form_gives_the_same_features]"),
    "check_pipeline_consistency": fits(30, 3, " [test_refit_clone_pickle_and_pipeline_agree]"),
    "check_estimators_nan_inf": fits(10, 3, "; NaN and inf are refused in 28x28 images "
                                     "[test_bad_input_is_one_line]"),
    "check_estimators_pickle": fits(30, 3, " [test_refit_clone_pickle_and_pipeline_agree]"),
    "check_f_contiguous_array_estimator": fits(20, 3, " [test_every_input_form_gives_the_same_features]"),
    "check_transformer_data_not_an_array": fits(30, 3, " [test_every_input_form_gives_the_same_features]"),
    "check_transformer_general": fits(30, 3, " [test_fit_takes_y_and_fit_transform_is_fit_then_transform]"),
    "check_transformer_preserve_dtypes": fits(30, 3, " [test_fit_takes_y_and_fit_transform_is_fit_then_"
                                              "transform]"),
    "check_methods_sample_order_invariance": fits(20, 3, " [test_order_and_subsets_change_nothing]"),
    "check_methods_subset_invariance": fits(20, 3, " [test_order_and_subsets_change_nothing]"),
    "check_fit2d_1sample": fits(1, 10, " [test_one_image_and_one_dimensional_input]"),
    "check_fit2d_1feature": fits(10, 1, " [test_bad_input_is_one_line]"),
    "check_dict_unchanged": fits(20, 3, f" [{UNCHANGED}]"),
    "check_fit_idempotent": fits(80, 2, " [test_refit_clone_pickle_and_pipeline_agree]"),
    "check_fit_check_is_fitted": fits(100, 2, " [test_fit_returns_self_and_sets_n_features_in]"),
    "check_n_features_in": fits(100, 2, " [test_fit_returns_self_and_sets_n_features_in]"),
    "check_fit2d_predict1d": fits(20, 3, " [test_one_image_and_one_dimensional_input]"),
}
EXPECTED_FAILED_CHECKS = {
    "GaborFeatures": FIXED_SIZE,
    "PixelFeatures": {  # stateless: transform without fit is checked instead of the unfitted error
        **FIXED_SIZE,
        "check_transformers_unfitted_stateless": fits(20, 5, " [test_fit_returns_self_and_sets_n_features_"
                                                      "in]"),
    },
}
#: Checks of input handling that pass, for both.
MUST_PASS = {
    "check_estimators_empty_data_messages", "check_complex_data", "check_fit1d", "check_fit_non_negative",
    "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_no_attributes_set_in_init", "check_parameters_default_constructible", "check_set_params",
}

ESTIMATORS = {
    "GaborFeatures": lambda: GaborFeatures(pca_components=5, standardize=True),
    "PixelFeatures": lambda: PixelFeatures(14),
}


def images(n: int = 12, seed: int = 0) -> np.ndarray:
    """``n`` random images, float32 (n, 28, 28) in [0, 1)."""
    return np.random.default_rng(seed).random((n, 28, 28), dtype=np.float32)


def exception_text(error: BaseException | None) -> str:
    """The messages of an exception and of the exceptions it was raised from."""
    texts = []
    while error is not None:
        texts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return " <- ".join(texts)


# -- scikit-learn's own checks -----------------------------------------------------------------------


@pytest.mark.parametrize("estimator", [GaborFeatures(), PixelFeatures()], ids=lambda e: type(e).__name__)
def test_check_estimator_passes_but_for_the_fixed_image_size(estimator):
    expected = EXPECTED_FAILED_CHECKS[type(estimator).__name__]
    results = check_estimator(estimator, expected_failed_checks=expected, on_skip=None, on_fail=None)
    by_status: dict[str, set[str]] = {}
    for result in results:
        by_status.setdefault(result["status"], set()).add(result["check_name"])
    failed = [f"{r['check_name']}: {exception_text(r['exception'])}"
              for r in results if r["status"] == "failed"]
    assert not failed, failed
    assert by_status["xfail"] == set(expected)  # every listed check runs and fails: none is stale
    for result in results:
        if result["status"] == "xfail":  # ... and fails on the image shape, nothing else
            assert SHAPES in exception_text(result["exception"]), (result["check_name"], result["exception"])
    assert MUST_PASS <= by_status["passed"]
    assert by_status.get("skipped", set()) <= {"check_array_api_input"}  # needs SCIPY_ARRAY_API


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_tags_declare_the_input(make):
    tags = get_tags(make())
    assert tags.input_tags.two_d_array and tags.input_tags.three_d_array
    assert tags.input_tags.positive_only and not tags.input_tags.allow_nan and not tags.input_tags.sparse
    assert tags.transformer_tags.preserves_dtype == ["float32"]
    assert tags.requires_fit == isinstance(make(), GaborFeatures)


# -- the fixed-size checks, on 28x28 images ---------------------------------------------------------


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_fit_returns_self_and_sets_n_features_in(make):
    x = images()
    estimator = make()
    assert not hasattr(estimator, "n_features_in_")
    if get_tags(estimator).requires_fit:
        with pytest.raises(NotFittedError):
            estimator.transform(x)
    else:  # stateless: transform needs no fit
        assert estimator.transform(x).shape[0] == len(x)
    assert estimator.fit(x) is estimator
    check_is_fitted(estimator)
    assert estimator.n_features_in_ == N_PIXELS == 784
    assert make().fit(x.reshape(len(x), -1)).n_features_in_ == 784
    with pytest.raises(ValueError, match=r"shape \(12, 783\), expected \(N, 28, 28\) or \(N, 784\)"):
        estimator.transform(x.reshape(len(x), -1)[:, 1:])


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_fit_changes_no_parameter_and_transform_no_state(make):
    estimator = make()
    params = joblib.hash(estimator.get_params())
    estimator.fit(images())
    assert joblib.hash(estimator.get_params()) == params
    public = {key for key in vars(estimator) if not key.endswith("_")}
    assert public == set(estimator.get_params())  # fit adds only fitted_ attributes
    state = joblib.hash(vars(estimator))
    estimator.transform(images(5, seed=1))
    assert joblib.hash(vars(estimator)) == state


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_fit_takes_y_and_fit_transform_is_fit_then_transform(make):
    x, y = images(), np.arange(12) % 10
    out = make().fit_transform(x, y)
    again = make().fit(x, y).transform(x)
    assert out.dtype == again.dtype == np.float32 and out.shape == again.shape and len(out) == len(x)
    np.testing.assert_allclose(out, again, rtol=1e-5, atol=1e-6)
    assert make().fit(x).transform(x.astype(np.float64)).dtype == np.float32


# torch warns once about the read-only memmap (mnistlab.features.filters hands it to torch.from_numpy,
# which only reads it)
@pytest.mark.filterwarnings("ignore:The given NumPy array is not writable")
@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_every_input_form_gives_the_same_features(make, tmp_path):
    x = images()
    estimator = make().fit(x)
    reference = estimator.transform(x)
    flat = x.reshape(len(x), -1)
    readonly = np.memmap(tmp_path / "x.dat", np.float32, "w+", shape=x.shape)
    readonly[:] = x
    readonly.flush()
    forms = {
        "float64": x.astype(np.float64),
        "flattened": flat,
        "fortran": np.asfortranarray(flat),
        "read-only memmap": np.memmap(tmp_path / "x.dat", np.float32, "r", shape=x.shape),
        "list": x.tolist(),
        "object": x.astype(object),
    }
    for name, form in forms.items():
        np.testing.assert_allclose(estimator.transform(form), reference, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(make().fit(form).transform(x), reference, rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    binary = x > 0.5  # bool and integer images of 0 and 1 are images in [0, 1] too
    expected = estimator.transform(binary.astype(np.float32))
    for form in (binary, binary.astype(np.uint8), binary.astype(np.int64)):
        np.testing.assert_array_equal(estimator.transform(form), expected)


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_order_and_subsets_change_nothing(make):
    x = images(20)
    estimator = make().fit(x)
    out = estimator.transform(x)
    order = np.random.default_rng(1).permutation(len(x))
    np.testing.assert_allclose(estimator.transform(x[order]), out[order], rtol=1e-5, atol=1e-6)
    parts = np.concatenate([estimator.transform(part) for part in np.array_split(x, 3)])
    np.testing.assert_allclose(parts, out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_refit_clone_pickle_and_pipeline_agree(make):
    x = images()
    estimator = make().fit(x)
    out = estimator.transform(x)
    refit = make().fit(images(30, seed=2)).fit(x)  # a second fit forgets the first
    np.testing.assert_array_equal(refit.transform(x), out)
    np.testing.assert_array_equal(clone(estimator).fit(x).transform(x), out)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(estimator)).transform(x), out)
    np.testing.assert_allclose(Pipeline([("features", make())]).fit_transform(x), out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_one_image_and_one_dimensional_input(make):
    x = images()
    estimator = make().fit(x)
    with pytest.raises(InputError, match=r"shape \(28, 28\), expected .*: image\[None\]"):
        estimator.transform(x[0])
    with pytest.raises(InputError, match=r"shape \(784,\), expected .*: image.reshape\(1, 784\)"):
        estimator.transform(x[0].ravel())
    np.testing.assert_allclose(estimator.transform(x[:1]), estimator.transform(x)[:1], rtol=1e-5, atol=1e-6)
    single = make()
    if isinstance(single, GaborFeatures):
        single.set_params(pca_components=None)
    assert single.fit(x[:1]).transform(x).shape[0] == len(x)  # one training image is enough without PCA
    assert make().fit(x).transform(x[:0]).shape == (0, estimator.transform(x).shape[1])


# -- bad input ---------------------------------------------------------------------------------------


def with_pixel(value, x: np.ndarray | None = None) -> np.ndarray:
    """Four random images with one pixel set to ``value``."""
    x = images(4) if x is None else x
    x[1, 3, 5] = value
    return x


BAD_INPUT = {
    "0..255": (with_pixel(255, (images(4) * 255).astype(np.uint8)), "pixel values up to 255, expected "
               "values in [0, 1] (divide 0..255 images by 255, as mnistlab.data.prepare.scale does)"),
    "nan": (with_pixel(np.nan), "1 NaN pixel value(s); expected finite values in [0, 1]"),
    "inf": (with_pixel(np.inf), "1 infinite (inf) pixel value(s); expected finite values in [0, 1]"),
    "-inf": (with_pixel(-np.inf), "1 infinite (inf) pixel value(s)"),
    "negative": (with_pixel(-0.5), "Negative values in data (minimum -0.5); expected pixel values in [0, 1]"),
    "above 1": (with_pixel(1.5), "pixel values up to 1.5, expected values in [0, 1] (divide 0..255 images"),
    "30x30": (np.zeros((4, 30, 30), np.float32), f"shape (4, 30, 30), {SHAPES}"),
    "900 columns": (np.zeros((4, 900), np.float32), f"shape (4, 900), {SHAPES}"),
    "channel axis": (np.zeros((4, 1, 28, 28), np.float32), f"shape (4, 1, 28, 28), {SHAPES}"),
    "1 column": (np.zeros((10, 1), np.float32), f"shape (10, 1), {SHAPES}"),
    "0 columns": (np.zeros((12, 0), np.float32),
                  f"0 feature(s) (shape=(12, 0)) while a minimum of 784 is required; {SHAPES}"),
    "scalar": (np.float32(0.5), f"shape (), {SHAPES}"),
    "sparse": (sparse.csr_matrix(np.zeros((4, 784), np.float32)),
               "a sparse csr_matrix: sparse input is not supported; expected a dense array of shape "
               "(N, 28, 28) or (N, 784)"),
    "complex": (images(4) + 0j, "dtype complex64: Complex data not supported; expected real pixel values"),
    "strings": (np.full((4, 784), "a"), "dtype <U1, not numbers (could not convert string to float"),
    "ragged": ([[0.0] * 784, [0.0] * 783], "not an array of shape (N, 28, 28) or (N, 784)"),
}


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
@pytest.mark.parametrize(("x", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line(make, x, message):
    name = type(make()).__name__
    fitted = make().fit(images())
    for method, call in (("fit", make().fit), ("transform", fitted.transform)):
        with pytest.raises(InputError) as error:
            call(x)
        text = str(error.value)
        assert isinstance(error.value, ValueError) and isinstance(error.value, MnistlabError)
        assert text.startswith(f"images given to {name}.{method}: ") and message in text, text
        assert "\n" not in text


@pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())
def test_no_images_to_fit(make):
    name = type(make()).__name__
    for shape in ((0, 28, 28), (0, 784)):
        with pytest.raises(InputError) as error:
            make().fit(np.zeros(shape, np.float32))
        message = f"images given to {name}.fit: no images (shape {shape}); at least one is needed"
        assert str(error.value) == message


def test_a_stage_prints_bad_images_as_one_line(capsys):
    @exit_on_user_error
    def main():
        GaborFeatures().fit(with_pixel(255, (images(4) * 255).astype(np.uint8)))

    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: images given to GaborFeatures.fit: pixel values up to 255, expected values")


def test_check_images_copies_nothing_from_float32():
    x = images(5)
    assert np.shares_memory(check_images(x), x)
    assert np.shares_memory(check_images(x.reshape(5, -1)), x)
    assert check_images(x).shape == (5, 28, 28) and check_images(x.reshape(5, -1)).shape == (5, 28, 28)
    assert check_images(x.astype(np.float64)).dtype == np.float32
    assert check_images(np.ones((2, 784), np.uint8)).dtype == np.float32
