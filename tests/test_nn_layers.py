"""The NumPy layers: the pure functions' one shape, finite-difference gradient checks, shapes,
dropout, initialisers."""

import numpy as np
import pytest

from mnistlab.core.errors import MnistlabError
from mnistlab.nn import init
from mnistlab.nn.gradcheck import (
    LAYER_TOL,
    NETWORK_TOL,
    check_layer,
    check_loss,
    check_model,
    numerical_gradient_array,
    rel_error,
    small_network,
)
from mnistlab.nn.layers import (
    Dropout,
    Flatten,
    Layer,
    Linear,
    PatchEmbedding,
    ReLU,
    ShapeError,
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
    linear_backward,
    linear_forward,
    patch_embed_backward,
    patch_embed_forward,
    relu_backward,
    relu_forward,
)
from mnistlab.nn.losses import SoftmaxCrossEntropy, one_hot
from mnistlab.nn.model import build_mlp, load_network

SEEDS = range(5)


def shapes(seed):
    """Random small sizes (batch, features, outputs) for one test case."""
    return np.random.default_rng(100 + seed).integers(1, 9, size=3)


def assert_within(errors, tol=LAYER_TOL):
    assert errors and all(err < tol for err in errors.values()), errors


#: name -> (forward of the differentiable arguments, backward, shapes of those arguments)
PURE = {
    "linear": (linear_forward, linear_backward, [(4, 5), (5, 3), (3,)]),
    "relu": (relu_forward, relu_backward, [(4, 5)]),
    "patch_embed": (
        lambda x, W, b: patch_embed_forward(x, W, b, 2),
        patch_embed_backward,
        [(2, 3, 4, 6), (5, 3, 2, 2), (5,)],
    ),
    "dropout": (lambda x: dropout_forward(x, 0.4, np.random.default_rng(7)), dropout_backward, [(4, 5)]),
    "flatten": (flatten_forward, flatten_backward, [(2, 3, 4)]),
}


@pytest.mark.parametrize("name", PURE)
def test_pure_functions_share_one_shape(name):
    """``out, cache = f_forward(*args)``; ``f_backward(dout, cache)`` gives one gradient per arg."""
    forward, backward, arg_shapes = PURE[name]
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(shape) for shape in arg_shapes]
    out, cache = forward(*args)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(args)
    for arg, grad in zip(args, grads, strict=True):
        assert grad.shape == arg.shape and grad.dtype == np.float64
        numeric = numerical_gradient_array(lambda: forward(*args)[0], arg, dout)
        assert rel_error(grad, numeric) < LAYER_TOL, name


def test_pure_functions_keep_float32_and_skip_dx():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    W, b = np.ones((2, 1, 2, 2), np.float32), np.zeros(2, np.float32)
    out, cache = patch_embed_forward(x, W, b, 2)
    assert out.shape == (3, 2, 2, 2) and out.dtype == np.float32
    dx, dW, db = patch_embed_backward(np.ones_like(out), cache, need_dx=False)
    assert dx is None and dW.dtype == db.dtype == np.float32
    out, cache = linear_forward(x.reshape(3, 16), np.ones((16, 2), np.float32), b)
    assert out.dtype == np.float32 and linear_backward(out, cache, need_dx=False)[0] is None
    assert dropout_forward(x, 0.5, rng, training=False)[0] is x
    with pytest.raises(ValueError, match=r"expected \(K, C, 4, 4\)"):
        patch_embed_forward(x, W, b, 4)


def test_layer_protocol_is_abstract():
    with pytest.raises(TypeError):
        Layer()

    class ForwardOnly(Layer):
        def forward(self, x, training=True):
            return x

    with pytest.raises(TypeError, match="backward"):
        ForwardOnly()


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_gradients(seed):
    rng = np.random.default_rng(seed)
    n, d, m = shapes(seed)
    assert_within(check_layer(Linear(d, m, rng=rng), rng.standard_normal((n, d)), seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_relu_gradients(seed):
    rng = np.random.default_rng(seed)
    n, d, m = shapes(seed)
    assert_within(check_layer(ReLU(), rng.standard_normal((n, d, m)), seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_patch_embedding_gradients(seed):
    rng = np.random.default_rng(seed)
    n, c, k = shapes(seed)
    p = int(rng.integers(1, 4))
    h, w = p * int(rng.integers(1, 4)), p * int(rng.integers(1, 4))
    layer = PatchEmbedding(p, k, in_channels=min(c, 3), rng=rng)
    errors = check_layer(layer, rng.standard_normal((min(n, 3), min(c, 3), h, w)), seed=seed)
    assert set(errors) == {"x", "W", "b"}
    assert_within(errors)


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_gradients_in_training(seed):
    rng = np.random.default_rng(seed)
    n, d, _ = shapes(seed)
    assert_within(check_layer(Dropout(0.4, rng=rng), rng.standard_normal((n, d)), seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_flatten_gradients(seed):
    rng = np.random.default_rng(seed)
    assert_within(check_layer(Flatten(), rng.standard_normal(tuple(shapes(seed)) + (2,)), seed=seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_loss_gradients_labels_and_one_hot(seed):
    rng = np.random.default_rng(seed)
    n, _, _ = shapes(seed)
    labels = rng.integers(0, 10, size=n)
    logits = rng.standard_normal((n, 10))
    assert_within(check_loss(SoftmaxCrossEntropy(), logits, labels))
    assert_within(check_loss(SoftmaxCrossEntropy(), logits, one_hot(labels, 10, np.float64)))


@pytest.mark.parametrize("seed", range(3))
def test_whole_network_gradients(seed):
    rng = np.random.default_rng(seed)
    errors = check_model(small_network(rng), rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 10, 4))
    assert set(errors) == {"x", "0.W", "0.b", "3.W", "3.b", "6.W", "6.b"}
    assert_within(errors, NETWORK_TOL)


class WrongLinear(Linear):
    """A Linear layer whose bias gradient forgets to sum over the batch (uses the first row)."""

    def backward(self, grad_out, input_grad=True):
        dx = super().backward(grad_out, input_grad)
        self.grads["b"] += grad_out[0] - grad_out.sum(axis=0)
        return dx


class WrongReLU(ReLU):
    """A ReLU that lets the gradient through where the input was negative."""

    def backward(self, grad_out, input_grad=True):
        return grad_out


def test_checker_catches_wrong_backward():
    rng = np.random.default_rng(0)
    errors = check_layer(WrongLinear(5, 4, rng=rng), rng.standard_normal((6, 5)))
    assert errors["b"] > 1e-2 and errors["W"] < LAYER_TOL
    assert check_layer(WrongReLU(), rng.standard_normal((6, 5)))["x"] > 1e-2


def test_rel_error_definition():
    assert rel_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert rel_error(np.array([2.0]), np.array([1.0])) == pytest.approx(1 / 3)


def test_backward_accumulates_until_zero_grad():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng=rng)
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(g)
    once = layer.grads["W"].copy()
    layer.backward(g)
    np.testing.assert_allclose(layer.grads["W"], 2 * once, rtol=1e-6)
    layer.zero_grad()
    assert not layer.grads["W"].any() and not layer.grads["b"].any()
    assert layer.backward(g, input_grad=False) is None


def test_patch_embedding_backward_accumulates():
    rng = np.random.default_rng(0)
    layer = PatchEmbedding(2, 3, rng=rng)
    out = layer.forward(rng.standard_normal((2, 1, 4, 4)).astype(np.float32))
    layer.backward(np.ones_like(out))
    once = {key: grad.copy() for key, grad in layer.grads.items()}
    layer.backward(np.ones_like(out))
    for key, grad in layer.grads.items():
        np.testing.assert_allclose(grad, 2 * once[key], rtol=1e-6)


def test_load_network_round_trip(tmp_path):
    model = build_mlp([8], rng=np.random.default_rng(0), embedding=True, dropout=0.3)
    model.save(tmp_path / "m.npz")
    loaded = load_network(tmp_path / "m.npz")
    images = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
    with pytest.raises(MnistlabError, match="not found"):
        load_network(tmp_path / "missing.npz")


def test_shape_errors_name_layer_and_shapes():
    with pytest.raises(ShapeError, match=r"Linear: input has shape \(2, 5\), expected \(N, 4\)"):
        Linear(4, 3).forward(np.zeros((2, 5), np.float32))
    layer = Linear(4, 3)
    layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match=r"gradient has shape \(2, 4\), expected \(2, 3\)"):
        layer.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(ShapeError, match="not multiples of the patch size 4"):
        PatchEmbedding(4, 8).forward(np.zeros((1, 1, 10, 12), np.float32))
    with pytest.raises(ShapeError, match=r"PatchEmbedding: input has shape \(1, 3, 8, 8\)"):
        PatchEmbedding(4, 8).forward(np.zeros((1, 3, 8, 8), np.float32))
    model = build_mlp([8], rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"layer 2 \(Linear\): input has shape \(2, 9\)"):
        model.layers[2].forward(np.zeros((2, 9), np.float32))
    with pytest.raises(MnistlabError, match="SoftmaxCrossEntropy"):
        SoftmaxCrossEntropy().forward(np.zeros((3, 10)), np.zeros(4, int))
    assert issubclass(ShapeError, MnistlabError)


def test_patch_embedding_shapes():
    layer = PatchEmbedding(4, 8, rng=np.random.default_rng(0))
    out = layer.forward(np.zeros((5, 1, 28, 28), np.float32))
    assert out.shape == (5, 8, 7, 7) and layer.params["W"].shape == (8, 1, 4, 4)
    assert layer.backward(np.ones_like(out)).shape == (5, 1, 28, 28)


def test_dropout_is_inverted_and_identity_in_evaluation():
    x = np.ones((200, 500), np.float32)
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    out = layer.forward(x)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(layer.backward(x), out)  # same mask on the way back
    assert layer.forward(x, training=False) is x
    with pytest.raises(MnistlabError, match="drop_prob"):
        Dropout(1.0)


def test_he_init_variance():
    rng = np.random.default_rng(0)
    W = Linear(784, 512, init="he", rng=rng).params["W"]
    assert W.dtype == np.float32 and abs(W.mean()) < 1e-3
    assert W.var() == pytest.approx(2 / 784, rel=0.02)
    conv = init.he_normal((256, 8, 4, 4), rng)  # 32,768 draws: the variance estimate is within 0.8%
    assert conv.var() == pytest.approx(2 / 128, rel=0.03)


def test_random_and_xavier_init():
    rng = np.random.default_rng(0)
    W = Linear(784, 512, init="random", rng=rng, random_std=0.01).params["W"]
    assert W.std() == pytest.approx(0.01, rel=0.02)
    X = init.xavier_uniform((300, 200), rng)
    limit = np.sqrt(6 / 500)
    assert np.abs(X).max() <= limit and X.var() == pytest.approx(limit**2 / 3, rel=0.03)
    with pytest.raises(MnistlabError, match="init = 'zeros'"):
        init.initialize("zeros", (2, 2), rng)


def test_same_seed_same_weights():
    a = build_mlp([16], init="he", rng=np.random.default_rng(3), embedding=True, dropout=0.2)
    b = build_mlp([16], init="he", rng=np.random.default_rng(3), embedding=True, dropout=0.2)
    c = build_mlp([16], init="he", rng=np.random.default_rng(4), embedding=True, dropout=0.2)
    for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key])
            if key == "W":
                assert not np.array_equal(la.params[key], lc.params[key])


@pytest.mark.parametrize("labels", [np.array([0, -1]), np.array([0, 10]), np.array([0.0, 1.0])])
def test_loss_rejects_labels_outside_the_classes(labels):
    with pytest.raises(ShapeError, match=r"labels must be integers in \[0, 10\)"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 10)), labels)
