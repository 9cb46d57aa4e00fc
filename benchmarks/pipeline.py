"""Benchmark: the whole DVC pipeline on a folder of the four IDX files, time and memory per stage.

Copies the repository's files (tracked, and untracked ones git does not ignore: what a clone would
hold) to a scratch folder, ``git init``s it, sets ``data.source`` to FOLDER (plus any ``--set``),
and runs the stages one at a time, ``dvc repro --single-item <stage>``, in the order of
``dvc dag --dot`` (a topological sort; ties keep dvc.yaml's order). One DVC call per stage gives each
stage its own wall time and, from ``os.wait4``, the peak resident memory of the largest process
of that call (the stage's command or DVC itself). A stage's seconds include DVC's bookkeeping
for it (hashing its dependencies, caching its outputs, about a second), not DVC's start-up, which
is timed once (``dvc_startup_seconds``, ``dvc version``) and subtracted.

Usage: python benchmarks/pipeline.py FOLDER [--set KEY=VALUE ...] [--keep DIR]
  e.g. python benchmarks/pipeline.py data/sample --set prepare.train_size=1500 --set mlp.epochs=1
Threads per stage: set ``MNISTLAB_THREADS`` (inherited by every stage).

Prints ``name: value`` lines: ``stage_seconds: <stage> <s>`` and ``stage_peak_rss_mib: <stage>
<MiB>`` per stage in run order, then ``dvc_startup_seconds``, ``total_seconds`` (all stages, DVC
start-ups included) and ``peak_rss_mib`` (the largest over all stages).
"""

from __future__ import annotations

import argparse
import graphlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.workspace import clone_env, copy_clone  # noqa: E402  what a clone holds, kept in one place


def run(args: list[str], cwd: Path, env: dict) -> str:
    """Run a command; exit with its output if it fails."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def timed(args: list[str], cwd: Path, env: dict) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, peak RSS MiB of its largest process, output)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        sys.exit(f"{' '.join(args)} failed (exit {process.returncode}):\n{output}")
    return seconds, usage.ru_maxrss / 1024, output  # ru_maxrss is in KiB on Linux


def scratch_clone(root: Path) -> tuple[Path, dict]:
    """Copy what a clone of this checkout would hold into ``root/repo`` and commit it there;
    return the copy and the environment of every git/DVC call in it."""
    repo = copy_clone(root / "repo")
    env = clone_env(repo)
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "snapshot"]):
        run(command, repo, env)
    return repo, env


def set_params(repo: Path, settings: list[str]) -> None:
    """Apply ``key.sub=value`` settings to params.yaml (values parsed as YAML, as ``dvc exp run -S``)."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            sys.exit(f"--set {setting!r}: expected KEY=VALUE")
        *parents, last = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def stage_order(repo: Path, env: dict) -> list[str]:
    """Every stage, dependencies first (``dvc dag --dot``; ties in the order DVC lists them)."""
    dot = run(["dvc", "dag", "--dot"], repo, env)
    nodes = re.findall(r'^"([^"]+)";$', dot, flags=re.M)
    sorter = graphlib.TopologicalSorter({node: set() for node in nodes})
    for before, after in re.findall(r'^"([^"]+)" -> "([^"]+)";$', dot, flags=re.M):
        sorter.add(after, before)
    sorter.prepare()
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=nodes.index)
        order.extend(ready)
        sorter.done(*ready)
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder with the four IDX files (.gz or raw)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="another param for the run, e.g. prepare.train_size=1500 (repeatable)")
    parser.add_argument("--keep", type=Path, help="build the scratch repository here and keep it")
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: not a folder")

    root = Path(tempfile.mkdtemp(prefix="mnistlab-bench-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    try:
        repo, env = scratch_clone(root)
        set_params(repo, [f"data.source={args.folder.resolve()}", *args.set])
        startup, _, _ = timed(["dvc", "version"], repo, env)
        total, peak = 0.0, 0.0
        for stage in stage_order(repo, env):
            seconds, rss, output = timed(["dvc", "repro", "--single-item", stage], repo, env)
            if "Running stage" not in output:
                print(f"note: {stage} did not run:\n{output.strip()}", file=sys.stderr)
            total, peak = total + seconds, max(peak, rss)
            print(f"stage_seconds: {stage} {max(seconds - startup, 0.0):.1f}", flush=True)
            print(f"stage_peak_rss_mib: {stage} {rss:.0f}", flush=True)
        print(f"dvc_startup_seconds: {startup:.1f}")
        print(f"total_seconds: {total:.1f}")
        print(f"peak_rss_mib: {peak:.0f}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
