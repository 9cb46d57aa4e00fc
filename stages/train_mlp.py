"""DVC stage ``train_mlp@<optimizer>-<init>``: train the from-scratch NumPy network.

Reads the ``mlp`` params and ``data/prepared/{train,val}.npz``; writes
``models/mlp_<optimizer>-<init>.npz``, ``metrics/train/mlp_<optimizer>-<init>.json`` and the
DVCLive curves under ``plots/curves/mlp_<optimizer>-<init>/``. A diverging run writes no model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.data.prepare import PREPARED_DIR, load_split
from mnistlab.errors import exit_on_user_error
from mnistlab.io import write_json
from mnistlab.nn.train import OPTIMIZERS, train_mlp
from mnistlab.params import load_params


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=OPTIMIZERS, required=True)
    parser.add_argument("--init", choices=("random", "he", "xavier"), required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default=str(PREPARED_DIR), help="folder of the prepared splits")
    parser.add_argument("--out", default=".", help="root of models/, metrics/ and plots/")
    args = parser.parse_args(argv)

    params = load_params(args.params).mlp
    train, val = load_split("train", args.data), load_split("val", args.data)
    name, out = f"mlp_{args.optimizer}-{args.init}", Path(args.out)
    model, metrics = train_mlp(
        params, args.optimizer, args.init, (train.x, train.y), (val.x, val.y), out / "plots/curves" / name
    )
    model.save(out / "models" / f"{name}.npz")
    write_json(out / "metrics/train" / f"{name}.json", metrics)
    print(f"{name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
