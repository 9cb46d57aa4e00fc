"""Training loop, stage script, saving/loading and the one-line errors of the PyTorch models."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mnistlab.data.prepare import Split, load_split
from mnistlab.errors import MnistlabError
from mnistlab.params import load_params
from mnistlab.predictors import load_predictor
from mnistlab.torch_models.augment import Augmenter
from mnistlab.torch_models.models import architecture
from mnistlab.torch_models.train import (
    TrainSettings,
    load_model,
    resolve_device,
    save_model,
    settings_from_params,
    train_model,
)

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "stages" / "train_torch.py"
train_torch_main = runpy.run_path(str(STAGE))["main"]


def _tiny_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28), dtype=np.float32)
    return Split(x=x, y=rng.integers(0, 10, n).astype(np.uint8), x14=x[:, ::2, ::2])


@pytest.mark.parametrize("name", ["cnn", "patchnet"])
def test_seeded_training_step_is_reproducible(name):
    train, val = _tiny_split(64, 0), _tiny_split(16, 1)
    settings = TrainSettings(model=name, sizes=architecture(name), epochs=1, batch_size=64,
                             augment=Augmenter(10, 0.2, 0.5), schedule="onecycle", device="cpu")
    first, second = train_model(settings, train, val), train_model(settings, train, val)
    assert first.metrics["updates"] == 1
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.history == second.history
    torch.manual_seed(0)  # the step moved the weights away from a fresh initialisation
    fresh = train_model(TrainSettings(model=name, sizes=architecture(name), epochs=1, lr=1e-9), train, val)
    assert not torch.equal(fresh.model[1].weight, first.model[1].weight)


def test_one_epoch_on_the_sample_learns_and_round_trips(prepared_dir, tmp_path):
    train, val = load_split("train", prepared_dir), load_split("val", prepared_dir)
    settings = TrainSettings(model="cnn", sizes=architecture("cnn"), epochs=1,
                             augment=Augmenter(10, 0.2, 0.5), schedule="onecycle", lr=3e-3)
    result = train_model(settings, train, val)
    assert result.metrics["val_accuracy"] > 0.7  # chance is 0.1
    assert result.metrics["best_epoch"] == 1 and result.metrics["n_params"] == 206_922
    save_model(tmp_path / "torch_cnn.pt", result.model, result.config)
    predictor = load_predictor(tmp_path / "torch_cnn.pt")
    proba = predictor.predict_proba(val.x)
    assert proba.shape == (len(val.y), 10) and predictor.n_params == 206_922
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.isclose((proba.argmax(1) == val.y).mean(), result.metrics["val_accuracy"])


def test_stage_writes_model_metrics_and_twin_curves(prepared_dir, tmp_path):
    params = {"mlp": {"hidden_sizes": [32]},
              "torch": {"device": "cpu", "log_every": 10,
                        "models": {"patchnet": {"lr": 0.005, "epochs": 1, "batch_size": 64}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    train_torch_main(["--model", "patchnet", "--params", str(tmp_path / "params.yaml"),
                      "--data", str(prepared_dir), "--out", str(tmp_path)])
    metrics = json.loads((tmp_path / "metrics/train/torch_patchnet.json").read_text())
    expected = {"val_accuracy", "train_seconds", "n_params", "epochs", "best_epoch", "images_per_second"}
    assert expected <= set(metrics)
    assert metrics["epochs"] == 1 and metrics["updates"] == 32 and metrics["val_accuracy"] > 0.5
    curves = tmp_path / "plots/curves/torch_patchnet/plots/metrics"
    steps = [line.split("\t")[0] for line in (curves / "val/error.tsv").read_text().splitlines()[1:]]
    assert steps == ["10", "20", "30", "32"]  # every 10 updates and the last one
    for name in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        assert (curves / f"{name}.tsv").is_file()
    predictor = load_model(tmp_path / "models/torch_patchnet.pt")
    assert predictor.config["sizes"]["hidden_sizes"] == [32] and predictor.config["normalize"] is False


def test_settings_resolve_per_model_overrides(tmp_path):
    params = {"mlp": {"hidden_sizes": [128, 64], "dropout": 0.2, "epochs": 7, "max_shift": 2,
                      "adam": {"lr": 0.002, "batch_size": 128}},
              "torch": {"epochs": 10, "schedule": "constant", "augment": {"enabled": True},
                        "models": {"cnn": {"epochs": 15, "schedule": "onecycle"},
                                   "patchnet": {"epochs": 3, "augment": True}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    loaded = load_params(tmp_path / "params.yaml")
    cnn, fnn, mlp, patchnet = (settings_from_params(loaded, m) for m in ("cnn", "fnn", "mlp", "patchnet"))
    assert (cnn.epochs, cnn.schedule, fnn.epochs, fnn.schedule) == (15, "onecycle", 10, "constant")
    assert cnn.augment.enabled and cnn.normalize and cnn.log_every is None
    # the twins mirror the NumPy net's Adam run unless overridden
    assert mlp.sizes == {"hidden_sizes": [128, 64], "dropout": 0.2} and mlp.log_every == 100
    assert (mlp.epochs, mlp.lr, mlp.batch_size, mlp.schedule, mlp.normalize) == (7, 0.002, 128, "step", False)
    assert mlp.augment.max_shift == 2 and mlp.augment.rotation_degrees == 0
    assert patchnet.epochs == 3 and patchnet.augment.rotation_degrees == 10
    assert patchnet.augment.max_shift == 0


@pytest.mark.parametrize(
    ("torch_params", "key"),
    [({"lr": -1}, "torch.lr"), ({"batch_size": 0}, "torch.batch_size"),
     ({"models": {"cnn": {"lr": 0}}}, "torch.models.cnn.lr"),
     ({"models": {"cnn": {"batch_size": -64}}}, "torch.models.cnn.batch_size"),
     ({"models": {"resnet": {}}}, "torch.models.resnet"), ({"device": "tpu"}, "torch.device")],
)
def test_bad_params_give_one_line_errors_naming_the_key(tmp_path, torch_params, key):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"torch": torch_params}))
    with pytest.raises(MnistlabError, match=key) as err:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(err.value)


def test_unknown_model_in_the_stage_exits_with_one_line(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text("torch: {}\n")
    with pytest.raises(SystemExit) as exit_info:
        train_torch_main(["--model", "resnet", "--params", str(tmp_path / "params.yaml")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--model 'resnet'" in err


def test_cuda_without_gpu_names_torch_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MnistlabError, match=r"torch\.device = 'cuda'"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(MnistlabError, match="torch.device"):
        train_model(TrainSettings(model="logreg", device="cuda"), _tiny_split(8, 0), _tiny_split(8, 1))


def test_bad_model_files(tmp_path):
    with pytest.raises(MnistlabError, match="not found"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(MnistlabError, match="not a mnistlab PyTorch model"):
        load_model(tmp_path / "junk.pt")
    result = train_model(TrainSettings(model="logreg", epochs=1), _tiny_split(8, 0), _tiny_split(8, 1))
    save_model(tmp_path / "m.pt", result.model, result.config)
    with pytest.raises(MnistlabError, match=r"expected \(N, 28, 28\)"):
        load_model(tmp_path / "m.pt").predict_proba(np.zeros((2, 14, 14), np.float32))


def test_diverging_run_stops_with_a_one_line_error_and_no_model(tmp_path):
    from mnistlab.torch_models.train import check_finite

    settings = TrainSettings(model="fnn", lr=1e3)
    expected = r"fnn: training diverged in epoch 2: train/loss = nan .*torch\.lr"
    with pytest.raises(MnistlabError, match=expected):
        check_finite({"epoch": 2, "train/loss": float("nan"), "val/loss": 1.0}, settings)
    check_finite({"epoch": 1, "train/loss": 0.5, "val/loss": 0.4}, settings)


def test_weight_decay_applies_to_weights_only_and_twins_take_mlp_adam():
    from mnistlab.torch_models.models import build_model
    from mnistlab.torch_models.train import make_optimizer

    model = build_model("fnn", architecture("fnn"), True)
    optimizer = make_optimizer(model, TrainSettings(model="fnn", weight_decay=0.01))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and all(p.ndim == 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    params = load_params(REPO / "params.yaml")
    twin = settings_from_params(params, "mlp")
    assert twin.betas == tuple(params.mlp.adam.betas) and twin.eps == params.mlp.adam.eps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_training_runs_unchanged_on_cuda_and_loads_on_cpu(tmp_path):
    augment = Augmenter(10.0, 0.2, 0.5)
    settings = TrainSettings(model="cnn", sizes=architecture("cnn"), epochs=1, device="cuda", augment=augment)
    result = train_model(settings, _tiny_split(64, 0), _tiny_split(32, 1))
    assert result.metrics["device"] == "cuda"
    save_model(tmp_path / "m.pt", result.model, result.config)
    proba = load_model(tmp_path / "m.pt").predict_proba(np.zeros((2, 28, 28), np.float32))
    assert proba.shape == (2, 10)
