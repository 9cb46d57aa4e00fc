"""Training loop, stage script, saving/loading and the one-line errors of the PyTorch models."""

import json
import runpy

import numpy as np
import pytest
import torch
import yaml
from support.paths import REPO

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import Split, read_split
from mnistlab.core.params import load_params
from mnistlab.models.registry import check_params, load_model
from mnistlab.models.torch_models.augment import Augmenter
from mnistlab.models.torch_models.models import default_sizes
from mnistlab.models.torch_models.predictor import load_torch, save_torch
from mnistlab.models.torch_models.settings import TrainSettings, resolve_device, settings_from_params
from mnistlab.models.torch_models.train import train_model

STAGE = REPO / "stages" / "train_torch.py"
train_torch_main = runpy.run_path(str(STAGE))["main"]


def settings(variant: str, **kwargs) -> TrainSettings:
    return TrainSettings(model=f"torch_{variant}", builder=variant, sizes=default_sizes(variant), **kwargs)


def _tiny_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28), dtype=np.float32)
    return Split(x=x, y=rng.integers(0, 10, n).astype(np.uint8))


@pytest.mark.parametrize("name", ["cnn", "patchnet"])
def test_seeded_training_step_is_reproducible(name):
    train, val = _tiny_split(64, 0), _tiny_split(16, 1)
    run = settings(name, epochs=1, batch_size=64, augment=Augmenter(10, 0.2, 0.5), schedule="onecycle",
                   device="cpu")
    first, second = train_model(run, train, val), train_model(run, train, val)
    assert first.metrics["updates"] == 1
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert first.curves == second.curves
    torch.manual_seed(0)  # the step moved the weights away from a fresh initialisation
    fresh = train_model(settings(name, epochs=1, lr=1e-9), train, val)
    assert not torch.equal(fresh.model[1].weight, first.model[1].weight)


def test_one_epoch_on_the_sample_learns_and_round_trips(prepared_dir, tmp_path):
    train, val = read_split(prepared_dir / "train.npz"), read_split(prepared_dir / "val.npz")
    run = settings("cnn", epochs=1, augment=Augmenter(10, 0.2, 0.5), schedule="onecycle", lr=3e-3)
    result = train_model(run, train, val)
    assert result.metrics["val_accuracy"] > 0.7  # chance is 0.1
    assert result.metrics["best_update"] == result.metrics["updates"] == 32
    assert result.metrics["n_params"] == 206_922
    save_torch(tmp_path / "torch_cnn.pt", result.model, result.config)
    predictor = load_model(tmp_path / "torch_cnn.pt")
    proba = predictor.predict_proba(val.x)
    assert proba.shape == (len(val.y), 10) and predictor.n_params == 206_922
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert np.isclose((proba.argmax(1) == val.y).mean(), result.metrics["val_accuracy"])


def test_keep_chooses_the_best_or_the_last_validation_point():
    """Training with a learning rate so large that validation accuracy wanders: "best" returns the
    weights of the highest point, "last" those of the last point (the NumPy nets' rule, the twins')."""
    train, val = _tiny_split(256, 0), _tiny_split(64, 1)
    common = dict(epochs=3, batch_size=32, lr=0.05, log_every=2, device="cpu")
    best = train_model(settings("fnn", keep="best", **common), train, val)
    last = train_model(settings("fnn", keep="last", **common), train, val)
    accuracies = [a for _, a in best.curves["val/accuracy"]]  # (update, accuracy) per point
    assert len(set(accuracies)) > 1
    assert last.metrics["best_update"] == last.metrics["updates"] == 24
    for result in (best, last):  # the metric is the kept weights' accuracy on the validation split
        predicted = result.model(torch.from_numpy(val.x)).argmax(1).numpy()
        assert np.isclose((predicted == val.y).mean(), result.metrics["val_accuracy"])
    assert best.metrics["val_accuracy"] >= last.metrics["val_accuracy"]
    assert np.isclose(best.metrics["val_accuracy"], max(accuracies))
    assert np.isclose(last.metrics["val_accuracy"], [a for _, a in last.curves["val/accuracy"]][-1])
    with pytest.raises(MnistlabError, match="keep = 'first': expected one of best, last"):
        settings("fnn", keep="first")


def test_the_twins_keep_their_last_weights_like_the_numpy_net():
    params = load_params(REPO / "params.yaml")
    assert settings_from_params(params, "torch_mlp").keep == "last"
    assert settings_from_params(params, "torch_cnn").keep == "best"


def write_params(path, overrides: dict):
    """The repository's params.yaml (every key) with ``overrides`` merged in, section by section;
    a ``models`` mapping replaces the file's whole ``torch.models``."""
    def merge(base: dict, new: dict) -> dict:
        for key, value in new.items():
            both_dicts = isinstance(value, dict) and isinstance(base.get(key), dict)
            base[key] = merge(base[key], value) if both_dicts and key != "models" else value
        return base

    path.write_text(yaml.safe_dump(merge(yaml.safe_load((REPO / "params.yaml").read_text()), overrides)))
    return path


def run_stage(tmp_path, prepared_dir, model: str) -> None:
    train_torch_main(["--model", model, "--params", str(tmp_path / "params.yaml"),
                      "--train", str(prepared_dir / "train.npz"), "--val", str(prepared_dir / "val.npz"),
                      "--out", str(tmp_path / f"models/{model}.pt"),
                      "--metrics", str(tmp_path / f"metrics/train/{model}.json"),
                      "--curves", str(tmp_path / f"plots/curves/{model}")])


def test_stage_writes_model_metrics_and_twin_curves(prepared_dir, tmp_path):
    params = {"mlp": {"hidden_sizes": [32], "log_every_images": 640, "epochs": 1,
                      "adam": {"lr": 0.005, "batch_size": 64}},
              "torch": {"device": "cpu"}}
    write_params(tmp_path / "params.yaml", params)
    run_stage(tmp_path, prepared_dir, "torch_patchnet")
    metrics = json.loads((tmp_path / "metrics/train/torch_patchnet.json").read_text())
    expected = {"val_accuracy", "train_seconds", "n_params", "epochs", "best_update", "images_per_second"}
    assert expected <= set(metrics)
    assert metrics["epochs"] == 1 and metrics["updates"] == 32 and metrics["val_accuracy"] > 0.5
    curves = tmp_path / "plots/curves/torch_patchnet/plots/metrics"
    steps = [line.split("\t")[0] for line in (curves / "val/error.tsv").read_text().splitlines()[1:]]
    assert steps == ["10", "20", "30", "32"]  # every 10 updates and the last one
    for name in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        assert (curves / f"{name}.tsv").is_file()
    predictor = load_torch(tmp_path / "models/torch_patchnet.pt")
    assert predictor.config["sizes"]["hidden_sizes"] == [32] and predictor.config["normalize"] is False


def test_same_weights_give_the_same_file_bytes(tmp_path):
    result = train_model(settings("logreg", epochs=1), _tiny_split(8, 0), _tiny_split(8, 1))
    save_torch(tmp_path / "a.pt", result.model, result.config)
    save_torch(tmp_path / "b.pt", result.model, result.config)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_settings_resolve_per_model_overrides(tmp_path):
    params = {"mlp": {"hidden_sizes": [128, 64], "dropout": 0.2, "epochs": 7, "max_shift": 2,
                      "adam": {"lr": 0.002, "batch_size": 128}},
              "torch": {"epochs": 10, "schedule": "constant", "augment": {"enabled": True},
                        "models": {"cnn": {"epochs": 15, "schedule": "onecycle"},
                                   "logreg": {"augment": False}, "fnn": {}}}}
    write_params(tmp_path / "params.yaml", params)
    loaded = load_params(tmp_path / "params.yaml")
    cnn, fnn, logreg, mlp, patchnet = (settings_from_params(loaded, f"torch_{m}")
                                       for m in ("cnn", "fnn", "logreg", "mlp", "patchnet"))
    assert (cnn.epochs, cnn.schedule, fnn.epochs, fnn.schedule) == (15, "onecycle", 10, "constant")
    assert cnn.augment.enabled and cnn.normalize and cnn.log_every is None and not logreg.augment.enabled
    # the twins mirror the NumPy net's Adam run, and read nothing from torch.* but the device
    assert mlp.sizes == {"hidden_sizes": [128, 64], "dropout": 0.2} and mlp.log_every == 100
    assert (mlp.epochs, mlp.lr, mlp.batch_size, mlp.schedule, mlp.normalize) == (7, 0.002, 128, "step", False)
    assert mlp.augment.max_shift == 2 and mlp.augment.rotation_degrees == 0
    assert patchnet.epochs == 7 and patchnet.sizes["patch_size"] == 4
    assert patchnet.augment.rotation_degrees == 0
    assert patchnet.lr_param == "mlp.adam.lr" and cnn.lr_param == "torch.lr"


def test_twins_have_no_torch_models_section(tmp_path):
    path = write_params(tmp_path / "params.yaml", {"torch": {"models": {"patchnet": {"epochs": 3}}}})
    with pytest.raises(MnistlabError, match=r"torch\.models\.patchnet.*the twins read mlp"):
        check_params(load_params(path), path)


@pytest.mark.parametrize(
    ("torch_params", "key"),
    [({"lr": -1}, "torch.lr"), ({"batch_size": 0}, "torch.batch_size"),
     ({"models": {"cnn": {"lr": 0}}}, "torch.models.cnn.lr"),
     ({"models": {"cnn": {"batch_size": -64}}}, "torch.models.cnn.batch_size"),
     ({"models": {"resnet": {}}}, "torch.models.resnet"), ({"device": "tpu"}, "torch.device")],
)
def test_bad_params_give_one_line_errors_naming_the_key(tmp_path, torch_params, key):
    path = write_params(tmp_path / "params.yaml", {"torch": torch_params})
    with pytest.raises(MnistlabError, match=key) as err:
        check_params(load_params(path), path)
    assert "\n" not in str(err.value)


def test_unknown_model_in_the_stage_exits_with_one_line(tmp_path, capsys):
    write_params(tmp_path / "params.yaml", {})
    with pytest.raises(SystemExit) as exit_info:
        train_torch_main(["--model", "resnet", "--params", str(tmp_path / "params.yaml"), "--train", "t.npz",
                          "--val", "v.npz", "--out", "m.pt", "--metrics", "m.json", "--curves", "c"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model 'resnet'" in err


def test_cuda_without_gpu_names_torch_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MnistlabError, match=r"torch\.device = 'cuda'"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(MnistlabError, match="torch.device"):
        train_model(settings("logreg", device="cuda"), _tiny_split(8, 0), _tiny_split(8, 1))


def test_bad_model_files(tmp_path):
    with pytest.raises(MnistlabError, match="not found"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(MnistlabError, match="junk.pt: not a PyTorch file; expected a mnistlab PyTorch model"):
        load_model(tmp_path / "junk.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(MnistlabError, match="tensor.pt: holds a Tensor; expected a mnistlab PyTorch model"):
        load_model(tmp_path / "tensor.pt")
    result = train_model(settings("logreg", epochs=1), _tiny_split(8, 0), _tiny_split(8, 1))
    save_torch(tmp_path / "m.pt", result.model, result.config)
    with pytest.raises(MnistlabError, match=r"expected \(N, 28, 28\)"):
        load_model(tmp_path / "m.pt").predict_proba(np.zeros((2, 14, 14), np.float32))


def test_diverging_run_stops_with_a_one_line_error_and_no_model(tmp_path, prepared_dir):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"torch": {"device": "cpu", "epochs": 1, "schedule": "constant", "models": {"fnn": {"lr": 1e30}}}}))
    with pytest.raises(SystemExit) as exit_info:
        run_stage(tmp_path, prepared_dir, "torch_fnn")
    assert exit_info.value.code == 2
    assert not (tmp_path / "models").exists() and not (tmp_path / "metrics").exists()


def test_divergence_message_names_update_loss_and_param():
    from mnistlab.core.curves import check_finite

    expected = r"diverged at update 2: train/loss = nan with learning rate 1000; lower torch\.models\.fnn\.lr"
    with pytest.raises(MnistlabError, match=expected):
        check_finite(float("nan"), "train/loss", 2, 1e3, "torch.models.fnn.lr")
    check_finite(0.5, "train/loss", 1, 1e3, "torch.lr")


def test_weight_decay_applies_to_weights_only_and_twins_take_mlp_adam():
    from mnistlab.models.torch_models.models import build_model
    from mnistlab.models.torch_models.train import make_adam

    model = build_model("fnn", default_sizes("fnn"), True)
    optimizer = make_adam(model, settings("fnn", weight_decay=0.01))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and all(p.ndim == 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    params = load_params(REPO / "params.yaml")
    twin = settings_from_params(params, "torch_mlp")
    assert twin.betas == tuple(params.mlp.adam.betas) and twin.eps == params.mlp.adam.eps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_training_runs_unchanged_on_cuda_and_loads_on_cpu(tmp_path):
    augment = Augmenter(10.0, 0.2, 0.5)
    result = train_model(settings("cnn", epochs=1, device="cuda", augment=augment), _tiny_split(64, 0),
                         _tiny_split(32, 1))
    assert result.metrics["device"] == "cuda"
    save_torch(tmp_path / "m.pt", result.model, result.config)
    proba = load_model(tmp_path / "m.pt").predict_proba(np.zeros((2, 28, 28), np.float32))
    assert proba.shape == (2, 10)
