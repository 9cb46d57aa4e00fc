"""Sharing an experiment through remotes, offline (issue 14, item 3).

A bare Git repository stands in for the Git server and a local folder for the DVC remote (the
``workspace`` fixture of conftest.py, clone A). Clone A has run the small experiment ``BASELINE``
on the sample (the ``baseline`` fixture) and pushes it (Git refs, cached outputs and run-cache);
clone B clones the Git remote, pulls the experiment, finds it in ``dvc exp show``, applies it,
pulls its outputs, and ``dvc repro`` there runs no stage. Nothing here names a stage, so it
follows the pipeline as it changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.workspace import BASELINE, run


def locked_outputs(root: Path) -> list[str]:
    """Every output path recorded in dvc.lock."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return [out["path"] for stage in lock["stages"].values() for out in stage.get("outs", [])]


def experiment_names(table: list[dict]) -> set[str]:
    """Names of the experiments in ``dvc exp show --json`` output."""
    return {exp.get("name") for row in table for exp in row.get("experiments") or []}


@pytest.mark.slow
def test_experiment_shared_through_git_and_dvc_remotes_reruns_nothing(workspace, baseline, tmp_path):
    a, env, origin = workspace
    assert "Running stage" in baseline
    run(["dvc", "exp", "push", "--run-cache", "origin", BASELINE], a, env)
    run(["dvc", "push", "--run-cache"], a, env)

    b = tmp_path / "b"
    run(["git", "clone", "-q", str(origin), str(b)], tmp_path, env)
    assert [p.name for p in (b / "models").glob("*") if p.name != ".gitignore"] == []  # not in Git
    run(["dvc", "exp", "pull", "--run-cache", "origin", BASELINE], b, env)
    table = json.loads(run(["dvc", "exp", "show", "--json"], b, env))
    assert BASELINE in experiment_names(table), table
    run(["dvc", "exp", "apply", BASELINE], b, env)
    run(["dvc", "pull"], b, env)

    outputs = locked_outputs(b)
    models = [path for path in outputs if path.startswith("models")]
    assert models, outputs
    for path in outputs:
        assert (b / path).exists(), f"{path} missing after dvc pull"
    baseline_params = run(["git", "show", "HEAD:params.yaml"], a, env)  # A's HEAD: the baseline commit
    assert (b / "params.yaml").read_text() == baseline_params

    again = run(["dvc", "repro"], b, env)
    ran = [line for line in again.splitlines() if line.startswith("Running stage")]
    assert not ran, again
    status = run(["dvc", "status"], b, env)
    assert "up to date" in status, status
