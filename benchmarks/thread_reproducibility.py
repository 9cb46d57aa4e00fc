"""Do the trained weights and metrics depend on the number of threads?

Trains the same models with the same params and seed once per thread count (each in a fresh
process with ``MNISTLAB_THREADS`` set, as a stage would run) on the prepared splits, and prints
for each model whether the weights are bit-identical across thread counts and how far the
validation accuracy moved::

    <model>_identical_weights: true|false
    <model>_val_accuracy_<threads>t: value
    <model>_max_abs_val_accuracy_change: value

Models: the NumPy MLP (mlp_adam-he), its PyTorch twin (torch_mlp) and the CNN (torch_cnn, with
``--cnn-epochs`` epochs to keep it short). Usage, from the repository root after ``dvc repro
prepare``::

    python benchmarks/thread_reproducibility.py [--threads 1 2] [--data data/prepared]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: Trains one model and writes its weights (.npz of arrays) and metrics (.json).
TRAIN = r"""
import json, sys
import numpy as np
from mnistlab.core.runtime import limit_threads
limit_threads()
from mnistlab.core.params import load_params
from mnistlab.core.io import read_split
name, data, out, cnn_epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
params = load_params("params.yaml")
train, val = read_split(f"{data}/train.npz"), read_split(f"{data}/val.npz")
if name.startswith("mlp_"):
    from mnistlab.nn.train import train_mlp
    opt, init = name[4:].split("-")
    model, metrics = train_mlp(params.mlp, opt, init, (train.x, train.y), (val.x, val.y), seed=params.seed)
    arrays = {f"{i}.{k}": v for i, layer in enumerate(model.layers) for k, v in layer.params.items()}
else:
    import dataclasses
    from mnistlab.models.torch_models.settings import settings_from_params
    from mnistlab.models.torch_models.train import train_model
    settings = settings_from_params(params, name)
    if name == "torch_cnn":
        settings = dataclasses.replace(settings, epochs=cnn_epochs)
    result = train_model(settings, train, val)
    metrics = result.metrics
    arrays = {k: v.numpy() for k, v in result.model.state_dict().items()}
np.savez(f"{out}.npz", **arrays)
json.dump(metrics, open(f"{out}.json", "w"))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--models", nargs="+", default=["mlp_adam-he", "torch_mlp", "torch_cnn"])
    parser.add_argument("--cnn-epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            runs = {}
            for threads in args.threads:
                out = Path(tmp) / f"{model}-{threads}"
                env = dict(os.environ, MNISTLAB_THREADS=str(threads))
                command = [sys.executable, "-c", TRAIN, model, args.data, str(out), str(args.cnn_epochs)]
                subprocess.run(command, env=env, check=True)
                with np.load(f"{out}.npz") as data:
                    weights = {k: data[k] for k in data.files}
                runs[threads] = (weights, json.loads(Path(f"{out}.json").read_text()))
            first = runs[args.threads[0]][0]
            identical = all(all(np.array_equal(first[k], weights[k]) for k in first)
                            for weights, _ in runs.values())
            accuracies = {t: m["val_accuracy"] for t, (_, m) in runs.items()}
            print(f"{model}_identical_weights: {str(identical).lower()}")
            for threads, accuracy in accuracies.items():
                print(f"{model}_val_accuracy_{threads}t: {accuracy:.4f}")
            spread = max(accuracies.values()) - min(accuracies.values())
            print(f"{model}_max_abs_val_accuracy_change: {spread:.4f}")


if __name__ == "__main__":
    main()
