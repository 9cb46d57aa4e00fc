"""Whether each sweep was made with today's params, and the notes and paragraphs that say so.

Today's ``params.yaml`` (:func:`today_params`) is compared with each sweep's params on the sections
of the stages that make the models (:func:`training_sections`, :func:`sweep_differences`); a claim
resting on a sweep made with other params says which keys differ and how to re-run it
(:func:`_made_with`), and the report describes each sweep (:func:`describe_sweeps`).
"""

from __future__ import annotations

import os
from pathlib import Path

from mnistlab.evidence.claims.ablation import _number
from mnistlab.evidence.claims.roles import NEEDS, OVERFIT, SOURCES
from mnistlab.evidence.claims.rows import Sweeps
from mnistlab.evidence.sweep import (
    Run,
    flatten_params,
    local_path,
    params_differences,
    runs_from_json,
    training_params,
)


def today_params(params_path: str | os.PathLike | None,
                 repo: str | os.PathLike | None = None) -> dict | None:
    """Today's params: ``params.yaml`` flattened (``mlp.adam.lr``), local paths as sweep summaries
    record them (:func:`mnistlab.evidence.sweep.local_path`, relative to ``repo``, by default
    the file's folder); None for a file that is missing or not a YAML mapping."""
    import yaml

    if params_path is None:
        return None
    try:
        data = yaml.safe_load(Path(params_path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    repo = Path(repo) if repo is not None else Path(params_path).parent
    return {key: local_path(value, repo) for key, value in flatten_params(data).items()}


def training_sections(dvc: dict | None) -> list[str] | None:
    """The sections of params.yaml (top-level keys) that the stages making the models read, and the
    stages upstream of them (:func:`mnistlab.evidence.sweep.training_params` of a parsed dvc.yaml);
    None without a pipeline."""
    entries = training_params(dvc) if dvc else [None]
    if None in entries:  # no pipeline, or a stage that reads the whole file
        return None
    return sorted({str(entry).split(".")[0] for entry in entries})


def sweep_differences(data: dict | None, today: dict | None, training: list[str] | None) -> list[str] | None:
    """How a sweep's params differ from today's, for the keys under ``training`` (keys or sections
    of params.yaml; None: every key) and the seed and swept params aside
    (:func:`mnistlab.evidence.sweep.params_differences`): ``"`key`: <sweep> here, <today>
    today"``. None when the sweep or today's params are unknown."""
    if data is None or today is None:
        return None
    runs = runs_from_json(data)
    if training is not None:
        def kept(key: str) -> bool:
            return any(key == entry or key.startswith(f"{entry}.") for entry in training)

        runs = [Run(**{**r.__dict__, "params": {k: v for k, v in r.params.items()
                                                 if kept(k) or k == data["seed_param"]}}) for r in runs]
        today = {k: v for k, v in today.items() if kept(k)}
    return params_differences(runs, today, None, data["seed_param"])


def _keys(differ: list[str]) -> str:
    """The keys of :func:`params_differences` lines (``"`key`: x here, y today"``)."""
    return ", ".join(d.split(":", 1)[0] for d in differ)


def _made_with(rows: list[dict], sweeps: Sweeps, today: dict | None, training: list[str] | None,
               paths: dict, ablation: bool) -> list[str]:
    """Notes on the sweeps a claim's evidence comes from: made with the current params or not (which
    keys differ; their values are in :func:`describe_sweeps`), and how to re-run them."""
    out = []
    for source in dict.fromkeys(r["source"] for r in rows if r["source"] in ("seeds", "learning_curve",
                                                                            "ablation")):
        data = sweeps.get(source)
        if data is None or all(r["verdict"].startswith("needs") for r in rows if r["source"] == source):
            continue
        differ = sweep_differences(data, today, training)
        name = f"the {SOURCES[source]} (`{paths[source]}`)"
        if differ is None:
            out.append(f"Rests on {name}; today's params.yaml was not read, so whether it describes what the "
                       "pipeline trains now is not known.")
            continue
        recipe, differ = _split_recipe(differ, ablation)
        if recipe:
            out.append(f"Rests on {name}, made with the overfitting recipe on purpose ("
                       f"{'; '.join(recipe)}) and otherwise with the current params"
                       + (f", except {_keys(differ)} (values under *The sweeps* above); re-run it: "
                          f"{NEEDS[source].split(': ', 1)[1]}." if differ else "."))
        elif differ:
            out.append(f"Rests on {name}, made with other params than today's params.yaml ({_keys(differ)}; "
                       "values under *The sweeps* above), so its rows describe that recipe, not what the "
                       f"pipeline trains now. Re-run it: {NEEDS[source].split(': ', 1)[1]}.")
        else:
            out.append(f"Rests on {name}, made with the current params (the keys of the stages that make the "
                       "models).")
    return out


def _split_recipe(differ: list[str], ablation: bool) -> tuple[list[str], list[str]]:
    """The differences of :func:`sweep_differences` split into the overfitting recipe's keys
    (:data:`OVERFIT`, different from the defaults on purpose in the ablation) and the rest."""
    recipe = [d for d in differ if ablation and any(d.startswith(f"`{k}`") for k in OVERFIT)]
    return recipe, [d for d in differ if d not in recipe]


def describe_sweeps(data: dict[str, dict | None], today: dict | None, training: list[str] | None,
                    paths: dict | None = None) -> list[str]:
    """One paragraph per sweep for the report: its runs and seeds, whether it was made with the current
    params (each key that differs, with both values) and the notes its own report gives."""
    paths = {"seeds": "reports/seeds/sweep.json", "ablation": "reports/ablation/sweep.json",
             "learning_curve": "reports/learning_curve/sweep.json", **(paths or {})}
    out = []
    for source, sweep in data.items():
        if sweep is None:
            out.append(f"- **{SOURCES[source]}** (`{paths[source]}`): missing; {NEEDS[source]}.")
            continue
        runs = runs_from_json(sweep)
        seeds = sorted({fmt_seed(r.params.get(sweep["seed_param"])) for r in runs})
        varying = ", ".join(f"`{k}`" for k in sweep.get("varying_params") or []) or "the seed only"
        differ = sweep_differences(sweep, today, training)
        recipe, stale = _split_recipe(differ or [], source == "ablation")
        made = ("today's params.yaml was not read" if differ is None else
                f"made with other params than today's params.yaml: {'; '.join(stale)}" if stale else
                "made with the current params")
        if recipe:
            made += f", apart from the overfitting recipe, chosen on purpose: {'; '.join(recipe)}"
        own = [n for n in sweep.get("notes") or []
               if not n.startswith(("Made with other params", "The recipe of these runs"))]
        out.append(f"- **{SOURCES[source]}** (`{paths[source]}`): {len(runs)} runs, seeds "
                   f"{', '.join(seeds)}, varying {varying}; {made}." + "".join(f" {n}" for n in own))
    return out


def fmt_seed(value) -> str:
    number = _number(value)
    return str(value) if number is None else f"{number:g}"
