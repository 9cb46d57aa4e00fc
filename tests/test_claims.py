"""`mnistlab claims` on constructed inputs: every verdict, the missing-input commands, the report."""

import json

import numpy as np
import pytest

from mnistlab.cli.main import main as cli_main
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_csv, write_json
from mnistlab.evidence.claims import (
    NEEDS,
    ROLES,
    _spacing,
    ablation_models,
    ablation_rows,
    compare_rows,
    evaluate_claims,
    judge,
    model,
    numpy_net,
    robustness_rows,
    row,
)
from mnistlab.evidence.sweep import Run
from mnistlab.evidence.sweep_report import censor_updates, sweep_json
from mnistlab.models import registry

J = np.array([0.0, 0.3, -0.2, 0.1, -0.1])  # two fixed patterns of seed-to-seed noise
K = np.array([0.1, -0.2, 0.3, 0.0, -0.1])


def s(mean, spread, pattern=J):
    return list(mean + spread * pattern[: len(J)])


SEED_VALUES = {  # model -> quantity -> one value per seed
    "svm_gabor": {"accuracy": [0.985] * 5}, "svm_pixels": {"accuracy": [0.98] * 5},  # seed-independent
    "mlp_sgd-he": {"accuracy": s(0.975, 0.002), "updates_to_5pct": s(300, 100),
                   "updates_to_3pct": s(900, 100), "total_updates": [5000] * 5,
                   "val_loss_roughness": s(0.010, 0.001)},
    "mlp_sgd-random": {"accuracy": s(0.975, 0.002, K), "updates_to_5pct": s(1200, 100, K),
                       "total_updates": [5000] * 5, "val_loss_roughness": s(0.020, 0.002, K)},
    "mlp_adam-he": {"accuracy": s(0.980, 0.001), "updates_to_5pct": s(500, 100),
                    "updates_to_3pct": s(800, 100), "val_loss_roughness": s(0.030, 0.002),
                    "best_val_error": s(0.020, 0.001), "final_val_error": s(0.022, 0.001)},
    "mlp_adam-random": {"accuracy": s(0.980, 0.001, K), "updates_to_5pct": s(500, 100, K),
                        "updates_to_3pct": s(800, 100, K), "val_loss_roughness": s(0.015, 0.001, K)},
    "torch_mlp": {"accuracy": s(0.982, 0.001, K), "val_loss_roughness": s(0.005, 0.001, K),
                  "best_val_error": s(0.020, 0.001, K), "final_val_error": s(0.018, 0.001, K)},
    "torch_cnn": {"accuracy": s(0.992, 0.0005)}, "torch_fnn": {"accuracy": s(0.985, 0.0005, K)},
    "torch_logreg": {"accuracy": s(0.920, 0.001)},
}
PARAMS = {"mlp.log_every": 100.0, "mlp.sgd.batch_size": 32.0, "mlp.adam.batch_size": 128.0}


def seeds_sweep(values=SEED_VALUES):
    runs = [Run(f"seed-{i}", f"{i:07d}", {"seed": float(i), **PARAMS},
                {(m, q): float(v[i]) for m, qs in values.items() for q, v in qs.items()}) for i in range(5)]
    return json.loads(json.dumps(sweep_json(runs, [], [], "seed")))  # as read back from the file


def ablation_sweep():
    runs = []
    for i, noise in enumerate([0.0, 0.0003, -0.0002]):
        for dropout, decay in [(0.0, 0.0), (0.3, 0.0), (0.0, 0.0005), (0.3, 0.0005)]:
            acc = 0.975 + (0.005 + 0.0002 * i if dropout else 0.0) + noise + (0.0001 * i if decay else 0.0)
            gap = 0.03 - (0.02 + 0.001 * i if dropout else 0.0) + noise
            runs.append(Run(f"r{i}-{dropout}-{decay}", "0", {"seed": float(i), "mlp.dropout": dropout,
                                                            "mlp.weight_decay": decay, "mlp.epochs": 15.0},
                            {("mlp_adam-he", "accuracy"): acc, ("mlp_adam-he", "train_val_gap"): gap}))
    return sweep_json(runs, [], [], "seed")


COMPARE = {"n_images": 10000, "alpha": 0.05, "models": {
    "svm_gabor": {"accuracy": 0.985}, "svm_pixels": {"accuracy": 0.983}, "torch_cnn": {"accuracy": 0.990},
    "torch_fnn": {"accuracy": 0.993}, "torch_logreg": {"accuracy": 0.925}, "mlp_adam-he": {"accuracy": 0.981},
    "torch_mlp": {"accuracy": 0.979}},
    "pairs": {
        "svm_gabor vs svm_pixels": {"diff": 0.002, "ci_low": -0.001, "ci_high": 0.005, "a_only": 40,
                                    "b_only": 20, "p_value": 0.2, "p_holm": 0.4, "better": 0},
        "torch_cnn vs torch_fnn": {"diff": -0.003, "ci_low": -0.005, "ci_high": -0.001, "a_only": 10,
                                   "b_only": 40, "p_value": 1e-4, "p_holm": 1e-3, "better": -1},
        "torch_fnn vs torch_logreg": {"diff": 0.068, "ci_low": 0.063, "ci_high": 0.073, "a_only": 700,
                                      "b_only": 20, "p_value": 1e-50, "p_holm": 1e-49, "better": 1},
        "mlp_adam-he vs torch_mlp": {"diff": 0.002, "ci_low": 0.0005, "ci_high": 0.0035, "a_only": 50,
                                     "b_only": 30, "p_value": 0.03, "p_holm": 0.1, "better": 0}}}
PAIRS = [  # as the robustness stage writes them: a = svm_pixels, b = svm_gabor, diff = a - b
    {"corruption": "clean", "severity": 0.0, "accuracy_a": 0.98, "accuracy_b": 0.985, "diff": -0.005,
     "low": -0.01, "high": 0.0, "a_only": 5, "b_only": 15, "p_value": 0.04, "p_holm": 0.2},
    {"corruption": "rotation", "severity": 15.0, "accuracy_a": 0.90, "accuracy_b": 0.95, "diff": -0.05,
     "low": -0.07, "high": -0.03, "a_only": 10, "b_only": 110, "p_value": 1e-10, "p_holm": 1e-9},
    {"corruption": "rotation", "severity": 30.0, "accuracy_a": 0.70, "accuracy_b": 0.71, "diff": -0.01,
     "low": -0.03, "high": 0.01, "a_only": 60, "b_only": 80, "p_value": 0.3, "p_holm": 0.6},
    {"corruption": "scale", "severity": 0.6, "accuracy_a": 0.80, "accuracy_b": 0.76, "diff": 0.04,
     "low": 0.02, "high": 0.06, "a_only": 100, "b_only": 20, "p_value": 1e-5, "p_holm": 1e-4},
]


def verdicts(claim):
    return [(r["part"], r["quantity"], r["evidence"].split(",")[0], r["verdict"]) for r in claim["rows"]]


@pytest.fixture(scope="module")
def claims():
    return {c["key"]: c for c in evaluate_claims(COMPARE, PAIRS, seeds_sweep(), ablation_sweep(), None)}


def test_judge_gives_each_verdict_with_holm_within_the_claim():
    rows = [row("p", "a", "b", "accuracy", "e", diff=0.01, p_value=0.01),  # A higher: supported
            row("p", "a", "b", "accuracy", "e", diff=-0.01, p_value=0.001),  # B higher: contradicted
            row("p", "a", "b", "val_loss_roughness", "e", diff=-0.1, p_value=0.004),  # A smoother: supported
            row("p", "a", "b", "accuracy", "e", diff=0.01, p_value=0.03),  # largest of 4: Holm x 1
            row("p", "a", "b", "accuracy", "e", diff=0.01, p_value=None),
            row("p", "a", "b", "accuracy", "e", verdict=NEEDS["seeds"])]
    judge(rows)
    assert [r["verdict"] for r in rows] == ["supported", "contradicted", "supported", "supported",
                                            "not tested", NEEDS["seeds"]]
    assert [r["p_holm"] for r in rows[:4]] == pytest.approx([0.02, 0.004, 0.012, 0.03])  # x2, x4, x3, x1
    two = judge([row("p", "a", "b", "accuracy", "e", diff=0.01, p_value=0.03) for _ in range(2)])
    assert [r["verdict"] for r in two] == ["not supported"] * 2  # Holm: 0.06 each


def test_compare_rows_turn_a_pair_round():
    [r] = compare_rows(COMPARE, "part", "torch_mlp", "mlp_adam-he")
    assert r["diff"] == -0.002 and (r["ci_low"], r["ci_high"]) == (-0.0035, -0.0005)
    assert (r["value_a"], r["value_b"]) == (0.979, 0.981)
    assert r["evidence"] == "single run, 10,000 test images"
    assert r["detail"] == "30 images only A gets right, 50 only B"
    [missing] = compare_rows(COMPARE, "part", "torch_cnn", "svm_gabor")
    assert missing["p_value"] is None and "has no pair of torch_cnn and svm_gabor" in missing["detail"]


def test_claim_a_single_run_not_supported_and_svm_seeds_not_tested(claims):
    assert verdicts(claims["a"]) == [
        ("Gabor SVM more accurate", "accuracy", "single run", "not supported"),
        ("Gabor SVM more accurate", "accuracy", "seed sweep",
         "not tested: the seed does not change either model"),
        ("Gabor SVM more accurate", "accuracy", "learning-curve sweep", NEEDS["learning_curve"])]


def test_claim_b_three_parts_for_sgd_and_adam(claims):
    got = {(part, q): v for part, q, _, v in verdicts(claims["b"]) if _ == "seed sweep"}
    assert got == {("converges faster (SGD)", "updates_to_5pct"): "supported",
                   ("converges faster (SGD)", "updates_to_3pct"): "supported",  # random never gets there
                   ("converges faster (SGD)", "updates_to_2pct"): "not tested",
                   ("converges faster (Adam)", "updates_to_5pct"): "not supported",
                   ("converges faster (Adam)", "updates_to_3pct"): "not supported",
                   ("converges faster (Adam)", "updates_to_2pct"): "not tested",
                   ("smoother loss curve (SGD)", "val_loss_roughness"): "supported",
                   ("smoother loss curve (Adam)", "val_loss_roughness"): "contradicted",
                   ("outperforms (SGD)", "accuracy"): "not supported",
                   ("outperforms (Adam)", "accuracy"): "not supported"}
    censored = next(r for r in claims["b"]["rows"]
                    if r["quantity"] == "updates_to_3pct" and "SGD" in r["part"])
    assert censored["value_b"] == 5000 and "mlp_sgd-random never got there in 5 runs" in censored["detail"]
    assert "A better in 5 of 5 seeds" in censored["detail"]
    single = [v for part, q, ev, v in verdicts(claims["b"]) if ev == "single run"]
    assert single == ["not tested", "not tested"]  # compare.json has no He vs random pair


def test_claims_c_and_d(claims):
    assert [v for *_, v in verdicts(claims["c"])] == ["contradicted", "supported"]  # he: Adam rougher
    assert "3,200 images between SGD points, 12,800 between Adam points)" in claims["c"]["notes"][0]
    assert [(q, ev, v) for _, q, ev, v in verdicts(claims["d"])] == [
        ("val_loss_roughness", "seed sweep", "supported"), ("best_val_error", "seed sweep", "not supported"),
        ("final_val_error", "seed sweep", "supported"), ("accuracy", "seed sweep", "supported"),
        ("accuracy", "single run", "not supported")]  # 0.03 becomes 0.06 after Holm over the claim


def test_points_spacing_of_a_sweep_with_log_every_images():
    runs = [Run(f"seed-{i}", f"{i:07d}", {"seed": float(i), "mlp.log_every_images": 12800.0},
                {("mlp_adam-he", "accuracy"): 0.98}) for i in range(2)]
    sweep = json.loads(json.dumps(sweep_json(runs, [], [], "seed")))
    assert _spacing(sweep) == " (every 12,800 training images, for both optimizers)"


def test_claim_e_single_run_contradicts_and_seeds_support(claims):
    assert [(part, ev, v) for part, _, ev, v in verdicts(claims["e"])] == [
        ("torch_cnn beats torch_fnn", "single run", "contradicted"),
        ("torch_cnn beats torch_fnn", "seed sweep", "supported"),
        ("torch_cnn beats torch_fnn", "learning-curve sweep", NEEDS["learning_curve"]),
        ("torch_fnn beats torch_logreg", "single run", "supported"),
        ("torch_fnn beats torch_logreg", "seed sweep", "supported"),
        ("torch_fnn beats torch_logreg", "learning-curve sweep", NEEDS["learning_curve"])]


def test_claim_f_ablation_pairs_each_setting_with_neither(claims):
    rows = claims["f"]["rows"]
    assert [(r["a"], r["quantity"], r["verdict"]) for r in rows[:3]] == [
        ("mlp_adam-he, dropout 0, weight decay 0.0005", "accuracy", "not supported"),
        ("mlp_adam-he, dropout 0.3, weight decay 0", "accuracy", "supported"),
        ("mlp_adam-he, dropout 0.3, weight decay 0.0005", "accuracy", "supported")]
    assert rows[1]["b"] == "mlp_adam-he, neither" and rows[1]["diff"] == pytest.approx(0.0052)
    assert rows[1]["evidence"] == "ablation sweep, 3 seeds"
    assert [r["verdict"] for r in rows if r["quantity"] == "train_val_gap"] == [
        "not supported", "supported", "supported"]
    [rise] = [r for r in rows if r["quantity"] == "val_loss_rise"]
    assert rise["verdict"] == "not tested" and "no val_loss_rise" in rise["detail"]
    no_neither = ablation_sweep()
    no_neither["experiments"] = [e for e in no_neither["experiments"] if e["params"]["mlp.dropout"]]
    [r] = ablation_rows(no_neither, "raises test accuracy", "accuracy")
    assert judge([r])[0]["verdict"] == "not tested"
    assert "mlp.dropout = 0 and mlp.weight_decay = 0" in r["detail"]


def test_claim_g_gabor_against_pixels_per_severity(claims):
    rows = claims["g"]["rows"]
    subset = "single run, the robustness test subset"
    assert [(r["part"], r["evidence"], r["verdict"]) for r in rows] == [
        ("robustness to orientation (rotation)", f"{subset}, rotation 15 degrees", "supported"),
        ("robustness to orientation (rotation)", f"{subset}, rotation 30 degrees", "not supported"),
        ("robustness to frequency (scale)", f"{subset}, scale x0.6", "contradicted")]
    first = rows[0]
    assert (first["a"], first["value_a"], first["value_b"]) == ("svm_gabor", 0.95, 0.90)
    assert (first["diff"], first["ci_low"], first["ci_high"]) == (0.05, 0.03, 0.07)
    assert first["detail"] == ("clean images: A - B = +0.50 points, so the gap changes by +4.50 points; "
                               "svm_pixels 98.00 % clean -> 90.00 %")
    assert robustness_rows(PAIRS, "shear", "p")[0]["detail"].endswith("has no shear rows")


def test_every_missing_input_names_its_command():
    claims = evaluate_claims(paths={"compare": "m/c.json"})
    got = {r["verdict"] for c in claims for r in c["rows"]}
    assert got == {NEEDS["seeds"], NEEDS["ablation"], NEEDS["learning_curve"],
                   "needs `dvc repro` (stage compare writes m/c.json)",
                   "needs `dvc repro` (stage robustness writes reports/robustness_svm_pairs.csv)"}
    assert NEEDS["seeds"] == ("needs a sweep: `dvc exp run --queue -S 'seed=range(0,5)'`, `dvc queue start`, "
                              "then `mnistlab sweep --vary seed --out-dir reports/seeds`")
    assert ("`dvc exp run --queue -S 'mlp.dropout=0,0.3' -S 'mlp.weight_decay=0,0.0005' "
            "-S 'seed=range(0,5)'`") in NEEDS["ablation"]
    assert "-S 'prepare.train_size=500,1000,2000,5000,10000'" in NEEDS["learning_curve"]


def test_censor_updates_only_when_one_side_falls_short():
    runs = [Run("a", "1", {}, {("x", "updates_to_2pct"): 300.0, ("y", "total_updates"): 900.0}),
            Run("b", "2", {}, {("x", "updates_to_2pct"): 400.0, ("y", "updates_to_2pct"): 500.0})]
    fixed, note = censor_updates(runs, "x", "y", "updates_to_2pct")
    assert fixed[0].values[("y", "updates_to_2pct")] == 900.0
    assert ("y", "updates_to_2pct") not in runs[0].values  # the input runs are left alone
    assert note == "y never got there in 1 runs: counted at its last update, a lower bound"
    both = runs + [Run("c", "3", {}, {("y", "updates_to_2pct"): 500.0, ("x", "total_updates"): 900.0})]
    assert censor_updates(both, "x", "y", "updates_to_2pct") == (both, "runs where only one model got there "
                                                                       "are left out")


def test_cli_writes_the_report_naming_every_claim(tmp_path, capsys):
    write_json(tmp_path / "compare.json", COMPARE)
    write_csv(tmp_path / "pairs.csv", PAIRS)
    write_json(tmp_path / "seeds.json", seeds_sweep())
    out = tmp_path / "claims.md"
    assert cli_main(["claims", "--compare", str(tmp_path / "compare.json"), "--robustness-pairs",
                     str(tmp_path / "pairs.csv"), "--seeds", str(tmp_path / "seeds.json"), "--ablation",
                     str(tmp_path / "none.json"), "--learning-curve", str(tmp_path / "none.json"),
                     "--out", str(out)]) == 0
    text = out.read_text()
    for statement in ["Gabor features improve SVM accuracy over raw pixels.",
                      "He initialisation converges faster, gives a smoother loss curve and consistently "
                      "outperforms naive random initialisation.", "Adam gives a smooth, stable descent.",
                      "The PyTorch version trains more stably and reaches a lower validation error than the "
                      "NumPy version of the same network.",
                      "CNN beats the feed-forward net, which beats logistic regression.",
                      "Dropout and L2 regularisation prevent overfitting.",
                      "Raw-pixel SVMs struggled with invariances (rotation/scale); Gabor features added "
                      "robustness to orientation and frequency."]:
        assert f'> "{statement}"' in text
    assert text.count("Made by other MNIST projects this one is compared with.") == 7
    assert f"- ablation: `{tmp_path / 'none.json'}` (missing)" in text
    assert "| e. CNN, feed-forward network, logistic regression | 3 | 0 | 1 | 2 |" in text
    assert ("| torch_fnn beats torch_logreg | test accuracy | single run, 10,000 test images | torch_fnn vs "
            "torch_logreg | 99.30 % / 92.50 % | +6.80 [+6.30, +7.30] points | exact McNemar, paired "
            "bootstrap interval | 1.0e-50 | 4.0e-50 | supported | 700 images only A gets right, 20 only B |"
            ) in text
    assert f"| {NEEDS['ablation']} |" in text
    assert "- **converges faster (SGD)**: supported 2, not tested 1" in text
    assert "- **outperforms (SGD)**: not supported 1, not tested 1" in text
    assert "claims.md: 7 claims" in capsys.readouterr().out


def test_cli_rejects_a_file_that_is_not_a_sweep(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"pairs": {}}')
    with pytest.raises(SystemExit) as err:
        cli_main(["claims", "--seeds", str(tmp_path / "bad.json"), "--out", str(tmp_path / "c.md")])
    assert err.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'bad.json'}: not the JSON of `mnistlab "
                                               "sweep` (no experiments or seed_param)")


def test_cli_rejects_robustness_pairs_of_other_models(tmp_path, capsys):
    write_csv(tmp_path / "pairs.csv", [{**r, "a": "svm_gabor", "b": "svm_pixels"} for r in PAIRS])
    with pytest.raises(SystemExit):
        cli_main(["claims", "--robustness-pairs", str(tmp_path / "pairs.csv"),
                  "--out", str(tmp_path / "c.md")])
    assert "expected svm_pixels (a) against svm_gabor (b)" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()


def test_claim_models_come_from_registry_attributes():
    assert {role: model(role) for role in ROLES} == {
        "pixel_svm": "svm_pixels", "gabor_svm": "svm_gabor", "cnn": "torch_cnn", "fnn": "torch_fnn",
        "logreg": "torch_logreg", "twin": "torch_mlp", "twin_of": "mlp_adam-he"}
    assert [numpy_net(o, i) for o in ("sgd", "adam") for i in ("random", "he")] == [
        "mlp_sgd-random", "mlp_sgd-he", "mlp_adam-random", "mlp_adam-he"]
    assert ablation_models() == ("mlp_sgd-he", "mlp_adam-he", "torch_mlp")


def test_a_claim_model_missing_from_the_registry_is_a_one_line_error(monkeypatch):
    monkeypatch.delitem(registry.MODELS, "torch_fnn")
    with pytest.raises(MnistlabError, match="one model with family='torch', builder='fnn', found none"):
        evaluate_claims()


def test_cli_rejects_compare_metrics_that_are_not_an_object_or_not_json(tmp_path, capsys):
    for text, expected in [("[1, 2]", "holds a JSON list, expected an object"), ("{", "not valid JSON"),
                           ('{"models": {}}', "not the compare stage's metrics (no pairs or models)")]:
        (tmp_path / "compare.json").write_text(text)
        with pytest.raises(SystemExit) as err:
            cli_main(["claims", "--compare", str(tmp_path / "compare.json"), "--out", str(tmp_path / "c.md")])
        message = capsys.readouterr().err.strip()
        assert err.value.code == 2 and message.startswith(f"error: {tmp_path / 'compare.json'}: ")
        assert expected in message and "\n" not in message
    assert not (tmp_path / "c.md").exists()
