"""dvc.yaml is the one wiring diagram: its library deps follow the rule stated in its header.

For every stage, the modules of src/mnistlab its script imports (directly or indirectly; plus the
registry's model loaders for stages that load models) must each be covered by a dep: the
module's file or a folder holding it. Paths written by a stage appear on its command line.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())

# Imports the stage script without running main() and prints the mnistlab modules it pulled in;
# when any of them calls the registry's load_model, the loaders' modules are imported as well.
PROBE = """
import importlib, json, runpy, sys
runpy.run_path(sys.argv[1], run_name="probe")
from pathlib import Path
def loaded():
    return {m.__file__ for name, m in list(sys.modules.items())
            if name.startswith("mnistlab") and getattr(m, "__file__", None)}
files = loaded()
script = Path(sys.argv[1]).read_text()
users = [f for f in files if not f.endswith("registry.py") and "load_model(" in Path(f).read_text()]
if users or "load_model(" in script:
    from mnistlab.registry import LOADERS
    for target in LOADERS.values():
        importlib.import_module(target.split(":")[0])
    files = loaded()
print(json.dumps(sorted(files)))
"""


def stage_definitions():
    for name, stage in DVC_YAML["stages"].items():
        body = stage.get("do", stage)
        yield name, body


STAGES = list(stage_definitions())


def library_files(script: Path) -> list[Path]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(script)], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    src = REPO / "src"
    return [Path(f).resolve().relative_to(src.resolve().parent) for f in json.loads(out)
            if Path(f).resolve().is_relative_to(src.resolve())]


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
