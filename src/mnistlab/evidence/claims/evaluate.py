"""The claims (:data:`CLAIMS`) and :func:`evaluate_claims`, which gathers and judges their rows.

Each claim's rows come from the single run, the sweeps (:mod:`mnistlab.evidence.claims.rows`), the
ablation (:mod:`mnistlab.evidence.claims.ablation`) and the robustness stage
(:mod:`mnistlab.evidence.claims.robustness`); they are judged as one family per claim
(:func:`mnistlab.evidence.claims.rows.judge`) and given the notes a reader needs to weigh them.
"""

from __future__ import annotations

from mnistlab.evidence.claims.ablation import _claim_f
from mnistlab.evidence.claims.provenance import _made_with
from mnistlab.evidence.claims.robustness import mnist_c_rows, robustness_rows
from mnistlab.evidence.claims.roles import INITS, OPTIMIZERS, VERDICTS, model, numpy_net
from mnistlab.evidence.claims.rows import Sweeps, compare_rows, judge, sweep_rows
from mnistlab.evidence.sweep import N_RESAMPLES

CLAIMS = {  # key: (title, the claim as quoted, the kind of project that makes it)
    "a": ("Gabor features vs raw pixels (SVM)", "Gabor features improve SVM accuracy over raw pixels.",
          "the README of a classic computer-vision MNIST project (a Gabor filter bank in front of an SVM)"),
    "b": ("He vs naive random initialisation", "He initialisation converges faster, gives a smoother loss "
          "curve and consistently outperforms naive random initialisation.",
          "the README of a from-scratch NumPy MNIST network"),
    "c": ("Adam vs SGD", "Adam gives a smooth, stable descent.",
          "the README of a from-scratch NumPy MNIST network"),
    "d": ("The NumPy network vs its PyTorch twin", "The PyTorch version trains more stably and reaches a "
          "lower validation error than the NumPy version of the same network.",
          "the README of a from-scratch NumPy MNIST network that also ships a PyTorch port"),
    "e": ("CNN, feed-forward network, logistic regression",
          "CNN beats the feed-forward net, which beats logistic regression.",
          "PyTorch MNIST tutorials and their READMEs comparing model families"),
    "f": ("Dropout and L2 regularisation", "Dropout and L2 regularisation prevent overfitting.",
          "the README of a from-scratch NumPy MNIST network"),
    "g": ("Gabor features and invariances (SVM)", "Raw-pixel SVMs struggled with invariances "
          "(rotation/scale); Gabor features added robustness to orientation and frequency.",
          "the README of a classic computer-vision MNIST project (a Gabor filter bank in front of an SVM)"),
}
#: What a reader needs to weigh the evidence of a claim (formatted with the models of its roles).
NOTES = {
    "b": ["Convergence is counted in training images seen when the validation error first reaches 5 / 3 "
          "/ 2 % (both nets of a row use the same optimizer and batch size); a net that never gets there, "
          "when the other does, is counted at its last logged point (a lower bound)."],
    "c": ["Roughness is the mean absolute second difference of the validation loss, which shrinks when "
          "a curve is sampled more densely: it is compared only on one grid of training images for both "
          "optimizers (SGD and Adam, at their different batch sizes, are sampled at the same numbers of "
          "training images, not of updates)."],
    "d": ["Checkpoint rule: {twin} and {twin_of} both keep their last weights (the other PyTorch "
          "models keep those of their best validation point), so their test accuracies compare weights "
          "chosen the same way; the lowest and final validation errors are read from the curves."],
    "f": ["Overfitting is the gap between training and validation loss and accuracy with the kept weights "
          "in evaluation mode (dropout off, no shifted images; the training figures on a fixed subset of "
          "2,000 training images), measured on a baseline that can overfit: no shifts, no learning-rate "
          "decay, 40 epochs, at least 3 seeds per arm, weight decay included."],
    "g": ["Added robustness is a smaller drop from clean accuracy: each row tests the Gabor SVM's drop "
          "minus the pixel SVM's, image by image on the same test digits (a difference in differences), "
          "not the accuracy under corruption, which also carries the clean-accuracy gap. Every family "
          "of the robustness stage is reported, the ones the claim does not name too."],
}


def evaluate_claims(compare=None, robustness=None, seeds=None, ablation=None, learning_curve=None,
                    alpha: float = 0.05, paths: dict | None = None, mnist_c: dict | None = None,
                    today: dict | None = None, training: list[str] | None = None, seed: int = 0,
                    n_resamples: int = N_RESAMPLES, robustness_note: str = "") -> list[dict]:
    """Every claim with its judged evidence rows; a None input gives its rows a "needs" verdict.

    Parameters
    ----------
    compare : dict or None
        ``metrics/compare.json`` (:func:`mnistlab.evidence.compare.metrics_summary`).
    robustness : dict or None
        Per-image correctness of the robustness stage (:func:`read_robustness_correct`).
    seeds, ablation, learning_curve : dict or None
        ``sweep.json`` of each sweep (:func:`mnistlab.evidence.sweep.sweep_json`).
    alpha : float
        Family level of each claim: its ``m`` tested rows' intervals are at ``1 - alpha / m``.
    paths : dict, optional
        Input name (``compare``, ``robustness``, ``mnist_c``, ``seeds``, ``ablation``,
        ``learning_curve``) -> the file named in the report.
    mnist_c : dict or None
        ``metrics/robustness.json``, for the MNIST-C rows of claim g when ``robustness`` holds no
        MNIST-C correctness (then described, not tested).
    today : dict or None
        Today's flattened params.yaml (:func:`today_params`): a claim resting on a sweep made with
        other params says which keys differ; None: not compared.
    training : list of str or None
        The keys or sections of params.yaml that make the models (:func:`training_sections`), the
        only ones compared; None: every key.
    seed, n_resamples : int
        Of the bootstraps.
    robustness_note : str
        Added to the verdict of claim g's rows when ``robustness`` is None.

    Returns
    -------
    list of dict
        ``{key, title, statement, source, rows, family, notes}`` per claim, in order a..g; ``rows`` as
        :func:`row`, ``family`` as :func:`judge` returns it.

    Raises
    ------
    MnistlabError
        If the model registry lacks a model of a claim (:data:`ROLES`, :func:`numpy_net`).
    """
    paths = {"compare": "metrics/compare.json", "robustness": "data/evaluation/robustness_correct.npz",
             "mnist_c": "metrics/robustness.json", "seeds": "reports/seeds/sweep.json",
             "ablation": "reports/ablation/sweep.json", "learning_curve": "reports/learning_curve/sweep.json",
             **(paths or {})}
    sweeps = Sweeps({"seeds": seeds, "ablation": ablation, "learning_curve": learning_curve}, seed,
                    n_resamples)

    def single(part, a, b):
        return compare_rows(compare, part, a, b, paths["compare"], seed, n_resamples)

    def seeded(part, a, b, quantity="accuracy"):
        return sweep_rows(sweeps, "seeds", part, a, b, quantity)

    def accuracy(part, a, b):  # one run, the seeds, and each training-set size of the learning curve
        return single(part, a, b) + seeded(part, a, b) + sweep_rows(sweeps, "learning_curve", part, a, b,
                                                                    "accuracy")

    # He against naive random initialisation, per optimizer: (label, He net, random net)
    mlps = [(label, numpy_net(opt, "he"), numpy_net(opt, "random")) for opt, label in OPTIMIZERS.items()]
    twin, twin_of = model("twin"), model("twin_of")
    parts: dict[str, list[dict]] = {key: [] for key in CLAIMS}
    notes: dict[str, list[str]] = {key: [n.format(twin=twin, twin_of=twin_of) for n in NOTES.get(key, [])]
                                   for key in CLAIMS}
    parts["a"] = accuracy("Gabor SVM more accurate", model("gabor_svm"), model("pixel_svm"))
    for opt, he, rnd in mlps:
        for q in ("images_to_5pct", "images_to_3pct", "images_to_2pct"):
            parts["b"] += seeded(f"converges faster ({opt})", he, rnd, q)
    for opt, he, rnd in mlps:
        parts["b"] += seeded(f"smoother loss curve ({opt})", he, rnd, "val_loss_roughness")
    for opt, he, rnd in mlps:
        parts["b"] += single(f"outperforms ({opt})", he, rnd) + seeded(f"outperforms ({opt})", he, rnd)
    for init, name in INITS.items():
        parts["c"] += seeded(f"smoother descent ({name} init)", numpy_net("adam", init),
                             numpy_net("sgd", init), "val_loss_roughness")
    parts["d"] = seeded("trains more stably", twin, twin_of, "val_loss_roughness")
    for q in ("best_val_error", "final_val_error", "accuracy"):
        parts["d"] += seeded("reaches a lower validation error", twin, twin_of, q)
    parts["d"] += single("reaches a lower validation error", twin, twin_of)
    for a, b in ((model("cnn"), model("fnn")), (model("fnn"), model("logreg"))):
        parts["e"] += accuracy(f"{a} beats {b}", a, b)
    parts["f"] = _claim_f(ablation, paths["ablation"], notes["f"])
    parts["g"] = (robustness_rows(robustness, paths["robustness"], seed, n_resamples, robustness_note)
                  + mnist_c_rows(mnist_c, paths["mnist_c"], (robustness or {}).get("mnist_c"), seed,
                                 n_resamples))
    out = []
    for key, (title, statement, source) in CLAIMS.items():
        family = judge(parts[key], alpha)
        notes[key] += _made_with(parts[key], sweeps, today, training, paths, key == "f")
        notes[key] += _single_and_sweep(parts[key])
        if key == "c" and any("different spacings" in r["verdict"] for r in parts[key]):
            notes[key].insert(0, "This claim cannot be judged from the committed seed sweep: its SGD and "
                                 "Adam curves were logged at different spacings of training images.")
        out.append({"key": key, "title": title, "statement": statement, "source": source,
                    "rows": parts[key], "family": family, "notes": notes[key]})
    return out


def _single_and_sweep(rows: list[dict]) -> list[str]:
    """Notes naming the parts whose single-run and seed-sweep accuracy verdicts disagree: the sweep
    (training randomness as well as test-set sampling, or training randomness alone) is the one to
    follow."""
    out = []
    for part in dict.fromkeys(r["part"] for r in rows):
        mine = [r for r in rows if r["part"] == part and r["quantity"] == "accuracy"
                and r["verdict"] in VERDICTS[:3]]
        single = [r for r in mine if r["source"] == "compare" and r["test"] is not None]
        swept = [r for r in mine if r["source"] == "seeds"]
        if single and swept and single[0]["verdict"] != swept[0]["verdict"]:
            out.append(f"{part}: the single run says {single[0]['verdict']}, the seed sweep "
                       f"{swept[0]['verdict']}. Follow the sweep, which sees training randomness; when it "
                       "was made with other params (above), re-run it before following either.")
    return out
