"""dvc.yaml is the one wiring diagram: its library deps follow the rule stated in its header.

For every stage, the modules of src/mnistlab its script imports at module level (directly or
indirectly, read from the source with ``ast``; plus the registry's model loaders for stages that
load models) must each be covered by a dep: the module's file or a folder holding it. Paths
written by a stage appear on its command line.
"""

import ast
from pathlib import Path

import pytest
import yaml
from support.paths import REPO

from mnistlab.models.registry import LOADERS
from mnistlab.models.svm import TRUSTED_TYPES

SRC = REPO / "src"
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())

def stage_definitions():
    for name, stage in DVC_YAML["stages"].items():
        body = stage.get("do", stage)
        yield name, body


STAGES = list(stage_definitions())


def module_imports(path: Path, lazy: bool = False) -> set[str]:
    """The mnistlab modules a file imports at module level, or anywhere with ``lazy`` (imports inside
    functions: the rule of dvc.yaml's header covers them through the validate stage and the loaders)."""
    names = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistlab"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # submodules
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("mnistlab"))
    return names


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def library_files(script: Path) -> set[Path]:
    """Files of src/mnistlab in the import closure of ``script``; with the registry's loaders when
    the script or a module it imports loads models through ``load_model``, and the modules of the
    types a saved SVM holds (skops imports them by name while loading) when the SVM loader is in."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in module_imports(path):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # a package's __init__ runs on import too
                found = module_file(".".join(parts[:depth]))
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    sources = [script, *(f for f in seen if f.name != "registry.py")]
    if any("load_model(" in f.read_text() for f in sources):
        todo = [module_file(target.split(":")[0]) for target in LOADERS.values()]
        while todo:
            path = todo.pop()
            if path not in seen:
                seen.add(path)
                todo += [f for n in module_imports(path) if (f := module_file(n)) is not None]
    if module_file("mnistlab.models.svm") in seen:
        todo = [module_file(name.rsplit(".", 1)[0]) for name in TRUSTED_TYPES if name.startswith("mnistlab.")]
        while todo:
            path = todo.pop()
            if path not in seen:
                seen.add(path)
                todo += [f for n in module_imports(path) if (f := module_file(n)) is not None]
    return {f.relative_to(REPO) for f in seen}


@pytest.mark.parametrize(("name", "stage"), STAGES, ids=[name for name, _ in STAGES])
def test_every_imported_library_module_is_a_dep(name, stage):
    script = next(dep for dep in stage["deps"] if str(dep).startswith("stages/"))
    deps = [Path(str(dep)) for dep in stage["deps"] if "${" not in str(dep)]
    missing = []
    for module in library_files(REPO / script):
        if module.name == "__init__.py" and "import" not in (REPO / module).read_text():
            continue  # a package marker with no code
        if not any(module == dep or dep in module.parents for dep in deps):
            missing.append(str(module))
    assert not missing, f"stage {name}: add to its deps (dvc.yaml header rule): {missing}"


@pytest.mark.parametrize(("name", "stage"), STAGES, ids=[name for name, _ in STAGES])
def test_every_output_is_named_on_the_command_line(name, stage):
    for out in stage.get("outs", []):
        path = Path(str(next(iter(out)) if isinstance(out, dict) else out))
        named = [arg for arg in stage["cmd"].split() if not arg.startswith("-")]
        assert any(path == Path(arg) or Path(arg) in path.parents for arg in named), (
            f"stage {name}: output {path} is neither named in its cmd nor inside a folder named there")


@pytest.mark.parametrize("name", ["download", "prepare"])
def test_adding_a_model_re_runs_neither_download_nor_prepare(name):
    stage = dict(STAGES)[name]
    registry = Path("src/mnistlab/models/registry.py")
    deps = [Path(str(dep)) for dep in stage["deps"]]
    assert not any(dep == registry or dep in registry.parents for dep in deps), deps


def declared_outputs() -> list[str]:
    """Every ``outs`` path of dvc.yaml, with ``${...}`` templates as they are written."""
    outs = []
    for _, stage in STAGES:
        for out in stage.get("outs", []):
            outs.append(str(next(iter(out)) if isinstance(out, dict) else out))
    return outs


def test_every_tracked_file_under_plots_and_metrics_is_a_declared_output():
    import re
    import subprocess

    patterns = [re.sub(r"\\\$\\\{[^}]*\\\}", "[^/]+", re.escape(out)) for out in declared_outputs()]
    tracked = subprocess.run(["git", "ls-files", "plots", "metrics"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    assert tracked, "no tracked outputs under plots/ or metrics/"
    stray = [f for f in tracked if not any(re.fullmatch(p, f) or re.match(p + "/", f) for p in patterns)]
    assert not stray, f"tracked files no stage writes (remove them, or declare them in dvc.yaml): {stray}"


def test_committed_outputs_hold_no_path_of_the_machine_that_made_them():
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "dvc.lock", "plots", "metrics", "reports"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    machine = ("/work/", "/home/", "/root/", "/tmp/", "/Users/", "C:\\")
    found = []
    for name in tracked:
        path = REPO / name
        if path.suffix in (".png", ".npz") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {marker}" for marker in machine if marker in text]
    assert not found, found
