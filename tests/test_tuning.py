"""``mnistlab tune``: a tiny study of every family on the sample, scored on validation only.

The study runs on a prepared folder that holds no test split, with every ``.npz`` read recorded:
tuning never reads the test split. Every family gets the same number of trials, each recorded
with its values, validation accuracy and seconds.
"""

import csv
import json
import shutil

import numpy as np
import pytest
from support.params import repo_params, write_params

from mnistlab.cli.main import main
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_split
from mnistlab.core.params import load_params
from mnistlab.models import tuning
from mnistlab.models.torch_models.models import default_sizes
from mnistlab.models.tuning import FAMILIES, StudyResult, TrialRecord, run_study
from mnistlab.reporting.tuning import tuning_markdown

#: A study of seconds: 2 trials per family, 1 epoch, small spaces.
TINY = {
    "tune": {
        "n_trials": 2, "seed": 0, "train_size": 600,
        "gabor": {"frequencies": [[0.1, 0.2, 0.3], [0.1, 0.25]], "pool": [4], "pca_components": [50, 100]},
        "mlp": {"width": [64, repo_params()["mlp"]["hidden_sizes"][0]]},
        "cnn": {"width": [8], "epochs": [1, 1]},
    },
    "mlp": {"epochs": 1},
}


@pytest.fixture(scope="module")
def train_val_only(prepared_dir, tmp_path_factory):
    """The prepared training and validation splits, in a folder without the test split."""
    folder = tmp_path_factory.mktemp("train_val")
    for name in ("train.npz", "val.npz"):
        shutil.copy(prepared_dir / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tiny_study(train_val_only, tmp_path_factory):
    """``mnistlab tune`` of every family on the tiny settings, every .npz read recorded."""
    top = tmp_path_factory.mktemp("tune")
    params = write_params(top / "params.yaml", TINY)
    reads = []
    original = np.load

    def recording_load(file, *args, **kwargs):
        reads.append(str(file))
        return original(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "load", recording_load)
        code = main(["tune", "--params", str(params), "--train", str(train_val_only / "train.npz"),
                     "--val", str(train_val_only / "val.npz"), "--out", str(top / "tuning")])
    return code, top / "tuning", reads


def test_tuning_reads_the_training_and_validation_splits_only(tiny_study, train_val_only):
    code, _, reads = tiny_study
    assert code == 0
    assert reads and not any("test" in path.rsplit("/", 1)[-1] for path in reads)
    assert {path.rsplit("/", 1)[-1] for path in reads} <= {"train.npz", "val.npz"}
    assert not (train_val_only / "test.npz").exists()


def test_tuning_refuses_to_read_a_test_split_even_when_one_is_given(tmp_path, prepared_dir, monkeypatch):
    """The command has no test option; the library takes splits, not paths, and reads nothing."""
    def no_test(path):
        if "test" in str(path):
            raise AssertionError(f"tuning read {path}")
        return read_split(path)

    monkeypatch.setattr("mnistlab.core.io.read_split", no_test)
    params = load_params(write_params(tmp_path / "params.yaml", TINY))
    train, val = read_split(prepared_dir / "train.npz"), read_split(prepared_dir / "val.npz")
    result = run_study(params, "svm", train, val, log=lambda line: None)
    assert len(result.trials) == 2
    with pytest.raises(SystemExit):  # argparse: there is no --test option
        main(["tune", "--test", str(prepared_dir / "test.npz")])


def test_every_family_gets_the_same_number_of_trials_each_recorded(tiny_study):
    _, out, _ = tiny_study
    for family in FAMILIES:
        with open(out / f"{family}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert [int(row["trial"]) for row in rows] == [0, 1]
        for row in rows:
            assert row["state"] == "complete"
            assert 0 < float(row["val_accuracy"]) <= 1 and float(row["seconds"]) >= 0
        summary = json.loads((out / f"{family}.json").read_text())
        assert summary["n_trials"] == 2 and len(summary["trials"]) == 2
        assert summary["n_train"] == 600 and summary["n_val"] == 500
        assert summary["seconds"] >= summary["trial_seconds"] >= 0
        assert summary["best"]["val_accuracy"] == max(t["val_accuracy"] for t in summary["trials"])
        assert summary["settings"]


def test_the_first_trial_is_the_current_setting_when_it_lies_in_the_space(tiny_study):
    _, out, _ = tiny_study
    current = repo_params()
    svm = json.loads((out / "svm.json").read_text())
    assert svm["baseline"]["number"] == 0 and current["svm"]["gamma"] == "scale"
    assert svm["trials"][0]["values"]["C"] == current["svm"]["C"]
    assert svm["trials"][0]["values"]["gamma_factor"] == current["svm"]["gamma_factor"]
    mlp = json.loads((out / "mlp.json").read_text())
    mp = current["mlp"]
    assert mlp["trials"][0]["values"] == {"width": mp["hidden_sizes"][0], "lr": mp["adam"]["lr"],
                                          "dropout": mp["dropout"]}
    cnn = json.loads((out / "cnn.json").read_text())  # its first width is not among the choices [8]
    assert default_sizes("cnn_bn")["channels"][0] != 8
    assert cnn["baseline"] is None and cnn["beats_baseline"] is None


def test_the_readme_shows_per_family_the_trials_the_choice_and_the_cost(tiny_study):
    _, out, _ = tiny_study
    text = (out / "README.md").read_text()
    for family in FAMILIES:
        assert f"## {family}:" in text
    assert "the test split was not read" in text
    assert "| family | models scored | trials |" in text and "compute, s" in text
    assert text.count("**(choice)**") == len(FAMILIES)
    assert "svm_pixels, svm_gabor" in text and "torch_cnn_bn" in text


def test_one_family_leaves_the_others_in_the_readme(tiny_study, train_val_only, tmp_path):
    _, out, _ = tiny_study
    folder = tmp_path / "tuning"
    shutil.copytree(out, folder)
    params = write_params(tmp_path / "params.yaml", {**TINY, "tune": {**TINY["tune"], "n_trials": 1}})
    assert main(["tune", "--params", str(params), "--train", str(train_val_only / "train.npz"),
                 "--val", str(train_val_only / "val.npz"), "--out", str(folder), "--family", "svm"]) == 0
    assert len(json.loads((folder / "svm.json").read_text())["trials"]) == 1
    assert "## cnn:" in (folder / "README.md").read_text()


def test_a_space_that_does_not_fit_the_other_params_is_one_line_before_any_work(tmp_path, prepared_dir):
    params = load_params(write_params(tmp_path / "params.yaml", {"tune": {"gabor": {"pool": [4, 5]}}}))
    split = read_split(prepared_dir / "val.npz")
    with pytest.raises(MnistlabError, match=r"tune.gabor: the choice .*'pool': 5.*gabor.pool") as info:
        run_study(params, "gabor", split, split)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("changes", "message"), [
    ({"tune": {"svm": {"C": [30.0, 1.0]}}}, "tune.svm.C"),
    ({"tune": {"n_trials": 0}}, "tune.n_trials"),
    ({"tune": {"cnn": {"width": [16, 16]}}}, "tune.cnn.width"),
    ({"tune": {"mlp": {"dropout": [0.0, 1.0]}}}, "tune.mlp.dropout"),
])
def test_the_tune_section_is_validated(tmp_path, changes, message):
    with pytest.raises(MnistlabError, match=message.replace(".", r"\.")) as info:
        load_params(write_params(tmp_path / "params.yaml", changes))
    assert "\n" not in str(info.value)


def test_missing_splits_are_one_line(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", TINY)
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--params", str(params), "--train", str(tmp_path / "nope.npz"),
              "--val", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "nope.npz" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_lucky_best_trial_loses_to_the_current_setting_over_seeds():
    """The networks' best trial and current setting are trained again with more seeds; the choice
    is the higher mean, so one lucky seed does not make a default."""
    trials = [TrialRecord(0, {"lr": 0.002}, 0.980, 1.0), TrialRecord(1, {"lr": 0.004}, 0.990, 1.0)]
    result = StudyResult("mlp", ["mlp_adam-he"], trials, baseline=0, seconds=2.0)
    assert result.choice.number == 1 and result.beats_baseline is True  # one seed each
    result.confirm = {"seeds": [0, 1, 2], "seconds": 2.0,
                      "accuracies": {"0": [0.980, 0.985, 0.984], "1": [0.990, 0.976, 0.977]}}
    assert result.choice.number == 0 and result.beats_baseline is False
    summary = result.summary()
    assert summary["choice"]["number"] == 0 and summary["best"]["number"] == 1
    assert summary["choice_accuracy"] == pytest.approx(np.mean([0.980, 0.985, 0.984]))
    text = tuning_markdown([summary])
    assert "mean of 3 seeds" in text and "- trial 0 (starting setting): 98.00 %, 98.50 %, 98.40 %" in text
    assert "| 0 **(choice)** (starting setting) |" in text


def test_the_deterministic_svms_are_not_trained_again(tiny_study):
    _, out, _ = tiny_study
    for family in ("svm", "gabor"):
        assert json.loads((out / f"{family}.json").read_text())["confirm"] is None


def test_run_study_re_scores_a_network_choice_with_the_searched_values_and_more_seeds(
        tmp_path, prepared_dir, monkeypatch):
    """A fake random family: trial 1 wins with the study's seed only; the re-training with seeds 1
    and 2 gets the searched values (not what the objective derived), and the starting setting stays."""
    calls = []

    def objective(values, seed):
        calls.append((dict(values), seed))
        values["derived"] = 1.0  # what an objective may add (an SVM's gamma, ...)
        lucky = values["lr"] == 0.5 and seed == 0
        return 0.99 if lucky else 0.98 if values["lr"] == 0.5 else 0.985

    def fake_study(params, train, val):
        def suggest(trial):
            return {"lr": trial.suggest_categorical("lr", [0.1, 0.5])}

        return tuning._Study(["mlp_adam-he"], suggest, objective, {"lr": 0.1},
                             lambda values: {"mlp.adam.lr": values["lr"]}, random=True)

    monkeypatch.setitem(tuning.STUDIES, "mlp", fake_study)
    changes = {"tune": {"n_trials": 4, "confirm_seeds": 2}}
    params = load_params(write_params(tmp_path / "params.yaml", changes))
    split = read_split(prepared_dir / "val.npz")
    result = run_study(params, "mlp", split, split, log=lambda line: None)
    assert result.best.values["lr"] == 0.5 and result.confirm["seeds"] == [0, 1, 2]
    assert [(v, s) for v, s in calls if s > 0] == [({"lr": 0.1}, 1), ({"lr": 0.1}, 2),
                                                   ({"lr": 0.5}, 1), ({"lr": 0.5}, 2)]
    assert result.choice.number == 0 and result.beats_baseline is False
    assert result.settings == {"mlp.adam.lr": 0.1}
