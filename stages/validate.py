"""DVC stage ``validate``: check the whole params.yaml before any other stage removes its outputs.

Every other stage depends on this stage's output, so DVC runs it first; a bad value (say
``dvc exp run -S svm.C=-1``) stops the run here with one line naming the key, and nothing else is
touched. The output holds no params, only the fact that they were valid, so it does not change
when params change and re-runs nothing downstream.
"""

from __future__ import annotations

import argparse

from mnistlab.core.io import atomic_path
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.models.registry import check_params


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", help="params.yaml")
    parser.add_argument("out", help="file written when every value is valid")
    args = parser.parse_args(argv)
    check_params(load_params(args.params), args.params)
    with atomic_path(args.out) as tmp:
        tmp.write_text("params.yaml validated by mnistlab.core.params\n")


if __name__ == "__main__":
    main()
