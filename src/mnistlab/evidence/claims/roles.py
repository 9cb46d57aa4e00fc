"""The terms of the claims: quantities, the models by role, verdicts and what a missing input needs.

Every other module of :mod:`mnistlab.evidence.claims` reads its constants from here. The models of
a claim are chosen by registry attributes (:data:`ROLES`, :func:`numpy_net`, :func:`ablation_models`),
never by name; :data:`NEEDS` holds the commands that make each missing or unfit input.
"""

from __future__ import annotations

from mnistlab.evidence.sweep import LOWER_IS_BETTER as SWEEP_LOWER_IS_BETTER
from mnistlab.models.registry import select, select_one

# -- quantities ----------------------------------------------------------------------------------------

#: Claim g: accuracy on clean images minus accuracy under a corruption (fractions), per model.
DROP = "accuracy_drop"
#: Claim f: overfitting at the kept weights in evaluation mode (dropout off, no shifts):
#: training accuracy minus validation accuracy (fractions), validation loss minus training loss
#: (nats); the training figures are ``train_eval_accuracy`` / ``train_eval_loss`` of
#: ``metrics/train/<model>.json`` (a fixed subset of the training split, ``mnistlab.nn.train``).
GAPS = {"eval_gap_accuracy": ("train_eval_accuracy", "val_accuracy"),
        "eval_gap_loss": ("val_loss", "train_eval_loss")}
LOWER_IS_BETTER = SWEEP_LOWER_IS_BETTER | {DROP, *GAPS}
#: Quantities written in percent (differences in percentage points) besides the sweep's.
_POINTS = {DROP, "eval_gap_accuracy"}
LABELS = {"accuracy": "test accuracy",
          **{f"images_to_{e}pct": f"training images to {e} % validation error" for e in (5, 3, 2)},
          "val_loss_roughness": "validation-loss roughness", "best_val_error": "lowest validation error",
          "final_val_error": "final validation error",
          "val_loss_rise": "validation-loss rise after its minimum",
          DROP: "drop from clean accuracy", "eval_gap_accuracy": "train - validation accuracy (eval mode)",
          "eval_gap_loss": "validation - train loss (eval mode)"}

# -- models --------------------------------------------------------------------------------------------

#: The models of the claims, by role: registry attributes that select exactly one model
#: (:func:`mnistlab.models.registry.select_one`).
ROLES: dict[str, dict[str, object]] = {
    "pixel_svm": {"family": "svm", "features": "pixels"},
    "gabor_svm": {"family": "svm", "features": "gabor"},
    "cnn": {"family": "torch", "builder": "cnn"},
    "fnn": {"family": "torch", "builder": "fnn"},
    "logreg": {"family": "torch", "builder": "logreg"},
    "twin": {"twin": True, "builder": "mlp"},  # the PyTorch twin of the NumPy MLP (no patch embedding)
    "twin_of": {"family": "numpy", "optimizer": "adam", "init": "he"},  # the NumPy net it mirrors
}
#: The NumPy networks' optimizers and initialisations (registry attributes), as the claims write them.
OPTIMIZERS = {"sgd": "SGD", "adam": "Adam"}
INITS = {"he": "He", "random": "random"}
#: The models of the ablation claim: registry attributes, each selecting any number of models.
ABLATION_SELECTION: tuple[dict[str, object], ...] = ({"family": "numpy", "init": "he"}, ROLES["twin"])
ABLATION = ("mlp.dropout", "mlp.weight_decay")

# -- what a missing or unfit input needs ----------------------------------------------------------------

#: The ablation that can overfit (claim f): no shifted training images, no learning-rate decay and
#: long enough for a net without dropout to fit its training images and its validation loss to
#: turn up (docs/threads-and-sweeps.md), each of dropout and weight decay on and off,
#: :data:`OVERFIT_SEEDS` seeds per arm. The PyTorch twin reads the same ``mlp`` keys and is part of it.
OVERFIT = {"mlp.max_shift": 0, "mlp.lr_decay": 1, "mlp.epochs": 40}
OVERFIT_ARMS = {"mlp.dropout": (0, 0.3), "mlp.weight_decay": (0, 0.0005)}
OVERFIT_SEEDS = 3
OVERFIT_COMMANDS = (
    "dvc exp run --queue -n overfit " + " ".join(f"-S '{k}={v:g}'" for k, v in OVERFIT.items()) + " "
    + " ".join(f"-S '{k}={','.join(f'{v:g}' for v in values)}'" for k, values in OVERFIT_ARMS.items())
    + f" -S 'seed=range(0,{OVERFIT_SEEDS})'",
    "MNISTLAB_THREADS=1 dvc queue start -j 2",
    "mnistlab sweep --name-prefix overfit " + " ".join(f"--vary {k}" for k in (*OVERFIT_ARMS, *OVERFIT))
    + " --out-dir reports/ablation",
)
SWEEP = ("needs a sweep: `dvc exp run --queue {sets} -S 'seed=range(0,5)'`, `dvc queue start`, then "
         "`mnistlab sweep {vary} --out-dir reports/{folder}`")
NEEDS = {
    "compare": "needs `dvc repro` (stage compare writes {path})",
    "robustness": "needs `dvc repro` (stage robustness writes {path})",
    "seeds": SWEEP.format(sets="", vary="--vary seed", folder="seeds").replace("  ", " "),
    "ablation": "needs the sweep: `{}`, `{}`, then `{}`".format(*OVERFIT_COMMANDS),
    # the committed recipe (docs/results.md): 3 seeds per smaller size; the full-size points are the
    # seed sweep's runs, which the summary reads too
    "learning_curve": ("needs the seed sweep and: `dvc exp run --queue -S 'prepare.train_size=500,2000,5000' "
                       "-S 'seed=range(0,3)'`, `dvc queue start`, then "
                       "`mnistlab sweep --vary prepare.train_size --out-dir reports/learning_curve`"),
}
VERDICTS = ("supported", "not supported", "contradicted", "not tested")
SOURCES = {"compare": "single run", "seeds": "seed sweep", "learning_curve": "learning-curve sweep",
           "ablation": "ablation sweep", "robustness": "robustness"}
#: How a severity of each graded corruption family is written (robustness.corruptions in params.yaml).
SEVERITY = {"rotation": "rotation {:g} degrees", "translation": "translation {:g} pixels",
            "scale": "scale x{:g}", "shear": "shear {:g}", "noise": "noise std {:g}",
            "blur": "blur sigma {:g}", "stroke": "stroke {:+g} pixels", "occlusion": "occlusion {:g} pixels"}
#: The corruption families claim g names, and what it calls the invariance each tests.
CLAIMED_FAMILIES = {"rotation": "orientation", "scale": "frequency"}
CLEAN = "clean"


def model(role: str) -> str:
    """The registry name of the model of ``role`` (:data:`ROLES`).

    Raises
    ------
    MnistlabError
        If the registry has no model, or more than one, with the role's attributes.
    """
    return select_one(**ROLES[role])


def numpy_net(optimizer: str, init: str) -> str:
    """The registry name of the NumPy network trained with ``optimizer`` from ``init``.

    Raises
    ------
    MnistlabError
        If the registry has no such network, or more than one.
    """
    return select_one(family="numpy", optimizer=optimizer, init=init)


def ablation_models() -> tuple[str, ...]:
    """The models of the ablation claim, in :data:`ABLATION_SELECTION` order (the He-initialised
    NumPy networks, then the PyTorch twin of the NumPy MLP)."""
    return tuple(dict.fromkeys(name for attributes in ABLATION_SELECTION for name in select(**attributes)))
