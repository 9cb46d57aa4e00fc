"""`mnistlab claims` and the claims stage on constructed inputs: every verdict read off its interval at
the claim's family level, the drop from clean (difference in differences) and the eval-mode gap on
cases with known answers, sweeps made with other params, the missing-input commands, the report."""

import json
import math

import numpy as np
import pytest
from scipy import stats
from support.params import write_params
from support.paths import REPO
from test_evidence_agreement import scan, verdict_rows

from mnistlab.cli.main import main as cli_main
from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import read_split, write_json
from mnistlab.evidence.claims import (
    NEEDS,
    OVERFIT_COMMANDS,
    ROLES,
    ablation_models,
    claims_markdown,
    compare_rows,
    describe_sweeps,
    drop_difference,
    evaluate_claims,
    judge,
    mnist_c_rows,
    model,
    numpy_net,
    overfit_problems,
    read_robustness_correct,
    robustness_rows,
    row,
    sweep_differences,
    training_sections,
)
from mnistlab.evidence.compare import mcnemar_counts
from mnistlab.evidence.hierarchical import two_level_bootstrap
from mnistlab.evidence.sweep import Run, censor_updates, load_dvc_yaml, sweep_json
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
#: Params of a sweep recorded before crossings were counted in images: curve points every 100
#: updates, so 3,200 images apart for SGD and 12,800 for Adam.
PARAMS = {"mlp.log_every": 100.0, "mlp.sgd.batch_size": 32.0, "mlp.adam.batch_size": 128.0}


def as_read_back(runs, seed_param="seed"):
    return json.loads(json.dumps(sweep_json(runs, [], [], seed_param)))  # as read back from the file


def seeds_sweep(values=SEED_VALUES, params=PARAMS):
    return as_read_back([Run(f"seed-{i}", f"{i:07d}", {"seed": float(i), **params},
                             {(m, q): float(v[i]) for m, qs in values.items() for q, v in qs.items()})
                         for i in range(5)])


def one_grid_sweep():
    """Roughness measured on one grid of training images for every curve model (a current sweep)."""
    values = {"mlp_adam-he": s(0.030, 0.002), "mlp_sgd-he": s(0.010, 0.001),
              "mlp_adam-random": s(0.015, 0.001, K), "mlp_sgd-random": s(0.020, 0.002, K)}
    return as_read_back([Run(f"seed-{i}", f"{i:07d}", {"seed": float(i), "mlp.log_every_images": 12800.0},
                             {(m, "val_loss_roughness"): float(v[i]) for m, v in values.items()},
                             curve_spacing=dict.fromkeys(values, 12800.0)) for i in range(5)])


def ablation_sweep():
    """An ablation like the committed one: training-mode gap, no eval-mode figures, shifts on."""
    runs = []
    for i, noise in enumerate([0.0, 0.0003, -0.0002]):
        for dropout, decay in [(0.0, 0.0), (0.3, 0.0), (0.0, 0.0005), (0.3, 0.0005)]:
            acc = 0.975 + (0.005 + 0.0002 * i if dropout else 0.0) + noise + (0.0001 * i if decay else 0.0)
            gap = 0.03 - (0.02 + 0.001 * i if dropout else 0.0) + noise
            runs.append(Run(f"r{i}-{dropout}-{decay}", "0", {"seed": float(i), "mlp.dropout": dropout,
                                                            "mlp.weight_decay": decay, "mlp.epochs": 15.0,
                                                            "mlp.max_shift": 1.0, "mlp.lr_decay": 0.8},
                            {("mlp_adam-he", "accuracy"): acc, ("mlp_adam-he", "train_val_gap"): gap}))
    return sweep_json(runs, [], [], "seed")


#: The overfitting ablation's eval-mode loss gap (validation - training loss, nats) per arm: dropout
#: narrows it by 0.03, weight decay alone leaves it (up to noise), both narrow it by 0.04.
GAP = {(0.0, 0.0): 0.09, (0.3, 0.0): 0.06, (0.0, 0.0005): 0.09, (0.3, 0.0005): 0.05}


#: Seed-to-seed noise of each arm (rows: seeds; columns: the arms of GAP, in order).
NOISE = [[0.0, 0.001, -0.002, 0.001], [0.002, -0.001, 0.001, 0.0], [-0.001, 0.002, 0.0, -0.002]]


def overfit_sweep(seeds=3):
    runs = []
    for i in range(seeds):
        for (dropout, decay), gap, noise in zip(GAP, GAP.values(), NOISE[i], strict=True):
            values = {"train_eval_loss": 0.001, "val_loss": 0.001 + gap + noise, "train_eval_accuracy": 1.0,
                      "val_accuracy": 0.99 - gap / 10 + noise / 5, "val_loss_rise": gap / 3 + noise}
            runs.append(Run(f"overfit-{i}-{dropout}-{decay}", "0",
                            {"seed": float(i), "mlp.dropout": dropout, "mlp.weight_decay": decay,
                             "mlp.epochs": 40.0, "mlp.max_shift": 0.0, "mlp.lr_decay": 1.0},
                            {("mlp_adam-he", q): v for q, v in values.items()}))
    return as_read_back(runs)


COMPARE = {"n_images": 10000, "alpha": 0.05, "models": {
    "svm_gabor": {"accuracy": 0.985}, "svm_pixels": {"accuracy": 0.983}, "torch_cnn": {"accuracy": 0.990},
    "torch_fnn": {"accuracy": 0.993}, "torch_logreg": {"accuracy": 0.925}, "mlp_adam-he": {"accuracy": 0.981},
    "torch_mlp": {"accuracy": 0.979}},
    "pairs": {
        "svm_gabor vs svm_pixels": {"diff": 0.002, "ci_low": -0.001, "ci_high": 0.005, "a_only": 40,
                                    "b_only": 20, "p_value": 0.2, "better": 0},
        "torch_cnn vs torch_fnn": {"diff": -0.003, "ci_low": -0.005, "ci_high": -0.001, "a_only": 10,
                                   "b_only": 40, "p_value": 1e-4, "better": -1},
        "torch_fnn vs torch_logreg": {"diff": 0.068, "ci_low": 0.063, "ci_high": 0.073, "a_only": 700,
                                      "b_only": 20, "p_value": 1e-50, "better": 1},
        "mlp_adam-he vs torch_mlp": {"diff": 0.002, "ci_low": 0.0005, "ci_high": 0.0035, "a_only": 50,
                                     "b_only": 30, "p_value": 0.03, "better": 0}}}

N_IMAGES = 2000
CONDITIONS = [("clean", 0.0), ("rotation", 15.0), ("scale", 0.6), ("blur", 1.0)]


def right(first: int) -> np.ndarray:
    """Correct on the first ``first`` of the test images."""
    return np.arange(N_IMAGES) < first


#: Per-image correctness of the robustness stage, with known drops from clean: under rotation the
#: pixel SVM drops 10 points and the Gabor SVM 2; under scaling both drop 5 (each on its own 100
#: images); under blur the Gabor SVM drops 10 and the pixel SVM 2.
CORRECT = {"conditions": CONDITIONS,
           "svm_pixels": np.stack([right(1960), right(1760), right(1860), right(1920)]),
           "svm_gabor": np.stack([right(1980), right(1940), right(1880), right(1780)])}
ROBUSTNESS_METRICS = {"svm_pixels": {"mnist_c": {"clean": 0.02, "fog": 0.30, "mce": 0.3}},
                      "svm_gabor": {"mnist_c": {"clean": 0.01, "fog": 0.11, "mce": 0.1}}}


def verdicts(claim):
    return [(r["part"], r["quantity"], r["evidence"].split(",")[0], r["verdict"]) for r in claim["rows"]]


@pytest.fixture(scope="module")
def claims():
    return {c["key"]: c for c in evaluate_claims(COMPARE, CORRECT, seeds_sweep(), ablation_sweep(), None,
                                                 mnist_c=ROBUSTNESS_METRICS)}


# -- one claim, one family: verdicts off the intervals ---------------------------------------------

def fixed(low, high, p, calls):
    def test(level):
        calls.append(level)
        return {"diff": (low + high) / 2, "ci_low": low, "ci_high": high, "p_value": p}
    return test


def test_judge_reads_each_verdict_off_its_interval_at_the_family_level():
    calls = []
    rows = [row("p", "a", "b", "accuracy", "e", test=fixed(0.001, 0.02, 0.001, calls)),  # A higher
            row("p", "a", "b", "accuracy", "e", test=fixed(-0.02, -0.001, 0.002, calls)),  # B higher
            row("p", "a", "b", "val_loss_roughness", "e", test=fixed(-0.2, -0.1, 0.004, calls)),  # A smoother
            row("p", "a", "b", "accuracy", "e", test=fixed(-0.001, 0.02, 0.0001, calls)),  # p small, 0 inside
            row("p", "a", "b", "accuracy", "e", diff=0.01),  # nothing to test it with
            row("p", "a", "b", "accuracy", "e", verdict=NEEDS["seeds"])]
    family = judge(rows)
    assert family == {"size": 4, "confidence": pytest.approx(1 - 0.05 / 4)}
    assert calls == [pytest.approx(0.0125)] * 4  # every interval at 1 - alpha / m
    assert [r["verdict"] for r in rows] == ["supported", "contradicted", "supported", "not supported",
                                            "not tested", NEEDS["seeds"]]  # the interval decides, not p
    assert [r["p_adjusted"] for r in rows[:4]] == pytest.approx([0.004, 0.008, 0.016, 0.0004])
    assert judge([row("p", "a", "b", "accuracy", "e", diff=0.0)]) == {"size": 0, "confidence": None}
    text = claims_markdown([{"key": "x", "title": "t", "statement": "s", "source": "a project", "rows": rows,
                             "family": family, "notes": []}], {})
    assert scan(text) == [] and verdict_rows(text) == 4
    assert "A - B [98.75 % CI]" in text and "m = 4 tests" in text


def test_compare_rows_turn_a_pair_round_and_recompute_it_at_the_claims_level():
    [r] = compare_rows(COMPARE, "part", "torch_mlp", "mlp_adam-he", seed=3, n_resamples=4000)
    assert r["diff"] == -0.002 and (r["value_a"], r["value_b"]) == (0.979, 0.981)
    assert r["evidence"] == "single run, 10,000 test images"
    assert r["detail"] == "30 images only A gets right, 50 only B"
    for level in (0.05, 0.005):
        boot = two_level_bootstrap(30, 50, 10000, 3, 4000, level)
        assert r["test"](level) == {"diff": boot["diff"], "ci_low": boot["low"], "ci_high": boot["high"],
                                    "p_value": mcnemar_counts(30, 50)}
    wide, narrow = r["test"](0.005), r["test"](0.05)
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]
    [missing] = compare_rows(COMPARE, "part", "torch_cnn", "svm_gabor")
    assert missing["test"] is None and "has no pair of torch_cnn and svm_gabor" in missing["detail"]


def test_claim_a_single_run_supported_and_svm_seeds_not_tested(claims):
    assert verdicts(claims["a"]) == [
        ("Gabor SVM more accurate", "accuracy", "single run", "supported"),
        ("Gabor SVM more accurate", "accuracy", "seed sweep",
         "not tested: the seed does not change either model; re-run the sweep "
         f"({NEEDS['seeds'].split(': ', 1)[1]})"),
        ("Gabor SVM more accurate", "accuracy", "learning-curve sweep", NEEDS["learning_curve"])]
    assert claims["a"]["family"] == {"size": 1, "confidence": 0.95}


def test_claim_b_three_parts_in_training_images_for_sgd_and_adam(claims):
    got = {(part, q): v for part, q, ev, v in verdicts(claims["b"]) if ev == "seed sweep"}
    assert got == {("converges faster (SGD)", "images_to_5pct"): "supported",
                   ("converges faster (SGD)", "images_to_3pct"): "supported",  # random never gets there
                   ("converges faster (SGD)", "images_to_2pct"): "not tested",
                   ("converges faster (Adam)", "images_to_5pct"): "not supported",
                   ("converges faster (Adam)", "images_to_3pct"): "not supported",
                   ("converges faster (Adam)", "images_to_2pct"): "not tested",
                   ("smoother loss curve (SGD)", "val_loss_roughness"): "supported",
                   ("smoother loss curve (Adam)", "val_loss_roughness"): "contradicted",
                   ("outperforms (SGD)", "accuracy"): "not supported",
                   ("outperforms (Adam)", "accuracy"): "not supported"}
    m = claims["b"]["family"]["size"]
    assert m == 8
    first = claims["b"]["rows"][0]  # SGD He vs random, images to 5 %: 32 images per update
    d = 32 * (np.array(s(300, 100)) - np.array(s(1200, 100, K)))
    half = stats.t.ppf(1 - 0.05 / m / 2, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (first["ci_low"], first["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    censored = next(r for r in claims["b"]["rows"]
                    if r["quantity"] == "images_to_3pct" and "SGD" in r["part"])
    assert censored["value_b"] == 5000 * 32
    assert "mlp_sgd-random never got there in 5 runs: counted at its last logged point" in censored["detail"]
    assert "A better in 5 of 5 seeds" in censored["detail"]
    single = [v for part, q, ev, v in verdicts(claims["b"]) if ev == "single run"]
    assert single == ["not tested", "not tested"]  # compare.json has no He vs random pair


def test_claim_c_cannot_be_judged_at_unequal_spacing_and_is_read_off_one_grid(claims):
    rerun = f"re-run the sweep ({NEEDS['seeds'].split(': ', 1)[1]})"
    assert [v for *_, v in verdicts(claims["c"])] == [
        "not tested: the two curves' roughness was measured at different spacings of training images; "
        + rerun] * 2
    assert claims["c"]["family"]["size"] == 0
    assert claims["c"]["notes"][0] == ("This claim cannot be judged from the committed seed sweep: its SGD "
                                       "and Adam curves were logged at different spacings of training "
                                       "images.")
    # the same curves measured on one grid of training images: tested, verdicts off 97.5 % intervals
    c = next(c for c in evaluate_claims(seeds=one_grid_sweep()) if c["key"] == "c")
    assert [r["verdict"] for r in c["rows"]] == ["contradicted", "supported"]  # He: Adam rougher
    assert c["family"] == {"size": 2, "confidence": pytest.approx(0.975)}
    d = np.array(s(0.015, 0.001, K)) - np.array(s(0.020, 0.002, K))
    half = stats.t.ppf(1 - 0.05 / 2 / 2, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (c["rows"][1]["ci_low"], c["rows"][1]["ci_high"]) == pytest.approx((d.mean() - half,
                                                                                d.mean() + half))
    assert not any("cannot be judged" in note for note in c["notes"])


def test_claim_d_and_the_checkpoint_rule(claims):
    assert [(q, ev, v) for _, q, ev, v in verdicts(claims["d"])] == [
        ("val_loss_roughness", "seed sweep", "supported"), ("best_val_error", "seed sweep", "not supported"),
        ("final_val_error", "seed sweep", "supported"), ("accuracy", "seed sweep", "supported"),
        ("accuracy", "single run", "not supported")]  # [-0.43, +0.03] points at 1 - 0.05/5
    assert claims["d"]["notes"][0].startswith("Checkpoint rule: torch_mlp and mlp_adam-he both keep their "
                                              "last weights")
    assert any(note.startswith("reaches a lower validation error: the single run says not supported, the "
                               "seed sweep supported. Follow the sweep") for note in claims["d"]["notes"])


def test_claim_e_single_run_contradicts_and_seeds_support(claims):
    assert [(part, ev, v) for part, _, ev, v in verdicts(claims["e"])] == [
        ("torch_cnn beats torch_fnn", "single run", "contradicted"),
        ("torch_cnn beats torch_fnn", "seed sweep", "supported"),
        ("torch_cnn beats torch_fnn", "learning-curve sweep", NEEDS["learning_curve"]),
        ("torch_fnn beats torch_logreg", "single run", "supported"),
        ("torch_fnn beats torch_logreg", "seed sweep", "supported"),
        ("torch_fnn beats torch_logreg", "learning-curve sweep", NEEDS["learning_curve"])]
    assert any("the single run says contradicted, the seed sweep supported. Follow the sweep" in note
               for note in claims["e"]["notes"])


# -- claim f: overfitting in evaluation mode, on a baseline that overfits -------------------------------

def test_claim_f_needs_the_overfitting_sweep_and_keeps_no_verdict_of_an_ablation_that_cannot_overfit(claims):
    rows = claims["f"]["rows"]
    assert [(r["quantity"], r["verdict"]) for r in rows] == [
        ("eval_gap_loss", NEEDS["ablation"]), ("eval_gap_accuracy", NEEDS["ablation"]),
        ("val_loss_rise", NEEDS["ablation"])]
    note = next(n for n in claims["f"]["notes"] if n.startswith("The committed ablation"))
    assert "so its verdicts are not kept" in note
    assert "`mlp.max_shift` = 1 (the baseline must have 0: no shifted training images)" in note
    assert "`mlp.lr_decay` = 0.8 (the baseline must have 1: no learning-rate decay)" in note
    assert "no eval-mode training loss or accuracy recorded" in note
    assert NEEDS["ablation"] == "needs the sweep: `{}`, `{}`, then `{}`".format(*OVERFIT_COMMANDS)
    assert OVERFIT_COMMANDS == (
        "dvc exp run --queue -n overfit -S 'mlp.max_shift=0' -S 'mlp.lr_decay=1' -S 'mlp.epochs=40' "
        "-S 'mlp.dropout=0,0.3' -S 'mlp.weight_decay=0,0.0005' -S 'seed=range(0,3)'",
        "MNISTLAB_THREADS=1 dvc queue start -j 2",
        "mnistlab sweep --name-prefix overfit --vary mlp.dropout --vary mlp.weight_decay "
        "--vary mlp.max_shift --vary mlp.lr_decay --vary mlp.epochs --out-dir reports/ablation")
    assert overfit_problems(overfit_sweep(2)) == [
        "fewer than 3 seeds per arm (dropout 0, weight decay 0: 2 seeds; dropout 0, weight decay 0.0005: 2 "
        "seeds; dropout 0.3, weight decay 0: 2 seeds; dropout 0.3, weight decay 0.0005: 2 seeds)"]


def test_claim_f_on_an_ablation_that_overfits_reads_the_eval_mode_gaps():
    assert overfit_problems(overfit_sweep()) == []
    f = next(c for c in evaluate_claims(ablation=overfit_sweep()) if c["key"] == "f")
    loss = [r for r in f["rows"] if r["quantity"] == "eval_gap_loss"]
    assert [(r["a"], r["b"], r["verdict"]) for r in loss] == [
        ("mlp_adam-he, dropout 0, weight decay 0.0005", "mlp_adam-he, neither", "not supported"),
        ("mlp_adam-he, dropout 0.3, weight decay 0", "mlp_adam-he, neither", "supported"),
        ("mlp_adam-he, dropout 0.3, weight decay 0.0005", "mlp_adam-he, neither", "supported")]
    assert loss[1]["diff"] == pytest.approx(-0.03 + np.mean([n[1] - n[0] for n in NOISE]))
    assert loss[1]["evidence"] == "ablation sweep, 3 seeds"
    assert f["family"]["size"] == len(f["rows"]) == 9  # three arms x loss gap, accuracy gap, loss rise
    for r in f["rows"]:  # every interval at 1 - 0.05/9, the verdict read off it
        assert (r["verdict"] == "not supported") == (r["ci_low"] <= 0 <= r["ci_high"])
    neither = np.mean([0.09 + n[0] for n in NOISE])
    assert any(f"mlp_adam-he {neither:+.4f} [" in n and "(overfits)" in n
               and "Every model of it overfits" in n for n in f["notes"])


def test_claim_f_names_its_overfitting_recipe_once_as_chosen_on_purpose():
    data = overfit_sweep()
    today = {**data["made_with"], "mlp.epochs": 15.0, "mlp.max_shift": 1.0, "mlp.lr_decay": 0.8}
    claims = evaluate_claims(ablation=data, today=today, training=["mlp", "seed"])
    f = next(c for c in claims if c["key"] == "f")
    [note] = [n for n in f["notes"] if n.startswith("Rests on the ablation sweep")]
    assert "made with the overfitting recipe on purpose (`mlp.epochs`: 40 here, 15 today" in note
    assert note.endswith("and otherwise with the current params.")
    [line] = describe_sweeps({"ablation": data}, today, ["mlp", "seed"])
    assert "made with the current params, apart from the overfitting recipe, chosen on purpose" in line


# -- claim g: the drop from clean, a difference in differences ---------------------------------------

def test_drop_difference_known_answers():
    clean, same = right(1960), right(1960)
    zero = drop_difference(clean, same, clean, same)
    assert (zero["diff"], zero["low"], zero["high"], zero["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    # A drops 2 points, B 10: d = -1 on 180 images, +1 on 20 (A - B = -8 points, exactly)
    r = drop_difference(right(1980), right(1940), right(1960), right(1760), seed=0, n_resamples=20000)
    assert r["diff"] == pytest.approx(-0.08) and (r["drop_a"], r["drop_b"]) == pytest.approx((0.02, 0.10))
    se = math.sqrt((200 / N_IMAGES - 0.08**2) / N_IMAGES)  # standard error of the mean of the d_i
    assert (r["low"], r["high"]) == pytest.approx((-0.08 - 1.96 * se, -0.08 + 1.96 * se), abs=1.5e-3)
    assert r["p_value"] == pytest.approx(2 / 20001)  # no resample reaches 0
    with pytest.raises(ValueError, match="one length"):
        drop_difference(right(3), right(3)[:5], right(3), right(3))


def test_drop_difference_covers_the_true_difference_in_differences():
    rng = np.random.default_rng(5)
    covered, n = 0, 400
    for trial in range(200):  # A keeps 98 % and loses 5 % of them; B keeps 97 % and loses 8 %: truth -3 %
        a_clean, b_clean = rng.random(n) < 0.98, rng.random(n) < 0.97
        a_bad, b_bad = a_clean & (rng.random(n) > 0.05), b_clean & (rng.random(n) > 0.08)
        truth = 0.98 * 0.05 - 0.97 * 0.08
        r = drop_difference(a_clean, a_bad, b_clean, b_bad, seed=trial, n_resamples=2000)
        covered += r["low"] <= truth <= r["high"]
    assert 0.90 <= covered / 200 <= 0.99  # a 95 % interval


def test_claim_g_tests_the_drop_from_clean_for_every_family(claims):
    rows = claims["g"]["rows"]
    assert [(r["part"], r["evidence"], r["verdict"]) for r in rows] == [
        ("robustness to orientation (rotation)", "single run, 2,000 test images, rotation 15 degrees",
         "supported"),
        ("robustness to frequency (scale)", "single run, 2,000 test images, scale x0.6", "not supported"),
        ("robustness to blur (not claimed)", "single run, 2,000 test images, blur sigma 1", "contradicted"),
        ("MNIST-C corruptions (not claimed)", "single run, MNIST-C fog",
         "not tested: the robustness stage's file holds no MNIST-C correctness per image (made before it was "
         "saved, or from official sets of unequal size), so no paired test")]
    rotation, scale, blur, fog = rows
    assert (rotation["a"], rotation["b"]) == ("svm_gabor", "svm_pixels")
    assert rotation["quantity"] == "accuracy_drop"
    assert (rotation["value_a"], rotation["value_b"], rotation["diff"]) == pytest.approx((0.02, 0.10, -0.08))
    assert scale["diff"] == 0 and scale["ci_low"] < 0 < scale["ci_high"]  # equal drops
    assert blur["diff"] == pytest.approx(0.08) and blur["ci_low"] > 0
    assert claims["g"]["family"] == {"size": 3, "confidence": pytest.approx(1 - 0.05 / 3)}
    at_level = drop_difference(*CORRECT["svm_gabor"][[0, 1]], *CORRECT["svm_pixels"][[0, 1]],
                               alpha=0.05 / 3)
    assert (rotation["ci_low"], rotation["ci_high"]) == (at_level["low"], at_level["high"])
    assert rotation["detail"] == "clean 99.00 % / 98.00 %, corrupted 97.00 % / 88.00 %"
    assert fog["diff"] == pytest.approx((0.11 - 0.01) - (0.30 - 0.02)) and fog["ci_low"] is None
    assert mnist_c_rows(None)[0]["verdict"] == NEEDS["robustness"].format(path="metrics/robustness.json")
    assert robustness_rows(None)[0]["verdict"].startswith("needs `dvc repro` (stage robustness writes "
                                                          "data/evaluation/robustness_correct.npz)")


# -- sweeps made with other params -------------------------------------------------------------------

def test_a_claim_resting_on_a_sweep_made_with_other_params_names_the_keys():
    sweep = seeds_sweep(params={**PARAMS, "mlp.epochs": 15.0, "compare.alpha": 0.05, "svm.C": 5.0})
    today = {**PARAMS, "mlp.epochs": 30, "compare.alpha": 0.01, "svm.C": 5, "seed": 0}
    assert sweep_differences(sweep, today, ["mlp", "svm", "seed"]) == ["`mlp.epochs`: 15 here, 30 today"]
    assert sweep_differences(sweep, today, None) == ["`compare.alpha`: 0.05 here, 0.01 today",
                                                     "`mlp.epochs`: 15 here, 30 today"]
    b = next(c for c in evaluate_claims(seeds=sweep, today=today, training=["mlp", "svm", "seed"])
             if c["key"] == "b")
    [note] = [n for n in b["notes"] if n.startswith("Rests on")]
    assert note.startswith("Rests on the seed sweep (`reports/seeds/sweep.json`), made with other params "
                           "than today's params.yaml (`mlp.epochs`; values under *The sweeps* above)")
    assert f"Re-run it: {NEEDS['seeds'].split(': ', 1)[1]}." in note
    same = {**today, "mlp.epochs": 15}
    b = next(c for c in evaluate_claims(seeds=sweep, today=same, training=["mlp", "svm", "seed"])
             if c["key"] == "b")
    assert ("Rests on the seed sweep (`reports/seeds/sweep.json`), made with the current params"
            in " ".join(b["notes"]))


def test_the_claims_stage_is_wired_to_its_inputs_and_the_params_that_make_the_models():
    dvc = load_dvc_yaml(REPO / "dvc.yaml")
    stage = dvc["stages"]["claims"]
    args = stage["cmd"].split()
    sections = args[args.index("--training-params") + 1].split(",")
    assert sections == training_sections(dvc)  # DVC takes no dvc.yaml dep: the test keeps them equal
    assert set(stage["params"]) == {*sections, "compare.alpha", "compare.seed", "compare.n_resamples"}
    inputs = [args[args.index(option) + 1] for option in ("--compare", "--robustness-correct",
                                                          "--robustness-metrics", "--seeds", "--ablation",
                                                          "--learning-curve")]
    assert set(inputs) <= set(stage["deps"]) and "--allow-partial" not in args
    assert stage["outs"] == [{"reports/claims.md": {"cache": False}}]


# -- the inputs and the command ----------------------------------------------------------------------

def test_every_missing_input_names_its_command():
    claims = evaluate_claims(paths={"compare": "m/c.json"})
    got = {r["verdict"] for c in claims for r in c["rows"]}
    assert got == {NEEDS["seeds"], NEEDS["ablation"], NEEDS["learning_curve"],
                   "needs `dvc repro` (stage compare writes m/c.json)",
                   "needs `dvc repro` (stage robustness writes data/evaluation/robustness_correct.npz)",
                   "needs `dvc repro` (stage robustness writes metrics/robustness.json)"}
    assert NEEDS["seeds"] == ("needs a sweep: `dvc exp run --queue -S 'seed=range(0,5)'`, `dvc queue start`, "
                              "then `mnistlab sweep --vary seed --out-dir reports/seeds`")
    assert "-S 'prepare.train_size=500,2000,5000' -S 'seed=range(0,3)'" in NEEDS["learning_curve"]


def test_censor_updates_only_when_one_side_falls_short():
    runs = [Run("a", "1", {}, {("x", "updates_to_2pct"): 300.0, ("y", "total_updates"): 900.0}),
            Run("b", "2", {}, {("x", "updates_to_2pct"): 400.0, ("y", "updates_to_2pct"): 500.0})]
    fixed_runs, note = censor_updates(runs, "x", "y", "updates_to_2pct")
    assert fixed_runs[0].values[("y", "updates_to_2pct")] == 900.0
    assert ("y", "updates_to_2pct") not in runs[0].values  # the input runs are left alone
    assert note == "y never got there in 1 runs: counted at its last update, a lower bound"
    both = runs + [Run("c", "3", {}, {("y", "updates_to_2pct"): 500.0, ("x", "total_updates"): 900.0})]
    assert censor_updates(both, "x", "y", "updates_to_2pct") == (both, "runs where only one model got there "
                                                                       "are left out")


def write_correct(path, correct=CORRECT):
    np.savez(path, corruption=np.array([c for c, _ in correct["conditions"]]),
             severity=np.array([v for _, v in correct["conditions"]]),
             **{k: v for k, v in correct.items() if k != "conditions"})


def test_cli_writes_the_report_naming_every_claim(tmp_path, capsys):
    write_json(tmp_path / "compare.json", COMPARE)
    write_correct(tmp_path / "correct.npz")
    write_json(tmp_path / "robustness.json", ROBUSTNESS_METRICS)
    write_json(tmp_path / "seeds.json", seeds_sweep())
    write_params(tmp_path / "params.yaml", {"compare": {"alpha": 0.05, "seed": 0, "n_resamples": 4000}})
    out = tmp_path / "claims.md"
    assert cli_main(["claims", "--compare", str(tmp_path / "compare.json"), "--robustness-correct",
                     str(tmp_path / "correct.npz"), "--robustness-metrics", str(tmp_path / "robustness.json"),
                     "--seeds", str(tmp_path / "seeds.json"), "--ablation", str(tmp_path / "none.json"),
                     "--learning-curve", str(tmp_path / "none.json"), "--params",
                     str(tmp_path / "params.yaml"), "--pipeline", str(REPO / "dvc.yaml"), "--out", str(out),
                     "--allow-partial"]) == 0
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
    assert text.count("Claimed in the README of a from-scratch NumPy MNIST network.") == 3  # b, c, f
    assert text.count("Claimed in ") == 7
    assert scan(text) == [] and verdict_rows(text) > 20
    assert f"- ablation: `{tmp_path / 'none.json'}` (missing)" in text
    assert "| e. CNN, feed-forward network, logistic regression | 3 | 0 | 1 | 2 |" in text
    boot = two_level_bootstrap(700, 20, 10000, 0, 4000, 0.05 / 4)
    assert (f"| torch_fnn beats torch_logreg | test accuracy | single run, 10,000 test images | torch_fnn vs "
            f"torch_logreg | 99.30 % / 92.50 % | +6.80 [{100 * boot['low']:+.2f}, {100 * boot['high']:+.2f}] "
            "points | paired bootstrap of the test images, exact McNemar p | 1.6e-178 | 6.6e-178 | "
            "supported | 700 images only A gets right, 20 only B |") in text
    assert "| e. CNN" in text and "A - B [98.75 % CI]" in text  # claim e: m = 4
    assert f"| {NEEDS['ablation']} |" in text
    assert "- **converges faster (SGD)**: supported 2, not tested 1" in text
    assert "- **outperforms (SGD)**: not supported 1, not tested 1" in text
    assert "- **robustness to blur (not claimed)**: contradicted 1" in text
    assert "## The sweeps" in text and "- **seed sweep** (`" in text
    assert "claims.md: 7 claims" in capsys.readouterr().out


def test_cli_with_the_robustness_csv_of_older_runs_says_what_claim_g_needs(tmp_path, capsys):
    (tmp_path / "pairs.csv").write_text("corruption,severity\nclean,0\n")
    write_json(tmp_path / "compare.json", COMPARE)
    out = tmp_path / "claims.md"
    assert cli_main(["claims", "--compare", str(tmp_path / "compare.json"), "--robustness-pairs",
                     str(tmp_path / "pairs.csv"), "--seeds", str(tmp_path / "none.json"), "--ablation",
                     str(tmp_path / "none.json"), "--learning-curve", str(tmp_path / "none.json"),
                     "--out", str(out), "--allow-partial"]) == 0
    text = out.read_text()
    assert (f"needs `dvc repro` (stage robustness writes data/evaluation/robustness_correct.npz) "
            f"({tmp_path / 'pairs.csv'} holds accuracies under corruption, not which images each model gets "
            "right: the drop from clean needs the per-image file)") in text
    assert "(3 inputs missing: seeds, ablation, learning-curve)" in capsys.readouterr().out


def test_cli_rejects_a_file_that_is_not_a_sweep(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"pairs": {}}')
    with pytest.raises(SystemExit) as err:
        cli_main(["claims", "--seeds", str(tmp_path / "bad.json"), "--out", str(tmp_path / "c.md")])
    assert err.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'bad.json'}: not the JSON of `mnistlab "
                                               "sweep` (no experiments or seed_param)")


def test_mnist_c_correctness_gives_a_paired_drop_test_per_corruption(tmp_path):
    """With the MNIST-C correctness in the robustness stage's file, claim g tests every corruption:
    on fog the pixel SVM drops 28 points and the Gabor SVM 1 (on 2,000 images), on zigzag both 5."""
    sets = np.array(["identity", "fog", "zigzag"])
    mnist_c = {"svm_pixels": np.stack([right(1960), right(1400), right(1860)]),
               "svm_gabor": np.stack([right(1980), right(1960), right(1880)])}
    write_correct(tmp_path / "correct.npz")
    with np.load(tmp_path / "correct.npz") as data:
        extra = {**{k: data[k] for k in data.files}, "mnist_c_sets": sets,
                 **{f"mnist_c.{k}": v for k, v in mnist_c.items()}}
    np.savez(tmp_path / "correct.npz", **extra)
    correct = read_robustness_correct(tmp_path / "correct.npz")
    assert correct["mnist_c"]["sets"] == ["identity", "fog", "zigzag"]
    claims = {c["key"]: c for c in evaluate_claims(COMPARE, correct, None, None, None,
                                                   mnist_c=ROBUSTNESS_METRICS, n_resamples=4000)}
    fog, zigzag = [r for r in claims["g"]["rows"] if r["part"] == "MNIST-C corruptions (not claimed)"]
    assert fog["evidence"] == "single run, 2,000 test images, MNIST-C fog"
    assert (fog["value_a"], fog["value_b"], fog["diff"]) == pytest.approx((0.01, 0.28, -0.27))
    assert fog["ci_high"] < 0 and fog["p_value"] < 0.001  # the Gabor SVM drops less
    assert zigzag["diff"] == 0 and zigzag["ci_low"] < 0 < zigzag["ci_high"]
    assert claims["g"]["family"]["size"] == 3 + 2  # three graded conditions and two MNIST-C sets

    np.savez(tmp_path / "bad.npz", **{**extra, "mnist_c.svm_gabor": np.ones((2, N_IMAGES), bool)})
    with pytest.raises(MnistlabError, match="bad.npz: expected MNIST-C set names"):
        read_robustness_correct(tmp_path / "bad.npz")


def test_cli_rejects_robustness_correctness_without_the_two_svms(tmp_path, capsys):
    write_correct(tmp_path / "other.npz", {"conditions": CONDITIONS, "svm_pixels": CORRECT["svm_pixels"]})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for name, expected in [("other.npz", "expected per-image correctness with svm_gabor"),
                           ("junk.npz", "not a readable .npz of the robustness stage")]:
        with pytest.raises(SystemExit):
            cli_main(["claims", "--robustness-correct", str(tmp_path / name), "--out",
                      str(tmp_path / "c.md")])
        message = capsys.readouterr().err
        assert message.startswith(f"error: {tmp_path / name}: ") and expected in message
        assert message.count("\n") == 1
    assert not (tmp_path / "c.md").exists()


def test_the_stage_refuses_a_partial_report(tmp_path, capsys):
    import runpy

    main = runpy.run_path(str(REPO / "stages" / "claims.py"))["main"]
    with pytest.raises(SystemExit) as err:
        main(["--allow-partial", "--out", str(tmp_path / "c.md")])
    assert err.value.code == 2 and "--allow-partial: the stage needs every input" in capsys.readouterr().err
    assert not (tmp_path / "c.md").exists()


def test_claim_models_come_from_registry_attributes():
    assert {role: model(role) for role in ROLES} == {
        "pixel_svm": "svm_pixels", "gabor_svm": "svm_gabor", "cnn": "torch_cnn", "fnn": "torch_fnn",
        "logreg": "torch_logreg", "twin": "torch_mlp", "twin_of": "mlp_adam-he"}
    assert [numpy_net(o, i) for o in ("sgd", "adam") for i in ("random", "he")] == [
        "mlp_sgd-random", "mlp_sgd-he", "mlp_adam-random", "mlp_adam-he"]
    assert ablation_models() == ("mlp_sgd-he", "mlp_adam-he", "torch_mlp")


def test_a_claim_model_missing_from_the_registry_is_a_one_line_error():
    saved = dict(registry.MODELS)
    del registry.MODELS["torch_fnn"]
    try:
        with pytest.raises(MnistlabError, match="one model with family='torch', builder='fnn', found none"):
            evaluate_claims()
    finally:  # put the registry back in its order (monkeypatch.delitem would append it at the end)
        registry.MODELS.clear()
        registry.MODELS.update(saved)


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


# -- the eval-mode training figures claim f reads -----------------------------------------------------

def test_train_eval_index_is_a_fixed_evenly_spaced_subset():
    from mnistlab.nn.train import TRAIN_EVAL_IMAGES, train_eval_index

    index = train_eval_index(17721)
    assert len(index) == TRAIN_EVAL_IMAGES == 2000 and index[0] == 0 and index[-1] < 17721
    assert np.all(np.diff(index) > 0) and set(np.diff(index)) <= {8, 9}
    assert train_eval_index(500).tolist() == list(range(500))


def test_the_numpy_net_records_its_eval_mode_training_figures(prepared_dir):
    from mnistlab.core.params import load_params
    from mnistlab.nn.train import loss_and_accuracy, train_eval_index, train_mlp

    mlp = load_params(REPO / "params.yaml").mlp
    small = mlp.model_copy(update={"hidden_sizes": [32], "epochs": 1, "log_every_images": 1280,
                                   "dropout": 0.5, "adam": mlp.adam.model_copy(update={"batch_size": 64})})
    train, val = read_split(prepared_dir / "train.npz"), read_split(prepared_dir / "val.npz")
    model, metrics = train_mlp(small, "adam", "he", (train.x, train.y), (val.x, val.y))
    index = train_eval_index(len(train.y))
    loss, accuracy = loss_and_accuracy(model, train.x[index], train.y[index].astype(np.intp))  # dropout off
    assert (metrics["train_eval_loss"], metrics["train_eval_accuracy"]) == pytest.approx((loss, accuracy))
    assert metrics["train_eval_images"] == 2000 and 0 < metrics["train_eval_accuracy"] <= 1


def test_the_torch_models_record_their_eval_mode_training_figures():
    import torch

    from mnistlab.core.io import Split
    from mnistlab.models.torch_models.models import default_sizes
    from mnistlab.models.torch_models.settings import TrainSettings
    from mnistlab.models.torch_models.train import as_tensors, loss_and_accuracy, train_model

    rng = np.random.default_rng(0)
    train = Split(x=rng.random((2500, 28, 28), dtype=np.float32),
                  y=rng.integers(0, 10, 2500).astype(np.uint8))
    val = Split(x=train.x[:100], y=train.y[:100])
    run = TrainSettings(model="torch_mlp", builder="mlp", sizes=default_sizes("mlp"), epochs=1,
                        batch_size=256, device="cpu")
    result = train_model(run, train, val)
    index = np.arange(2000) * 2500 // 2000
    images, labels = as_tensors(train.x[index], train.y[index], torch.device("cpu"))
    loss, accuracy = loss_and_accuracy(result.model, images, labels)
    assert result.metrics["train_eval_images"] == 2000
    assert (result.metrics["train_eval_loss"], result.metrics["train_eval_accuracy"]) == pytest.approx(
        (loss, accuracy), rel=1e-5)

