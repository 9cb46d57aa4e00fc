"""DVC stage `train_svm@{pixels,gabor}`: fit an RBF SVC on the training split, select on validation.

Writes models/svm_<features>.joblib (feature pipeline + calibrated SVC, images in, probabilities
out) and metrics/train/svm_<features>.json.
"""

import argparse

from mnistlab.data.prepare import load_split, stratified_subset
from mnistlab.errors import exit_on_user_error
from mnistlab.features.gabor import load_features, load_transformer
from mnistlab.io import write_json
from mnistlab.params import load_params
from mnistlab.svm import PixelFeatures, SVMModel, fit_svm, save_svm


def features(kind: str, resolution: int):
    """The feature step and the train/validation feature matrices and labels."""
    if kind == "pixels":
        front = PixelFeatures(resolution)
        train, val = load_split("train"), load_split("val")
        return front, front.transform(train.x), train.y, front.transform(val.x), val.y
    (x_train, y_train), (x_val, y_val) = load_features("train"), load_features("val")
    return load_transformer("data/features/gabor.joblib"), x_train, y_train, x_val, y_val


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", choices=["pixels", "gabor"], required=True)
    kind = parser.parse_args().features
    params = load_params().svm
    front, x_train, y_train, x_val, y_val = features(kind, params.resolution)
    x_train, y_train = stratified_subset(x_train, y_train, params.train_size, params.seed, "svm.train_size")
    classifier, metrics = fit_svm(x_train, y_train, x_val, y_val, params.C, params.gamma)
    save_svm(SVMModel(front, classifier), f"models/svm_{kind}.joblib")
    write_json(f"metrics/train/svm_{kind}.json", metrics)


if __name__ == "__main__":
    main()
