from pathlib import Path

import pytest
import yaml

from mnistlab.core.errors import MnistlabError
from mnistlab.core.params import Params, load_params

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, data) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
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
    ],
)
def test_bad_values_name_the_key_in_one_line(tmp_path, data, fragment):
    with pytest.raises(MnistlabError) as info:
        load_params(write(tmp_path, data))
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_bad_source_says_what_is_allowed(tmp_path):
    with pytest.raises(MnistlabError, match="expected one of mnist, fashion-mnist, sample"):
        load_params(write(tmp_path, {"data": {"source": "nosuch"}}))


def test_sources_that_are_urls_or_existing_paths_pass(tmp_path):
    for source in ("sample", "https://example.org/mnist/", "file:///tmp/x", str(tmp_path)):
        assert load_params(write(tmp_path, {"data": {"source": source}})).data.source == source


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(MnistlabError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("svm: [unclosed")
    with pytest.raises(MnistlabError, match="not valid YAML: line 1, column 15: expected"):
        load_params(tmp_path / "bad.yaml")
