"""DVC stage ``train_mlp@<optimizer>-<init>``: train the from-scratch NumPy network.

Reads the ``mlp`` params and the top-level ``seed``; writes the model (``.npz``), its training
metrics (JSON) and the DVCLive curves. A diverging run writes no model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.core.io import read_split, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.nn.init import INITS
from mnistlab.nn.train import OPTIMIZERS, train_mlp


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=OPTIMIZERS, required=True)
    parser.add_argument("--init", choices=INITS, required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, help="prepared training split (.npz)")
    parser.add_argument("--val", required=True, help="prepared validation split (.npz)")
    parser.add_argument("--model", required=True, help="model file to write (.npz)")
    parser.add_argument("--metrics", required=True, help="training metrics to write (.json)")
    parser.add_argument("--curves", required=True, help="DVCLive folder of the curves")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    train, val = read_split(args.train), read_split(args.val)
    model, metrics = train_mlp(params.mlp, args.optimizer, args.init, (train.x, train.y), (val.x, val.y),
                               seed=params.seed, curves_dir=args.curves)
    model.save(args.model)
    write_json(args.metrics, metrics)
    print(f"{Path(args.model).stem}: " + ", ".join(f"{k} = {v:.4g}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
