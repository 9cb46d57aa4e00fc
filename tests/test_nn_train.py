"""Sequential save/load and prediction, training, the train_mlp stage and ``mnistlab gradcheck``."""

import argparse
import json
import runpy

import numpy as np
import pytest
from support.params import write_params
from support.paths import REPO

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_split
from mnistlab.core.params import load_params
from mnistlab.models.registry import load_model
from mnistlab.nn import gradcheck
from mnistlab.nn.layers import ShapeError
from mnistlab.nn.model import build_mlp, load_network
from mnistlab.nn.train import DivergenceError, random_shift, train_mlp

_MLP = load_params(REPO / "params.yaml").mlp
SMALL = _MLP.model_copy(update={
    "hidden_sizes": [32], "epochs": 2, "log_every_images": 1280, "dropout": 0.0, "max_shift": 0,
    "adam": _MLP.adam.model_copy(update={"batch_size": 64}),
})


@pytest.fixture(scope="module")
def splits(prepared_dir):
    train, val = read_split(prepared_dir / "train.npz"), read_split(prepared_dir / "val.npz")
    return (train.x, train.y), (val.x, val.y)


@pytest.mark.parametrize("embedding", [False, True])
def test_save_load_round_trip(tmp_path, embedding):
    model = build_mlp([16, 8], rng=np.random.default_rng(0), embedding=embedding, dropout=0.5)
    images = np.random.default_rng(1).random((5, 28, 28), dtype=np.float32)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.n_params == model.n_params
    assert repr(loaded) == repr(model)
    proba = loaded.predict_proba(images)
    assert proba.shape == (5, 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba, model.predict_proba(images))
    np.testing.assert_array_equal(proba, model.predict_proba(images.reshape(5, -1)))  # any layout
    assert loaded.hidden(images).shape == (5, 8)


def test_n_params_and_architecture():
    model = build_mlp([512], rng=np.random.default_rng(0))
    assert model.n_params == 784 * 512 + 512 + 512 * 10 + 10
    embedded = build_mlp([512], rng=np.random.default_rng(0), embedding=True)
    assert embedded.input_shape == (1, 28, 28)
    assert embedded.n_params == 8 * 16 + 8 + 392 * 512 + 512 + 5130
    with pytest.raises(MnistlabError, match="mlp.patch_size = 5"):
        build_mlp([8], embedding=True, patch_size=5)


def test_load_errors(tmp_path):
    with pytest.raises(MnistlabError, match="not found"):
        load_network(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MnistlabError, match="not a saved NumPy network"):
        load_network(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(MnistlabError, match="not a saved NumPy network"):
        load_network(tmp_path / "other.npz")
    model = build_mlp([4], rng=np.random.default_rng(0))
    model.layers[0].params["W"] = np.zeros((784, 5), np.float32)
    model.save(tmp_path / "bad.npz")
    with pytest.raises(MnistlabError, match=r"parameter 0.W is shape \(784, 5\), expected shape \(784, 4\)"):
        load_network(tmp_path / "bad.npz")
    with pytest.raises(ShapeError, match=r"images of shape \(2, 27, 27\)"):
        build_mlp([4]).predict_proba(np.zeros((2, 27, 27), np.float32))


@pytest.mark.parametrize("optimizer, init", [("adam", "he"), ("sgd", "he"), ("sgd", "random")])
def test_training_learns(splits, optimizer, init):
    model, metrics = train_mlp(SMALL, optimizer, init, *splits)
    assert metrics["val_accuracy"] > (0.85 if init == "he" else 0.6), metrics  # naive init is slower
    assert metrics["epochs"] == 2 and metrics["n_params"] == model.n_params
    batch = SMALL.adam.batch_size if optimizer == "adam" else SMALL.sgd.batch_size
    assert metrics["updates"] == 2 * -(-2000 // batch)
    assert model.layers[0].params["W"].dtype == np.float32


def test_embedding_network_learns(splits):
    params = SMALL.model_copy(update={"embedding": True, "dropout": 0.2})
    model, metrics = train_mlp(params, "adam", "he", *splits)
    assert metrics["val_accuracy"] > 0.7 and model.input_shape == (1, 28, 28)


def test_random_shift_moves_images_by_whole_pixels():
    images = np.zeros((200, 1, 28, 28), np.float32)
    images[:, 0, 14, 10] = 1.0
    shifted = random_shift(images, 2, np.random.default_rng(0))
    assert shifted.shape == images.shape and shifted.dtype == np.float32
    rows, cols = np.nonzero(shifted[:, 0].sum(axis=0))
    assert set(rows) == {12, 13, 14, 15, 16} and set(cols) == {8, 9, 10, 11, 12}
    np.testing.assert_array_equal(shifted.sum(axis=(1, 2, 3)), 1.0)
    np.testing.assert_array_equal(shifted, random_shift(images, 2, np.random.default_rng(0)))
    assert random_shift(images, 0, np.random.default_rng(0)) is images


def test_training_with_shifts_learns(splits):
    _, metrics = train_mlp(SMALL.model_copy(update={"max_shift": 1}), "adam", "he", *splits)
    assert metrics["val_accuracy"] > 0.8


def test_same_seed_same_weights_and_metrics(splits):
    params = SMALL.model_copy(update={"epochs": 1, "dropout": 0.3})
    (a, ma), (b, mb) = (train_mlp(params, "sgd", "he", *splits) for _ in range(2))
    for la, lb in zip(a.layers, b.layers, strict=True):
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key])
    ma.pop("train_seconds"), mb.pop("train_seconds")
    assert ma == mb


def test_divergence_names_step_loss_and_lr(splits):
    params = SMALL.model_copy(update={"sgd": SMALL.sgd.model_copy(update={"lr": 1e10})})
    message = r"diverged at update \d+: loss = (nan|inf) .*1e\+10.*mlp\.sgd\.lr"
    with pytest.raises(DivergenceError, match=message):
        train_mlp(params, "sgd", "he", *splits)


def run_stage(argv):
    main = runpy.run_path(str(REPO / "stages" / "train_mlp.py"), run_name="stage")["main"]
    return main(argv)


def stage_args(tmp_path, prepared_dir, mlp_params, name):
    write_params(tmp_path, {"mlp": mlp_params})
    return ["--params", str(tmp_path / "params.yaml"), "--train", str(prepared_dir / "train.npz"),
            "--val", str(prepared_dir / "val.npz"), "--model", str(tmp_path / f"models/{name}.npz"),
            "--metrics", str(tmp_path / f"metrics/train/{name}.json"),
            "--curves", str(tmp_path / f"plots/curves/{name}")]


def test_stage_writes_model_metrics_and_curves(tmp_path, prepared_dir):
    mlp = {"hidden_sizes": [16], "epochs": 1, "log_every_images": 640, "adam": {"batch_size": 64}}
    args = stage_args(tmp_path, prepared_dir, mlp, "mlp_adam-random")
    run_stage(["--optimizer", "adam", "--init", "random", *args])
    metrics = json.loads((tmp_path / "metrics/train/mlp_adam-random.json").read_text())
    assert set(metrics) == {"val_accuracy", "val_loss", "train_seconds", "n_params", "updates", "epochs",
                            "train_eval_accuracy", "train_eval_loss", "train_eval_images"}
    assert metrics["updates"] == 32  # ceil(2000 / 64)
    model = load_model(tmp_path / "models/mlp_adam-random.npz")
    assert model.n_params == metrics["n_params"] == 784 * 16 + 16 + 170
    curves = tmp_path / "plots/curves/mlp_adam-random/plots/metrics"
    for name in ("train/loss", "train/accuracy", "val/loss", "val/accuracy", "val/error"):
        rows = (curves / f"{name}.tsv").read_text().splitlines()
        assert rows[0] == f"step\t{name.split('/')[1]}"
        assert [row.split("\t")[0] for row in rows[1:]] == ["10", "20", "30", "32"]


def test_stage_diverging_run_writes_no_model(tmp_path, prepared_dir, capsys):
    mlp = {"hidden_sizes": [16], "dropout": 0.0, "max_shift": 0, "sgd": {"lr": 1e10}}
    args = stage_args(tmp_path, prepared_dir, mlp, "mlp_sgd-he")
    with pytest.raises(SystemExit) as exit_info:
        run_stage(["--optimizer", "sgd", "--init", "he", *args])
    assert exit_info.value.code == 2
    assert "mlp.sgd.lr" in capsys.readouterr().err
    assert not (tmp_path / "models").exists() and not (tmp_path / "metrics").exists()


def test_gradcheck_command(capsys):
    parser = argparse.ArgumentParser()
    gradcheck.add_arguments(parser)
    assert gradcheck.run(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    assert "whole network" in out and "PatchEmbedding" in out and "all 20 gradients within tolerance" in out
    assert gradcheck.run(parser.parse_args(["--step", "1e-1"])) == 1  # too coarse a step must fail
    assert "FAIL" in capsys.readouterr().out
