"""Softmax cross-entropy, the loss of every classifier in the project.

In the shape of :mod:`mnistlab.nn.layers`: pure ``loss, cache = cross_entropy_forward(logits, y)``
and ``dlogits = cross_entropy_backward(dloss, cache)``, and the thin class
:class:`SoftmaxCrossEntropy` that validates its inputs and keeps the cache. Formulas: subtract the
row max, log-sum-exp, mean over the batch; ``dlogits = (softmax - onehot) / N`` (CS231n
``softmax_loss``; Bishop 2006, "Pattern Recognition and Machine Learning", eq. 4.109).
"""

from __future__ import annotations

import numpy as np

from mnistlab.nn.layers import ShapeError


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax``, stable: subtract the row max, then log-sum-exp.

    Parameters
    ----------
    logits : ndarray of shape (N, K)

    Returns
    -------
    ndarray of shape (N, K), same dtype
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (N, K) -> (N, K), rows summing to 1; stable for large logits."""
    return np.exp(log_softmax(logits))


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels (N,) -> one-hot rows (N, n_classes) of ``dtype``."""
    out = np.zeros((len(labels), n_classes), dtype=dtype)
    out[np.arange(len(labels)), labels] = 1
    return out


def cross_entropy_forward(logits: np.ndarray, y: np.ndarray) -> tuple[float, tuple]:
    """Mean over the batch of ``-sum_k y_k log softmax(logits)_k`` (natural log).

    Parameters
    ----------
    logits : ndarray of shape (N, K), float32 or float64
    y : ndarray of shape (N,), integers in [0, K), or of shape (N, K), target rows
        Not validated here (:meth:`SoftmaxCrossEntropy.forward` does).

    Returns
    -------
    loss : float
    cache : tuple (log_softmax(logits), y)
        For :func:`cross_entropy_backward`.
    """
    logp = log_softmax(logits)
    n = logits.shape[0]
    if y.ndim == 1:
        loss = -logp[np.arange(n), y].sum() / n
    else:
        loss = -(logp * y).sum() / n
    return float(loss), (logp, y)


def cross_entropy_backward(dloss: float, cache: tuple) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to the logits.

    ``(softmax(logits) - y) / N`` for labels or target rows summing to 1; for general target rows
    ``(softmax(logits) * sum_k y_k - y) / N``.

    Parameters
    ----------
    dloss : float
        Upstream gradient of the loss (1.0 when it is the objective).
    cache : tuple
        From :func:`cross_entropy_forward`.

    Returns
    -------
    dlogits : ndarray of shape (N, K), the dtype of the logits
    """
    logp, y = cache
    n = logp.shape[0]
    grad = np.exp(logp)
    if y.ndim == 1:
        grad[np.arange(n), y] -= 1
    else:  # targets rows may not sum to 1: d/dz of -sum(y log p) is p * sum(y) - y
        grad = grad * y.sum(axis=1, keepdims=True) - y
    grad /= n
    if dloss != 1.0:
        grad *= dloss
    return grad


class SoftmaxCrossEntropy:
    """Mean cross-entropy of the softmax of ``logits`` against the targets.

    ``forward(logits, y)`` with ``y`` integer labels of shape (N,) or target distributions
    (one-hot rows) of shape (N, K) returns the loss and keeps the cache of
    :func:`cross_entropy_forward`; ``backward()`` returns dlogits of shape (N, K),
    ``(softmax(logits) - targets) / N`` for target rows summing to 1.
    """

    name = "SoftmaxCrossEntropy"

    def __init__(self) -> None:
        self.cache: tuple | None = None

    def forward(self, logits: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over the batch.

        Parameters
        ----------
        logits : ndarray of shape (N, K)
        y : ndarray of shape (N,) integer in [0, K), or of shape (N, K) rows of probabilities

        Returns
        -------
        float
            Natural-log cross-entropy averaged over the N samples.

        Raises
        ------
        ShapeError
            If the shapes of ``logits`` and ``y`` do not match, or integer labels are not
            integers in [0, K).
        """
        if logits.ndim != 2 or len(y) != logits.shape[0] or (y.ndim == 2 and y.shape != logits.shape):
            raise ShapeError(
                f"{self.name}: logits of shape {logits.shape} and targets of shape {y.shape} do not "
                "match; expected (N, K) with (N,) labels or (N, K) one-hot targets"
            )
        if y.ndim == 1 and y.size and (
            not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= logits.shape[1]
        ):
            raise ShapeError(
                f"{self.name}: labels must be integers in [0, {logits.shape[1]}), got dtype {y.dtype} "
                f"with values {y.min()}..{y.max()}"
            )
        loss, self.cache = cross_entropy_forward(logits, y)
        return loss

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss with respect to the logits, shape (N, K), dtype of the logits.

        Raises
        ------
        RuntimeError
            If called before :meth:`forward`.
        """
        if self.cache is None:
            raise RuntimeError(f"{self.name}: backward called before forward")
        return cross_entropy_backward(1.0, self.cache)
