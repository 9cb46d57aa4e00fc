"""Benchmark: two queued experiments run one at a time (``dvc queue start -j 1``) and side by side (``-j 2``).

In a scratch copy of the repository (see benchmarks/pipeline.py) the pipeline first runs once on
data/sample with the small sizes of the end-to-end tests (``SMALL``, tests/support/workspace.py) and is
committed, as a user's baseline. Then two experiments that differ only in the top-level ``seed``
(``--seeds``) are queued and run with ``-j 1``; they are removed, the run-cache is emptied (else
DVC would restore the second round's stages instead of running them), and the same two are queued
again and run with ``-j 2``. Each round is timed from ``dvc queue start`` until ``dvc queue
status`` shows nothing queued or running (polled every second). Stages that the seed does not
change (download, prepare, ...) are skipped in both rounds, as in a real seed sweep.

Threads, as docs/threads-and-sweeps.md advises: the ``-j 1`` round leaves ``MNISTLAB_THREADS`` unset (every
stage uses every core); the ``-j 2`` round sets it to ``--parallel-threads`` (default 1: one core
each on a 2-core machine).

Usage: python benchmarks/queue_parallel.py [--seeds 1 2] [--parallel-threads N] [--set KEY=VALUE ...]
Prints ``serial_seconds``, ``parallel_seconds`` and ``parallel_over_serial`` (the goal: at most 1,
side by side at least as fast as one after the other).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from pipeline import run, scratch_clone, set_params  # noqa: E402
from support.workspace import SMALL  # noqa: E402  the end-to-end tests' small sizes, kept in one place


def run_queue(repo: Path, env: dict, seeds: list[int], jobs: int, timeout: float = 3600) -> float:
    """Queue one experiment per seed, run the queue with ``jobs`` workers; return wall seconds."""
    for seed in seeds:
        run(["dvc", "exp", "run", "--queue", "-S", f"seed={seed}"], repo, env)
    start = time.perf_counter()
    run(["dvc", "queue", "start", "-j", str(jobs)], repo, env)
    while True:
        status = run(["dvc", "queue", "status"], repo, env)
        if not any(word in status for word in ("Queued", "Running")):
            break
        if time.perf_counter() - start > timeout:
            sys.exit(f"the queue did not finish within {timeout:.0f} s:\n{status}")
        time.sleep(1)
    seconds = time.perf_counter() - start
    if "Failed" in status:
        logs = "\n".join(run(["dvc", "queue", "logs", line.split()[0]], repo, env)
                         for line in status.splitlines() if "Failed" in line)
        sys.exit(f"an experiment failed with -j {jobs}:\n{status}\n{logs}")
    return seconds


def clear(repo: Path, env: dict) -> None:
    """Forget the round's experiments and the run-cache, so the next round runs the same stages."""
    run(["dvc", "exp", "remove", "--all-commits"], repo, env)
    run(["dvc", "queue", "remove", "--all"], repo, env)
    shutil.rmtree(repo / ".dvc" / "cache" / "runs", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, default=[1, 2], help="the two experiments' seeds")
    parser.add_argument("--parallel-threads", type=int, default=1, help="MNISTLAB_THREADS with -j 2")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a param of the baseline, after the small defaults (repeatable)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mnistlab-queue-"))
    try:
        repo, env = scratch_clone(root)
        env.pop("MNISTLAB_THREADS", None)
        set_params(repo, [*SMALL, *args.set])
        run(["dvc", "repro"], repo, env)
        run(["git", "add", "-A"], repo, env)
        run(["git", "commit", "-qm", "baseline"], repo, env)
        serial = run_queue(repo, env, args.seeds, jobs=1)
        clear(repo, env)
        parallel_env = {**env, "MNISTLAB_THREADS": str(args.parallel_threads)}
        parallel = run_queue(repo, parallel_env, args.seeds, jobs=2)
        print(f"serial_seconds: {serial:.1f}")
        print(f"parallel_seconds: {parallel:.1f}")
        print(f"parallel_over_serial: {parallel / serial:.2f}")  # the goal: at most 1.0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
