"""Reliability: Ctrl-C, curve folders written whole, validate's device check and its message about a
rejected ``-S`` value, one DVC run per workspace, one-line CLI errors, and the recovery commands of
docs/recovery.md (the last two against real DVC in throwaway copies: marked slow)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml
from support.params import write_params
from support.paths import REPO
from support.workspace import SMALL, clone_env, copy_clone, run

from mnistlab.cli.main import check_output
from mnistlab.cli.main import main as cli_main
from mnistlab.core import runtime
from mnistlab.core.curves import CurveLogger, remove_partial
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_csv, write_json
from mnistlab.evidence import sweep
from mnistlab.evidence.sweep import UnreadableExperiment, runs_from_rows

PYTHON = sys.executable
SAMPLE_PARAMS = {"data": {"source": "sample"}, "prepare": {"train_limit": None}}


def python(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def load_validate():
    spec = importlib.util.spec_from_file_location("validate_stage", REPO / "stages" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- Ctrl-C ------------------------------------------------------------------------------------------

def test_ctrl_c_in_a_stage_is_one_line_exit_130_and_leaves_no_file(tmp_path):
    code = f"""
import os, signal
from mnistlab.core.io import atomic_path
from mnistlab.core.runtime import stage

@stage
def main():
    with atomic_path({str(tmp_path / "out.json")!r}) as tmp:
        tmp.write_text("half")
        os.kill(os.getpid(), signal.SIGINT)

main()
"""
    result = python(code, tmp_path)
    assert (result.returncode, result.stderr) == (130, "interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither out.json nor its temporary


def test_ctrl_c_while_importing_is_one_line_too(tmp_path):
    result = python("import os, signal, time, mnistlab.core.errors\nos.kill(os.getpid(), signal.SIGINT)\n"
                    "time.sleep(30)\n", tmp_path)
    assert result.stderr == "interrupted\n"
    assert result.returncode == -signal.SIGINT  # Python ends by SIGINT: a shell shows 130


def test_ctrl_c_in_a_command_is_one_line_exit_130(monkeypatch, capsys, tmp_path):
    from mnistlab.evidence import claims

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(claims, "read_compare", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli_main(["claims", "--out", str(tmp_path / "claims.md")])
    assert exited.value.code == 130 and capsys.readouterr().err == "interrupted\n"
    assert not (tmp_path / "claims.md").exists()


# -- curve folders -----------------------------------------------------------------------------------

def log_points(folder, steps=(100, 200, 300)):
    with CurveLogger(folder) as curves:
        for step in steps:
            curves.add_batch(0.5 / step, 60, 64)
            curves.point(step, 1.0 / step, 1 - 0.1 / step)


def test_curves_are_dvclive_files_byte_for_byte(tmp_path):
    from dvclive import Live

    live = Live(str(tmp_path / "dvclive"), dvcyaml=False, save_dvc_exp=False)
    curves = CurveLogger(tmp_path / "ours")
    for step, val_loss in [(100, 0.5), (200, float("nan")), (250, 0.25)]:
        curves.add_batch(0.7, 50, 64)
        metrics = curves.point(step, val_loss, 0.9)
        live.step = step
        for name, value in metrics.items():
            live.log_metric(name, value, timestamp=False)
    live.end()
    curves.close()
    assert tree(tmp_path / "ours") == tree(tmp_path / "dvclive")
    loss = (tmp_path / "ours/plots/metrics/val/loss.tsv").read_text()
    assert loss == "step\tloss\n100\t0.5\n200\tnan\n250\t0.25\n"
    assert json.loads((tmp_path / "ours/metrics.json").read_text())["step"] == 250


def test_a_curve_folder_is_replaced_whole(tmp_path):
    folder = tmp_path / "plots/curves/m"
    (folder / "plots/metrics/val").mkdir(parents=True)
    (folder / "plots/metrics/val/old.tsv").write_text("step\told\n1\t1\n")
    log_points(folder)
    names = ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "val/error")
    assert set(tree(folder)) == {"metrics.json", *(f"plots/metrics/{name}.tsv" for name in names)}
    assert [p.name for p in folder.parent.iterdir()] == ["m"]  # no hidden folder left beside it


def test_failed_or_interrupted_training_writes_no_curve(tmp_path):
    folder = tmp_path / "m"
    log_points(folder)
    before = tree(folder)
    for error in (RuntimeError("diverged"), KeyboardInterrupt()):
        with pytest.raises(type(error)), CurveLogger(folder) as curves:
            curves.add_batch(0.1, 1, 2)
            curves.point(5, 0.1, 0.5)
            raise error
        assert tree(folder) == before and [p.name for p in tmp_path.iterdir()] == ["m"]
    with pytest.raises(RuntimeError), CurveLogger(tmp_path / "new"):
        raise RuntimeError
    assert not (tmp_path / "new").exists()


def test_a_killed_writer_leaves_only_a_hidden_folder_that_the_next_one_removes(tmp_path):
    code = f"""
import os, signal
from mnistlab.core import curves
curves._replace_folder = lambda new, folder: os.kill(os.getpid(), signal.SIGKILL)  # killed before the rename
with curves.CurveLogger({str(tmp_path / "m")!r}) as logger:
    logger.add_batch(0.1, 1, 2)
    logger.point(1, 0.1, 0.5)
"""
    assert python(code, tmp_path).returncode == -signal.SIGKILL
    leftovers = list(tmp_path.iterdir())
    assert not (tmp_path / "m").exists()
    assert len(leftovers) == 1
    assert leftovers[0].name.startswith(".m.") and leftovers[0].name.endswith(".partial")
    assert (leftovers[0] / "plots/metrics/val/error.tsv").is_file()
    log_points(tmp_path / "m")  # the next logger of the folder cleans up
    assert [p.name for p in tmp_path.iterdir()] == ["m"] and remove_partial(tmp_path / "m") == []


# -- validate: the device, and where a rejected value is -------------------------------------------

def test_validate_refuses_cuda_without_a_device(tmp_path, monkeypatch, capsys):
    import torch

    validate = load_validate()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv(validate.EXP_ENV, raising=False)
    path = write_params(tmp_path, {**SAMPLE_PARAMS, "torch": {"device": "cuda"}})
    with pytest.raises(SystemExit) as exited:
        validate.main([str(path), str(tmp_path / "validated")])
    message = capsys.readouterr().err
    assert exited.value.code == 2 and message.count("\n") == 1
    assert message == (f"error: {path}: torch.device = 'cuda': no CUDA device on this machine "
                       "(torch.cuda.is_available() is False); expected auto (CUDA when present) or cpu\n")
    assert not (tmp_path / "validated").exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with a GPU
    validate.main([str(path), str(tmp_path / "validated")])
    assert (tmp_path / "validated").is_file()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_validate_accepts_cuda_on_a_gpu_machine(tmp_path):
    path = write_params(tmp_path, {**SAMPLE_PARAMS, "torch": {"device": "cuda"}})
    load_validate().main([str(path), str(tmp_path / "validated")])
    assert (tmp_path / "validated").is_file()


def test_validate_imports_torch_only_for_cuda(tmp_path):
    path = write_params(tmp_path, SAMPLE_PARAMS)
    code = (f"import sys, runpy\nsys.argv = ['validate', {str(path)!r}, {str(tmp_path / 'v')!r}]\n"
            f"runpy.run_path({str(REPO / 'stages/validate.py')!r}, run_name='__main__')\n"
            "print('torch' in sys.modules)\n")
    result = python(code, tmp_path)
    assert result.returncode == 0 and result.stdout == "False\n", result.stderr


def test_a_rejected_value_says_where_it_is_and_how_to_restore(tmp_path, monkeypatch, capsys):
    validate = load_validate()
    path = write_params(tmp_path, {**SAMPLE_PARAMS, "svm": {"C": -1}})
    restore = (f"; {path} keeps this value (`dvc exp run -S` writes it there before any stage runs): "
               f"`git diff {path}` shows the change, `git checkout {path}` restores the committed file (and "
               "drops any other uncommitted edit of it; docs/recovery.md)")
    for env, expected in [(None, ""), ("abc123", restore)]:  # dvc repro or by hand; dvc exp run
        if env:
            monkeypatch.setenv(validate.EXP_ENV, env)
        with pytest.raises(SystemExit):
            validate.main([str(path), str(tmp_path / "validated")])
        rejected = f"error: {path}: svm.C = -1: Input should be greater than 0"
        assert capsys.readouterr().err == f"{rejected}{expected}\n"
    copy = tmp_path / ".dvc/tmp/exps/tmp1234"  # a queued or --temp experiment runs in a copy
    copy.mkdir(parents=True)
    with pytest.raises(SystemExit):
        validate.main([str(write_params(copy, {**SAMPLE_PARAMS, "svm": {"C": -1}})), str(copy / "validated")])
    assert "this experiment ran in a copy (--queue or --temp): the workspace's params.yaml is unchanged" in (
        capsys.readouterr().err)


# -- one DVC run per workspace ----------------------------------------------------------------------

@pytest.fixture
def dvc_folder(tmp_path, monkeypatch):
    """A folder with .dvc/ and params.yaml, the stage's working folder, and a short grace period."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runtime, "PARAMS_GRACE_S", 0.3)
    return tmp_path


def as_run(process) -> runtime.DvcRun:
    return runtime.DvcRun(process.pid, psutil.Process(process.pid).create_time(), "dvc exp run -S seed=1")


@pytest.fixture
def other_process():
    process = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_the_first_stage_of_a_run_records_it_and_later_ones_check_params(dvc_folder, monkeypatch):
    me = runtime.DvcRun(os.getpid(), psutil.Process().create_time(), "dvc repro")
    monkeypatch.setattr(runtime, "current_dvc_run", lambda: me)
    check = runtime.claim_workspace()
    record = json.loads((dvc_folder / ".dvc/tmp/mnistlab/run.json").read_text())
    assert (record["pid"], record["command"]) == (me.pid, "dvc repro")
    assert record["params_sha256"] == hashlib.sha256(b"seed: 1\n").hexdigest()
    assert (dvc_folder / ".dvc/tmp/mnistlab/run-params.yaml").read_bytes() == b"seed: 1\n"
    check()
    runtime.claim_workspace()()  # a later stage of the same run
    (dvc_folder / "params.yaml").write_text("seed: 2\n")
    with pytest.raises(MnistlabError) as error:
        runtime.claim_workspace()
    assert str(error.value) == (
        "params.yaml changed while this DVC run was using it (another `dvc exp run` in this workspace, or an "
        "edit): stopping so that no result mixes two sets of params; the file as this run read it is "
        ".dvc/tmp/mnistlab/run-params.yaml (docs/recovery.md)")
    monkeypatch.setattr(runtime, "PARAMS_GRACE_S", 5.0)  # put back in time: the stage goes on
    threading.Timer(0.5, lambda: (dvc_folder / "params.yaml").write_text("seed: 1\n")).start()
    runtime.claim_workspace()()


def test_a_stage_fails_when_params_change_while_it_runs(dvc_folder, monkeypatch, capsys):
    me = runtime.DvcRun(os.getpid(), psutil.Process().create_time(), "dvc repro")
    monkeypatch.setattr(runtime, "current_dvc_run", lambda: me)

    @runtime.stage
    def main():
        (dvc_folder / "params.yaml").write_text("seed: 3\n")  # an edit, or another run, meanwhile

    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2 and "params.yaml changed while this DVC run" in capsys.readouterr().err


def test_a_second_run_is_refused_and_params_put_back(dvc_folder, monkeypatch, other_process):
    holder = as_run(other_process)
    monkeypatch.setattr(runtime, "current_dvc_run", lambda: holder)
    runtime.claim_workspace()
    (dvc_folder / "params.yaml").write_text("seed: 2  # -S seed=2 of the second run\n")
    me = runtime.DvcRun(os.getpid(), psutil.Process().create_time(), "dvc exp run -S seed=2")
    monkeypatch.setattr(runtime, "current_dvc_run", lambda: me)
    with pytest.raises(MnistlabError) as error:
        runtime.claim_workspace()
    message = str(error.value)
    assert message.startswith(f"another DVC run is using this workspace: PID {other_process.pid} "
                              "(`dvc exp run -S seed=1`, started ")
    assert ("; this run stops here; params.yaml is put back as that run read it (this run's version: "
            ".dvc/tmp/mnistlab/refused-params.yaml). Wait for it to end, or run experiments side by side, "
            "each in its own copy: `dvc exp run --queue -S ...` then `dvc queue start` (docs/recovery.md)"
            ) in message
    assert "\n" not in message
    assert (dvc_folder / "params.yaml").read_text() == "seed: 1\n"
    assert (dvc_folder / ".dvc/tmp/mnistlab/refused-params.yaml").read_text().startswith("seed: 2")
    other_process.kill()
    other_process.wait()
    runtime.claim_workspace()  # the holder is gone: this run takes the workspace
    assert json.loads((dvc_folder / ".dvc/tmp/mnistlab/run.json").read_text())["pid"] == os.getpid()


def test_nothing_is_recorded_outside_dvc(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runtime.current_dvc_run() is None  # pytest does not run under dvc
    (tmp_path / ".dvc").mkdir()
    runtime.claim_workspace()()
    assert list((tmp_path / ".dvc").iterdir()) == []
    assert runtime._dvc_index(["/venv/bin/python", "/venv/bin/dvc", "exp", "run"]) == 1
    assert runtime._dvc_index(["python", "-m", "dvc", "repro"]) == 2
    assert runtime._dvc_index(["dvc", "repro"]) == 0 and runtime._dvc_index(["python", "x.py"]) is None


# -- CLI: sweep and claims ---------------------------------------------------------------------------

def exp_row(name, rev, seed, accuracy, typ="branch_commit", state=None):
    return {"Experiment": name, "rev": rev, "typ": typ, "State": state, "Created": None, "parent": None,
            "Executor": None, "mlp_sgd-he.accuracy": accuracy, "mlp_sgd-random.accuracy": accuracy,
            "params.yaml:seed": seed, "prepare.train_size": 100.0}


ROWS = [exp_row(None, "main", 0.0, 0.9, typ="baseline"), exp_row("s1", "1111111", 1.0, 0.91),
        exp_row("bad1", "2222222", 2.0, "!"), exp_row("s3", "3333333", 3.0, 0.92),
        {**exp_row("half", "4444444", 4.0, 0.93), "mlp_sgd-random.accuracy": "!"},
        exp_row("failed", "5555555", 5.0, 0.99, state="Failed")]  # metrics of the workspace it came from


def test_runs_from_rows_leaves_out_cells_that_are_not_numbers():
    with pytest.warns(UnreadableExperiment) as caught:
        runs = runs_from_rows(ROWS)
    why = "`dvc exp show` writes ! for a metrics file it could not read"
    assert [str(w.message) for w in caught] == [
        "experiment bad1: test metrics that are not numbers (mlp_sgd-he.accuracy = '!', "
        f"mlp_sgd-random.accuracy = '!'; {why}): left out",
        f"experiment half: test metrics that are not numbers (mlp_sgd-random.accuracy = '!'; {why}): "
        "left out"]
    assert runs[2].values == {} and runs[4].values == {("mlp_sgd-he", "accuracy"): 0.93}


def fake_dvc(monkeypatch, rows):
    import dvc.api

    class FakeFS:
        def __init__(self, repo, rev):
            pass

        def read_text(self, path):
            raise FileNotFoundError(path)

        def open(self, path, mode="rb"):
            raise FileNotFoundError(path)

    monkeypatch.setattr(dvc.api, "exp_show", lambda repo, num: rows)
    monkeypatch.setattr(dvc.api, "DVCFileSystem", FakeFS)


def test_sweep_reports_each_unreadable_experiment_in_one_line_and_goes_on(tmp_path, monkeypatch, capsys):
    fake_dvc(monkeypatch, ROWS)
    monkeypatch.setattr("mnistlab.reporting.evidence_figures.save_figure", lambda fig, path: None)
    write_params(tmp_path, SAMPLE_PARAMS)
    argv = ["sweep", "--repo", str(tmp_path), "--vary", "seed", "--out-dir", str(tmp_path / "out")]
    assert cli_main(argv) == 0
    out = capsys.readouterr()
    assert out.err.splitlines() == [
        "warning: experiment bad1: no test metric could be read (mlp_sgd-he.accuracy = '!', "
        "mlp_sgd-random.accuracy = '!'): left out",
        "warning: experiment half: test metrics that are not numbers (mlp_sgd-random.accuracy = '!'; "
        "`dvc exp show` writes ! for a metrics file it could not read): left out",
        "warning: experiment failed: not a finished run (`dvc exp show` State: Failed; "
        "`dvc queue logs failed`): left out"]
    assert out.out.startswith("3 runs summarised: ")
    names = {e["name"] for e in json.loads((tmp_path / "out/sweep.json").read_text())["experiments"]}
    assert names == {"s1", "s3", "half"}
    fake_dvc(monkeypatch, ROWS[:1] + ROWS[2:3])
    with pytest.raises(SystemExit) as exited:
        cli_main(["sweep", "--repo", str(tmp_path), "--out-dir", str(tmp_path / "none")])
    assert exited.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == (
        f"error: --repo {tmp_path}: none of the selected experiments has a test metric that could be read "
        "(see the warnings above)")
    fake_dvc(monkeypatch, ROWS[:1] + ROWS[-1:])  # only a failed experiment: reported, then the error
    with pytest.raises(SystemExit) as exited:
        cli_main(["sweep", "--repo", str(tmp_path), "--out-dir", str(tmp_path / "none")])
    assert exited.value.code == 2 and capsys.readouterr().err.splitlines() == [
        "warning: experiment failed: not a finished run (`dvc exp show` State: Failed; "
        "`dvc queue logs failed`): left out",
        f"error: {tmp_path}: no finished experiments match the selection (see `dvc exp show`)"]
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("option", ["--out-dir", "--csv", "--json"])
def test_sweep_refuses_an_output_path_before_reading_runs(tmp_path, monkeypatch, capsys, option):
    monkeypatch.setattr(sweep, "read_runs", lambda *a, **k: pytest.fail("runs read before the output check"))
    write_params(tmp_path, SAMPLE_PARAMS)
    bad = "/proc/nope" + ("" if option == "--out-dir" else "/x." + option[2:])
    with pytest.raises(SystemExit) as exited:
        cli_main(["sweep", "--repo", str(tmp_path), option, bad])
    message = capsys.readouterr().err
    assert exited.value.code == 2 and message.count("\n") == 1
    assert message.startswith(f"error: {option} /proc/nope/") and "cannot create files in /proc" in message


def test_output_paths_are_checked_without_leaving_anything(tmp_path):
    (tmp_path / "file").write_text("x")
    assert check_output(tmp_path / "a/b/c.md", "--out") == tmp_path / "a/b/c.md"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created, no probe left
    inside_a_file = tmp_path / "file/c.md"
    for path, expected in [(tmp_path, f"--out {tmp_path}: is a folder; expected the path of a file"),
                           (inside_a_file, f"--out {inside_a_file}: {inside_a_file.parent} is a file, "
                            "not a folder")]:
        with pytest.raises(MnistlabError) as error:
            check_output(path, "--out")
        assert str(error.value) == expected


def test_claims_names_each_missing_input_and_writes_only_when_asked(tmp_path, capsys):
    out = tmp_path / "claims.md"
    inputs = {name: str(tmp_path / f"{name}.json")
              for name in ("compare", "seeds", "ablation", "learning-curve")}
    inputs["robustness-pairs"] = str(tmp_path / "pairs.csv")
    argv = ["claims", "--out", str(out)]
    for name, path in inputs.items():
        argv += [f"--{name}", path]
    with pytest.raises(SystemExit) as exited:
        cli_main(argv + ["--allow-partial"])
    message = capsys.readouterr().err
    assert exited.value.code == 2 and message.count("\n") == 1 and not out.exists()
    assert message.startswith("error: none of the inputs exists, nothing to judge the claims with: ")
    write_json(inputs["compare"], {"alpha": 0.05, "pairs": {}, "models": {}})
    write_csv(inputs["robustness-pairs"], [
        {"corruption": "rotation", "severity": 0.0, "a": "svm_pixels", "b": "svm_gabor", "accuracy_a": 0.9,
         "accuracy_b": 0.9, "diff": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}])
    with pytest.raises(SystemExit) as exited:
        cli_main(argv)
    message = capsys.readouterr().err
    assert exited.value.code == 2 and message.count("\n") == 1 and not out.exists()
    assert message == (
        f"error: 3 of 5 inputs missing: --seeds {inputs['seeds']} (`mnistlab sweep --vary seed --out-dir "
        f"reports/seeds`); --ablation {inputs['ablation']} (`mnistlab sweep --vary mlp.dropout --vary "
        f"mlp.weight_decay --out-dir reports/ablation`); --learning-curve {inputs['learning-curve']} "
        "(`mnistlab sweep --vary prepare.train_size --out-dir reports/learning_curve`); make them, or pass "
        f"--allow-partial to write {out} from the others\n")
    assert cli_main(argv + ["--allow-partial"]) == 0
    assert out.is_file() and "(3 inputs missing: seeds, ablation, learning-curve)" in capsys.readouterr().out


def test_claims_refuses_an_output_path_in_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["claims", "--out", "/proc/nope/claims.md"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == ("error: --out /proc/nope/claims.md: cannot create files in /proc "
                                       "(No such file or directory)\n")


# -- against DVC, in throwaway copies ---------------------------------------------------------------

def small_copy(tmp_path) -> tuple[Path, dict]:
    """This repository copied and committed, with the sample and the small sizes in params.yaml."""
    root = copy_clone(tmp_path / "repo")
    env = clone_env(root)
    changes: dict = {}
    for item in SMALL:
        key, value = item.split("=")
        *parents, leaf = key.split(".")
        node = changes
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    changes["prepare"]["train_limit"] = None
    write_params(root / "params.yaml", changes)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "copy"]):
        run(command, root, env)
    return root, env


def snapshot(root: Path, paths: list[str]) -> dict[str, bytes]:
    found = {}
    for path in paths:
        target = root / path
        files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
        found.update({str(p.relative_to(root)): p.read_bytes() for p in files})
    return found


@pytest.mark.slow
def test_the_documented_commands_bring_back_the_previous_outputs(tmp_path):
    """docs/recovery.md on train_mlp@sgd-random: a rejected -S value, a forced stage that fails on a
    corrupt input, and a run killed with SIGKILL; after each, the commands of the page give back
    every output byte for byte and DVC says the stage is up to date."""
    root, env = small_copy(tmp_path)
    target = "train_mlp@sgd-random"
    cached = ["models/mlp_sgd-random.npz", "data/prepared"]
    uncached = ["metrics/train/mlp_sgd-random.json", "plots/curves/mlp_sgd-random"]
    run(["dvc", "repro", target], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "outputs"], root, env)
    params, before = (root / "params.yaml").read_bytes(), snapshot(root, cached + uncached)

    def dvc(*args):
        return subprocess.run(["dvc", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)

    def recover(force: bool):
        run(["dvc", "checkout", "--with-deps", target, *(["--force"] if force else [])], root, env)
        run(["git", "checkout", "--", *uncached], root, env)
        assert snapshot(root, cached + uncached) == before
        status = run(["dvc", "status", "--with-deps", target], root, env)
        assert "Data and pipelines are up to date." in status

    # a rejected -S value stays in params.yaml; git checkout restores the committed file
    result = dvc("exp", "run", "-S", "mlp.sgd.lr=-1", target)
    assert result.returncode != 0 and "params.yaml keeps this value" in result.stdout + result.stderr
    assert (root / "params.yaml").read_bytes() != params
    run(["git", "checkout", "params.yaml"], root, env)
    assert (root / "params.yaml").read_bytes() == params

    # a forced stage that fails: DVC removed its outputs first
    (root / "data/prepared/train.npz").unlink()
    (root / "data/prepared/train.npz").write_bytes(b"not an npz")
    result = dvc("repro", "-f", "-s", target)
    assert result.returncode != 0
    assert "data/prepared/train.npz: not an .npz file" in result.stdout + result.stderr
    assert not (root / "models/mlp_sgd-random.npz").exists() and not (root / uncached[0]).exists()
    assert dvc("checkout", "--with-deps", target).returncode != 0  # refuses to replace the changed file
    recover(force=True)

    # a run killed with SIGKILL (dvc and the stage) while the stage runs
    process = subprocess.Popen(["dvc", "repro", "-f", "-s", target], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300

    def training() -> bool:
        return any("train_mlp.py" in " ".join(child.cmdline())
                   for child in psutil.Process(process.pid).children(recursive=True))

    # DVC removes the outputs before it starts the command: kill as soon as the command exists, well
    # before the stage can write its model (a fixed sleep here raced a fast machine's training)
    while time.monotonic() < deadline and not training():
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (root / "models/mlp_sgd-random.npz").exists()
    assert not (root / "plots/curves/mlp_sgd-random").exists()  # missing, never partial
    recover(force=False)


STAGE = """
import pathlib, sys, time, yaml
from mnistlab.core.runtime import stage

@stage
def main():
    seed = yaml.safe_load(open("params.yaml"))["seed"]
    out = pathlib.Path(sys.argv[1])
    out.parent.mkdir(exist_ok=True)
    if "slow" in out.name:
        pathlib.Path("started").touch()
        deadline = time.monotonic() + 120
        while not pathlib.Path("go").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    out.write_text(f"seed={seed}\\n")

main()
"""


@pytest.mark.slow
def test_a_second_dvc_run_in_the_workspace_is_refused(tmp_path):
    """Two `dvc exp run` in one folder: the second's first stage refuses, puts the first's params.yaml
    back, and the first run's stages all read its own params."""
    root = tmp_path / "repo"
    (root / "stages").mkdir(parents=True)
    (root / "stages/validate.py").write_bytes((REPO / "stages/validate.py").read_bytes())
    (root / "stages/step.py").write_text(STAGE)
    write_params(root / "params.yaml", SAMPLE_PARAMS)
    steps = {"fast": ["data/validated"], "slow": ["out/fast.txt"], "after": ["out/slow.txt"]}
    dvc_yaml = {"stages": {
        "validate": {"cmd": "python stages/validate.py params.yaml data/validated",
                     "deps": ["stages/validate.py", "params.yaml"],
                     "outs": [{"data/validated": {"persist": True}}]},
        **{name: {"cmd": f"python stages/step.py out/{name}.txt", "deps": ["stages/step.py", *deps],
                  "params": ["seed"], "outs": [f"out/{name}.txt"]} for name, deps in steps.items()}}}
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    (root / ".gitignore").write_text("/started\n/go\n")
    env = clone_env(REPO)
    for command in (["git", "init", "-q", "-b", "main"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "mini"]):
        run(command, root, env)
    first = subprocess.Popen(["dvc", "exp", "run", "-S", "seed=1"], cwd=root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (root / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    params_of_first = (root / "params.yaml").read_bytes()
    second = subprocess.run(["dvc", "exp", "run", "-S", "seed=2"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300)
    (root / "go").touch()
    first.communicate(timeout=300)
    assert second.returncode != 0
    assert "error: another DVC run is using this workspace: PID " in second.stdout + second.stderr
    assert (root / "params.yaml").read_bytes() == params_of_first
    assert yaml.safe_load((root / ".dvc/tmp/mnistlab/refused-params.yaml").read_text())["seed"] == 2
    for name in steps:
        assert (root / f"out/{name}.txt").read_text() == "seed=1\n"
    assert "Data and pipelines are up to date." in run(["dvc", "status"], root, env)


def test_recovery_page_names_the_commands_tested_here():
    text = (REPO / "docs/recovery.md").read_text()
    for command in ("git checkout params.yaml", "dvc checkout --with-deps evaluate", "dvc checkout --force",
                    "dvc exp save -n", "dvc exp run --queue", "dvc queue remove --failed", "--temp",
                    "cp .dvc/tmp/mnistlab/run-params.yaml params.yaml"):
        assert command in text, command
