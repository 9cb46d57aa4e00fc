"""params.yaml files for tests: the repository's file with some keys changed.

params.yaml is the only place a value lives (a missing key is an error), so a test that changes
a few keys writes the whole file with those keys changed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from support.paths import REPO

REPO_PARAMS = REPO / "params.yaml"


def merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied key by key: nested dicts merged, other values replaced."""
    out = dict(base)
    for key, value in changes.items():
        nested = isinstance(value, dict) and value and isinstance(base.get(key), dict)
        out[key] = merged(base[key], value) if nested else value
    return out


def repo_params() -> dict:
    """The repository's params.yaml as a dict."""
    return yaml.safe_load(REPO_PARAMS.read_text())


def write_params(path: str | Path, changes: dict | str | None = None) -> Path:
    """Write the repository's params.yaml with ``changes`` (a dict, or YAML text) to ``path``.

    ``path`` is the file, or a folder to write ``params.yaml`` in. Returns the file's path.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "params.yaml"
    if isinstance(changes, str):
        changes = yaml.safe_load(changes) or {}
    path.write_text(yaml.safe_dump(merged(repo_params(), changes or {}), sort_keys=False))
    return path
