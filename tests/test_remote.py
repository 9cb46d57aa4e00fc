"""Sharing an experiment through remotes, offline (issue 14, item 3).

A bare Git repository stands in for the Git server and a local folder for the DVC remote. Clone A
(the repository's files, as tests/test_pipeline.py builds its workspace) runs a small experiment on
the sample and pushes it (Git refs, cached outputs and run-cache); clone B clones the Git remote,
pulls the experiment, finds it in ``dvc exp show``, applies it, pulls its outputs, and
``dvc repro`` there runs no stage. Nothing here names a stage, so it follows the pipeline as it
changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "shared-small"
try:  # the pipeline test's small sizes, so both tests run the same experiment
    from test_pipeline import SMALL
except ImportError:
    SMALL = ["data.source=sample", "prepare.val_size=300", "prepare.train_size=1500",
             "prepare.test_size=500", "mlp.epochs=1", "torch.epochs=1", "torch.models.cnn.epochs=1",
             "gabor.pca_components=40", "evaluate.embedding_samples=200"]


def run(args: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def git_env() -> dict:
    return dict(os.environ, GIT_AUTHOR_NAME="ci", GIT_AUTHOR_EMAIL="ci@example.org",
                GIT_COMMITTER_NAME="ci", GIT_COMMITTER_EMAIL="ci@example.org", DVC_NO_ANALYTICS="1",
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def copy_tracked_files(root: Path) -> None:
    """What a clone of this checkout would hold: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)


def locked_outputs(root: Path) -> list[str]:
    """Every output path recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]


def experiment_names(table: list[dict]) -> set[str]:
    """Names of the experiments in ``dvc exp show --json`` output."""
    return {exp.get("name") for row in table for exp in row.get("experiments") or []}


@pytest.mark.slow
def test_experiment_shared_through_git_and_dvc_remotes_reruns_nothing(tmp_path):
    env = git_env()
    origin, storage, a, b = (tmp_path / name for name in ("origin.git", "storage", "a", "b"))
    storage.mkdir()
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)

    copy_tracked_files(a)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "snapshot"],
                    ["dvc", "remote", "add", "-d", "storage", str(storage)],
                    ["git", "commit", "-qam", "DVC remote"],
                    ["git", "remote", "add", "origin", str(origin)], ["git", "push", "-q", "origin", "main"]):
        run(command, a, env)

    output = run(["dvc", "exp", "run", "-n", EXPERIMENT, *(arg for s in SMALL for arg in ("-S", s))], a, env)
    assert "Running stage" in output
    run(["dvc", "exp", "push", "--run-cache", "origin", EXPERIMENT], a, env)
    run(["dvc", "push", "--run-cache"], a, env)

    run(["git", "clone", "-q", str(origin), str(b)], tmp_path, env)
    assert [p.name for p in (b / "models").glob("*") if p.name != ".gitignore"] == []  # not in Git
    run(["dvc", "exp", "pull", "--run-cache", "origin", EXPERIMENT], b, env)
    table = json.loads(run(["dvc", "exp", "show", "--json"], b, env))
    assert EXPERIMENT in experiment_names(table), table
    run(["dvc", "exp", "apply", EXPERIMENT], b, env)
    run(["dvc", "pull"], b, env)

    outputs = locked_outputs(b)
    models = [path for path in outputs if path.startswith("models")]
    assert models, outputs
    for path in outputs:
        assert (b / path).exists(), f"{path} missing after dvc pull"
    assert (b / "params.yaml").read_text() == (a / "params.yaml").read_text()

    again = run(["dvc", "repro"], b, env)
    ran = [line for line in again.splitlines() if line.startswith("Running stage")]
    assert not ran, again
    status = run(["dvc", "status"], b, env)
    assert "up to date" in status, status
