"""DVC stage ``validate``: check the whole params.yaml before any other stage removes its outputs.

Every other stage depends on this stage's output, so DVC runs it first; a bad value (say
``dvc exp run -S svm.C=-1``) stops the run here with one line naming the key, and nothing else is
touched. The output holds no params, only the fact that they were valid, so it does not change
when params change and re-runs nothing downstream.

Besides the checks of :mod:`mnistlab.core.params` and :func:`mnistlab.models.registry.check_params`,
it refuses what only this machine can tell: ``torch.device: cuda`` without a CUDA device (PyTorch
is imported for that value only). In a ``dvc exp run`` the message also says where the rejected
value now is: DVC writes ``-S`` values into params.yaml before any stage runs and leaves them
there when the run fails (docs/recovery.md), except for queued and ``--temp`` experiments, which
run in a copy under ``.dvc/tmp/exps/``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mnistlab.core.errors import MnistlabError
from mnistlab.core.io import atomic_path
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.models.registry import check_params

EXP_ENV = "DVC_EXP_BASELINE_REV"  # set by DVC for the stages of a `dvc exp run`, not of `dvc repro`


def check_device(device: str, path: str) -> None:
    """Refuse ``torch.device: cuda`` when PyTorch sees no CUDA device.

    Raises
    ------
    MnistlabError
        One line naming the file and the key.
    """
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise MnistlabError(f"{path}: torch.device = 'cuda': no CUDA device on this machine "
                            "(torch.cuda.is_available() is False); expected auto (CUDA when present) or cpu")


def where_the_value_is(path: str) -> str:
    """What to add to a rejection: where the rejected value is now and how to get the file back."""
    if not os.environ.get(EXP_ENV):
        return ""  # `dvc repro` or by hand: the value is the user's own
    if ".dvc/tmp/exps/" in Path(path).resolve().as_posix():
        return ("; this experiment ran in a copy (--queue or --temp): the workspace's params.yaml is "
                "unchanged (docs/recovery.md)")
    return (f"; {path} keeps this value (`dvc exp run -S` writes it there before any stage runs): "
            f"`git diff {path}` shows the change, `git checkout {path}` restores the committed file "
            "(and drops any other uncommitted edit of it; docs/recovery.md)")


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", help="params.yaml")
    parser.add_argument("out", help="file written when every value is valid")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        check_params(params, args.params)
        check_device(params.torch.device, args.params)
    except MnistlabError as err:
        raise MnistlabError(f"{err}{where_the_value_is(args.params)}") from None
    with atomic_path(args.out) as tmp:
        tmp.write_text("params.yaml validated by mnistlab.core.params\n")


if __name__ == "__main__":
    main()
