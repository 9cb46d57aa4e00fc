"""User-facing errors and the one place that turns them into a one-line message.

Exit codes of a stage or command: 2 for a :class:`MnistlabError` (one line ``error: ...``), 130 for
Ctrl-C (one line ``interrupted``; 130 = 128 + SIGINT, the status a shell reports for a program
stopped by Ctrl-C). Ctrl-C raises ``KeyboardInterrupt`` wherever the program is, so every
``finally`` runs: files being written through :func:`mnistlab.core.io.atomic_path` are removed
and no half-written output is left under its final name.

Importing this module also makes an *uncaught* ``KeyboardInterrupt`` (Ctrl-C while a stage script
is still importing its libraries, before its ``main`` runs) print the same one line instead of a
traceback; Python then ends the process by SIGINT, which a shell reports as 130 too. The hook is
installed only over Python's default one (an interactive shell such as IPython keeps its own), and
every other exception goes on to the default hook.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

EXIT_USER_ERROR = 2
#: 128 + signal.SIGINT (2): what a shell reports for a program stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


class MnistlabError(Exception):
    """A mistake in the user's input (params, files, images): shown as one line, exit code 2."""


class InputError(MnistlabError, ValueError):
    """Bad data or settings given to a scikit-learn-style estimator (images of the wrong shape,
    NaN, pixels outside [0, 1], ...).

    Both a :class:`MnistlabError` (one line, exit code 2 in stages and the CLI) and a
    ``ValueError``, the type scikit-learn's rules ask of estimators for bad input
    (``sklearn.utils.estimator_checks``).
    """


def exit_on_user_error(func: F) -> F:
    """Wrap a stage or CLI ``main``: a :class:`MnistlabError` prints one line and exits with 2,
    Ctrl-C prints ``interrupted`` and exits with 130.

    Programming errors still raise with a full traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MnistlabError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def _quiet_interrupt_hook(kind, value, traceback) -> None:
    """``sys.excepthook``: an uncaught ``KeyboardInterrupt`` prints ``interrupted``; Python then
    ends the process by SIGINT. Any other exception goes to Python's default hook."""
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return
    sys.__excepthook__(kind, value, traceback)


if sys.excepthook is sys.__excepthook__:
    sys.excepthook = _quiet_interrupt_hook
