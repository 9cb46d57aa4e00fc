"""The one colour-blind-safe palette of every figure: a colour and a marker per model.

Every PNG (:mod:`mnistlab.reporting.figures`, :mod:`mnistlab.reporting.evidence_figures`, the
robustness figures) and every Vega-Lite template of ``dvc plots`` (``.dvc/plots/*.json``) draws a
model in the colour :func:`model_color` gives it, so ``torch_cnn`` is the same purple on every chart.

**Source.** Paul Tol, *Colour Schemes*, SRON technical note SRON/EPS/TN/09-002, issue 3.2
(18 August 2021), https://personal.sron.nl/~pault/: the qualitative **muted** scheme (rose,
indigo, sand, green, cyan, wine, teal, olive, purple), whose nine colours are distinct for normal
vision and for the two common kinds of colour blindness (deuteranopia, protanopia) and on white,
then the **vibrant** scheme's orange and blue (also colour-blind safe and distinct from the
muted nine), black (Tol's schemes are made to be distinct from black), and vibrant red. Tol's
qualitative schemes have at most nine colours: past nine, colour alone does not separate every
pair of models for every reader, so each model also has a marker (:func:`model_marker`), which the
PNG figures draw with the colour.

**Assignment** (:func:`assign`). Each model keeps the colour of :data:`PINNED` and the marker of
:data:`PINNED_MARKERS`, given in the order the models joined the registry, so adding a model never
recolours another, wherever it is inserted in :data:`mnistlab.models.registry.MODELS`. A model not
pinned yet takes the first colour and marker no model holds (registry order) until it is appended
to :data:`PINNED`. Past the 13 colours of :data:`COLORS`, colours repeat and the (colour, marker)
pair stays unique up to 15 models.

**Vega.** The templates read the same mapping from a ``lookup`` transform with the inline table
:func:`vega_lookup` (``{"model", "color"}`` rows) into the field :data:`VEGA_FIELD`, and colour
either with ``"scale": {"range": {"field": "model_color"}}``, so that a chart's legend lists only
the models it draws (resolved per panel: Vega-Lite cannot share a data-driven range across facet
panels), or with the colour itself (``"scale": null``) where the axis or the panel names the
model. ``python -m mnistlab.reporting.palette`` rewrites that table in every template of
``.dvc/plots/`` after the registry changes; ``tests/test_palette.py`` fails while a template
disagrees with :data:`MODEL_COLORS`.

Other categories (data splits, verdicts) use :data:`CATEGORY_COLORS`, Tol's **bright** scheme
(colour-blind safe); sequential scales (counts) use single-hue ramps, which stay ordered
for colour-blind readers.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from mnistlab.models.registry import MODELS

#: Tol's muted scheme (9), then vibrant orange and blue, black, vibrant red (see the module docstring).
COLORS: tuple[str, ...] = (
    "#CC6677",  # rose (muted)
    "#332288",  # indigo (muted)
    "#DDCC77",  # sand (muted)
    "#117733",  # green (muted)
    "#88CCEE",  # cyan (muted)
    "#882255",  # wine (muted)
    "#44AA99",  # teal (muted)
    "#999933",  # olive (muted)
    "#AA4499",  # purple (muted)
    "#EE7733",  # orange (vibrant)
    "#0077BB",  # blue (vibrant)
    "#000000",  # black
    "#CC3311",  # red (vibrant)
)
#: Matplotlib markers, one per model in the same order: with the colour, a pair no two models share.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p", "d", "H", "8")
#: Every model's colour, in the order the models joined the registry; never changed. A new model
#: is appended here with the next colour (tests/test_palette.py asks for it), so an insertion in
#: the middle of the registry moves no colour.
PINNED: dict[str, str] = dict(zip(  # past the 13 colours, they repeat (the marker tells them apart)
    ("svm_pixels", "svm_gabor", "mlp_sgd-random", "mlp_sgd-he", "mlp_adam-random", "mlp_adam-he",
     "torch_logreg", "torch_fnn", "torch_cnn", "torch_patchnet", "torch_mlp", "torch_lenet5",
     "torch_cnn_bn"), itertools.cycle(COLORS)))
#: Every model's marker, pinned as its colour is.
PINNED_MARKERS: dict[str, str] = dict(zip(PINNED, itertools.cycle(MARKERS)))
#: Colour of a name that is not a registry model (Tol's grey is "bad data"; this one is darker).
UNKNOWN_COLOR = "#777777"
#: Tol's bright scheme for categories that are not models: splits, verdicts, groups.
CATEGORY_COLORS: tuple[str, ...] = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377",
                                    "#BBBBBB")
#: The two verdicts of a paired comparison (forest plots, PNG and Vega): a winner (the interval at the
#: family's level excludes 0) in Tol's bright blue, no detectable difference in grey.
VERDICT_COLORS: dict[str, str] = {"winner": "#4477AA", "none": "#888888"}
#: The lookup's output field in the Vega templates.
VEGA_FIELD = "model_color"


def assign(names: Iterable[str], pinned: dict[str, str] | None = None,
           pool: tuple[str, ...] = COLORS) -> dict[str, str]:
    """A value of ``pool`` for each name: its pinned value, else the first of ``pool`` that is not
    pinned and not yet given, so a new name never changes another's.

    Parameters
    ----------
    names : iterable of str
        Model names in registry order.
    pinned : dict of str to str, optional
        Values that never change (default: :data:`PINNED` colours).
    pool : tuple of str
        The values in order (default: :data:`COLORS`).

    Returns
    -------
    dict of str to str
        Name -> value, in the order of ``names``. Pinned values stay reserved when their model is
        gone; once the pool is used up, values repeat in pool order (for colours, the markers then
        tell the models apart).
    """
    pinned = PINNED if pinned is None else pinned
    taken = set(pinned.values())
    free = [v for v in pool if v not in taken]
    given, k = {}, 0
    for name in dict.fromkeys(names):
        if name in pinned:
            given[name] = pinned[name]
        else:
            given[name] = free[k] if k < len(free) else pool[(k - len(free)) % len(pool)]
            k += 1
    return given


#: Registry model -> hex colour: what every figure and template uses.
MODEL_COLORS: dict[str, str] = assign(MODELS)
#: Registry model -> matplotlib marker (today's eleven pinned, as the colours).
MODEL_MARKERS: dict[str, str] = assign(MODELS, PINNED_MARKERS, MARKERS)


def model_color(name: str) -> str:
    """The hex colour ``#RRGGBB`` of a model (:data:`MODEL_COLORS`; :data:`UNKNOWN_COLOR` for a
    name the registry does not know)."""
    return MODEL_COLORS.get(name, UNKNOWN_COLOR)


def model_marker(name: str) -> str:
    """The matplotlib marker of a model (``"o"`` for a name the registry does not know)."""
    return MODEL_MARKERS.get(name, "o")


def category_color(index: int) -> str:
    """The ``index``-th colour of :data:`CATEGORY_COLORS` (cycling)."""
    return CATEGORY_COLORS[index % len(CATEGORY_COLORS)]


# -- the Vega-Lite templates -------------------------------------------------------------------------

def vega_lookup(field: str = "model") -> dict:
    """The Vega-Lite ``lookup`` transform that adds :data:`VEGA_FIELD` (a model's colour) to each row.

    Parameters
    ----------
    field : str
        The rows' model-name field.

    Returns
    -------
    dict
        ``{"lookup": field, "from": {"data": {"values": [{"model", "color"}, ...]}, "key": "model",
        "fields": ["color"]}, "as": [VEGA_FIELD], "default": UNKNOWN_COLOR}``.
    """
    return {"lookup": field,
            "from": {"data": {"values": [{"model": m, "color": c} for m, c in MODEL_COLORS.items()]},
                     "key": "model", "fields": ["color"]},
            "as": [VEGA_FIELD], "default": UNKNOWN_COLOR}


def _lookups(node) -> list[dict]:
    """Every lookup transform of a template (any depth) that writes :data:`VEGA_FIELD`."""
    found = []
    if isinstance(node, dict):
        if "lookup" in node and VEGA_FIELD in (node.get("as") or []):
            found.append(node)
        for value in node.values():
            found += _lookups(value)
    elif isinstance(node, list):
        for value in node:
            found += _lookups(value)
    return found


def template_colors(template: dict) -> list[dict[str, str]]:
    """The model colours of each palette lookup in a parsed template: one ``{model: colour}`` each."""
    return [{row["model"]: row["color"] for row in lookup["from"]["data"]["values"]}
            for lookup in _lookups(template)]


def update_templates(folder: str | Path) -> list[Path]:
    """Rewrite the palette table of every template in ``folder`` (``*.json``) to :data:`MODEL_COLORS`.

    Returns
    -------
    list of Path
        The templates changed.
    """
    changed = []
    for path in sorted(Path(folder).glob("*.json")):
        text = path.read_text(encoding="utf-8")
        template = json.loads(text)
        lookups = _lookups(template)
        for lookup in lookups:
            lookup.update(vega_lookup(lookup["lookup"]))
        new = json.dumps(template, indent=2, ensure_ascii=False) + "\n"
        if lookups and new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":  # python -m mnistlab.reporting.palette [.dvc/plots]
    for written in update_templates(sys.argv[1] if len(sys.argv) > 1 else ".dvc/plots"):
        print(f"updated {written}")
