"""Optimizers with the update rules of ``torch.optim`` (so their trajectories can be compared):
SGD with optional momentum, Adam with bias correction, L2 weight decay on the weights ``W`` only,
and a step decay of the learning rate.

An optimizer holds the list of layers, its hyperparameters in ``hyper`` and per-parameter state in
``state[(layer index, key)]``; only :meth:`step` changes parameters and state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from mnistlab.core.errors import MnistlabError

#: parameters that get weight decay; biases ("b") never do
DECAYED = ("W",)


class Optimizer:
    """Base class: parameter iteration, ``lr`` property, ``zero_grad``, weight decay."""

    def __init__(self, layers: Sequence, lr: float, weight_decay: float = 0.0) -> None:
        if not lr > 0:
            raise MnistlabError(f"lr = {lr}: the learning rate must be positive")
        if not weight_decay >= 0:
            raise MnistlabError(f"weight_decay = {weight_decay}: must be >= 0")
        self.layers = list(layers)
        self.hyper: dict[str, float] = {"lr": lr, "weight_decay": weight_decay}
        self.state: dict[tuple[int, str], dict] = {}
        self._buffers: dict[tuple[int, str], np.ndarray] = {}

    @property
    def lr(self) -> float:
        """The current learning rate (set by the schedule between epochs)."""
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.hyper["lr"] = value

    def parameters(self) -> Iterator[tuple[tuple[int, str], np.ndarray, np.ndarray]]:
        """Yield ``((layer index, key), param, grad)`` for every parameter of every layer."""
        for i, layer in enumerate(self.layers):
            for key, param in layer.params.items():
                yield (i, key), param, layer.grads[key]

    def _scratch(self, key: tuple[int, str], param: np.ndarray) -> np.ndarray:
        """A reusable work array shaped like ``param`` (no allocation per step)."""
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape != param.shape or buffer.dtype != param.dtype:
            buffer = self._buffers[key] = np.empty_like(param)
        return buffer

    def zero_grad(self) -> None:
        """Reset every layer's gradients to 0."""
        for layer in self.layers:
            layer.zero_grad()

    def _decayed(self, key: tuple[int, str], param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``grad + weight_decay * param`` for weights (L2 penalty ``wd/2 ||W||^2``), else ``grad``."""
        wd = self.hyper["weight_decay"]
        if wd and key[1] in DECAYED:
            return grad + wd * param
        return grad

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional (heavy-ball) momentum, as ``torch.optim.SGD``
    (dampening 0, no Nesterov): ``v = momentum * v + g``, ``p -= lr * v`` (Sutskever et al. 2013,
    "On the importance of initialization and momentum in deep learning", ICML).

    Parameters
    ----------
    layers : sequence of layers
        Objects with ``params``/``grads`` dicts (empty for layers without parameters).
    lr : float
        Learning rate.
    momentum : float in [0, 1)
    weight_decay : float
        L2 coefficient added to the gradients of weights ``W`` (not biases).
    """

    def __init__(self, layers: Sequence, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(layers, lr, weight_decay)
        if not 0.0 <= momentum < 1.0:
            raise MnistlabError(f"momentum = {momentum}: expected a value in [0, 1)")
        self.hyper["momentum"] = momentum

    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        lr, momentum = self.hyper["lr"], self.hyper["momentum"]
        for key, param, grad in self.parameters():
            grad = self._decayed(key, param, grad)
            if momentum:
                state = self.state.get(key)
                if state is None:
                    state = self.state[key] = {"velocity": grad.copy()}
                else:
                    state["velocity"] *= momentum
                    state["velocity"] += grad
                grad = state["velocity"]
            param -= np.multiply(grad, lr, out=self._scratch(key, param))


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015, "Adam: a method for stochastic optimization",
    ICLR, Algorithm 1), in the arithmetic order of ``torch.optim.Adam``::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
        p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    Parameters
    ----------
    layers : sequence of layers
    lr : float
    betas : tuple of two floats in [0, 1)
    eps : float
    weight_decay : float
        L2 coefficient added to the gradients of weights ``W`` (as torch's Adam, not AdamW).
    """

    def __init__(
        self,
        layers: Sequence,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(layers, lr, weight_decay)
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise MnistlabError(f"betas = {tuple(betas)}: expected two values in [0, 1)")
        if not eps > 0:
            raise MnistlabError(f"eps = {eps}: must be positive")
        self.hyper.update(beta1=betas[0], beta2=betas[1], eps=eps)

    def step(self) -> None:
        """Update every parameter in place from its gradient."""
        lr, b1, b2, eps = (self.hyper[k] for k in ("lr", "beta1", "beta2", "eps"))
        for key, param, grad in self.parameters():
            grad = self._decayed(key, param, grad)
            state = self.state.get(key)
            if state is None:
                state = self.state[key] = {"m": np.zeros_like(param), "v": np.zeros_like(param), "t": 0}
            m, v, scratch = state["m"], state["v"], self._scratch(key, param)
            state["t"] += 1
            t = state["t"]
            m *= b1
            m += np.multiply(grad, 1.0 - b1, out=scratch)
            v *= b2
            np.multiply(grad, grad, out=scratch)
            scratch *= 1.0 - b2
            v += scratch
            # torch: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); the same with the
            # constants folded: p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps sqrt(1 - b2^t))
            root_bc2 = np.sqrt(1.0 - b2**t)
            np.sqrt(v, out=scratch)
            scratch += eps * root_bc2
            np.divide(m, scratch, out=scratch)
            scratch *= lr * root_bc2 / (1.0 - b1**t)
            param -= scratch


def step_decay(base_lr: float, epoch: int, gamma: float, every: int) -> float:
    """Learning rate of ``epoch`` (0-based) under step decay: ``base_lr * gamma ** (epoch // every)``.

    The schedule of ``torch.optim.lr_scheduler.StepLR(step_size=every, gamma=gamma)``; e.g. x0.8
    every 5 epochs.
    """
    return base_lr * gamma ** (epoch // every)
