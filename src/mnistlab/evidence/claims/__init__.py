"""Claims made by other MNIST projects, checked against this project's measurements.

Written by the ``claims`` stage of dvc.yaml (``stages/claims.py``) and by ``mnistlab claims``
(:mod:`mnistlab.cli.claims`), the same code: :func:`evaluate_claims` judges, :func:`write_claims_md`
writes ``reports/claims.md``. Files only are read, no DVC call:

- ``metrics/compare.json`` (the compare stage): the discordant counts ``b`` and ``c`` of each pair on
  one run's test images. A single-run row's interval is the paired bootstrap of those counts
  (:func:`mnistlab.evidence.hierarchical.two_level_bootstrap` with one seed), its p exact McNemar;
- ``data/evaluation/robustness_correct.npz`` (the robustness stage): which test digits the two SVMs
  classify correctly, clean and under each corruption and severity, for claim g's difference in
  differences (:func:`drop_difference`); ``metrics/robustness.json`` for the MNIST-C error rates,
  described but not tested (the stage saves no per-image MNIST-C results);
- the JSON of the three committed ``mnistlab sweep`` runs (``reports/{seeds,ablation,learning_curve}
  /sweep.json``): comparisons over seeds by :func:`mnistlab.evidence.sweep.paired_tests`
  (two-level bootstrap over seeds and test images when the runs hold per-image results, McNemar for
  a fit the seed does not change, the paired t over seeds otherwise) and, for the ablation, the
  paired t of each dropout / weight-decay arm against the arm with neither;
- ``params.yaml``: whether each sweep was made with the current params, compared on the sections of the
  stages that make the models (:func:`training_sections`, read from dvc.yaml by the command and
  written on the stage's command line, since DVC takes no dvc.yaml as a dependency;
  :func:`mnistlab.evidence.sweep.params_differences`); a claim resting on a sweep made with
  other params says which keys differ.

**One claim, one family.** Every row compares A, the side the claim says is better, with B
(``diff = A - B``). A claim's ``m`` tested rows are its family: each interval is at ``1 - alpha /
m`` (Bonferroni; simultaneous intervals, Dunn 1961; :mod:`mnistlab.evidence.hierarchical`), so all
``m`` hold together with probability at least ``1 - alpha``, and each verdict is read off its
interval (:func:`mnistlab.evidence.hierarchical.direction`): *supported* when the whole interval
lies on A's side of 0, *contradicted* when it lies on B's side, *not supported* when it contains 0.
The p beside it is the test matching the interval and ``min(1, m p)`` its Bonferroni adjustment,
for reference; where the two disagree at the margin the interval decides. *not tested*: no test is
possible (its reason, and the re-run that would make one); *needs ...*: the input is missing, or
cannot answer the claim, and the commands that make it are given.

The models of a claim are chosen by registry attributes (:data:`ROLES`, :func:`numpy_net`,

The modules, each with one job (this package re-exports their public names):

- :mod:`~mnistlab.evidence.claims.roles`: the quantities, the models by role, the verdicts and what
  a missing or unfit input needs;
- :mod:`~mnistlab.evidence.claims.rows`: an evidence row, the family judgement, the single-run and
  sweep rows;
- :mod:`~mnistlab.evidence.claims.ablation`: claim f, the ablation of dropout and weight decay;
- :mod:`~mnistlab.evidence.claims.robustness`: claim g, the drop from clean accuracy, MNIST-C
  included;
- :mod:`~mnistlab.evidence.claims.provenance`: whether each sweep was made with today's params;
- :mod:`~mnistlab.evidence.claims.evaluate`: the claims and :func:`evaluate_claims`;
- :mod:`~mnistlab.evidence.claims.markdown`: the text of ``reports/claims.md``;
- :mod:`~mnistlab.evidence.claims.read`: the readers of the inputs.
"""

from mnistlab.evidence.claims.ablation import (
    ablation_rows,
    baseline_overfits,
    gap_value,
    overfit_problems,
)
from mnistlab.evidence.claims.evaluate import CLAIMS, NOTES, evaluate_claims
from mnistlab.evidence.claims.markdown import claims_markdown, write_claims_md
from mnistlab.evidence.claims.provenance import (
    describe_sweeps,
    fmt_seed,
    sweep_differences,
    today_params,
    training_sections,
)
from mnistlab.evidence.claims.read import (
    read_compare,
    read_robustness_correct,
    read_robustness_metrics,
    read_sweep,
)
from mnistlab.evidence.claims.robustness import drop_difference, mnist_c_rows, robustness_rows
from mnistlab.evidence.claims.roles import (
    ABLATION,
    ABLATION_SELECTION,
    CLAIMED_FAMILIES,
    CLEAN,
    DROP,
    GAPS,
    INITS,
    LABELS,
    LOWER_IS_BETTER,
    NEEDS,
    OPTIMIZERS,
    OVERFIT,
    OVERFIT_ARMS,
    OVERFIT_COMMANDS,
    OVERFIT_SEEDS,
    ROLES,
    SEVERITY,
    SOURCES,
    SWEEP,
    VERDICTS,
    ablation_models,
    model,
    numpy_net,
)
from mnistlab.evidence.claims.rows import Sweeps, Test, compare_rows, judge, row, sweep_rows
from mnistlab.evidence.sweep import N_RESAMPLES

__all__ = [
    "ABLATION",
    "ABLATION_SELECTION",
    "CLAIMED_FAMILIES",
    "CLAIMS",
    "CLEAN",
    "DROP",
    "GAPS",
    "INITS",
    "LABELS",
    "LOWER_IS_BETTER",
    "NEEDS",
    "NOTES",
    "N_RESAMPLES",
    "OPTIMIZERS",
    "OVERFIT",
    "OVERFIT_ARMS",
    "OVERFIT_COMMANDS",
    "OVERFIT_SEEDS",
    "ROLES",
    "SEVERITY",
    "SOURCES",
    "SWEEP",
    "VERDICTS",
    "Sweeps",
    "Test",
    "ablation_models",
    "ablation_rows",
    "baseline_overfits",
    "claims_markdown",
    "compare_rows",
    "describe_sweeps",
    "drop_difference",
    "evaluate_claims",
    "fmt_seed",
    "gap_value",
    "judge",
    "mnist_c_rows",
    "model",
    "numpy_net",
    "overfit_problems",
    "read_compare",
    "read_robustness_correct",
    "read_robustness_metrics",
    "read_sweep",
    "robustness_rows",
    "row",
    "sweep_differences",
    "sweep_rows",
    "today_params",
    "training_sections",
    "write_claims_md",
]
