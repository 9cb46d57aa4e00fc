"""Stage gabor: Gabor filter-bank features of the prepared splits, fitted on the training split.

Reads ``params.yaml`` (``gabor.*``) and the prepared training and validation splits; writes, in
the ``--out`` folder, ``train.npz`` and ``val.npz`` (``x`` float32 (N, F), ``y`` uint8 (N,)) and
the fitted transformer ``gabor.skops`` (a :class:`mnistlab.features.gabor.GaborFeatures` saved
with skops, so a saved SVM pipeline runs the same features on new images), and the filter-bank
figure ``--bank``.
Standardisation and PCA are fitted on the training split only; validation images are only
transformed. Test images are not read here: the evaluate stage runs the saved SVM pipeline, Gabor
features included, on them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnistlab.core.io import read_split, save_npz
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.features.gabor import GaborFeatures, save_transformer
from mnistlab.reporting.plots import plot_filter_bank

#: File name of the fitted transformer in the ``--out`` folder.
TRANSFORMER = "gabor.skops"


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", default="data/prepared/train.npz", help="prepared training split")
    parser.add_argument("--val", default="data/prepared/val.npz", help="prepared validation split")
    parser.add_argument("--out", default="data/features", help=f"folder of the features and {TRANSFORMER}")
    parser.add_argument("--bank", default="plots/images/gabor_filter_bank.png", help="filter-bank figure")
    args = parser.parse_args(argv)

    features = GaborFeatures.from_params(load_params(args.params).gabor)
    splits = {"train": read_split(args.train), "val": read_split(args.val)}
    out, start = Path(args.out), time.perf_counter()
    x = {"train": features.fit_transform(splits["train"].x)}
    x["val"] = features.transform(splits["val"].x)
    seconds = time.perf_counter() - start
    for name in splits:
        save_npz(out / f"{name}.npz", x=x[name], y=splits[name].y)
    save_transformer(out / TRANSFORMER, features)
    bank = features.bank_
    plot_filter_bank(bank.kernels, bank.thetas, bank.frequencies, args.bank, sigmas=bank.sigmas)
    n_images = sum(len(split.y) for split in splits.values())
    print(f"gabor: {len(bank.kernels)} complex filters, {features.n_raw_features_} pooled moduli -> "
          f"{features.n_features_out_} features; {n_images:,} images in {seconds:.1f} s "
          f"({n_images / seconds:,.0f} images/s)")


if __name__ == "__main__":
    main()
