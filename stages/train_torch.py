"""Stage train_torch@<model>: train one PyTorch model on the prepared train/validation splits.

Reads ``params.yaml`` (``torch.*``; ``mlp.hidden_sizes``, ``mlp.patch_size``, ``mlp.embed_channels``
for the twins) and ``data/prepared/{train,val}.npz``; writes ``models/torch_<model>.pt``,
``metrics/train/torch_<model>.json`` and the DVCLive curves ``plots/curves/torch_<model>/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.data.prepare import PREPARED_DIR, load_split
from mnistlab.errors import exit_on_user_error
from mnistlab.io import write_json
from mnistlab.params import load_params
from mnistlab.torch_models.models import MODEL_NAMES
from mnistlab.torch_models.train import save_model, settings_from_params, train_model


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help=f"one of {', '.join(MODEL_NAMES)}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default=str(PREPARED_DIR), help="folder of the prepared splits")
    parser.add_argument("--out", default=".", help="root of models/, metrics/ and plots/")
    args = parser.parse_args(argv)

    settings = settings_from_params(load_params(args.params), args.model)
    train, val = load_split("train", args.data), load_split("val", args.data)
    name, out = f"torch_{args.model}", Path(args.out)
    result = train_model(settings, train, val, curves_dir=out / "plots" / "curves" / name)
    save_model(out / "models" / f"{name}.pt", result.model, result.config)
    write_json(out / "metrics" / "train" / f"{name}.json", result.metrics)
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in result.metrics.items()))


if __name__ == "__main__":
    main()
