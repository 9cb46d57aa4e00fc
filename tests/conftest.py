"""Shared fixtures: the real MNIST sample shipped in data/sample, small prepared splits, and one
end-to-end run of the DVC pipeline on the sample in a throwaway copy of the repository.

That run (``baseline``) takes about two minutes, mostly in starting Python processes, one core
at a time: it starts in the background with the session's first test when any selected test
needs it, the other tests run beside it, and the tests that need it run last and wait for it.
"""

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.paths import SAMPLE
from support.workspace import BASELINE, SMALL, Workspace, clone_env, copy_clone, run

from mnistlab.data.benchmark import write_preprocessing
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import prepare, save_splits


@pytest.fixture(scope="session")
def sample_train() -> tuple[np.ndarray, np.ndarray]:
    """The sample's 10,000 training images (uint8, (N, 28, 28)) and labels."""
    return read_pair(SAMPLE / "train-images-idx3-ubyte.gz", SAMPLE / "train-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def sample_test() -> tuple[np.ndarray, np.ndarray]:
    """The sample's 2,000 test images and labels."""
    return read_pair(SAMPLE / "t10k-images-idx3-ubyte.gz", SAMPLE / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory, sample_train, sample_test) -> Path:
    """A prepared folder (train 2,000 / val 500 / test 500, deskewed) made from the real sample."""
    folder = tmp_path_factory.mktemp("prepared")
    splits = prepare(sample_train, sample_test, val_size=500, train_size=2000, test_size=500,
                     deskew_images=True, seed=0)
    save_splits(splits, folder)
    write_preprocessing(folder, "auto", True, "mnist")
    return folder


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    """The repository's files committed in a fresh Git repository, remotes set up and pushed."""
    top = tmp_path_factory.mktemp("mnistlab")
    root, origin, storage = copy_clone(top / "repo"), top / "origin.git", top / "storage"
    env = clone_env(root)
    storage.mkdir()
    run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], top, env)
    for command in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "snapshot"],
                    ["dvc", "remote", "add", "-d", "storage", str(storage)],
                    ["git", "commit", "-qam", "DVC remote"],
                    ["git", "remote", "add", "origin", str(origin)], ["git", "push", "-q", "origin", "main"]):
        run(command, root, env)
    assert "analytics = false" in (root / ".dvc" / "config").read_text()
    return Workspace(root, env, origin)


def pytest_collection_modifyitems(items):
    """The end-to-end tests (those using ``baseline``) last, in their collected order."""
    items.sort(key=lambda item: "baseline" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session", autouse=True)
def baseline_process(request):
    """The ``baseline`` run, started with the first test when a selected test needs it (else None):
    the ``dvc exp run`` process and the file that collects its output, or the exception that
    setting it up raised (``baseline`` raises it, so only the end-to-end tests fail with it)."""
    if not any("baseline" in getattr(item, "fixturenames", ()) for item in request.session.items):
        yield None
        return
    try:
        root, env, _ = request.getfixturevalue("workspace")
        log = open(root.parent / "baseline.log", "w+")  # noqa: SIM115  closed below
        command = ["dvc", "exp", "run", "-n", BASELINE, *(arg for s in SMALL for arg in ("-S", s))]
        # its own process group: stopping it also stops the stage DVC is running
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
    except Exception as error:  # noqa: BLE001  re-raised by the baseline fixture
        yield error
        return
    try:
        yield process, log
    finally:
        if process.poll() is None:  # the session ended early (-x, a timeout, Ctrl-C)
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.fixture(scope="session")
def baseline(workspace, baseline_process) -> str:
    """The whole pipeline on the sample with the small sizes, as the experiment ``BASELINE``, then
    committed; returns DVC's output. The end-to-end tests of test_pipeline and test_remote share it."""
    if isinstance(baseline_process, Exception):
        raise baseline_process
    root, env, _ = workspace
    process, log = baseline_process
    try:
        process.wait(timeout=900)
    except subprocess.TimeoutExpired:
        log.seek(0)
        pytest.fail(f"dvc exp run of the baseline still running after 900 s:\n{log.read()[-5000:]}")
    log.seek(0)
    output = log.read()
    assert process.returncode == 0, f"dvc exp run of the baseline failed:\n{output}"
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "baseline"], root, env)
    return output
