"""Sweep summaries on constructed `dvc.api.exp_show`-like rows (no DVC repository needed)."""

import csv
import json
import math

import numpy as np
import pytest
import yaml
from scipy import stats
from support.paths import REPO

from mnistlab.cli.main import main as cli_main
from mnistlab.core.errors import MnistlabError
from mnistlab.evidence import sweep
from mnistlab.evidence.sweep import (
    CURVE_MODELS,
    Run,
    curve_quantities,
    drop_repeats,
    metric_column,
    parse_tsv,
    resolve_train_size,
    roughness,
    runs_from_rows,
    same_as_baseline,
    select_rows,
    train_images,
    updates_to_reach,
    varying_params,
)
from mnistlab.evidence.sweep_report import (
    pair_comparisons,
    paired_tests,
    runs_from_json,
    summarize,
    t_summary,
)
from mnistlab.models.registry import MODELS
from mnistlab.reporting import evidence_figures

PARAMS = str(REPO / "params.yaml")
SAVE_FIGURE = "mnistlab.reporting.evidence_figures.save_figure"

PARAM_KEYS = {"seed", "prepare.train_size", "mlp.adam.lr", "mlp.adam.betas"}


def row(typ, name, rev, seed, train_size, acc_he, acc_random, **extra):
    """One exp_show row as dvc.api returns it: floats for numbers, strings for lists, hashes for deps."""
    return {
        "Experiment": name, "rev": rev, "typ": typ, "Created": "08:48 PM", "parent": None,
        "State": None, "Executor": None,
        "mlp_sgd-he.accuracy": acc_he, "mlp_sgd-he.log_loss": 0.1,
        "mlp_sgd-random.accuracy": acc_random, "mlp_sgd-random.log_loss": 0.2,
        "metrics/train/a.json:val_accuracy": 0.5,  # another metrics file: neither a param nor a test metric
        "params.yaml:seed": seed, "prepare.train_size": train_size, "mlp.adam.lr": 0.002,
        "mlp.adam.betas": "[0.9, 0.999]", "src/mnistlab/nn": "4c12f0828c51c5f612faf33fecea113f.dir", **extra,
    }


ROWS = [
    row("baseline", None, "workspace", 0.0, 100.0, 0.90, 0.88),
    row("baseline", None, "main", 0.0, 100.0, 0.90, 0.88),
    row("branch_commit", "exp-a", "59df9a5", 1.0, 100.0, 0.90, 0.87),
    row("branch_commit", "exp-b", "4bcbe67", 2.0, 100.0, 0.92, 0.88),
    row("branch_commit", "big-a", "1111111", 1.0, 1000.0, 0.95, 0.93),
    row("branch_base", "big-b", "2222222", 2.0, 1000.0, 0.97, 0.96),
    {**row("branch_commit", "queued", "3333333", 3.0, 100.0, None, None), "State": "Queued",
     "mlp_sgd-he.log_loss": None, "mlp_sgd-random.log_loss": None},
]


def test_metric_column():
    assert metric_column("torch_cnn.accuracy") == ("torch_cnn", "accuracy")
    assert metric_column("metrics/test.json:mlp_adam-he.ece") == ("mlp_adam-he", "ece")
    assert metric_column("metrics/compare.json:torch_cnn.accuracy") is None
    assert metric_column("models.torch_cnn.accuracy") is None
    assert metric_column("prepare.train_size") is None and metric_column("accuracy") is None


def test_select_rows():
    names = lambda rows: [r["Experiment"] or r["rev"] for r in rows]  # noqa: E731
    assert names(select_rows(ROWS)) == ["exp-a", "exp-b", "big-a", "big-b"]  # no workspace, baseline, queued
    assert names(select_rows(ROWS, include_baseline=True)) == ["main", "exp-a", "exp-b", "big-a", "big-b"]
    assert names(select_rows(ROWS, revs=["exp-b", "1111111abcdef", "main"])) == ["main", "exp-b", "big-a"]
    assert names(select_rows(ROWS, prefix="big-")) == ["big-a", "big-b"]


def test_runs_from_rows_keep_params_and_test_metrics_only():
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    assert [r.name for r in runs] == ["exp-a", "exp-b", "big-a", "big-b"]
    assert runs[0].params == {"seed": 1.0, "prepare.train_size": 100.0, "mlp.adam.lr": 0.002,
                              "mlp.adam.betas": "[0.9, 0.999]"}
    assert runs[0].values == {("mlp_sgd-he", "accuracy"): 0.90, ("mlp_sgd-he", "log_loss"): 0.1,
                              ("mlp_sgd-random", "accuracy"): 0.87, ("mlp_sgd-random", "log_loss"): 0.2}
    guessed = runs_from_rows(select_rows(ROWS))  # without the params file: hashes and paths left out
    assert guessed[0].params == runs[0].params
    assert varying_params(runs) == ["prepare.train_size"]


def test_t_summary_by_hand():
    # 0.90 and 0.92: mean 0.91, std 0.01414, half width t(0.975, 1) * std / sqrt(2) = 12.706 * 0.01
    s = t_summary([0.90, 0.92])
    assert (s["n"], s["mean"], s["std"]) == (2, pytest.approx(0.91), pytest.approx(0.0141421, rel=1e-5))
    assert s["ci_high"] - s["mean"] == pytest.approx(12.7062 * 0.01, rel=1e-4)
    one = t_summary([0.5, None, math.nan])
    assert one["n"] == 1 and one["mean"] == 0.5 and math.isnan(one["ci_low"])


def test_summarize_groups_by_the_varying_param():
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    rows = summarize(runs)
    acc = [r for r in rows if r["model"] == "mlp_sgd-he" and r["metric"] == "accuracy"]
    assert [r["prepare.train_size"] for r in acc] == [100.0, 1000.0]
    assert [r["n"] for r in acc] == [2, 2]
    assert [r["mean"] for r in acc] == pytest.approx([0.91, 0.96])
    assert set(rows[0]) == {"prepare.train_size", "model", "metric", "n", "mean", "std", "ci_low", "ci_high"}


def test_curve_quantities():
    steps, error = parse_tsv("step\terror\n100\t0.08\n200\t0.045\n300\t0.031\n400\t0.02\n")
    assert list(steps) == [100, 200, 300, 400]
    assert updates_to_reach(steps, error, 0.05) == 200
    assert updates_to_reach(steps, error, 0.02) == 400
    assert updates_to_reach(steps, error, 0.01) is None
    assert roughness([1.0, 0.5, 0.25, 0.125]) == pytest.approx((0.25 + 0.125) / 2)
    assert roughness([3.0, 2.0, 1.0, 0.0]) == 0.0 and roughness([1.0, 0.5]) is None
    loss = np.array([1.0, 0.5, 0.25, 0.3])
    q = curve_quantities((steps, error), (steps, loss), (steps, np.array([0.8, 0.9, 0.97, 0.99])))
    assert q == pytest.approx({"updates_to_5pct": 200, "updates_to_3pct": 400, "updates_to_2pct": 400,
                               "best_val_error": 0.02, "final_val_error": 0.02, "total_updates": 400,
                               "train_val_gap": 0.99 - 0.98, "val_loss_roughness": (0.25 + 0.3) / 2,
                               "val_loss_rise": 0.05})
    only_error = curve_quantities((steps, np.array([0.2, 0.1, 0.06, 0.07])), None)
    assert "updates_to_5pct" not in only_error and only_error["best_val_error"] == 0.06
    assert "val_loss_roughness" not in only_error and "train_val_gap" not in only_error


def make_runs(he, random, quantity="accuracy"):
    return [Run(f"r{i}", f"{i:07d}", {"seed": float(i)},
                {("he", quantity): a, ("random", quantity): b})
            for i, (a, b) in enumerate(zip(he, random, strict=True))]


def test_paired_tests_and_verdicts():
    comps = [{"question": "He vs random", "a": "he", "b": "random", "quantity": "accuracy"}]
    he, random = [0.92, 0.93, 0.925, 0.935], [0.90, 0.91, 0.90, 0.91]
    [t] = paired_tests(make_runs(he, random), comps)
    assert t["p_value"] == pytest.approx(stats.ttest_rel(he, random).pvalue)
    assert t["p_holm"] == t["p_value"] and t["diff"] == pytest.approx(0.0225) and t["n"] == 4
    assert t["verdict"] == "he is better"
    [t] = paired_tests(make_runs([0.91, 0.90], [0.90, 0.91]), comps)
    assert t["verdict"] == "no detectable difference: the difference lies in [-12.71, +12.71] points"
    [t] = paired_tests(make_runs([0.9], [0.8]), comps)
    assert t["p_value"] is None and t["verdict"] == "not tested (n = 1)"
    # a constant non-zero difference (curve points every few updates make it common) has no spread
    # for a t test: it is reported, not called significant
    updates = [{"question": "q", "a": "he", "b": "random", "quantity": "updates_to_3pct"}]
    [t] = paired_tests(make_runs([300, 300], [500, 500], "updates_to_3pct"), updates)
    assert t["p_value"] is None and t["verdict"] == "not tested (the same difference in every run)"
    assert t["diff"] == -200


def test_outputs_through_the_cli(tmp_path, monkeypatch):
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    for run, rough in zip(runs, [0.01, 0.012, 0.02, 0.03], strict=True):
        run.values[("mlp_sgd-he", "val_loss_roughness")] = rough
        run.values[("mlp_sgd-random", "val_loss_roughness")] = 2 * rough
    monkeypatch.setattr(sweep, "read_runs", lambda *args, **kwargs: (runs, []))
    saved = {}
    monkeypatch.setattr(SAVE_FIGURE, lambda fig, path: saved.update(fig=fig, path=path))
    out = {name: tmp_path / f"sweep.{name}" for name in ("csv", "png", "md")}
    assert cli_main(["sweep", "--params", PARAMS, "--csv", str(out["csv"]), "--figure", str(out["png"]),
                     "--report", str(out["md"]), "--out-dir", str(tmp_path / "lc")]) == 0
    assert (tmp_path / "lc" / "sweep.json").is_file()  # the one path not given goes to --out-dir
    with open(out["csv"]) as fh:
        assert len(list(csv.DictReader(fh))) == 2 * 2 * 3  # train sizes x models x quantities
    text = out["md"].read_text()
    assert "grouped by `prepare.train_size`" in text
    assert "\n\n- `prepare.train_size` is given as the number of training images each run used.\n" in text
    assert "![metric against the swept parameter](sweep.png)" in text
    # the pairs and their questions are compare.pairs of params.yaml; the curve quantities are tested
    # for the pairs of two models with curves
    assert ("| prepare.train_size=100 | He vs naive random init (NumPy MLP, SGD) | mlp_sgd-he "
            "| mlp_sgd-random | val_loss_roughness |") in text
    ax = saved["fig"].axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "training images"  # a learning curve: always log x
    assert len(ax.get_legend().get_texts()) == 2


def test_read_runs_with_a_fake_dvc(tmp_path, monkeypatch):
    import dvc.api

    (tmp_path / "params.yaml").write_text("seed: 0\nprepare:\n  train_size: 100\n")
    curve = "step\t{kind}\n100\t0.06\n200\t0.04\n300\t0.025\n"

    class FakeFS:
        def __init__(self, repo, rev):
            self.rev = rev

        def read_text(self, path):
            if "mlp_sgd" not in path:
                raise FileNotFoundError(path)
            return curve.format(kind=path.rsplit("/", 1)[1].removesuffix(".tsv"))

    monkeypatch.setattr(dvc.api, "exp_show", lambda repo, num: ROWS)
    monkeypatch.setattr(dvc.api, "DVCFileSystem", FakeFS)
    runs, dropped = sweep.read_runs(str(tmp_path))
    assert dropped == []
    assert [r.name for r in runs] == ["exp-a", "exp-b", "big-a", "big-b"]
    assert runs[0].params == {"seed": 1.0, "prepare.train_size": 100.0}
    assert runs[0].values[("mlp_sgd-he", "updates_to_5pct")] == 200
    assert ("mlp_sgd-he", "updates_to_2pct") not in runs[0].values
    assert ("mlp_adam-he", "updates_to_5pct") not in runs[0].values


def test_plot_uses_log_x_beyond_tenfold_and_points_without_a_param(monkeypatch):
    saved = []
    monkeypatch.setattr(SAVE_FIGURE, lambda fig, path: saved.append(fig))
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    for run in runs:
        run.params["prepare.train_size"] *= 10 if run.params["prepare.train_size"] > 100 else 0.1
    summary = summarize(runs)
    evidence_figures.plot_metric_vs_param(summary, "prepare.train_size", "accuracy", "unused.png")
    evidence_figures.plot_metric_vs_param(summary, None, "log_loss", "unused.png")
    log_ax, point_ax = saved[0].axes[0], saved[1].axes[0]
    assert log_ax.get_xscale() == "log"
    assert [t.get_text() for t in point_ax.get_xticklabels()] == ["mlp_sgd-he", "mlp_sgd-random"]
    assert [t.get_text() for t in point_ax.get_legend().get_texts()] == [
        "prepare.train_size=10", "prepare.train_size=10000"]


def exp_row(typ, name, rev, seed, train_size="None", dropout=0.3, acc=0.9):
    return {"Experiment": name, "rev": rev, "typ": typ, "State": None, "mlp_sgd-he.accuracy": acc,
            "params.yaml:seed": seed, "prepare.train_size": train_size, "mlp.dropout": dropout,
            "mlp.adam.betas": "[0.9, 0.999]"}


def test_same_as_baseline_keeps_one_sweep_and_repeats_are_dropped():
    rows = [exp_row("baseline", None, "workspace", 0.0, dropout=0.5),  # the workspace is no baseline
            exp_row("baseline", None, "main", 0.0),
            exp_row("branch_commit", "s1", "1111111", 1.0), exp_row("branch_commit", "s2", "2222222", 2.0),
            exp_row("branch_commit", "lc", "3333333", 1.0, train_size=1000.0),
            exp_row("branch_commit", "drop", "4444444", 1.0, dropout=0.0),
            exp_row("branch_commit", "both", "5555555", 1.0, train_size=1000.0, dropout=0.0),
            exp_row("branch_base", "s1-again", "6666666", 1.0)]
    names = lambda rows: [r["Experiment"] or r["rev"] for r in rows]  # noqa: E731
    assert names(same_as_baseline(rows, ["seed"])) == ["main", "s1", "s2", "s1-again"]
    assert names(same_as_baseline(rows, ["prepare.train_size"])) == ["main", "s1", "s2", "lc", "s1-again"]
    assert names(same_as_baseline(rows, ["mlp.dropout", "prepare.train_size"])) == [
        "main", "s1", "s2", "lc", "drop", "both", "s1-again"]
    runs, dropped = drop_repeats(runs_from_rows(select_rows(same_as_baseline(rows, ["seed"]))))
    assert [r.name for r in runs] == ["s1", "s2"] and dropped == ["s1-again"]


def test_resolve_train_size_and_label_counts():
    assert train_images("digit,train,val,test\n0,5,1,3\n1,7,2,3\n") == 12
    runs = [Run("all", "1", {"prepare.train_size": "None"}, train_images=54000),
            Run("all-b", "2", {"prepare.train_size": "None"}),
            Run("count", "3", {"prepare.train_size": 1000.0})]
    resolve_train_size(runs, all_size=50000)
    assert [r.params["prepare.train_size"] for r in runs] == [54000, 50000, 1000]
    with pytest.raises(MnistlabError, match="experiment half: prepare.train_size is 0.5 .* --all-size"):
        resolve_train_size([Run("half", "4", {"prepare.train_size": 0.5})])
    with pytest.raises(MnistlabError, match="--all-size N"):
        resolve_train_size([Run("all", "5", {"prepare.train_size": "None"})])


def test_models_the_seed_does_not_change_are_not_tested():
    runs = [Run(f"r{i}", str(i), {"seed": float(i)},
                {("svm_gabor", "accuracy"): 0.98, ("svm_pixels", "accuracy"): 0.97,
                 ("mlp_sgd-he", "accuracy"): 0.95 + i / 1000, ("mlp_sgd-random", "accuracy"): 0.97})
            for i in range(3)]
    comps = [{"question": "q", "a": "svm_gabor", "b": "svm_pixels", "quantity": "accuracy"},
             {"question": "q", "a": "mlp_sgd-he", "b": "mlp_sgd-random", "quantity": "accuracy"}]
    svm, mlp = paired_tests(runs, comps)
    assert svm["p_value"] is None and svm["verdict"] == "not tested: the seed does not change either model"
    assert mlp["p_value"] is not None and mlp["verdict"] == "mlp_sgd-random is better"
    assert (mlp["a_above"], mlp["a_below"]) == (0, 3)


def test_json_output_holds_runs_summary_and_tests(tmp_path, monkeypatch):
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    runs[0].values[("mlp_sgd-he", "updates_to_2pct")] = 900.0
    monkeypatch.setattr(sweep, "read_runs", lambda *args, **kwargs: (runs, ["dup"]))
    monkeypatch.setattr(SAVE_FIGURE, lambda fig, path: None)
    assert cli_main(["sweep", "--params", PARAMS, "--out-dir", str(tmp_path / "seeds")]) == 0
    assert sorted(p.name for p in (tmp_path / "seeds").iterdir()) == ["sweep.csv", "sweep.json", "sweep.md"]
    text = (tmp_path / "seeds" / "sweep.json").read_text()
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert data["seed_param"] == "seed" and data["varying_params"] == ["prepare.train_size"]
    assert data["alpha"] == 0.05 and "dup" in data["notes"][0]
    first = data["experiments"][0]
    assert first["name"] == "exp-a" and first["params"]["prepare.train_size"] == 100
    assert first["values"]["mlp_sgd-he"] == {"accuracy": 0.90, "log_loss": 0.1, "updates_to_2pct": 900.0}
    one = [r for r in data["summary"] if r["metric"] == "updates_to_2pct"]
    assert one == [{"prepare.train_size": 100, "model": "mlp_sgd-he", "metric": "updates_to_2pct", "n": 1,
                    "mean": 900.0, "std": None, "ci_low": None, "ci_high": None}]  # NaN -> null
    test = next(t for t in data["tests"] if t["group"] == "prepare.train_size=1000")
    assert (test["a"], test["b"], test["quantity"], test["n"]) == ("mlp_sgd-he", "mlp_sgd-random",
                                                                   "accuracy", 2)
    assert set(test) >= {"diff", "ci_low", "ci_high", "p_value", "p_holm", "verdict"}
    back = runs_from_json(data)
    assert [r.values for r in back] == [r.values for r in runs]
    assert [r.params for r in back] == [r.params for r in runs]


def test_curve_models_are_the_registry_models_trained_with_the_mlp_params():
    assert CURVE_MODELS == tuple(name for name, m in MODELS.items() if m.family == "numpy" or m.twin)
    numpy_nets_and_twin = {"mlp_sgd-random", "mlp_sgd-he", "mlp_adam-random", "mlp_adam-he", "torch_mlp"}
    assert numpy_nets_and_twin <= set(CURVE_MODELS)
    assert not {"svm_pixels", "torch_cnn"} & set(CURVE_MODELS)


def test_pair_comparisons_from_compare_pairs():
    pairs = [{"question": "He vs random", "a": "mlp_sgd-he", "b": "mlp_sgd-random"},
             {"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn"},
             {"question": "best", "a": "best_neural", "b": "best_classic"},
             {"question": "twin", "a": "mlp_adam-he", "b": "torch_mlp"}]
    got = [(c["question"], c["quantity"]) for c in pair_comparisons(pairs)]
    curves = ["updates_to_5pct", "updates_to_3pct", "updates_to_2pct", "val_loss_roughness"]
    assert got == ([("He vs random", "accuracy"), ("CNN vs FNN", "accuracy"), ("twin", "accuracy")]
                   + [("He vs random", q) for q in curves] + [("twin", q) for q in curves])
    assert pair_comparisons(pairs, curve_models=()) == [
        {"question": q, "a": a, "b": b, "quantity": "accuracy"}
        for q, a, b in [("He vs random", "mlp_sgd-he", "mlp_sgd-random"),
                        ("CNN vs FNN", "torch_cnn", "torch_fnn"), ("twin", "mlp_adam-he", "torch_mlp")]]


def test_the_command_tests_compare_pairs_at_compare_alpha_of_its_params(tmp_path, monkeypatch):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compare"]["alpha"] = 0.1
    params["compare"]["pairs"] = [{"question": "Only this", "a": "mlp_sgd-random", "b": "mlp_sgd-he"}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    runs = runs_from_rows(select_rows(ROWS), PARAM_KEYS)
    monkeypatch.setattr(sweep, "read_runs", lambda *args, **kwargs: (runs, []))
    monkeypatch.setattr(SAVE_FIGURE, lambda fig, path: None)
    # --params defaults to <repo>/params.yaml
    assert cli_main(["sweep", "--repo", str(tmp_path), "--out-dir", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert data["alpha"] == 0.1
    assert {(t["question"], t["a"], t["b"]) for t in data["tests"]} == {("Only this", "mlp_sgd-random",
                                                                         "mlp_sgd-he")}
    summary = [r for r in data["summary"] if r["model"] == "mlp_sgd-he" and r["metric"] == "accuracy"]
    assert summary[0]["ci_high"] - summary[0]["mean"] == pytest.approx(
        stats.t.ppf(0.95, 1) * summary[0]["std"] / math.sqrt(2))  # a 90 % interval
    (tmp_path / "params.yaml").write_text("compare: {alpha: 0.1}\n")
    with pytest.raises(SystemExit) as err:
        cli_main(["sweep", "--repo", str(tmp_path), "--out-dir", str(tmp_path / "bad")])
    assert err.value.code == 2 and not (tmp_path / "bad").exists()
