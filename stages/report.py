"""DVC stage ``report``: the leaderboard and SVM-gain tables and every PNG under plots/images/.

Reads the prepared splits, the evaluate stage's metrics, speeds and test probabilities, the training
metrics and curves, and, when present, metrics/compare.json and metrics/robustness.json (a missing
one skips what needs it, with a note). Writes:

- ``--leaderboard``: one row per model, best first (accuracy with its Wilson 95 % interval, error
  rate, calibration, robustness, size, training and prediction speed);
- ``--svm-gain``: per-digit test accuracy of the SVM on raw pixels and the SVM on Gabor features,
  and the gain;
- ``--anchors``: ``reports/anchors.md``, each model's test error with its interval beside the
  published error of the same method (:mod:`mnistlab.reporting.anchors`);
- ``--images``: the figures of :data:`mnistlab.reporting.report.FIGURES` and
  :data:`mnistlab.reporting.representations.FIGURES`; those of a missing model are skipped with a note.

The work is :func:`mnistlab.reporting.report.make_report`; this script reads the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.reporting.report import ReportFiles, make_report

PATHS = {
    "params": "params.yaml", "train": "prepared training split (.npz)", "val": "prepared validation split",
    "test": "prepared test split", "metrics": "metrics/test.json of the evaluate stage",
    "speed": "metrics/speed.json of the evaluate stage",
    "train-metrics": "folder of the <model>.json training metrics",
    "compare": "metrics/compare.json (optional)", "robustness": "metrics/robustness.json (optional)",
    "proba": "test probabilities of the evaluate stage (.npz)", "models": "folder of the trained models",
    "curves": "folder of the DVCLive curves, one sub-folder per model",
    "preprocessing": "the prepare stage's deskew decision (data/prepared/preprocessing.json)",
    "images": "output folder of the PNGs",
    "leaderboard": "output CSV", "svm-gain": "output CSV",
    "embedding-model": "NumPy MLP (.npz) of the embeddings and first-layer weights",
    "anchors": "output Markdown: our test errors beside the published errors of the same methods",
}


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, help_text in PATHS.items():
        parser.add_argument(f"--{name}", required=True, help=help_text)
    args = vars(parser.parse_args(argv))
    params = load_params(args.pop("params"))
    files = ReportFiles(**{key: Path(value) for key, value in args.items()})
    written, notes = make_report(files, params)
    for note in notes:
        print(f"note: {note}")
    print("\n".join(f"wrote {path}" for path in written))


if __name__ == "__main__":
    main()
