"""Stage gabor: Gabor filter-bank features of the prepared splits, fitted on the training split.

Reads ``params.yaml`` (``gabor.*``) and ``data/prepared/{train,val}.npz``; writes
``data/features/{train,val}.npz`` (``x`` float32 (N, F), ``y`` uint8 (N,)), the fitted
transformer ``data/features/gabor.joblib`` (a :class:`mnistlab.features.gabor.GaborFeatures`, so a
saved SVM pipeline runs the same features on new images) and ``plots/images/gabor_filter_bank.png``.
Standardisation and PCA are fitted on the training split only; validation images are only
transformed. Test images are not read here: the evaluate stage runs the saved SVM pipeline, Gabor
features included, on them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnistlab.data.prepare import PREPARED_DIR, load_split
from mnistlab.errors import exit_on_user_error
from mnistlab.features.gabor import GaborFeatures, save_transformer
from mnistlab.io import save_npz
from mnistlab.params import load_params
from mnistlab.plots import plot_filter_bank


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default=str(PREPARED_DIR), help="folder of the prepared splits")
    parser.add_argument("--out", default=".", help="root of data/features/ and plots/")
    args = parser.parse_args(argv)

    features = GaborFeatures.from_params(load_params(args.params).gabor)
    splits = {name: load_split(name, args.data) for name in ("train", "val")}
    out, start = Path(args.out), time.perf_counter()
    x = {"train": features.fit_transform(splits["train"].x)}
    x["val"] = features.transform(splits["val"].x)
    seconds = time.perf_counter() - start
    for name in splits:
        save_npz(out / "data" / "features" / f"{name}.npz", x=x[name], y=splits[name].y)
    save_transformer(out / "data" / "features" / "gabor.joblib", features)
    bank = features.bank_
    plot_filter_bank(bank.kernels, bank.thetas, bank.frequencies,
                     out / "plots" / "images" / "gabor_filter_bank.png", sigmas=bank.sigmas)
    n_images = sum(len(split.y) for split in splits.values())
    print(f"gabor: {len(bank.kernels)} complex filters, {features.n_raw_features_} pooled moduli -> "
          f"{features.n_features_out_} features; {n_images:,} images in {seconds:.1f} s "
          f"({n_images / seconds:,.0f} images/s)")


if __name__ == "__main__":
    main()
