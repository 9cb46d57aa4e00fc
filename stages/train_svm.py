"""DVC stage ``train_svm@{pixels,gabor}``: fit an RBF SVM on the training split, calibrate on validation.

Reads the ``svm`` params (``svm.method``: exact SVC or Nystroem + linear SVM) and the top-level
``seed``; writes the model (``.skops``: feature pipeline + calibrated SVM, images in, probabilities
out) and its training metrics (JSON).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistlab.core.io import read_split, write_json
from mnistlab.core.params import load_params
from mnistlab.core.runtime import stage
from mnistlab.data.prepare import stratified_subset
from mnistlab.features.gabor import load_features, load_transformer
from mnistlab.features.pixels import PixelFeatures
from mnistlab.models.svm import SVMModel, fit_svm, save_svm


def features(kind: str, args: argparse.Namespace, resolution: int):
    """The feature step and the train/validation feature matrices and labels."""
    if kind == "pixels":
        front = PixelFeatures(resolution)
        train, val = read_split(args.train), read_split(args.val)
        return front, front.transform(train.x), train.y, front.transform(val.x), val.y
    (x_train, y_train), (x_val, y_val) = (load_features(path)
                                          for path in (args.train, args.val))
    return load_transformer(args.transformer), x_train, y_train, x_val, y_val


@stage
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", choices=["pixels", "gabor"], required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, help="prepared split or Gabor features (.npz)")
    parser.add_argument("--val", required=True, help="prepared split or Gabor features (.npz)")
    parser.add_argument("--transformer", help="fitted Gabor transformer (.skops), for --features gabor")
    parser.add_argument("--model", required=True, help="model file to write (.skops)")
    parser.add_argument("--metrics", required=True, help="training metrics to write (.json)")
    args = parser.parse_args(argv)
    if args.features == "gabor" and not args.transformer:
        parser.error("--features gabor needs --transformer")

    params = load_params(args.params)
    svm = params.svm
    front, x_train, y_train, x_val, y_val = features(args.features, args, svm.resolution)
    x_train, y_train = stratified_subset(x_train, y_train, svm.train_size, params.seed, "svm.train_size")
    classifier, metrics = fit_svm(x_train, y_train, x_val, y_val, svm.C, svm.gamma,
                                  method=svm.method, n_components=svm.n_components, seed=params.seed,
                                  gamma_factor=svm.gamma_factor)
    save_svm(SVMModel(front, classifier), args.model)
    write_json(args.metrics, metrics)
    print(f"{Path(args.model).stem}: " + ", ".join(f"{k} = {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
