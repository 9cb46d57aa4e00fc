"""The one colour-blind-safe palette: a distinct colour and marker per model, stable when models are
added, and the same colours in the Vega templates of the plots page as in the PNG figures."""

import json
import re
import shutil

import numpy as np
import pytest
from matplotlib.colors import to_hex
from support.paths import REPO

from mnistlab.models.registry import MODELS
from mnistlab.reporting import figures, palette, plots
from mnistlab.reporting.palette import (
    CATEGORY_COLORS,
    COLORS,
    MARKERS,
    MODEL_COLORS,
    MODEL_MARKERS,
    PINNED,
    PINNED_MARKERS,
    UNKNOWN_COLOR,
    VERDICT_COLORS,
    assign,
    model_color,
    template_colors,
    update_templates,
)

TEMPLATES = REPO / ".dvc" / "plots"
#: Templates that colour models (each holds the palette's lookup table).
MODEL_TEMPLATES = ("overlay", "per_digit", "reliability", "accuracy_ci")
HEX = re.compile(r"^#[0-9A-F]{6}$")


def load(name: str) -> dict:
    return json.loads((TEMPLATES / f"{name}.json").read_text(encoding="utf-8"))


def test_every_model_has_its_own_colour_and_marker():
    assert list(MODEL_COLORS) == list(MODELS) and list(MODEL_MARKERS) == list(MODELS)
    assert all(HEX.match(color) for color in MODEL_COLORS.values())
    if len(MODELS) <= len(COLORS):
        assert len(set(MODEL_COLORS.values())) == len(MODELS)
    assert len({(MODEL_COLORS[m], MODEL_MARKERS[m]) for m in MODELS}) == len(MODELS)
    assert len(set(MODEL_MARKERS.values())) == len(MODELS)
    assert UNKNOWN_COLOR not in COLORS and model_color("not_a_model") == UNKNOWN_COLOR


def test_the_palette_is_tols_muted_scheme_first():
    # Paul Tol, Colour Schemes (SRON/EPS/TN/09-002, 2021): muted, in his order
    assert COLORS[:9] == ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
                          "#999933", "#AA4499")
    assert CATEGORY_COLORS[:3] == ("#4477AA", "#EE6677", "#228833")  # Tol's bright
    assert plots.WRONG_COLOR in COLORS


def test_adding_a_model_recolours_no_other():
    pinned = {m: PINNED[m] for m in PINNED if m in MODELS}
    assert {m: MODEL_COLORS[m] for m in pinned} == pinned
    names = ["torch_new_first", *MODELS, "torch_new_last"]
    grown, markers = assign(names), assign(names, PINNED_MARKERS, MARKERS)
    assert {m: grown[m] for m in MODELS} == MODEL_COLORS  # wherever the new models are inserted
    assert {m: markers[m] for m in MODELS} == MODEL_MARKERS
    assert len({(grown[n], markers[n]) for n in names}) == len(names)  # still a pair of their own
    without_one = assign([m for m in MODELS if m != "svm_gabor"])
    assert PINNED["svm_gabor"] not in without_one.values()  # a pinned colour stays reserved


def test_every_registry_model_is_pinned():
    missing = [m for m in MODELS if m not in PINNED]
    assert not missing, (f"append {', '.join(missing)} to mnistlab.reporting.palette.PINNED (the next "
                         "colours), so that no later model can move its colour")


@pytest.mark.parametrize("name", MODEL_TEMPLATES)
def test_templates_colour_models_as_the_figures_do(name):
    tables = template_colors(load(name))
    assert tables, f"{name}.json has no palette lookup"
    for table in tables:
        assert table == MODEL_COLORS, (f".dvc/plots/{name}.json disagrees with mnistlab.reporting.palette: "
                                       "run `python -m mnistlab.reporting.palette`")


def test_templates_are_current(tmp_path):
    shutil.copytree(TEMPLATES, tmp_path / "plots", ignore=shutil.ignore_patterns("vendor", "*.html"))
    assert update_templates(tmp_path / "plots") == []


def test_no_template_brings_its_own_model_colours():
    for path in TEMPLATES.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        for old in ("#4c78a8", "#f58518", "#e45756", "#d62728", "tab10", "category10"):
            assert old not in text, f"{path.name}: {old}"
        template = json.loads(text)
        for color in _color_encodings(template):
            if color.get("field") == "model":  # a legend of models: the palette's range
                assert color.get("scale") == {"range": {"field": palette.VEGA_FIELD}}, path.name


def _color_encodings(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("color"), dict) and "field" in node["color"]:
            found.append(node["color"])
        for value in node.values():
            found += _color_encodings(value)
    elif isinstance(node, list):
        for value in node:
            found += _color_encodings(value)
    return found


def test_category_and_verdict_colours_match():
    bars = load("grouped_bars")
    assert tuple(bars["encoding"]["color"]["scale"]["range"]) == CATEGORY_COLORS
    ranges = [c["scale"]["range"] for c in _color_encodings(load("forest")) if "scale" in c]
    assert ranges == [[VERDICT_COLORS["winner"], VERDICT_COLORS["none"]]]


def test_figures_draw_each_model_in_its_colour(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: saved.append(fig))
    steps = np.array([100, 200, 300])
    error, loss = np.array([0.3, 0.2, 0.1]), np.array([1.0, 0.5, 0.3])
    curves = {m: {"val/error": (steps, error), "val/loss": (steps, loss)}
              for m in ("mlp_adam-he", "torch_mlp")}
    figures.plot_curve_overlay(curves, tmp_path / "c.png", "twins")
    lines = {line.get_label(): to_hex(line.get_color()).upper() for line in saved[0].axes[0].get_lines()}
    assert lines == {m: MODEL_COLORS[m] for m in curves}
    rows = [{"model": m, "family": MODELS[m].family, "error_rate": e, "ci_low": 1 - e - 0.01,
             "ci_high": 1 - e + 0.005} for m, e in (("svm_gabor", 0.007), ("torch_cnn", 0.012))]
    figures.plot_leaderboard(rows, 10000, tmp_path / "l.png")
    drawn = {to_hex(line.get_color()).upper() for line in saved[1].axes[0].get_lines()}
    assert {MODEL_COLORS["svm_gabor"], MODEL_COLORS["torch_cnn"]} <= drawn
