"""DVC stage `report`: the PNG figures under plots/images/ (samples, label distribution, confusion
matrix, misclassified gallery and prediction grid of the best model by test accuracy, t-SNE and PCA of
the NumPy MLP's hidden layer).

Reads data/prepared/{train,test}.npz, plots/label_counts.csv, metrics/test.json,
data/evaluation/test_proba.npz and models/mlp_adam-he.npz (the embeddings are skipped, with a note,
when that model is absent).
"""

import json
from pathlib import Path

import numpy as np

from mnistlab.data.prepare import load_split
from mnistlab.errors import MnistlabError, exit_on_user_error
from mnistlab.params import load_params
from mnistlab.report import EMBEDDING_MODEL, read_label_counts, write_report


def read_inputs() -> tuple[dict, dict]:
    """metrics/test.json and the test probabilities of every evaluated model."""
    try:
        metrics = json.loads(Path("metrics/test.json").read_text())
        with np.load("data/evaluation/test_proba.npz") as data:
            proba = {name: data[name] for name in data.files}
    except FileNotFoundError as err:
        raise MnistlabError(f"{err.filename}: not found; run `dvc repro evaluate` first") from None
    return metrics, proba


def hidden_layer():
    """The MLP's ``hidden`` function, or None (with a note) when the model file is absent."""
    path = Path(f"models/{EMBEDDING_MODEL}.npz")
    if not path.is_file():
        print(f"note: {path} not found; skipping the t-SNE and PCA embedding figures")
        return None
    from mnistlab.nn.model import load_model

    return load_model(path).hidden


@exit_on_user_error
def main() -> None:
    params = load_params().evaluate
    train, test = load_split("train"), load_split("test")
    metrics, proba = read_inputs()
    written = write_report("plots/images", (train.x, train.y), (test.x, test.y),
                           read_label_counts("plots/label_counts.csv"), metrics, proba, hidden_layer(),
                           params.gallery_size, params.embedding_samples, params.seed)
    print("\n".join(f"wrote {path}" for path in written))


if __name__ == "__main__":
    main()
