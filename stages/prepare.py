"""DVC stage ``prepare``: the four raw IDX files -> train/val/test ``.npz`` splits and the label counts.

Reads the ``prepare`` params and ``data.source``; see :func:`mnistlab.data.prepare.prepare`. Writes
``preprocessing.json`` beside the splits: whether the images were deskewed (``prepare.deskew: auto``
decides from the benchmark the test labels identify, :mod:`mnistlab.data.benchmark`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.core.io import write_csv
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.core.sources import STANDARD_FILES
from mnistlab.data.benchmark import identify_benchmark, resolve_deskew, write_preprocessing
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import check_source_files, label_counts, prepare, save_splits


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", required=True, help="folder of the four IDX files")
    parser.add_argument("--out", required=True, help="folder of the prepared splits")
    parser.add_argument("--label-counts", required=True, help="CSV of images per digit and split")
    args = parser.parse_args(argv)

    all_params = load_params(args.params)
    params = all_params.prepare
    raw = {key: Path(args.raw) / name for key, name in STANDARD_FILES.items()}
    train = read_pair(raw["train_images"], raw["train_labels"])
    test = read_pair(raw["test_images"], raw["test_labels"])
    check_source_files(train[1], test[1], raw)
    benchmark, _ = identify_benchmark(test[1], all_params.data.source)
    deskew = resolve_deskew(params.deskew, benchmark)
    splits = prepare(train, test, params.val_size, params.train_size, params.test_size,
                     deskew, params.seed, params.train_limit)
    save_splits(splits, args.out)
    write_preprocessing(args.out, params.deskew, deskew, benchmark)
    write_csv(args.label_counts, label_counts(splits))
    print("prepare: " + ", ".join(f"{name} {len(split.y):,}" for name, split in splits.items()) + " images"
          + f"; benchmark {benchmark or 'unknown'}, deskewed: {'yes' if deskew else 'no'}")


if __name__ == "__main__":
    main()
