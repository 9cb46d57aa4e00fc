"""Which models a param reaches, and which params make the models, by the stages of dvc.yaml.

A swept param can change the models written by a stage that lists it, or by a stage that depends
on the outputs of such a stage (:func:`models_reached`); a run's models were made with the params
of the stages that write a model and of every stage upstream of them (:func:`training_params`).
``foreach`` and ``matrix`` stages are expanded first (:func:`stage_instances`). Only a parsed
dvc.yaml is read (:func:`load_dvc_yaml`); DVC is not called.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

_ITEM = re.compile(r"\$\{\s*(key|item(?:\.[\w-]+)?)\s*\}")


def _substitute(value, bindings: dict):
    if isinstance(value, str):
        return _ITEM.sub(lambda m: str(bindings.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_substitute(v, bindings) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, bindings): _substitute(v, bindings) for k, v in value.items()}
    return value


def stage_instances(dvc: dict) -> list[dict]:
    """Every stage of a parsed dvc.yaml with ``foreach`` and ``matrix`` expanded:
    ``{"name", "params", "deps", "outs"}`` with ``${key}`` and ``${item...}`` substituted; params
    are keys of params.yaml (``None``: the whole file), deps and outs are paths."""
    out = []
    for name, stage in (dvc.get("stages") or {}).items():
        if "foreach" in stage:
            items = stage["foreach"]
            pairs = items.items() if isinstance(items, dict) else enumerate(items)
            variants = []
            for key, item in pairs:
                bindings = {"key": key, "item": item}
                if isinstance(item, dict):
                    bindings |= {f"item.{k}": v for k, v in item.items()}
                variants.append((f"{name}@{key}", bindings))
            body = stage.get("do", {})
        elif "matrix" in stage:
            axes = stage["matrix"]
            variants = []
            for combo in itertools.product(*axes.values()):
                bindings = {f"item.{k}": v for k, v in zip(axes, combo, strict=True)}
                variants.append((f"{name}@{'-'.join(map(str, combo))}", bindings))
            body = stage
        else:
            variants, body = [(name, {})], stage
        for label, bindings in variants:
            params = []
            for entry in body.get("params") or []:
                entry = _substitute(entry, bindings)
                if isinstance(entry, dict):  # {file: [keys]} or {file: None}
                    for file, keys in entry.items():
                        if file == "params.yaml":
                            params += list(keys) if keys else [None]
                else:
                    params.append(entry)
            paths = {kind: [next(iter(e)) if isinstance(e, dict) else e
                            for e in _substitute(body.get(kind) or [], bindings)]
                     for kind in ("deps", "outs")}
            out.append({"name": label, "params": params, **paths})
    return out


def _reads(entries: list, param: str) -> bool:
    return any(e is None or param == e or param.startswith(f"{e}.") or e.startswith(f"{param}.")
               for e in entries)


def _overlaps(a: str, b: str) -> bool:
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")


def _model_name(path: str) -> str | None:
    found = re.fullmatch(r"models/([^/]+?)\.\w+", path)
    return found.group(1) if found else None


def models_reached(dvc: dict, params) -> set[str]:
    """The models a change of ``params`` can change, by the pipeline of ``dvc``.

    A stage is reached when its ``params`` list names one of ``params`` (a section names every key
    under it: ``mlp`` covers ``mlp.dropout``, and the swept ``mlp`` covers ``mlp.adam.lr``) or when
    one of its deps lies at, under or above an output of a reached stage; the models are the
    outputs ``models/<name>.<suffix>`` of reached stages.

    Parameters
    ----------
    dvc : dict
        A parsed dvc.yaml.
    params : iterable of str
        Flattened params keys (``prepare.train_size``, ``seed``).

    Returns
    -------
    set of str
    """
    stages, params = stage_instances(dvc), list(params)
    reached = {s["name"] for s in stages if any(_reads(s["params"], p) for p in params)}
    grew = True
    while grew:
        outs = [o for s in stages if s["name"] in reached for o in s["outs"]]
        new = {s["name"] for s in stages if s["name"] not in reached
               and any(_overlaps(d, o) for d in s["deps"] for o in outs)}
        reached |= new
        grew = bool(new)
    return {m for s in stages if s["name"] in reached for o in s["outs"] if (m := _model_name(o))}


def training_params(dvc: dict) -> list:
    """The params entries (keys or sections) of the stages that write a model and of every stage
    upstream of them: what a run's models were made with."""
    stages = stage_instances(dvc)
    wanted = {s["name"] for s in stages if any(_model_name(o) for o in s["outs"])}
    grew = True
    while grew:
        deps = [d for s in stages if s["name"] in wanted for d in s["deps"]]
        new = {s["name"] for s in stages if s["name"] not in wanted
               and any(_overlaps(d, o) for d in deps for o in s["outs"])}
        wanted |= new
        grew = bool(new)
    return sorted({e for s in stages if s["name"] in wanted for e in s["params"]}, key=str)


def load_dvc_yaml(path) -> dict | None:
    """A parsed dvc.yaml, or None when ``path`` is not a readable YAML mapping."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None
