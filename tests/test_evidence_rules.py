"""The evidence layer names no model and reads JSON through one validated reader.

The model registry (``mnistlab.models.registry``) is the only list of model names: the evidence
modules and the compare stage name none (comparisons come from ``compare.pairs`` in params.yaml,
claims select their models by registry attributes), nor classify models by a name prefix.
"""

import ast
import re

import pytest
from support.paths import REPO

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_json
from mnistlab.models.registry import MODELS, select, select_one

EVIDENCE = sorted((REPO / "src" / "mnistlab" / "evidence").rglob("*.py")) + [REPO / "stages" / "compare.py"]
# a family prefix alone ("mlp_", f"torch_{variant}") or with part of a variant (f"mlp_adam-{init}")
PREFIXES = re.compile(r"(?<![\w.])(svm|mlp|torch)_([a-z]+-[a-z]*)?(?![\w-])")
NAME = re.compile("|".join(rf"(?<![\w-]){re.escape(name)}(?![\w-])" for name in MODELS))


@pytest.mark.parametrize("path", EVIDENCE, ids=[p.name for p in EVIDENCE])
def test_no_model_name_or_prefix_in_evidence_code_or_text(path):
    text = path.read_text()
    strings = [node.value for node in ast.walk(ast.parse(text))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    comments = [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]
    found = [s for s in strings + comments if NAME.search(s) or PREFIXES.search(s)]
    assert not found, found


def test_the_name_checks_catch_names_and_prefixes():
    for text in ["svm_pixels", "a mlp_sgd-he b", "torch_", "mlp_adam-", "(torch_cnn)"]:
        assert NAME.search(text) or PREFIXES.search(text), text
    for text in ["svm_pair", "mnistlab.models.torch_models", "robustness_svm_pairs.csv", "mlp.dropout"]:
        assert not (NAME.search(text) or PREFIXES.search(text)), text


def test_registry_selectors():
    assert select(family="numpy", init="he") == ("mlp_sgd-he", "mlp_adam-he")
    assert select(mlp_params=True)[-2:] == ("torch_patchnet", "torch_mlp")
    assert select(family="svm", features="gabor") == ("svm_gabor",)
    assert select(family="svm", init="he") == ()
    assert select_one(twin=True, builder="mlp") == "torch_mlp"
    with pytest.raises(MnistlabError, match="one model with twin=True, found torch_patchnet, torch_mlp"):
        select_one(twin=True)
    with pytest.raises(AttributeError, match="colour"):
        select(colour="red")
    numpy_nets = [m for m in MODELS.values() if m.family == "numpy"]
    assert {(m.optimizer, m.init) for m in numpy_nets} == {(o, i) for o in ("sgd", "adam")
                                                           for i in ("random", "he")}
    assert all(m.features is None for m in numpy_nets) and all(m.optimizer is None for m in MODELS.values()
                                                               if m.family != "numpy")


def test_read_json(tmp_path):
    path = tmp_path / "m.json"
    assert read_json(path, "metrics", required=False) is None
    with pytest.raises(MnistlabError, match=rf"^{re.escape(str(path))}: not found; expected metrics$"):
        read_json(path, "metrics")
    path.write_text('{"a": [1, 2.5, null]}')
    assert read_json(path, "metrics") == {"a": [1, 2.5, None]}
    for text, message in [("{", "not valid JSON"), ("[1]", "holds a JSON list, expected an object"),
                          ("3", "holds a JSON int"), (b"\xff\xfe{", "cannot be read")]:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(MnistlabError) as err:
            read_json(path, "the compare stage's metrics", required=False)
        assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
        assert "\n" not in str(err.value) and "the compare stage's metrics" in str(err.value)
