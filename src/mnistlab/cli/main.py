"""The ``mnistlab`` command: ``predict``, ``gradcheck``, ``sweep``, ``claims`` and ``tune``.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). User mistakes exit with code 2 and a one-line message, Ctrl-C
with 130 and the line ``interrupted``; an output path that cannot be written is refused before any
work (:func:`check_output`), and any other error of the file system naming a file is one line too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
from pathlib import Path

from mnistlab.core.errors import MnistlabError, exit_on_user_error

#: subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "predict": ("mnistlab.cli.predict", "classify image files with a trained model"),
    "gradcheck": ("mnistlab.nn.gradcheck", "check every NumPy layer's gradients by finite differences"),
    "sweep": ("mnistlab.cli.sweep", "summarise DVC experiments: means, intervals over seeds, paired tests"),
    "claims": ("mnistlab.cli.claims", "check other MNIST projects' claims: reports/claims.md"),
    "tune": ("mnistlab.cli.tune", "tune every family on the validation split, same budget: reports/tuning/"),
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
    try:
        return importlib.import_module(args.module).run(args)
    except OSError as err:
        if err.filename is None:
            raise
        raise MnistlabError(f"{err.filename}: {err.strerror or type(err).__name__}") from None


def check_output(path: str | os.PathLike, option: str) -> Path:
    """Refuse an output file that could not be written, before any work is done; returns it.

    Nothing is left behind: the nearest existing folder above ``path`` must be a folder in which a
    file can be created (a temporary file is created there and removed); the folders missing below
    it are created by the writer.

    Parameters
    ----------
    path : path
        The file a command will write.
    option : str
        The option that gave it (``--out``), named in the message.

    Raises
    ------
    MnistlabError
        One line naming the option and the path: ``path`` is a folder, a file stands where a folder
        is needed, or nothing can be created in the nearest existing folder (read-only, no
        permission, a virtual file system such as /proc).
    """
    path = Path(path)
    if path.is_dir():
        raise MnistlabError(f"{option} {path}: is a folder; expected the path of a file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MnistlabError(f"{option} {path}: {folder} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".mnistlab-probe-")
    except OSError as err:
        raise MnistlabError(f"{option} {path}: cannot create files in {folder} "
                            f"({err.strerror or type(err).__name__})") from None
    os.close(handle)
    os.unlink(probe)
    return path
