"""DVC stage ``report``: the leaderboard and SVM-gain tables and every PNG under plots/images/.

Reads the prepared splits, the evaluate stage's metrics, speeds and test probabilities, the training
metrics and curves, and, when present, metrics/compare.json and metrics/robustness.json (a missing
one skips what needs it, with a note). Writes:

- ``--leaderboard``: one row per model, best first (accuracy with its Wilson 95 % interval, error
  rate, calibration, robustness, size, training and prediction speed);
- ``--svm-gain``: per-digit test accuracy of svm_pixels and svm_gabor and the gain;
- ``--images``: the figures of :data:`mnistlab.reporting.report.FIGURES` and
  :data:`mnistlab.reporting.representations.FIGURES`; those of a missing model are skipped with a note.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mnistlab.core.params import load_params
from mnistlab.core.registry import MODELS, load_model, model_file
from mnistlab.core.runtime import stage
from mnistlab.data.prepare import load_split
from mnistlab.features.gabor import make_bank
from mnistlab.reporting.figures import read_curves
from mnistlab.reporting.report import (
    CNN_MODEL,
    LEADERBOARD_COLUMNS,
    SVM_GAIN_COLUMNS,
    TWIN_MODEL,
    ReportInputs,
    label_count_table,
    leaderboard_rows,
    read_json,
    read_proba,
    read_train_metrics,
    svm_gain_rows,
    write_report,
    write_table,
)
from mnistlab.reporting.representations import write_representation_figures

PATHS = {
    "params": "params.yaml", "train": "prepared training split (.npz)", "val": "prepared validation split",
    "test": "prepared test split", "metrics": "metrics/test.json of the evaluate stage",
    "speed": "metrics/speed.json of the evaluate stage",
    "train-metrics": "folder of the <model>.json training metrics",
    "compare": "metrics/compare.json (optional)", "robustness": "metrics/robustness.json (optional)",
    "proba": "test probabilities of the evaluate stage (.npz)", "models": "folder of the trained models",
    "curves": "folder of the DVCLive curves, one sub-folder per model", "images": "output folder of the PNGs",
    "leaderboard": "output CSV", "svm-gain": "output CSV",
    "embedding-model": "NumPy MLP (.npz) of the embeddings and first-layer weights",
}


def hidden_layer(path: Path, notes: list[str]):
    """The MLP's ``hidden`` function, or None (with a note) when the file is absent or not a NumPy net."""
    if not path.is_file():
        notes.append(f"{path}: not found; skipping the t-SNE and PCA embedding figures")
        return None
    network = load_model(path)
    if not hasattr(network, "hidden"):
        notes.append(f"{path}: not a NumPy network; skipping the t-SNE and PCA embedding figures")
        return None
    return network.hidden


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, help_text in PATHS.items():
        parser.add_argument(f"--{name}", required=True, help=help_text)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    splits = {name: load_split(getattr(args, name)) for name in ("train", "val", "test")}
    test, notes = splits["test"], []
    metrics = read_json(args.metrics, "evaluate")
    proba = read_proba(args.proba, len(test.y))
    optional = {key: read_json(getattr(args, key), key, required=False) for key in ("compare", "robustness")}
    notes += [f"{getattr(args, key)}: not found; drawing without it"
              for key, value in optional.items() if value is None]
    speed = read_json(args.speed, "evaluate", required=False) or {}
    rows = leaderboard_rows(test.y, proba, metrics, speed, read_train_metrics(args.train_metrics),
                            optional["robustness"])
    write_table(args.leaderboard, rows, LEADERBOARD_COLUMNS)
    write_table(args.svm_gain, svm_gain_rows(test.y, proba), SVM_GAIN_COLUMNS)

    embedding = Path(args.embedding_model)
    inputs = ReportInputs(
        train=splits["train"], test=test, label_counts=label_count_table(splits), test_metrics=metrics,
        test_proba=proba, leaderboard=rows, compare=optional["compare"],
        curves={name: read_curves(args.curves, name) for name in MODELS},
        hidden=hidden_layer(embedding, notes), embedding_model=embedding.stem,
    )
    section = params.report
    written, skipped = write_report(args.images, inputs, section.gallery_size, section.embedding_samples,
                                    section.seed)
    g = params.gabor
    bank = make_bank(g.orientations, g.frequencies, g.kernel_size, g.sigma, g.bandwidth)
    index = int(np.random.default_rng(section.seed).integers(len(test.y)))
    more, skipped_more = write_representation_figures(
        args.images, embedding, model_file(TWIN_MODEL, args.models), model_file(CNN_MODEL, args.models), bank,
        g.resolution, test.x[index], f"test image {index}, label {test.y[index]}")
    for note in notes + skipped + skipped_more:
        print(f"note: {note}")
    tables = [Path(args.leaderboard), Path(args.svm_gain)]
    print("\n".join(f"wrote {path}" for path in [*tables, *written, *more]))


if __name__ == "__main__":
    main()
