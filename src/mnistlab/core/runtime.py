"""Runtime settings of a stage process: the number of BLAS, OpenMP and PyTorch threads.

One setting, the environment variable ``MNISTLAB_THREADS`` (a positive integer), read when a stage
starts; unset, a stage uses every core it may run on (``os.sched_getaffinity``). It is not a
param, so changing it re-runs nothing. Two experiments run side by side with
``dvc queue start -j 2`` on a 2-core machine should each get one thread
(``MNISTLAB_THREADS=1 dvc queue start -j 2``), or they fight over the cores.

Thread count and reproducibility: NumPy's matrix products and PyTorch's CPU kernels split their
sums across threads, so another thread count may round differently (README, "Reproducibility").
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from mnistlab.core.errors import MnistlabError, exit_on_user_error

F = TypeVar("F", bound=Callable[..., object])
THREADS_ENV = "MNISTLAB_THREADS"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_count() -> int:
    """Threads per stage: ``$MNISTLAB_THREADS``, or the number of usable cores.

    Raises
    ------
    MnistlabError
        If ``MNISTLAB_THREADS`` is set but not a positive integer.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise MnistlabError(f"{THREADS_ENV}={value!r}: expected a positive integer (threads per stage)")
    return int(value)


def limit_threads(n: int | None = None) -> int:
    """Use ``n`` threads (default :func:`thread_count`) in BLAS, OpenMP and PyTorch; returns ``n``.

    Libraries already loaded are limited with threadpoolctl and ``torch.set_num_threads``; the
    ``OMP_NUM_THREADS`` family of variables covers those loaded later in the process.
    """
    n = thread_count() if n is None else n
    for name in _THREAD_VARS:
        os.environ[name] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n


def stage(func: F) -> F:
    """Decorate a stage's ``main``: threads limited first, user errors as one line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        limit_threads()
        return func(*args, **kwargs)

    return exit_on_user_error(wrapper)  # type: ignore[return-value]
