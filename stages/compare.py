"""DVC stage `compare`: paired tests of the model pairs in params.yaml `compare.pairs` on the test set.

Reads every model's test probabilities (data/evaluation/test_proba.npz) and the test labels, and
writes the comparison metrics (JSON), the forest-plot rows (CSV, percentage points), the forest
plot (PNG) and reports/comparisons.md. All paths come from the command line.
"""

import argparse
import zipfile

import numpy as np

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.evidence.compare import (
    compare_models,
    metrics_summary,
    plot_forest,
    write_compare_rows,
    write_comparisons_md,
)


def read_npz(path: str, what: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, or a one-line :class:`MnistlabError`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise MnistlabError(f"{path}: not found; run `dvc repro evaluate` first") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise MnistlabError(f"{path}: not an .npz file of {what} ({err})") from None


def read_inputs(proba_path: str, test_path: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Test labels (N,) and model name -> probabilities (N, 10), checked against each other."""
    test = read_npz(test_path, "a prepared split")
    if "y" not in test:
        raise MnistlabError(f"{test_path}: no array `y` (expected a prepared split with x and y)")
    y = test["y"]
    proba = read_npz(proba_path, "test probabilities")
    if not proba:
        raise MnistlabError(f"{proba_path}: no models in the file; run `dvc repro evaluate`")
    for name, p in proba.items():
        if p.shape != (len(y), 10):
            raise MnistlabError(f"{proba_path}: model {name} has probabilities of shape {p.shape}, "
                                f"expected ({len(y)}, 10) for the {len(y)} images of {test_path}")
    return y, proba


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, help_text in [("params", "params.yaml"), ("proba", "test probabilities, one array per model"),
                            ("test", "prepared test split (x, y)"), ("metrics", "output JSON"),
                            ("plot", "output CSV of the forest plot"), ("figure", "output PNG"),
                            ("report", "output markdown")]:
        parser.add_argument(f"--{name}", required=True, help=help_text)
    args = parser.parse_args(argv)
    section = load_params(args.params).compare
    y, proba = read_inputs(args.proba, args.test)
    result = compare_models(y, proba, [pair.model_dump() for pair in section.pairs], seed=section.seed,
                            alpha=section.alpha, n_resamples=section.n_resamples)
    write_json(args.metrics, metrics_summary(result))
    write_compare_rows(result, args.plot)
    plot_forest(result, args.figure)
    write_comparisons_md(result, args.report)


if __name__ == "__main__":
    main()
