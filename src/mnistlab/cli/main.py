"""The ``mnistlab`` command: ``predict``, ``gradcheck``, ``sweep`` and ``claims``.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). User mistakes exit with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import importlib

from mnistlab.core.errors import exit_on_user_error

#: subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "predict": ("mnistlab.cli.predict", "classify image files with a trained model"),
    "gradcheck": ("mnistlab.nn.gradcheck", "check every NumPy layer's gradients by finite differences"),
    "sweep": ("mnistlab.cli.sweep", "summarise DVC experiments: means, intervals over seeds, paired tests"),
    "claims": ("mnistlab.cli.claims", "check other MNIST projects' claims: reports/claims.md"),
}


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnistlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        sub_parser.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub_parser)
    args = parser.parse_args(argv)
    return importlib.import_module(args.module).run(args)
