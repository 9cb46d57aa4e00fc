from pathlib import Path

import pytest
import yaml
from support.paths import REPO

from mnistlab.core.errors import MnistlabError
from mnistlab.core.params import Params, load_params
from mnistlab.models.registry import check_params


def merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied key by key (nested dicts merged, other values replaced)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return out


def write(tmp_path, data, base: dict | None = None) -> Path:
    """The repository's params.yaml with the keys of ``data`` changed, written to ``tmp_path``."""
    path = tmp_path / "params.yaml"
    repo = yaml.safe_load((REPO / "params.yaml").read_text()) if base is None else base
    path.write_text(yaml.safe_dump(merged(repo, data), sort_keys=False))
    return path


def test_repo_params_file_is_valid_and_complete():
    params = load_params(REPO / "params.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    # every section of the schema is spelled out in params.yaml, so `-S` can reach every knob
    assert set(raw) == set(Params.model_fields)
    assert params.data.source == "mnist"


def test_strings_from_dvc_exp_run_are_cast(tmp_path):
    params = load_params(write(tmp_path, {
        "svm": {"C": "10", "gamma": "0.05", "resolution": "28", "train_size": "500"},
        "prepare": {"val_size": "0.2", "deskew": "false", "train_size": "1000"},
        "mlp": {"adam": {"lr": "3e-4"}},
    }))
    assert params.svm.C == 10.0 and params.svm.gamma == 0.05 and params.svm.resolution == 28
    assert params.svm.train_size == 500
    assert params.prepare.val_size == 0.2 and params.prepare.deskew is False
    assert params.prepare.train_size == 1000 and isinstance(params.prepare.train_size, int)
    assert params.mlp.adam.lr == 3e-4
    assert load_params(write(tmp_path, {"svm": {"gamma": "scale"}})).svm.gamma == "scale"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"svm": {"C": -1}}, "svm.C = -1"),
        ({"svm": {"C": "abc"}}, "svm.C = 'abc'"),
        ({"svm": {"resolution": 20}}, "svm.resolution = 20"),
        ({"svm": {"gamma": "big"}}, "svm.gamma"),
        ({"svm": {"kernel": "linear"}}, "svm.kernel: unknown key"),
        ({"data": {"source": "nosuch"}}, "data.source = 'nosuch'"),
        ({"prepare": {"val_size": 0}}, "prepare.val_size"),
        ({"nosection": {}}, "nosection: unknown key"),
        ({"mlp": {"patch_size": 5}}, "mlp.patch_size = 5: expected a divisor of the image side 28"),
        ({"mlp": {"hidden_sizes": []}}, "mlp.hidden_sizes = []"),
        ({"prepare": {"val_size": 1.0}}, "prepare.val_size = 1.0: expected a count"),
        ({"torch": {"models": {"patchnet": {}}}}, "torch.models.patchnet"),
        # values that would fail later, or take the machine down, are refused here
        ({"svm": {"C": float("inf")}}, "svm.C = inf"),
        ({"mlp": {"adam": {"lr": float("nan")}}}, "mlp.adam.lr = nan"),
        ({"mlp": {"adam": {"lr": 1e9}}}, "mlp.adam.lr = 1000000000.0"),
        ({"mlp": {"hidden_sizes": [100000000]}}, "mlp.hidden_sizes.0 = 100000000"),
        ({"mlp": {"hidden_sizes": [16384, 16384]}}, "mlp.hidden_sizes = [16384, 16384]: 281,"),
        ({"compare": {"n_resamples": 100000000}}, "compare.n_resamples = 100000000"),
        ({"report": {"gallery_size": 100000000}}, "report.gallery_size = 100000000"),
        ({"robustness": {"corruptions": {"rotation": []}}}, "robustness.corruptions.rotation = []"),
        ({"robustness": {"corruptions": {"zoom": [1.2]}}}, "robustness.corruptions.zoom: unknown key"),
        ({"robustness": {"corruptions": {"noise": [0.2, 1.5]}}}, "robustness.corruptions.noise.1 = 1.5"),
        ({"compare": {"pairs": []}}, "compare.pairs = []"),
        ({"compare": {"pairs": [{"question": "q", "a": "svm_gabor", "b": "nosuch"}]}}, "compare.pairs.0.b"),
        ({"compare": {"pairs": [{"question": "q", "a": "svm_gabor", "b": "svm_gabor"}]}},
         "compare.pairs.0.b = 'svm_gabor': expected a model other than a"),
        ({"prepare": {"train_size": 5}}, "prepare.train_size = 5"),
        ({"prepare": {"train_limit": 3}}, "prepare.train_limit = 3"),
        ({"prepare": {"train_limit": 15}},  # 0.1 of 15 is 2 validation images: no stratified split
         "prepare.train_limit = 15: prepare.val_size = 0.1 takes 2 of these 15 images for validation"),
        ({"prepare": {"train_limit": 19690, "val_size": 19685}}, "prepare.train_limit = 19690"),
        ({"prepare": {"train_limit": 1000, "train_size": 950}},
         "prepare.train_size = 950: more than the 900 training images that prepare.train_limit = 1000"),
        ({"gabor": {"kernel_size": 12}}, "gabor.kernel_size = 12: expected an odd kernel size"),
        ({"gabor": {"pool": 3}}, "gabor.pool = 3: expected a multiple of gabor.stride = 2"),
        ({"gabor": {"pca_components": 100000}}, "gabor.pca_components = 100000: above the"),
    ],
)
def test_bad_values_name_the_key_in_one_line(tmp_path, data, fragment):
    path = write(tmp_path, data)
    with pytest.raises(MnistlabError) as info:  # what the validate stage runs
        check_params(load_params(path), path)
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_bad_source_says_what_is_allowed(tmp_path):
    with pytest.raises(MnistlabError, match="expected one of mnist, fashion-mnist, sample"):
        load_params(write(tmp_path, {"data": {"source": "nosuch"}}))


def test_sources_that_are_urls_or_existing_paths_pass(tmp_path):
    for source in ("sample", "https://example.org/mnist/", "file:///tmp/x", str(tmp_path)):
        assert load_params(write(tmp_path, {"data": {"source": source}})).data.source == source


def test_every_pytorch_model_of_the_registry_needs_an_entry(tmp_path):
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    del base["torch"]["models"]["fnn"]
    path = write(tmp_path, {}, base)
    with pytest.raises(MnistlabError, match=r"torch.models: missing fnn: every PyTorch model"):
        check_params(load_params(path), path)


def test_an_empty_corruption_set_is_refused(tmp_path):
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    base["robustness"]["corruptions"] = {}
    with pytest.raises(MnistlabError, match="robustness.corruptions = {}: expected at least one"):
        load_params(write(tmp_path, {}, base))


@pytest.mark.parametrize("key", ["svm.C", "mlp.adam.lr", "prepare.train_limit", "seed", "compare.pairs"])
def test_a_missing_key_is_an_error_naming_it(tmp_path, key):
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    *parents, last = key.split(".")
    section = base
    for part in parents:
        section = section[part]
    del section[last]
    with pytest.raises(MnistlabError) as info:
        load_params(write(tmp_path, {}, base))
    assert f"{key}: missing" in str(info.value) and "\n" not in str(info.value)


def test_every_key_of_params_yaml_is_declared_without_a_default():
    from pydantic import BaseModel

    def defaults(model: type[BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found += defaults(annotation, f"{prefix}{name}.")
            elif not field.is_required() and model.__name__ not in ("TorchModelParams", "CorruptionParams"):
                found.append(prefix + name)
        return found

    assert defaults(Params, "") == []


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(MnistlabError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("svm: [unclosed")
    with pytest.raises(MnistlabError, match="not valid YAML: line 1, column 15: expected"):
        load_params(tmp_path / "bad.yaml")
