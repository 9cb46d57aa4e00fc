"""Tune every family on the validation split with the same budget: the library of ``mnistlab tune``.

One Optuna study per family (``optuna.samplers.TPESampler`` seeded with ``tune.seed``), each of
``tune.n_trials`` trials; every trial trains the family's model on the training split (or its
stratified ``tune.train_size`` subset) and is scored by the model's accuracy on the validation
split. Only the two splits given are read: the test split is never an input. The search spaces are
the ``tune`` section of params.yaml (:class:`mnistlab.core.params.TuneParams`); every other value
is params.yaml's. The first trial of each study is the current setting (``enqueue_trial``) when it
lies in the space, so the choice is measured against it with the same data and seed.

Families, their model (chosen from the registry by attributes) and what a trial sets:

- ``svm``: both RBF SVMs (pixels and Gabor features: they share ``svm.C``, ``svm.gamma`` and
  ``svm.gamma_factor``),
  scored by the mean of their validation accuracies; ``C`` log-uniform, ``gamma`` a log-uniform
  multiple ``gamma_factor`` of ``"scale"`` (``1 / (n_features * variance)`` of each SVM's training
  features, :func:`mnistlab.models.svm.resolve_gamma`);
- ``gabor``: the SVM on Gabor features; ``gabor.frequencies``, ``gabor.pool``,
  ``gabor.pca_components`` from lists of choices (the other ``gabor`` keys and ``svm.*`` fixed);
- ``mlp``: the NumPy MLP trained with Adam and He initialisation; one hidden layer of ``width``
  units, ``mlp.adam.lr`` log-uniform, ``mlp.dropout`` uniform (``mlp.epochs`` fixed);
- ``cnn``: the PyTorch CNN with batch normalisation; the widths of its blocks (``width`` for the
  first, the others in proportion), its dropout, ``epochs``, the peak ``lr`` (log-uniform) and
  ``augment_scale``, a factor on ``torch.augment.rotation_degrees`` and
  ``perspective_distortion``.

Each trial records its values, its validation accuracy and its wall time in seconds (features,
fitting and scoring; the Gabor features of the ``svm`` study are computed once, before its trials,
and counted in its total).

One run of a network is one draw of its training noise: a trial can win by a lucky seed. So for the
families whose training is random (``mlp``, ``cnn``) the current setting and the best trial are
trained again with ``tune.confirm_seeds`` more seeds (``seed + 1``, ``seed + 2``, ...), and the
choice is the one of higher mean validation accuracy over all its seeds (the current setting on a
tie). The SVM families are deterministic: a second fit gives the same accuracy, so they are not
re-scored.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import Split
from mnistlab.core.params import GaborParams, Params, describe_errors
from mnistlab.data.prepare import stratified_subset
from mnistlab.models.registry import select_one, spec

#: Family -> the registry attributes of the model its trials train and score.
FAMILY_MODELS: dict[str, dict[str, object]] = {
    "svm": {"family": "svm", "features": "pixels"},  # with its twin on Gabor features, see _svm_study
    "gabor": {"family": "svm", "features": "gabor"},
    "mlp": {"family": "numpy", "optimizer": "adam", "init": "he"},
    "cnn": {"family": "torch", "builder": "cnn_bn"},
}
FAMILIES = tuple(FAMILY_MODELS)


@dataclass
class TrialRecord:
    """One trial: its number (0 first), the values it tried, its validation accuracy and seconds.

    ``state`` is ``"complete"`` or ``"failed"`` (``note`` then says why: a diverging network, a
    setting that does not fit); a failed trial has no accuracy.
    """

    number: int
    values: dict
    val_accuracy: float | None
    seconds: float
    state: str = "complete"
    note: str = ""


@dataclass
class StudyResult:
    """A family's study: its trials, the current setting's trial and the best.

    Attributes
    ----------
    family : str
    models : list of str
        The registry models scored.
    trials : list of TrialRecord
    baseline : int or None
        Number of the trial of the current params.yaml setting (None: outside the space).
    seconds : float
        Wall time of the whole study, seconds.
    settings : dict
        The choice (:attr:`choice`) as settings: ``params.yaml`` key -> value, and ``code: ...``
        entries for architecture sizes that are a builder's keyword defaults.
    space : dict
        The family's search space as params.yaml declares it.
    n_train, n_val : int
        Images of the training subset and of the validation split.
    confirm : dict or None
        The re-scoring over seeds of a network family (``_confirm``): ``seeds``, ``accuracies``
        (trial number as str -> validation accuracy per seed, the study's seed first),
        ``seconds``, and ``failed`` (the error) when a re-training failed; None when not re-scored.
    """

    family: str
    models: list[str]
    trials: list[TrialRecord]
    baseline: int | None
    seconds: float
    settings: dict = field(default_factory=dict)
    space: dict = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    n_trials: int = 0
    seed: int = 0
    confirm: dict | None = None

    @property
    def best(self) -> TrialRecord | None:
        """The completed trial of highest validation accuracy (the earliest among equals)."""
        done = [t for t in self.trials if t.val_accuracy is not None]
        return max(done, key=lambda t: (t.val_accuracy, -t.number)) if done else None

    @property
    def baseline_trial(self) -> TrialRecord | None:
        return None if self.baseline is None else self.trials[self.baseline]

    def mean_accuracy(self, trial: TrialRecord) -> float | None:
        """Validation accuracy of a trial: the mean over its seeds when it was re-scored."""
        confirm = self.confirm or {}
        scores = None if confirm.get("failed") else confirm.get("accuracies", {}).get(str(trial.number))
        return float(np.mean(scores)) if scores else trial.val_accuracy

    @property
    def choice(self) -> TrialRecord | None:
        """The best trial, or the current setting when the re-scoring over seeds
        (``confirm``) gave it a mean at least as high or failed."""
        base, best = self.baseline_trial, self.best
        if self.confirm is None or base is None or best is None:
            return best
        if self.confirm.get("failed"):
            return base
        return best if self.mean_accuracy(best) > self.mean_accuracy(base) else base

    @property
    def beats_baseline(self) -> bool | None:
        """True when the choice scored higher than the current setting (means over seeds when
        re-scored); None without a current setting in the space."""
        base, choice = self.baseline_trial, self.choice
        if base is None or base.val_accuracy is None or choice is None:
            return None
        return self.mean_accuracy(choice) > self.mean_accuracy(base)

    def summary(self) -> dict:
        """Everything of the study as JSON-ready data (``<family>.json``)."""
        best, base, choice = self.best, self.baseline_trial, self.choice
        return {
            "family": self.family, "models": self.models, "n_trials": self.n_trials, "seed": self.seed,
            "n_train": self.n_train, "n_val": self.n_val, "space": self.space,
            "seconds": round(self.seconds, 1),
            "trial_seconds": round(sum(t.seconds for t in self.trials), 1),
            "baseline": None if base is None else dataclasses.asdict(base),
            "best": None if best is None else dataclasses.asdict(best),
            "choice": None if choice is None else dataclasses.asdict(choice),
            "choice_accuracy": None if choice is None else self.mean_accuracy(choice),
            "baseline_accuracy": None if base is None else self.mean_accuracy(base),
            "confirm": self.confirm,
            "beats_baseline": self.beats_baseline,
            "settings": self.settings,
            "trials": [dataclasses.asdict(t) for t in self.trials],
        }


# -- the studies ---------------------------------------------------------------------------------

def _log_uniform(trial, name: str, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else trial.suggest_float(name, low, high, log=True)


def _uniform(trial, name: str, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return low if low == high else trial.suggest_float(name, low, high)


def _integer(trial, name: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low if low == high else trial.suggest_int(name, low, high)


def _choice(trial, name: str, choices: list):
    """One of ``choices``; lists are offered to Optuna by index (its choices must be scalars)."""
    if len(choices) == 1:
        return choices[0]
    if any(isinstance(c, (list, tuple)) for c in choices):
        return choices[trial.suggest_categorical(name, list(range(len(choices))))]
    return trial.suggest_categorical(name, list(choices))


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


@dataclass
class _Study:
    """What :func:`run_study` needs of a family: a suggestion, an objective, its baseline."""

    models: list[str]
    suggest: Callable  # (optuna trial) -> values
    objective: Callable[..., float]  # (values, seed) -> validation accuracy
    baseline: dict | None  # values of the current setting, for enqueue_trial (Optuna's names)
    settings: Callable[[dict], dict]  # values -> params.yaml settings
    setup_seconds: float = 0.0
    random: bool = False  # training depends on the seed: re-score the choice over tune.confirm_seeds


def _svm_accuracy(x_train, y_train, x_val, y_val, C: float, gamma: float, params: Params) -> float:
    """Validation accuracy of an RBF SVM (``svm.method``) fitted on the features."""
    from mnistlab.models.svm import make_svm

    svm = params.svm
    model = make_svm(svm.method, C, gamma, svm.n_components, params.seed, len(y_train))
    model.fit(x_train, y_train)
    return float(np.mean(model.predict(x_val) == y_val))


def _svm_study(params: Params, train: Split, val: Split) -> _Study:
    from mnistlab.features.gabor import GaborFeatures
    from mnistlab.features.pixels import PixelFeatures
    from mnistlab.models.svm import resolve_gamma

    space = params.tune.svm
    start = time.perf_counter()
    pixels = PixelFeatures(params.svm.resolution)
    gabor = GaborFeatures.from_params(params.gabor)
    features = {
        select_one(**FAMILY_MODELS["svm"]): (pixels.transform(train.x), pixels.transform(val.x)),
        select_one(**FAMILY_MODELS["gabor"]): (gabor.fit_transform(train.x), gabor.transform(val.x)),
    }
    scale = {name: resolve_gamma("scale", x_train) for name, (x_train, _) in features.items()}
    setup = time.perf_counter() - start

    def suggest(trial) -> dict:
        return {"C": _log_uniform(trial, "C", space.C),
                "gamma_factor": _log_uniform(trial, "gamma_factor", space.gamma_factor)}

    def objective(values: dict, seed: int) -> float:
        scores = [_svm_accuracy(x_train, train.y, x_val, val.y, values["C"],
                                values["gamma_factor"] * scale[name], params)
                  for name, (x_train, x_val) in features.items()]
        values.update({f"gamma_{name}": round(values["gamma_factor"] * scale[name], 6) for name in features})
        values.update({f"val_accuracy_{name}": score for name, score in zip(features, scores, strict=True)})
        return float(np.mean(scores))

    baseline = None
    if (params.svm.gamma == "scale" and _in_range(params.svm.C, space.C)
            and _in_range(params.svm.gamma_factor, space.gamma_factor)):
        baseline = {"C": params.svm.C, "gamma_factor": params.svm.gamma_factor}

    def settings(values: dict) -> dict:
        return {"svm.C": round(values["C"], 4), "svm.gamma": "scale",
                "svm.gamma_factor": round(values["gamma_factor"], 4)}

    return _Study(list(features), suggest, objective, baseline, settings, setup)


def _gabor_params(params: Params, values: dict) -> GaborParams:
    """``params.gabor`` with the trial's values, validated (one line naming tune.gabor otherwise)."""
    try:
        return GaborParams(**{**params.gabor.model_dump(), **values})
    except ValueError as err:
        errors = getattr(err, "errors", None)
        reason = describe_errors(errors(), prefix="gabor") if errors else str(err)
        raise MnistlabError(f"tune.gabor: the choice {values} does not fit the other gabor keys: "
                            f"{reason}") from None


def _gabor_study(params: Params, train: Split, val: Split) -> _Study:
    from mnistlab.features.gabor import GaborFeatures
    from mnistlab.models.svm import resolve_gamma

    space = params.tune.gabor
    for frequencies in space.frequencies:  # every combination must fit, before any work
        for pool in space.pool:
            for components in space.pca_components:
                _gabor_params(params, {"frequencies": frequencies, "pool": pool,
                                       "pca_components": components})

    def suggest(trial) -> dict:
        return {"frequencies": list(_choice(trial, "frequencies", space.frequencies)),
                "pool": _choice(trial, "pool", space.pool),
                "pca_components": _choice(trial, "pca_components", space.pca_components)}

    def objective(values: dict, seed: int) -> float:
        features = GaborFeatures.from_params(_gabor_params(params, values))
        x_train = features.fit_transform(train.x)
        x_val = features.transform(val.x)
        gamma = params.svm.gamma_factor * resolve_gamma(params.svm.gamma, x_train)
        return _svm_accuracy(x_train, train.y, x_val, val.y, params.svm.C, gamma, params)

    g = params.gabor
    current = {"frequencies": list(g.frequencies), "pool": g.pool, "pca_components": g.pca_components}
    baseline = None
    if (current["frequencies"] in space.frequencies and g.pool in space.pool
            and g.pca_components in space.pca_components):
        baseline = {key: (space.frequencies.index(value) if key == "frequencies" else value)
                    for key, value in current.items() if len(getattr(space, key)) > 1}

    def settings(values: dict) -> dict:
        return {f"gabor.{key}": value for key, value in values.items()}

    return _Study([select_one(**FAMILY_MODELS["gabor"])], suggest, objective, baseline, settings)


def _mlp_study(params: Params, train: Split, val: Split) -> _Study:
    from mnistlab.nn.train import train_mlp

    space = params.tune.mlp
    name = select_one(**FAMILY_MODELS["mlp"])
    model = spec(name)

    def suggest(trial) -> dict:
        return {"width": _choice(trial, "width", space.width), "lr": _log_uniform(trial, "lr", space.lr),
                "dropout": _uniform(trial, "dropout", space.dropout)}

    def objective(values: dict, seed: int) -> float:
        mp = params.mlp
        optimizer = getattr(mp, model.optimizer)
        mp = mp.model_copy(update={"hidden_sizes": [values["width"]], "dropout": values["dropout"],
                                   model.optimizer: optimizer.model_copy(update={"lr": values["lr"]})})
        _, metrics = train_mlp(mp, model.optimizer, model.init, (train.x, train.y), (val.x, val.y),
                               seed=seed)
        return float(metrics["val_accuracy"])

    mp = params.mlp
    lr = getattr(mp, model.optimizer).lr
    baseline = None
    if (len(mp.hidden_sizes) == 1 and mp.hidden_sizes[0] in space.width and _in_range(lr, space.lr)
            and _in_range(mp.dropout, space.dropout)):
        baseline = {key: value for key, value in
                    (("width", mp.hidden_sizes[0]), ("lr", lr), ("dropout", mp.dropout))
                    if not (key == "width" and len(space.width) == 1)}

    def settings(values: dict) -> dict:
        return {"mlp.hidden_sizes": [values["width"]], f"mlp.{model.optimizer}.lr": round(values["lr"], 6),
                "mlp.dropout": round(values["dropout"], 3)}

    return _Study([name], suggest, objective, baseline, settings, random=True)


def _cnn_study(params: Params, train: Split, val: Split) -> _Study:
    from mnistlab.models.torch_models.augment import Augmenter
    from mnistlab.models.torch_models.models import default_sizes
    from mnistlab.models.torch_models.settings import settings_from_params
    from mnistlab.models.torch_models.train import train_model

    space = params.tune.cnn
    name = select_one(**FAMILY_MODELS["cnn"])
    base = settings_from_params(params, name)
    defaults = default_sizes(base.builder)
    channels = list(defaults["channels"])
    aug = params.torch.augment

    def suggest(trial) -> dict:
        return {"width": _choice(trial, "width", space.width),
                "dropout": _uniform(trial, "dropout", space.dropout),
                "epochs": _integer(trial, "epochs", space.epochs), "lr": _log_uniform(trial, "lr", space.lr),
                "augment_scale": _uniform(trial, "augment_scale", space.augment_scale)}

    def sizes(values: dict) -> dict:
        widths = [max(1, round(values["width"] * c / channels[0])) for c in channels]
        return {**defaults, "channels": widths, "dropout": values["dropout"]}

    def objective(values: dict, seed: int) -> float:
        scale = values["augment_scale"]
        augmenter = Augmenter(aug.rotation_degrees * scale, aug.perspective_distortion * scale,
                              aug.perspective_p, enabled=base.augment.enabled, max_shift=aug.max_shift)
        settings = dataclasses.replace(base, sizes=sizes(values), epochs=values["epochs"], lr=values["lr"],
                                       augment=augmenter, seed=seed)
        return float(train_model(settings, train, val).metrics["val_accuracy"])

    current = {"width": channels[0], "dropout": defaults["dropout"], "epochs": base.epochs, "lr": base.lr,
               "augment_scale": 1.0}
    baseline = None
    ranges = ("dropout", "epochs", "lr", "augment_scale")
    if current["width"] in space.width and all(_in_range(current[k], getattr(space, k)) for k in ranges):
        baseline = {key: value for key, value in current.items()
                    if not (key == "width" and len(space.width) == 1)
                    and not (key != "width" and getattr(space, key)[0] == getattr(space, key)[1])}

    def settings(values: dict) -> dict:
        variant = spec(name).variant
        scale = values["augment_scale"]
        return {
            f"code: {base.builder}(channels=...)": sizes(values)["channels"],
            f"code: {base.builder}(dropout=...)": round(values["dropout"], 3),
            f"torch.models.{variant}.epochs": values["epochs"],
            f"torch.models.{variant}.lr": round(values["lr"], 6),
            "torch.augment.rotation_degrees": round(aug.rotation_degrees * scale, 2),
            "torch.augment.perspective_distortion": round(aug.perspective_distortion * scale, 3),
        }

    return _Study([name], suggest, objective, baseline, settings, random=True)


STUDIES: dict[str, Callable[[Params, Split, Split], _Study]] = {
    "svm": _svm_study, "gabor": _gabor_study, "mlp": _mlp_study, "cnn": _cnn_study,
}


def training_subset(params: Params, train: Split) -> Split:
    """The training split, or its stratified ``tune.train_size`` subset (seed ``tune.seed``)."""
    x, y = stratified_subset(train.x, train.y, params.tune.train_size, params.tune.seed, "tune.train_size")
    return Split(x=x, y=y)


def run_study(params: Params, family: str, train: Split, val: Split,
              log: Callable[[str], None] = print) -> StudyResult:
    """Run one family's Optuna study of ``tune.n_trials`` trials, scored on ``val`` only.

    Parameters
    ----------
    params : Params
        Validated params.yaml: ``tune`` (space, trials, seed, train_size) and every value not searched.
    family : {"svm", "gabor", "mlp", "cnn"}
    train, val : Split
        The prepared training and validation splits (``x`` float32 (N, 28, 28), ``y`` uint8 (N,)).
    log : callable
        Receives one line per trial, and per re-training over seeds.

    Returns
    -------
    StudyResult

    Raises
    ------
    MnistlabError
        An unknown family, a search space that does not fit the other params (one line naming the
        ``tune`` key), or every trial failing.
    """
    import optuna

    if family not in STUDIES:
        raise MnistlabError(f"tune family {family!r}: expected one of {', '.join(FAMILIES)}")
    start = time.perf_counter()
    train = training_subset(params, train)
    study_spec = STUDIES[family](params, train, val)
    tp = params.tune
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is one line of ours
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=tp.seed))
    if study_spec.baseline is not None:
        study.enqueue_trial(study_spec.baseline)
    records: list[TrialRecord] = []
    searched: dict[int, list[str]] = {}  # trial number -> the keys it searched

    def objective(trial) -> float:
        values = study_spec.suggest(trial)
        searched[trial.number] = list(values)  # the objective may add what it derived (an SVM's gamma)
        tick = time.perf_counter()
        try:
            accuracy = study_spec.objective(values, params.seed)
        except MnistlabError as err:
            seconds = time.perf_counter() - tick
            records.append(TrialRecord(trial.number, values, None, round(seconds, 2), "failed", str(err)))
            log(f"tune {family} trial {trial.number}: failed ({err})")
            raise
        seconds = time.perf_counter() - tick
        records.append(TrialRecord(trial.number, values, accuracy, round(seconds, 2)))
        log(f"tune {family} trial {trial.number}: val_accuracy {accuracy:.4f} in {seconds:.1f} s "
            f"{_short({key: values[key] for key in searched[trial.number]})}")
        return accuracy

    study.optimize(objective, n_trials=tp.n_trials, catch=(MnistlabError,))
    result = StudyResult(family=family, models=study_spec.models, trials=records,
                         baseline=0 if study_spec.baseline is not None else None,
                         seconds=time.perf_counter() - start, space=tp.model_dump()[family],
                         n_train=len(train.y), n_val=len(val.y), n_trials=tp.n_trials, seed=tp.seed)
    if result.best is None:
        raise MnistlabError(f"tune {family}: all {tp.n_trials} trials failed; the first: {records[0].note}")
    base, best = result.baseline_trial, result.best
    if study_spec.random and tp.confirm_seeds and base is not None and base.val_accuracy is not None \
            and best.number != base.number:
        result.confirm = _confirm(study_spec, [base, best], searched, params.seed, tp.confirm_seeds, family,
                                  log)
    result.seconds = time.perf_counter() - start
    result.settings = study_spec.settings(result.choice.values)
    return result


def _confirm(study_spec: _Study, trials: list[TrialRecord], searched: dict[int, list[str]], seed: int,
             n_seeds: int, family: str, log: Callable[[str], None]) -> dict:
    """Train each trial's searched values again with seeds ``seed + 1 .. seed + n_seeds``:
    ``{"seeds", "accuracies": {trial number (str): [accuracy per seed, the study's first]},
    "seconds"}``, plus ``"failed"`` (one line) when a re-training raised :class:`MnistlabError`."""
    tick = time.perf_counter()
    seeds = [seed + k for k in range(1, n_seeds + 1)]
    accuracies: dict[str, list[float]] = {}
    result: dict = {"seeds": [seed, *seeds], "accuracies": accuracies}
    try:
        for trial in trials:
            values = {key: trial.values[key] for key in searched[trial.number]}
            scores = accuracies[str(trial.number)] = [float(trial.val_accuracy)]
            for s in seeds:
                scores.append(float(study_spec.objective(dict(values), s)))
                log(f"tune {family} trial {trial.number} again with seed {s}: val_accuracy {scores[-1]:.4f}")
    except MnistlabError as err:
        result["failed"] = str(err)
        log(f"tune {family}: re-scoring over seeds failed ({err}); the current setting stays")
    result["seconds"] = round(time.perf_counter() - tick, 1)
    return result


def _short(values: dict) -> str:
    return json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in values.items()})
