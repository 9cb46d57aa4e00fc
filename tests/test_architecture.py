"""The package tree shows the pipeline: layers, each importing only the layers below it.

Layers, lowest first (docs/architecture.md): ``core`` (constants, errors, I/O, params, runtime,
sources, curves), ``data``, ``features``, ``nn`` (the from-scratch network), ``models`` (the model
registry, SVMs, PyTorch models), ``evaluation``, ``evidence``, ``reporting``, ``cli``. Imports are
read with ``ast``, those inside functions included, so a lazy import cannot hide an upward
dependency.
"""

import ast
import subprocess
import sys
from pathlib import Path

from support.paths import REPO

PACKAGE = REPO / "src" / "mnistlab"
LAYERS = ("core", "data", "features", "nn", "models", "evaluation", "evidence", "reporting", "cli")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def imports(path: Path) -> set[str]:
    """The mnistlab modules ``path`` imports anywhere in its body (resolved to module names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistlab"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("mnistlab"))
    return {name for name in names if name in MODULES}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_at_most_six_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert set(packages) == set(LAYERS), packages


def test_no_layer_imports_a_higher_one():
    upward = []
    for name, path in MODULES.items():
        own = layer(name)
        for target in imports(path):
            other = layer(target)
            if own is not None and other is not None and other > own:
                upward.append(f"{name} -> {target}")
    assert not upward, upward


def test_no_import_cycles():
    graph = {name: imports(path) - {name} for name, path in MODULES.items()}
    # a package's __init__ is imported with any of its modules: no edge from a module to its package
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_loading_params_imports_no_statistics_or_learning_library():
    code = ("import sys; from mnistlab.core.params import load_params; load_params('params.yaml'); "
            "heavy = ('sklearn', 'scipy', 'statsmodels', 'torch', 'matplotlib', 'skimage', 'pandas'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
