"""User-facing errors and the one place that turns them into a one-line message."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class MnistlabError(Exception):
    """A mistake in the user's input (params, files, images): shown as one line, exit code 2."""


def exit_on_user_error(func: F) -> F:
    """Wrap a stage or CLI ``main`` so a :class:`MnistlabError` prints one line and exits with 2.

    Programming errors still raise with a full traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MnistlabError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]
