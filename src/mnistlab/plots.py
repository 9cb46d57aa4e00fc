"""Matplotlib figures of the pipeline (PNG, written atomically under ``plots/images/``).

Every function takes arrays, draws one figure and saves it with :func:`save_figure`; none reads
params or files, so each can be tested on small synthetic inputs.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI

import matplotlib.pyplot as plt  # noqa: E402

from mnistlab.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 110) -> None:
    """Save ``fig`` as PNG to ``path`` atomically, then close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
