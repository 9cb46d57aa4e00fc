"""A throwaway copy of this repository, as a clone would hold it, for the end-to-end tests and the
benchmarks (benchmarks/pipeline.py and benchmarks/queue_parallel.py import it as
``support.workspace``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from support.paths import REPO

# Small sizes of the sample pipeline: one run of every stage takes two to three minutes here.
SMALL = ["data.source=sample", "prepare.val_size=300", "prepare.train_size=1500", "prepare.test_size=500",
         "mlp.epochs=1", "torch.epochs=1", "torch.models.cnn.epochs=1", "gabor.pca_components=40",
         "report.embedding_samples=200", "robustness.test_size=200", "compare.n_resamples=200"]

BASELINE = "baseline-small"  # the experiment name of that run in the end-to-end tests


def clone_env(dest: Path) -> dict[str, str]:
    """The environment of every git/DVC call in the copy at ``dest``: this interpreter first on
    PATH, a git identity, no analytics, and ``PYTHONPATH`` set to the copy's ``src`` (the editable
    install would otherwise import this checkout's package, which may change while the copy runs)."""
    return dict(os.environ, GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.org",
                GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.org", DVC_NO_ANALYTICS="1",
                PYTHONUNBUFFERED="1", PYTHONPATH=str(dest / "src"),
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def copy_clone(dest: Path) -> Path:
    """Copy what a clone of this checkout would hold (tracked files, and untracked ones git does
    not ignore) into ``dest``; return ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


class Workspace(NamedTuple):
    """A copy of this repository committed on ``main``, with a bare Git remote ``origin`` and a
    local-path DVC remote (the default, ``storage``), as a team member's clone would have."""

    root: Path
    env: dict
    origin: Path


def run(args: list[str], cwd: Path, env: dict, timeout: float = 900) -> str:
    """Run a command in the workspace; fail the test with its output if it fails."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr
