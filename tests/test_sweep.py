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
    baseline_group,
    censor_updates,
    curve_quantities,
    drop_repeats,
    images_to_reach,
    metric_column,
    pair_comparisons,
    paired_tests,
    params_differences,
    parse_tsv,
    resolve_train_size,
    roughness,
    roughness_on_grid,
    runs_from_json,
    runs_from_rows,
    same_as_baseline,
    select_family,
    select_rows,
    single_run_disagreements,
    spacing,
    summarize,
    sweep_notes,
    t_summary,
    train_images,
    updates_to_images,
    updates_to_reach,
    varying_params,
    write_outputs,
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
    assert t["p_adjusted"] == t["p_value"] and t["diff"] == pytest.approx(0.0225) and t["n"] == 4
    assert (t["family_size"], t["method"]) == (1, "t_accuracy")  # no per-image results: t over seeds
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
            if path == "metrics/train/mlp_sgd-he.json":  # eval-mode figures; a bool is no number
                return ('{"val_accuracy": 0.98, "val_loss": 0.07, "train_eval_accuracy": 0.995, '
                        '"train_eval_loss": 0.02, "train_seconds": 3.0}')
            if path == "metrics/train/mlp_adam-he.json":
                return '{"val_accuracy": true, "val_loss": NaN, "train_eval_accuracy": "x"}'
            if "mlp_sgd" not in path or path.endswith(".json"):
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
    assert {q: runs[0].values[("mlp_sgd-he", q)] for q in sweep.TRAIN_METRICS} == {
        "val_accuracy": 0.98, "val_loss": 0.07, "train_eval_accuracy": 0.995, "train_eval_loss": 0.02}
    assert ("mlp_sgd-he", "train_seconds") not in runs[0].values
    assert not any(m == "mlp_adam-he" and q in sweep.TRAIN_METRICS for m, q in runs[0].values)


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
    assert set(test) >= {"diff", "ci_low", "ci_high", "p_value", "p_adjusted", "verdict", "family_size",
                         "confidence", "method"}
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
    # convergence is compared in training images (interpolated crossings), not in updates
    curves = ["images_to_5pct", "images_to_3pct", "images_to_2pct", "val_loss_roughness"]
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


# -- convergence in training images, smoothness at equal spacing -------------------------------------

def test_images_to_reach_interpolates_between_curve_points():
    images, error = [12800, 25600, 38400], [0.08, 0.04, 0.02]
    # 5 % lies 3/4 of the way from 8 % to 4 %: 12,800 + 0.75 x 12,800
    assert images_to_reach(images, error, 0.05) == pytest.approx(22400)
    assert images_to_reach(images, error, 0.04) == 25600 and images_to_reach(images, error, 0.02) == 38400
    assert images_to_reach(images, error, 0.1) == 12800  # reached by the first point: an upper bound
    assert images_to_reach(images, error, 0.01) is None
    assert images_to_reach([100, 200, 300], [0.06, 0.06, 0.04], 0.05) == 250
    assert images_to_reach([100, 200], [0.06, 0.03], 0.06) == 100


def test_updates_become_training_images_with_the_short_last_batch_of_each_epoch():
    # 1,000 images in batches of 128: 8 updates an epoch, the last of 104 images
    assert list(updates_to_images([1, 7, 8, 10, 16], 128, 1000)) == [128, 896, 1000, 1256, 2000]
    assert list(updates_to_images([1, 10], 128)) == [128, 1280]


def test_roughness_is_compared_on_one_grid_of_images():
    # L(x) = (x / 1000)^2 has second differences 2 (h / 1000)^2 on a grid of step h
    dense, coarse = np.arange(0, 20001, 500.0), np.arange(0, 20001, 1000.0)
    assert roughness((dense / 1000) ** 2) == pytest.approx(0.5)  # as logged: denser looks smoother
    assert roughness((coarse / 1000) ** 2) == pytest.approx(2.0)
    assert roughness_on_grid(dense, (dense / 1000) ** 2, 1000) == pytest.approx(2.0)
    assert roughness_on_grid(coarse, (coarse / 1000) ** 2, 1000) == pytest.approx(2.0)
    assert roughness_on_grid(coarse[:2], coarse[:2], 1000) is None
    assert spacing(dense) == 500 and spacing([5.0]) is None


def test_curve_quantities_in_training_images_and_epochs():
    # SGD, batch 32, a point every 400 updates (12,800 images) on 6,400 training images (2 epochs a point)
    steps = np.array([400.0, 800.0, 1200.0])
    error, loss = np.array([0.07, 0.04, 0.025]), np.array([0.3, 0.2, 0.15])
    q = curve_quantities((steps, error), (steps, loss), batch_size=32, train_images=6400, grid=12800)
    assert q["images_to_5pct"] == pytest.approx(12800 + (0.07 - 0.05) / 0.03 * 12800)
    assert q["images_to_3pct"] == pytest.approx(25600 + (0.04 - 0.03) / 0.015 * 12800)
    assert q["epochs_to_5pct"] == pytest.approx(q["images_to_5pct"] / 6400)
    assert "images_to_2pct" not in q and "epochs_to_2pct" not in q and q["total_images"] == 38400
    assert q["updates_to_5pct"] == 800  # the first logged update, kept for reference
    assert q["val_loss_roughness"] == pytest.approx(0.05)


# -- which pairs a sweep tests (dvc.yaml) -------------------------------------------------------------

DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_models_reached_by_a_param_follow_the_pipeline():
    every = set(MODELS)
    numpy_nets = {n for n, m in MODELS.items() if m.family == "numpy"}
    twins = {n for n, m in MODELS.items() if m.twin}
    assert sweep.models_reached(DVC, ["seed"]) == every
    assert sweep.models_reached(DVC, ["prepare.train_size"]) == every  # through data/prepared
    assert sweep.models_reached(DVC, ["mlp.dropout", "mlp.weight_decay"]) == numpy_nets | twins
    assert sweep.models_reached(DVC, ["mlp.adam.lr"]) == {"mlp_adam-he", "mlp_adam-random"} | twins
    torch_models = {n for n, m in MODELS.items() if m.family == "torch" and not m.twin}
    assert {"torch_logreg", "torch_fnn", "torch_cnn"} <= torch_models
    assert sweep.models_reached(DVC, ["torch.epochs"]) == torch_models
    assert sweep.models_reached(DVC, ["gabor.orientations"]) == {"svm_gabor"}
    assert sweep.models_reached(DVC, ["compare.alpha"]) == set()
    entries = sweep.training_params(DVC)
    assert {"seed", "prepare", "gabor", "svm", "mlp.dropout", "torch.epochs"} <= set(entries)
    assert not {"compare", "robustness", "report"} & set(entries)


def runs_with(values_of, n_runs=3, params=None):
    return [Run(f"r{i}", str(i), {"seed": float(i), **(params or {})}, values_of(i)) for i in range(n_runs)]


def test_a_sweep_tests_only_the_pairs_its_param_reaches():
    comps = pair_comparisons([{"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn"},
                              {"question": "He vs random", "a": "mlp_sgd-he", "b": "mlp_sgd-random"}])
    runs = [Run(f"r{i}{d}", str(i), {"seed": float(i), "mlp.dropout": d},
                {("torch_cnn", "accuracy"): 0.99, ("torch_fnn", "accuracy"): 0.98,
                 ("mlp_sgd-he", "accuracy"): 0.97 + i / 1000, ("mlp_sgd-random", "accuracy"): 0.96})
            for i in range(3) for d in (0.0, 0.3)]
    kept, notes = select_family(comps, runs, "seed", DVC)
    assert {c["question"] for c in kept} == {"He vs random"}
    assert len(notes) == 1 and "CNN vs FNN (torch_cnn vs torch_fnn)" in notes[0]
    assert "`mlp.dropout`" in notes[0]
    # a sweep of the seed alone: two models the seed does not change are one fit, left out
    seeds = runs_with(lambda i: {("svm_gabor", "accuracy"): 0.99, ("svm_pixels", "accuracy"): 0.98,
                                 ("torch_cnn", "accuracy"): 0.99 + i / 1000, ("torch_fnn", "accuracy"): 0.98})
    svm = pair_comparisons([{"question": "Gabor vs pixels", "a": "svm_gabor", "b": "svm_pixels"},
                            {"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn"}])
    kept, notes = select_family(svm, seeds, "seed", DVC)
    assert [c["question"] for c in kept] == ["CNN vs FNN"] and "repeat one fit" in notes[0]
    kept, notes = select_family(svm, seeds, "seed", None)
    assert kept == svm and "dvc.yaml could not be read" in notes[0]


def errors_for(rng, n, rate):
    return sorted(rng.choice(n, int(rate * n), replace=False).tolist())


def test_accuracy_over_seeds_uses_the_two_level_bootstrap_when_runs_carry_test_errors():
    rng = np.random.default_rng(0)
    n = 2000
    runs = []
    for i in range(4):
        shared = errors_for(rng, n, 0.03)
        run = Run(f"r{i}", str(i), {"seed": float(i)}, {("torch_cnn", "accuracy"): 0.0,
                                                         ("torch_fnn", "accuracy"): 0.0},
                  errors={"torch_cnn": shared[:20 + i], "torch_fnn": shared}, test_images=n, test_id="t")
        run.values = {(m, "accuracy"): 1 - len(e) / n for m, e in run.errors.items()}
        runs.append(run)
    comps = [{"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn", "quantity": "accuracy"}]
    [t] = paired_tests(runs, comps, n_resamples=4000)
    assert t["method"] == "crossed" and t["n"] == 4 and t["family_size"] == 1
    assert t["diff"] == pytest.approx(t["mean_a"] - t["mean_b"]) and t["a_only"] == 40 + 39 + 38 + 37
    assert t["ci_low"] > 0 and t["verdict"] == "torch_cnn is better"
    # scored on different test sets: the nested scheme on the counts
    for i, run in enumerate(runs):
        run.test_id = f"t{i}"
    [t] = paired_tests(runs, comps, n_resamples=4000)
    assert t["method"] == "nested" and t["ci_low"] > 0


def test_deterministic_models_get_one_test_image_comparison_per_training_size():
    rng = np.random.default_rng(1)
    n = 1000
    runs = []
    for size in (500.0, 5000.0):
        gabor, pixels = errors_for(rng, n, 0.02), errors_for(rng, n, 0.06)
        for i in range(3):
            run = Run(f"r{i}-{size:g}", str(i), {"seed": float(i), "prepare.train_size": size},
                      {("svm_gabor", "accuracy"): 1 - len(gabor) / n,
                       ("svm_pixels", "accuracy"): 1 - len(pixels) / n},
                      errors={"svm_gabor": gabor, "svm_pixels": pixels}, test_images=n, test_id="t")
            runs.append(run)
    comps = [{"question": "Gabor vs pixels", "a": "svm_gabor", "b": "svm_pixels", "quantity": "accuracy"}]
    tests = paired_tests(runs, comps, n_resamples=4000)
    assert [t["method"] for t in tests] == ["one_fit", "one_fit"] and all(t["n"] == 1 for t in tests)
    b = len(set(runs[0].errors["svm_pixels"]) - set(runs[0].errors["svm_gabor"]))
    c = len(set(runs[0].errors["svm_gabor"]) - set(runs[0].errors["svm_pixels"]))
    assert (tests[0]["a_only"], tests[0]["b_only"]) == (b, c)
    assert tests[0]["p_value"] == pytest.approx(stats.binomtest(min(b, c), b + c).pvalue)  # McNemar exact
    assert tests[0]["family_size"] == 2 and tests[0]["confidence"] == pytest.approx(0.975)
    # without per-image results they stay untested, outside the family
    for run in runs:
        run.errors = {}
    assert {t["verdict"] for t in paired_tests(runs, comps)} == {
        "not tested: the seed does not change either model"}


def test_the_family_is_every_tested_row_at_one_bonferroni_level():
    rng = np.random.default_rng(3)
    runs = runs_with(lambda i: {("mlp_sgd-he", "accuracy"): 0.95 + rng.normal(0, 0.002),
                                ("mlp_sgd-random", "accuracy"): 0.95 + rng.normal(0, 0.002),
                                ("mlp_sgd-he", "images_to_3pct"): 40000 + rng.normal(0, 500),
                                ("mlp_sgd-random", "images_to_3pct"): 60000 + rng.normal(0, 500),
                                ("mlp_sgd-he", "images_to_2pct"): 90000.0,
                                ("mlp_sgd-random", "images_to_2pct"): 95000.0}, n_runs=5)
    comps = [{"question": "q", "a": "mlp_sgd-he", "b": "mlp_sgd-random", "quantity": q}
             for q in ("accuracy", "images_to_3pct", "images_to_2pct")]
    acc, images, same = paired_tests(runs, comps)
    assert same["method"] is None and same["verdict"] == "not tested (the same difference in every run)"
    assert acc["family_size"] == images["family_size"] == 2  # the untested row is outside the family
    d = [r.values[("mlp_sgd-he", "accuracy")] - r.values[("mlp_sgd-random", "accuracy")] for r in runs]
    half = stats.t.ppf(1 - 0.05 / 4, 4) * np.std(d, ddof=1) / math.sqrt(5)  # 1 - (0.05/2)/2
    assert (acc["ci_low"], acc["ci_high"]) == pytest.approx((np.mean(d) - half, np.mean(d) + half))
    assert acc["p_adjusted"] == pytest.approx(min(1, 2 * acc["p_value"]))
    assert images["verdict"] == "mlp_sgd-he is better"  # lower is better: fewer images to 3 %


def test_a_crossing_never_reached_is_censored_at_the_last_point():
    runs = runs_with(lambda i: {("he", "images_to_2pct"): 50000.0 + 1000 * i,
                                ("random", "total_images"): 80000.0, ("he", "total_images"): 80000.0},
                     n_runs=3)
    runs[0].values[("random", "images_to_2pct")] = 70000.0
    fixed, note = censor_updates(runs, "he", "random", "images_to_2pct")
    assert [r.values[("random", "images_to_2pct")] for r in fixed] == [70000.0, 80000.0, 80000.0]
    assert "random never got there in 2 runs: counted at its last logged point" in note
    assert ("random", "images_to_2pct") not in runs[1].values  # the runs themselves are left as they were


def test_a_legacy_summary_gets_crossings_in_images_from_its_updates():
    data = {"experiments": [{"name": "old", "rev": "1", "train_images": None,
                             "params": {"seed": 0.0, "mlp.log_every": 100.0, "mlp.sgd.batch_size": 32.0,
                                        "mlp.adam.batch_size": 128.0},
                             "values": {"mlp_sgd-he": {"updates_to_5pct": 620.0, "total_updates": 8000.0,
                                                       "val_loss_roughness": 0.006},
                                        "mlp_adam-he": {"updates_to_5pct": 140.0,
                                                        "val_loss_roughness": 0.008}}}]}
    [run] = runs_from_json(data)
    assert run.values[("mlp_sgd-he", "images_to_5pct")] == 620 * 32 and run.legacy_curves
    assert run.values[("mlp_adam-he", "images_to_5pct")] == 140 * 128
    assert run.values[("mlp_sgd-he", "total_images")] == 8000 * 32
    assert run.curve_spacing == {"mlp_sgd-he": 3200.0, "mlp_adam-he": 12800.0}  # unequal: not compared
    assert any("recorded before crossing points" in note for note in sweep_notes([run], "seed"))


def test_where_a_sweep_stands_against_todays_params_and_the_single_run():
    params = {"seed": 0.0, "mlp.epochs": 15.0, "mlp.dropout": 0.3, "compare.alpha": 0.05}
    runs = runs_with(lambda i: {("torch_cnn", "accuracy"): 0.99 + i / 1000, ("torch_fnn", "accuracy"): 0.985},
                     params=params)
    today = {**params, "mlp.epochs": 20, "prepare.train_limit": 100, "compare.alpha": 0.1}
    assert params_differences(runs, today, DVC) == ["`mlp.epochs`: 15 here, 20 today",
                                                    "`prepare.train_limit`: absent here, 100 today"]
    assert params_differences(runs, params, DVC) == []
    comps = [{"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn", "quantity": "accuracy"}]
    tests = paired_tests(runs, comps)
    assert baseline_group(runs, params) == "all runs" and tests[0]["verdict"] == "torch_cnn is better"
    single = {"pairs": {"torch_cnn vs torch_fnn": {"better": 0}}}
    [note] = single_run_disagreements(tests, single, "all runs")
    assert "the single run (metrics/compare.json" in note and "says no detectable difference" in note
    assert "this sweep says torch_cnn is better. Follow the sweep" in note
    flipped = {"pairs": {"torch_fnn vs torch_cnn": {"better": -1}}}
    assert single_run_disagreements(tests, flipped, "all runs") == []
    sizes = [Run(f"r{s}", "1", {"seed": 0.0, "prepare.train_size": s}) for s in (500, 17721)]
    assert baseline_group(sizes, {"prepare.train_size": None}) == "prepare.train_size=17721"
    assert baseline_group(sizes, {"prepare.train_size": 500}) == "prepare.train_size=500"


def test_write_outputs_reads_the_repository_it_is_given(tmp_path):
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    params = {"seed": 0.0, "mlp.epochs": 15.0}
    (tmp_path / "params.yaml").write_text("seed: 0\nmlp:\n  epochs: 15\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "compare.json").write_text(json.dumps(
        {"pairs": {"torch_cnn vs torch_fnn": {"better": 0}, "svm_gabor vs svm_pixels": {"better": 1}}}))
    runs = runs_with(lambda i: {("torch_cnn", "accuracy"): 0.99 + i / 1000, ("torch_fnn", "accuracy"): 0.985,
                                ("svm_gabor", "accuracy"): 0.99, ("svm_pixels", "accuracy"): 0.98},
                     params=params)
    comps = pair_comparisons([{"question": "CNN vs FNN", "a": "torch_cnn", "b": "torch_fnn"},
                              {"question": "Gabor vs pixels", "a": "svm_gabor", "b": "svm_pixels"}])
    paths = {"csv": tmp_path / "s.csv", "report": tmp_path / "s.md", "json": tmp_path / "s.json",
             "figure": tmp_path / "s.png"}
    tests = write_outputs(runs, summarize(runs), comps, paths, repo=tmp_path)
    assert [t["question"] for t in tests] == ["CNN vs FNN"]
    text = paths["report"].read_text()
    assert "Single run and sweep disagree on CNN vs FNN" in text and "repeat one fit" in text
    assert "Family: every tested row below: 1 pairs" in text or "m = 1 test" in text
    data = json.loads(paths["json"].read_text())
    assert data["family"] == {"size": 1, "confidence": 0.95} and data["params_differ"] == []
    assert data["made_with"] == {"mlp.epochs": 15.0}

    (tmp_path / "params.yaml").write_text("seed: 0\nmlp:\n  epochs: 20\n")  # the runs trained 15 epochs
    write_outputs(runs, summarize(runs), comps, paths, repo=tmp_path)
    assert "Made with other params than today's params.yaml" in paths["report"].read_text()
    write_outputs(runs, summarize(runs), comps, paths, repo=tmp_path, recipe=["mlp.epochs"])
    text = paths["report"].read_text()  # an ablation's recipe, chosen on purpose: not a reason to re-run
    assert "The recipe of these runs, chosen for the sweep" in text and "Made with other params" not in text


def test_a_model_the_seed_does_not_change_is_told_apart_from_one_it_does():
    """Thread counts move a deterministic model's log loss in the 10th digit; a seed moves a
    trained model's accuracy by whole test images (1e-4 of 10,000)."""
    from mnistlab.evidence.sweep import seed_independent

    def run(seed, svm_loss, net_accuracy):
        values = {("svm_gabor", "accuracy"): 0.9931, ("svm_gabor", "log_loss"): svm_loss,
                  ("mlp_adam-he", "accuracy"): net_accuracy, ("mlp_adam-he", "log_loss"): 0.0458}
        return Run(f"exp-{seed}", f"rev{seed}", {"seed": float(seed)}, values)

    runs = [run(0, 0.066107125, 0.9853), run(1, 0.066107125 + 8e-11, 0.9854), run(2, 0.066107125, 0.9853)]
    assert seed_independent(runs) == {"svm_gabor"}
