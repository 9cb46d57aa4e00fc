"""Finite-difference gradient checking, after CS231n ``gradient_check.py``.

Centred differences ``(f(x + h) - f(x - h)) / 2h`` in float64, each entry restored after use, and
the relative error ``max |a - n| / max(1e-8, |a| + |n|)`` taken entry by entry (CS231n
``rel_error``). In float64 a correct layer gives about 1e-10 or less; a wrong one 1e-2 or more.

Also the ``mnistlab gradcheck`` command: it checks every layer, the loss and a whole small network
and exits with 1 when any error is above the tolerance.

Limits of the check: the float64 rounding of ``f`` gives the numerical gradient an absolute error
of about 1e-11, so an entry much smaller than the others (1e-5 of them) can show a relative
error near 1e-7 with a correct backward pass; and in a network, a ReLU input within ``h`` of 0
makes the difference straddle the kink. Both are rare on random inputs and vanish with another
seed, while a wrong backward pass fails every seed with errors of 1e-3 to 1.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import numpy as np

from mnistlab.nn.layers import Dropout, Flatten, Layer, Linear, PatchEmbedding, ReLU
from mnistlab.nn.losses import SoftmaxCrossEntropy
from mnistlab.nn.model import Sequential

LAYER_TOL = 1e-7
NETWORK_TOL = 1e-5


def rel_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """Largest entrywise relative error ``|a - n| / max(floor, |a| + |n|)``.

    CS231n's ``rel_error`` uses a fixed floor of 1e-8. Here the floor is also at least 1e-3 of
    the gradient's largest entry, so an entry a thousand times smaller than its neighbours is
    judged by its absolute error at the gradient's scale. Otherwise the float64 rounding noise of
    the finite differences (about 1e-11) shows up as a spurious relative error of 1e-5 or more on
    tiny entries of correct gradients.
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: {analytic.shape} and {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    floor = max(1e-8, 1e-3 * scale)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(floor, np.abs(analytic) + np.abs(numeric))))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function by centred differences.

    Parameters
    ----------
    f : callable
        ``f()`` -> float, reading ``x`` (which is perturbed in place, then restored).
    x : ndarray, float64
    h : float
        Step.

    Returns
    -------
    ndarray of the shape of ``x``
    """
    return numerical_gradient_array(f, x, np.float64(1.0), h)


def numerical_gradient_array(
    f: Callable[[], np.ndarray], x: np.ndarray, grad_out: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f() * grad_out)`` with respect to ``x``, by centred differences.

    The output difference is taken before the product with ``grad_out`` (CS231n
    ``eval_numerical_gradient_array``), which keeps rounding errors small.

    Parameters
    ----------
    f : callable
        ``f()`` -> ndarray of the shape of ``grad_out``, reading ``x`` (perturbed in place, restored).
    x : ndarray, float64
    grad_out : ndarray
        Upstream gradient.
    h : float

    Returns
    -------
    ndarray of the shape of ``x``
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = np.array(f(), dtype=np.float64)
        x[ix] = old - h
        minus = np.array(f(), dtype=np.float64)
        x[ix] = old
        grad[ix] = np.sum((plus - minus) * grad_out) / (2 * h)
    return grad


def _freeze_randomness(layers: list[Layer]) -> Callable[[], None]:
    """Return a function that rewinds every layer's random generator (same dropout masks)."""
    rngs = [layer.rng for layer in layers if hasattr(layer, "rng")]
    states = [(rng, copy.deepcopy(rng.bit_generator.state)) for rng in rngs]

    def rewind() -> None:
        for rng, state in states:
            rng.bit_generator.state = copy.deepcopy(state)

    return rewind


def check_layer(
    layer: Layer,
    x: np.ndarray,
    grad_out: np.ndarray | None = None,
    h: float = 1e-5,
    training: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Compare a layer's backward pass with finite differences, in float64.

    The layer is copied and cast to float64 (``layer`` itself is untouched); a random generator
    (dropout) is rewound before every forward pass so the function being differentiated is fixed.

    Parameters
    ----------
    layer : Layer
    x : ndarray
        Input batch, cast to float64.
    grad_out : ndarray, optional
        Upstream gradient of the output's shape; standard normal (seeded by ``seed``) when None.
    h : float
        Finite-difference step.
    training : bool
        Mode of the forward pass.
    seed : int

    Returns
    -------
    dict of str to float
        Relative error of the input gradient (``"x"``) and of each parameter gradient (``"W"``,
        ``"b"``).
    """
    layer = copy.deepcopy(layer).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    rewind = _freeze_randomness([layer])

    def forward() -> np.ndarray:
        rewind()
        return layer.forward(x, training=training)

    out = forward()
    if grad_out is None:
        grad_out = np.random.default_rng(seed).standard_normal(out.shape)
    layer.zero_grad()
    analytic = {"x": layer.backward(np.asarray(grad_out, np.float64))}
    analytic.update({key: grad.copy() for key, grad in layer.grads.items()})
    numeric = {"x": numerical_gradient_array(forward, x, grad_out, h)}
    for key, param in layer.params.items():
        numeric[key] = numerical_gradient_array(forward, param, grad_out, h)
    return {key: rel_error(analytic[key], numeric[key]) for key in analytic}


def check_loss(
    loss: SoftmaxCrossEntropy, logits: np.ndarray, y: np.ndarray, h: float = 1e-5
) -> dict[str, float]:
    """Relative error of the loss gradient with respect to the logits (key ``"logits"``), float64."""
    logits = np.array(logits, dtype=np.float64)
    loss.forward(logits, y)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(logits, y), logits, h)
    return {"logits": rel_error(analytic, numeric)}


def check_model(
    model: Sequential, x: np.ndarray, y: np.ndarray, h: float = 1e-5, training: bool = True
) -> dict[str, float]:
    """Check the gradients of a whole network with its softmax cross-entropy loss, in float64.

    Parameters
    ----------
    model : Sequential
        Copied and cast to float64.
    x : ndarray of shape (N, *input_shape)
    y : ndarray of shape (N,), integer labels

    Returns
    -------
    dict of str to float
        ``"x"`` and ``"<layer index>.<key>"`` (e.g. ``"0.W"``) -> relative error.
    """
    model = copy.deepcopy(model).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    loss = SoftmaxCrossEntropy()
    rewind = _freeze_randomness(model.layers)

    def f() -> float:
        rewind()
        return loss.forward(model.forward(x, training=training), y)

    f()
    model.zero_grad()
    analytic = {"x": model.backward(loss.backward(), input_grad=True)}
    numeric = {"x": numerical_gradient(f, x, h)}
    for i, layer in enumerate(model.layers):
        for key, param in layer.params.items():
            analytic[f"{i}.{key}"] = layer.grads[key].copy()
            numeric[f"{i}.{key}"] = numerical_gradient(f, param, h)
    return {key: rel_error(analytic[key], numeric[key]) for key in analytic}


def small_network(rng: np.random.Generator) -> Sequential:
    """A network with every layer type: PatchEmbedding(2, 4) on 1x8x8 -> ReLU -> Flatten ->
    Linear(64, 16) -> ReLU -> Dropout(0.3) -> Linear(16, 10)."""
    layers = [
        PatchEmbedding(2, 4, 1, rng=rng),
        ReLU(),
        Flatten(),
        Linear(64, 16, rng=rng),
        ReLU(),
        Dropout(0.3, rng=rng),
        Linear(16, 10, rng=rng),
    ]
    return Sequential(layers, input_shape=(1, 8, 8))


def run_checks(seed: int = 0, h: float = 1e-5) -> list[tuple[str, str, float, float]]:
    """Check every layer, the loss and :func:`small_network` on random float64 inputs.

    Returns
    -------
    list of (what, gradient, relative error, tolerance)
    """
    rng = np.random.default_rng(seed)
    cases = [
        ("Linear(20, 10) on (8, 20)", Linear(20, 10, rng=rng), (8, 20)),
        ("ReLU on (8, 20)", ReLU(), (8, 20)),
        ("PatchEmbedding(4, 8) on (2, 1, 12, 12)", PatchEmbedding(4, 8, 1, rng=rng), (2, 1, 12, 12)),
        ("PatchEmbedding(2, 3) on (2, 2, 6, 4)", PatchEmbedding(2, 3, 2, rng=rng), (2, 2, 6, 4)),
        ("Dropout(0.5) on (8, 20), training", Dropout(0.5, rng=rng), (8, 20)),
        ("Flatten on (4, 2, 3, 3)", Flatten(), (4, 2, 3, 3)),
    ]
    rows = []
    for what, layer, shape in cases:
        for key, err in check_layer(layer, rng.standard_normal(shape), h=h, seed=seed).items():
            rows.append((what, key, err, LAYER_TOL))
    labels = rng.integers(0, 10, size=8)
    for key, err in check_loss(SoftmaxCrossEntropy(), rng.standard_normal((8, 10)), labels, h=h).items():
        rows.append(("SoftmaxCrossEntropy on (8, 10)", key, err, LAYER_TOL))
    net = small_network(rng)
    x, y = rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 10, size=4)
    for key, err in check_model(net, x, y, h=h).items():
        rows.append(("whole network (every layer + loss)", key, err, NETWORK_TOL))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mnistlab gradcheck``."""
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights")
    parser.add_argument("--step", type=float, default=1e-5, help="finite-difference step h (default 1e-5)")


def run(args: argparse.Namespace) -> int:
    """Print every relative error; return 0 when all are within tolerance, else 1."""
    rows = run_checks(seed=args.seed, h=args.step)
    width = max(len(what) for what, *_ in rows)
    print(f"{'layer':<{width}}  {'gradient':<8}  {'rel_error':>9}  {'tolerance':>9}")
    failed = 0
    for what, key, err, tol in rows:
        ok = err <= tol
        failed += not ok
        print(f"{what:<{width}}  {key:<8}  {err:9.2e}  {tol:9.0e}  {'ok' if ok else 'FAIL'}")
    if failed:
        print(f"{failed} gradient(s) above tolerance")
        print(
            "(a lone failure in the whole network can be a ReLU input within h of 0, where the finite "
            "difference crosses the kink: try another --seed; a wrong backward fails on every seed)"
        )
        return 1
    print(f"all {len(rows)} gradients within tolerance")
    return 0
