"""The NumPy layers, loss and optimizers against PyTorch autograd and torch.optim, in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mnistlab.nn.layers import Dropout, Flatten, Linear, PatchEmbedding, ReLU
from mnistlab.nn.losses import SoftmaxCrossEntropy, cross_entropy_backward, cross_entropy_forward, one_hot
from mnistlab.nn.model import Sequential
from mnistlab.nn.optim import SGD, Adam, step_decay

TOL = dict(rtol=1e-10, atol=1e-12)


def t(array, grad=False):
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def compare(layer, x, torch_fn, torch_params):
    """Same input and upstream gradient through ``layer`` and ``torch_fn``; compare everything."""
    layer.astype(np.float64)
    out = layer.forward(x)
    grad_out = np.random.default_rng(1).standard_normal(out.shape)
    layer.zero_grad()
    dx = layer.backward(grad_out)
    xt = t(x, grad=True)
    out_t = torch_fn(xt)
    out_t.backward(t(grad_out))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    for key, (param_t, to_ours) in torch_params.items():
        np.testing.assert_allclose(layer.grads[key], to_ours(param_t.grad.numpy()), **TOL)


@pytest.mark.parametrize("shape", [(1, 3, 2), (7, 20, 10), (32, 784, 16)])
def test_linear_matches_torch(shape):
    n, d, m = shape
    rng = np.random.default_rng(n)
    layer = Linear(d, m, rng=rng)
    layer.params["b"] = rng.standard_normal(m)
    W, b = t(layer.params["W"].T, grad=True), t(layer.params["b"], grad=True)
    compare(layer, rng.standard_normal((n, d)), lambda x: F.linear(x, W, b),
            {"W": (W, lambda g: g.T), "b": (b, lambda g: g)})


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 4)])
def test_relu_matches_torch(shape):
    compare(ReLU(), np.random.default_rng(0).standard_normal(shape), torch.relu, {})


@pytest.mark.parametrize(
    "n, c, size, p, k", [(2, 1, 28, 4, 8), (3, 2, 6, 2, 5), (1, 3, 4, 1, 2), (2, 1, 8, 8, 3)]
)
def test_patch_embedding_matches_conv2d(n, c, size, p, k):
    rng = np.random.default_rng(size)
    layer = PatchEmbedding(p, k, in_channels=c, rng=rng)
    layer.params["b"] = rng.standard_normal(k)
    W, b = t(layer.params["W"], grad=True), t(layer.params["b"], grad=True)
    compare(layer, rng.standard_normal((n, c, size, size)), lambda x: F.conv2d(x, W, b, stride=p),
            {"W": (W, lambda g: g), "b": (b, lambda g: g)})


def test_flatten_matches_torch():
    compare(Flatten(), np.random.default_rng(0).standard_normal((3, 2, 4, 5)), lambda x: x.flatten(1), {})


def test_dropout_matches_torch_semantics():
    x = np.random.default_rng(0).standard_normal((50, 40)) + 3.0
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    out = layer.forward(x)
    mask = out / x  # 0 or 1 / 0.7, as torch.nn.functional.dropout
    torch.manual_seed(0)
    ref = F.dropout(t(x), p=0.3, training=True).numpy() / x
    assert set(np.round(np.unique(mask), 9)) == set(np.round(np.unique(ref), 9)) == {0.0, round(1 / 0.7, 9)}
    same_masks = Dropout(0.3, rng=np.random.default_rng(0))
    compare(same_masks, x, lambda xt: xt * t(mask), {})  # the gradient is the same mask
    np.testing.assert_array_equal(layer.forward(x, training=False), F.dropout(t(x), 0.3, training=False))


@pytest.mark.parametrize("n", [1, 5, 64])
def test_loss_matches_cross_entropy(n):
    rng = np.random.default_rng(n)
    logits, labels = 4 * rng.standard_normal((n, 10)), rng.integers(0, 10, n)
    for target, target_t in ((labels, torch.tensor(labels)), (one_hot(labels, 10, np.float64), None)):
        target_t = t(target) if target_t is None else target_t
        loss = SoftmaxCrossEntropy()
        value = loss.forward(logits, target)
        logits_t = t(logits, grad=True)
        ref = F.cross_entropy(logits_t, target_t)
        ref.backward()
        assert value == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(loss.backward(), logits_t.grad.numpy(), **TOL)


def test_pure_cross_entropy_takes_the_upstream_gradient():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    value, cache = cross_entropy_forward(logits, labels)
    logits_t = t(logits, grad=True)
    ref = F.cross_entropy(logits_t, torch.tensor(labels))
    (2.5 * ref).backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(cross_entropy_backward(2.5, cache), logits_t.grad.numpy(), **TOL)


def test_loss_is_stable_for_huge_logits():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.array([[1000.0, 0.0, -1000.0]]), np.array([0]))
    assert value == 0.0 and np.isfinite(loss.backward()).all()


def twin_networks(seed=0):
    """A NumPy 6-5-4 ReLU network in float64 and a torch copy with the same weights."""
    rng = np.random.default_rng(seed)
    ours = Sequential([Linear(6, 5, rng=rng), ReLU(), Linear(5, 4, rng=rng)], input_shape=(6,))
    ours.astype(np.float64)
    for layer in ours.layers[::2]:
        layer.params["b"] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4)).double()
    with torch.no_grad():
        for mine, lin in zip(ours.layers[::2], theirs[::2], strict=True):
            lin.weight.copy_(torch.from_numpy(mine.params["W"].T))
            lin.bias.copy_(torch.from_numpy(mine.params["b"]))
    return ours, theirs


def run_trajectories(make_ours, make_theirs, steps=20):
    ours, theirs = twin_networks()
    optimizer, optimizer_t = make_ours(ours.layers), make_theirs(theirs)
    loss, rng = SoftmaxCrossEntropy(), np.random.default_rng(1)
    for _ in range(steps):
        x, y = rng.standard_normal((8, 6)), rng.integers(0, 4, 8)
        optimizer.zero_grad()
        loss.forward(ours.forward(x), y)
        ours.backward(loss.backward())
        optimizer.step()
        optimizer_t.zero_grad()
        F.cross_entropy(theirs(t(x)), torch.tensor(y)).backward()
        optimizer_t.step()
        for mine, lin in zip(ours.layers[::2], theirs[::2], strict=True):
            np.testing.assert_allclose(mine.params["W"], lin.weight.detach().numpy().T, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(mine.params["b"], lin.bias.detach().numpy(), rtol=1e-9, atol=1e-12)
    return ours


def groups(net, weight_decay):
    """torch param groups with weight decay on the weights only, as our optimizers do."""
    weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in net if isinstance(m, torch.nn.Linear)]
    return [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}]


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.9, 0.05)])
def test_sgd_trajectory_matches_torch(momentum, weight_decay):
    run_trajectories(
        lambda layers: SGD(layers, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        lambda net: torch.optim.SGD(groups(net, weight_decay), lr=0.1, momentum=momentum),
    )


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_trajectory_matches_torch(weight_decay):
    run_trajectories(
        lambda layers: Adam(layers, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay),
        lambda net: torch.optim.Adam(groups(net, weight_decay), lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    )


def test_weight_decay_spares_biases():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    layer.params["b"][:] = 1.0
    SGD([layer, ReLU()], lr=0.5, weight_decay=0.1).step()  # all gradients are 0
    np.testing.assert_array_equal(layer.params["b"], 1.0)
    assert layer.params["W"] == pytest.approx(Linear(3, 2, rng=np.random.default_rng(0)).params["W"] * 0.95)


def test_step_decay_matches_steplr():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.8)
    for epoch in range(17):
        assert step_decay(0.1, epoch, 0.8, 5) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
        optimizer.step()
        scheduler.step()
