"""Runtime settings of a stage process: the number of BLAS, OpenMP and PyTorch threads.

One setting, the environment variable ``MNISTLAB_THREADS`` (a positive integer), read when a stage
starts; unset, a stage uses every core it may run on (``os.sched_getaffinity``). It is not a
param, so changing it re-runs nothing. Two experiments run side by side with
``dvc queue start -j 2`` on a 2-core machine should each get one thread
(``MNISTLAB_THREADS=1 dvc queue start -j 2``), or they fight over the cores.

Thread count and reproducibility: NumPy's matrix products and PyTorch's CPU kernels split their
sums across threads, so another thread count may round differently (docs/reproducibility.md).

One DVC run per workspace (:func:`claim_workspace`, called by :func:`stage` before ``main``): DVC
releases its repository lock while a stage's command runs, so a second ``dvc exp run`` or
``dvc repro`` started in the same folder goes ahead: it rewrites params.yaml with its ``-S``
values (before any stage runs; nothing here can stop that) and runs its stages among the first
run's. So the first stage of a run records the ``dvc`` process it runs under and the params.yaml
it read in ``.dvc/tmp/mnistlab/`` (DVC's git-ignored scratch folder); a stage of another run
refuses to start while that process lives, and puts the recorded params.yaml back; a stage of the
recording run fails, before it starts or once it is done (before DVC records it in dvc.lock), if
params.yaml has changed since (after waiting :data:`PARAMS_GRACE_S` seconds for it to be put
back). Queued and ``--temp`` experiments run in
their own copies under ``.dvc/tmp/exps/``, each with its own record. What this does not protect
(DVC's own writes to params.yaml and dvc.lock, the moments between stages): docs/recovery.md.
Stages run outside DVC (no ``dvc`` process among their parents) record nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mnistlab.core.errors import MnistlabError, exit_on_user_error
from mnistlab.core.io import atomic_path

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
    """Decorate a stage's ``main``: the workspace claimed for this DVC run (:func:`claim_workspace`)
    and threads limited first; user errors as one line and exit code 2, Ctrl-C as ``interrupted``
    and exit code 130 (:func:`mnistlab.core.errors.exit_on_user_error`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        check_params = claim_workspace()
        limit_threads()
        result = func(*args, **kwargs)
        check_params()  # DVC records the params of this stage in dvc.lock after it ends
        return result

    return exit_on_user_error(wrapper)  # type: ignore[return-value]


# -- one DVC run per workspace ---------------------------------------------------------------------

#: The record of the run that holds a workspace, relative to its DVC root: ``run.json`` (the
#: ``dvc`` process and the SHA-256 of params.yaml), ``run-params.yaml`` (params.yaml as that run
#: read it) and ``refused-params.yaml`` (the params.yaml of the last run refused).
CLAIM_DIR = Path(".dvc") / "tmp" / "mnistlab"
#: Seconds a stage of the holding run waits for a changed params.yaml to be put back (the refused
#: run's first stage puts it back a few seconds after its DVC rewrote it).
PARAMS_GRACE_S = 20.0
PARAMS_FILE = "params.yaml"  # the file ``dvc exp run -S`` writes (DVC's default params file)


@dataclass(frozen=True)
class DvcRun:
    """A ``dvc`` process: PID, start time (seconds since the epoch, as ``psutil`` gives it) and
    command line."""

    pid: int
    started: float
    command: str

    def alive(self) -> bool:
        """Whether this process still runs (the same PID *and* start time: PIDs are reused)."""
        import psutil

        try:
            return abs(psutil.Process(self.pid).create_time() - self.started) < 1.0
        except psutil.Error:
            return False

    def describe(self) -> str:
        """``PID 123 (`dvc exp run -S seed=1`, started 10:02:03)``."""
        return (f"PID {self.pid} (`{self.command}`, started "
                f"{time.strftime('%H:%M:%S', time.localtime(self.started))})")


def _dvc_index(cmdline: list[str]) -> int | None:
    """Index of the ``dvc`` word in a command line (``dvc ...``, ``python /path/dvc ...``,
    ``python -m dvc ...``), or None."""
    for i, arg in enumerate(cmdline[:2]):
        if Path(arg).name.lower() in ("dvc", "dvc.exe"):
            return i
    return 2 if cmdline[1:3] == ["-m", "dvc"] else None


def current_dvc_run() -> DvcRun | None:
    """The nearest ``dvc`` process among this process's parents, or None (run outside DVC, or
    ``psutil``, a dependency of DVC, missing)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        for parent in psutil.Process().parents():
            cmdline = parent.cmdline()
            i = _dvc_index(cmdline)
            if i is not None:
                return DvcRun(parent.pid, parent.create_time(), " ".join(["dvc", *cmdline[i + 1:]]))
    except psutil.Error:
        return None
    return None


def dvc_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder holding ``.dvc/``, from ``start`` (default: the working folder, where DVC
    runs a stage) up; None outside a DVC repository."""
    here = Path(start or os.getcwd()).resolve()
    return next((folder for folder in (here, *here.parents) if (folder / ".dvc").is_dir()), None)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _read_claim(folder: Path) -> tuple[DvcRun, str | None] | None:
    try:
        data = json.loads((folder / "run.json").read_text())
        return DvcRun(int(data["pid"]), float(data["started"]), str(data["command"])), data["params_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim_workspace(start: str | os.PathLike | None = None) -> Callable[[], None]:
    """Hold the workspace for the DVC run this stage belongs to, or refuse to start.

    The first stage of a run records its ``dvc`` process and params.yaml (module docstring). A
    later stage of the same run checks that params.yaml is unchanged; a stage of another run
    finds a live record of someone else and stops, after putting the recorded params.yaml back
    (its own is kept as ``.dvc/tmp/mnistlab/refused-params.yaml``). Nothing happens outside DVC.

    Parameters
    ----------
    start : path, optional
        Where to look for the DVC root (default: the working folder).

    Returns
    -------
    callable
        Call it when the stage is done: it checks again that params.yaml is as this run read it
        (the same error); it does nothing outside DVC.

    Raises
    ------
    MnistlabError
        One line: another live DVC run holds this workspace, or params.yaml changed during this
        run and was not put back within :data:`PARAMS_GRACE_S` seconds.
    """
    run, root = current_dvc_run(), dvc_root(start)
    if run is None or root is None:
        return lambda: None
    folder, params = root / CLAIM_DIR, root / PARAMS_FILE
    claim = _read_claim(folder)
    if claim is not None and claim[0] == run:
        check = functools.partial(_check_params_unchanged, params, claim[1])
        check()
        return check
    if claim is not None and claim[0].alive():
        holder, digest = claim
        note = ""
        if _digest(params) != digest and (folder / "run-params.yaml").is_file():
            with atomic_path(folder / "refused-params.yaml") as tmp:
                tmp.write_bytes(params.read_bytes() if params.is_file() else b"")
            with atomic_path(params) as tmp:
                tmp.write_bytes((folder / "run-params.yaml").read_bytes())
            note = (f"; {PARAMS_FILE} is put back as that run read it (this run's version: "
                    f"{CLAIM_DIR / 'refused-params.yaml'})")
        raise MnistlabError(
            f"another DVC run is using this workspace: {holder.describe()}; this run stops here{note}. "
            "Wait for it to end, or run experiments side by side, each in its own copy: "
            "`dvc exp run --queue -S ...` then `dvc queue start` (docs/recovery.md)")
    text = params.read_bytes() if params.is_file() else None
    digest = None if text is None else hashlib.sha256(text).hexdigest()
    with atomic_path(folder / "run-params.yaml") as tmp:
        tmp.write_bytes(text or b"")
    with atomic_path(folder / "run.json") as tmp:
        tmp.write_text(json.dumps({"pid": run.pid, "started": run.started, "command": run.command,
                                   "params_sha256": digest}, indent=2) + "\n")
    return functools.partial(_check_params_unchanged, params, digest)


def _check_params_unchanged(params: Path, digest: str | None) -> None:
    deadline = time.monotonic() + PARAMS_GRACE_S
    while _digest(params) != digest:
        if time.monotonic() >= deadline:
            raise MnistlabError(
                f"{PARAMS_FILE} changed while this DVC run was using it (another `dvc exp run` in this "
                "workspace, or an edit): stopping so that no result mixes two sets of params; the file "
                f"as this run read it is {CLAIM_DIR / 'run-params.yaml'} (docs/recovery.md)")
        time.sleep(0.5)
