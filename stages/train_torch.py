"""DVC stage ``train_torch@<variant>`` / ``train_torch_twin@<variant>``: train one PyTorch model.

Reads the model's settings (:func:`mnistlab.models.torch_models.settings.settings_from_params`: ``torch.*``,
or ``mlp.*`` for the twins of the NumPy net) and the top-level ``seed``; writes the model
(``.pt``), its training metrics (JSON) and the DVCLive curves.
"""

from __future__ import annotations

import argparse

from mnistlab.core.io import read_split, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.models.registry import select
from mnistlab.models.torch_models.predictor import save_torch
from mnistlab.models.torch_models.settings import settings_from_params
from mnistlab.models.torch_models.train import train_model

TORCH_MODELS = select(family="torch")


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=f"one of {', '.join(TORCH_MODELS)}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--val", required=True, help="prepared validation split (.npz)")
    parser.add_argument("--out", required=True, help="model file to write (.pt)")
    parser.add_argument("--metrics", required=True, help="training metrics to write (.json)")
    parser.add_argument("--curves", required=True, help="DVCLive folder of the curves")
    args = parser.parse_args(argv)

    settings = settings_from_params(load_params(args.params), args.model)
    train, val = read_split(args.train), read_split(args.val)
    result = train_model(settings, train, val, curves_dir=args.curves)
    save_torch(args.out, result.model, result.config)
    write_json(args.metrics, result.metrics)
    print(f"{args.model}: " + ", ".join(f"{k} {v}" for k, v in result.metrics.items()))


if __name__ == "__main__":
    main()
