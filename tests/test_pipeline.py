"""End to end: the DVC pipeline on the repo's real sample, in a throwaway copy of the repository
(the ``workspace`` and ``baseline`` fixtures of conftest.py)."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from support.browser import check_plots_page
from support.workspace import run


@pytest.mark.slow
def test_pipeline_runs_offline_on_the_sample(workspace, baseline):
    root, _, _ = workspace
    assert "Running stage 'download'" in baseline and "Running stage 'evaluate'" in baseline
    metrics = json.loads((root / "metrics" / "test.json").read_text())
    assert metrics["svm_pixels"]["accuracy"] > 0.85  # chance is 0.10
    for name, values in metrics.items():
        assert values["accuracy"] > 0.3, name
    source = json.loads((root / "data" / "raw" / "source.json").read_text())
    assert "sample" in json.dumps(source)


@pytest.mark.slow
def test_plots_page_draws_every_plot_offline(workspace, baseline):
    """`dvc plots show` on the pipeline's own outputs, rendered in headless Chromium: a chart for
    every plot of dvc.yaml, no "failed to load" notice, no request outside the file system."""
    root, env, _ = workspace
    check_plots_page(root, run(["dvc", "plots", "show"], root, env))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the pipeline's output folders, by path, with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes()
            for folder in ("models", "metrics", "plots", "data", "reports") if (root / folder).exists()
            for path in sorted((root / folder).rglob("*")) if path.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["svm.C=-1", "gabor.kernel_size=4", "prepare.val_size=1.0"])
def test_a_bad_value_stops_before_anything_is_removed(workspace, baseline, bad, tmp_path):
    # in a copy of the workspace: DVC keeps a failed run's -S values and would carry them into the
    # experiments queued later by other tests
    root, env = tmp_path / "repo", workspace.env
    shutil.copytree(workspace.root, root, symlinks=True)
    before = snapshot(root)
    result = subprocess.run(["dvc", "exp", "run", "-S", bad], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    key = bad.split("=")[0]
    assert f"{key} = " in result.stdout + result.stderr
    assert "Running stage 'validate'" in result.stdout and "Running stage 'download'" not in result.stdout
    run(["git", "checkout", "params.yaml"], root, env)
    assert snapshot(root) == before


@pytest.mark.slow
def test_queued_sweep_runs_both_experiments_and_only_what_changed(workspace, baseline):
    """The sweep of docs/threads-and-sweeps.md: queue two values of svm.C up to the evaluate stage,
    run the queue two at a time with one thread each, compare. Each experiment re-runs only the
    stages that read the SVMs, and its metrics differ from the baseline's in quality figures only
    (no timing rows)."""
    root, env, _ = workspace
    # start from the committed baseline: earlier tests may leave files changed in the workspace
    run(["git", "checkout", "--", "."], root, env)
    run(["dvc", "checkout", "--force"], root, env)
    # up to the test predictions, as the sweeps of docs/results.md
    run(["dvc", "exp", "run", "--queue", "-S", "svm.C=1,10", "evaluate"], root, env)
    # two at a time, one thread each (docs/threads-and-sweeps.md)
    run(["dvc", "queue", "start", "-j", "2"], root, dict(env, MNISTLAB_THREADS="1"))
    deadline = time.monotonic() + 300
    while True:
        status = run(["dvc", "queue", "status"], root, env)
        if not any(word in status for word in ("Queued", "Running")):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"the queue did not finish within 300 s:\n{status}")
        time.sleep(3)
    rows = [line.split() for line in status.splitlines() if "Success" in line or "Failed" in line]
    logs = {row[1]: run(["dvc", "queue", "logs", row[0]], root, env) for row in rows}  # name: log
    assert len(logs) == 2, status
    if "Failed" in status:
        tails = "\n".join(log[-3000:] for log in logs.values())
        pytest.fail(f"a queued experiment failed:\n{status}\n{tails}")
    # validate checks the changed params file; compare, robustness, claims and report read the SVMs'
    # results
    allowed = {"validate", "train_svm@pixels", "train_svm@gabor", "evaluate", "compare", "robustness",
               "claims", "report"}
    for name, log in logs.items():
        ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
        assert "train_svm@pixels" in ran and ran <= allowed, (name, ran)
        diff = json.loads(run(["dvc", "exp", "diff", name, "--json"], root, env))
        changed = {key.rsplit(".", 1)[-1] for key in diff["metrics"]["metrics/test.json"]}
        assert changed and changed <= {"accuracy", "macro_f1", "log_loss", "ece"}, (name, changed)
    table = json.loads(run(["dvc", "exp", "show", "--json"], root, env))
    found = {}
    for baseline_row in table:
        for exp in baseline_row.get("experiments") or []:
            for revision in exp.get("revs", []):
                data = revision.get("data", {})
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                c_value = params.get("svm", {}).get("C")
                metrics = data.get("metrics", {}).get("metrics/test.json", {}).get("data", {})
                if c_value in (1, 10) and metrics:
                    found[c_value] = metrics["svm_pixels"]["accuracy"]
    assert set(found) == {1, 10}, table
    assert all(accuracy > 0.85 for accuracy in found.values())
