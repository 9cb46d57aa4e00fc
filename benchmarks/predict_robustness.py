"""Does `mnistlab predict` still read a digit drawn large and dark on light paper?

For ``--n`` test digits (seeded choice among the test images of ../shared/data/mnist-subset, or of
data/sample when that is absent), render each as a ``--size`` x ``--size`` dark-on-light picture
(bicubic upscaling of the 28x28 image, inverted, 8-bit grey), run predict's preprocessing
(:func:`mnistlab.cli.predict.to_mnist`, then deskewing as ``predict`` does by default) and the model,
and compare with the labels and with the model's predictions on the 28x28 images as the prepare
stage makes them. Goal for the CNN: accuracy >= 0.95 at 200 px.

Usage: python benchmarks/predict_robustness.py [--model models/torch_cnn.pt] [--n 300] [--size 200]
Prints ``accuracy_200px_dark_on_light``, ``accuracy_28px``, ``agreement_with_28px`` (200 px vs the
prepared 28 px input) and ``agreement_28px_png_with_evaluate``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mnistlab.cli.predict import default_deskew, to_mnist
from mnistlab.data.idx import read_pair
from mnistlab.data.prepare import deskew, scale
from mnistlab.models.registry import load_model

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO.parent / "shared" / "data" / "mnist-subset", REPO / "data" / "sample"]


def test_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded test images (uint8 (n, 28, 28)) and labels from the first source present."""
    folder = next(f for f in SOURCES if (f / "t10k-images-idx3-ubyte.gz").is_file())
    x, y = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    pick = np.random.default_rng(seed).choice(len(y), size=min(n, len(y)), replace=False)
    return x[pick], y[pick]


def render(image: np.ndarray, size: int) -> Image.Image:
    """A 28x28 light-on-dark uint8 digit as a ``size`` x ``size`` dark-on-light 8-bit grey picture."""
    big = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
    return Image.fromarray(255 - np.asarray(big))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/torch_cnn.pt")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x, y = test_digits(args.n, args.seed)
    use_deskew = default_deskew()
    predictor = load_model(args.model)
    small = deskew(scale(x)) if use_deskew else scale(x)
    start = time.perf_counter()
    big = np.stack([to_mnist(render(image, args.size)) for image in x])
    seconds = time.perf_counter() - start
    big = deskew(big) if use_deskew else big
    as_png = np.stack([to_mnist(image) for image in x])  # the 28x28 image itself, as read from a PNG
    as_png = deskew(as_png) if use_deskew else as_png
    pred_big = predictor.predict_proba(big).argmax(axis=1)
    pred_png = predictor.predict_proba(as_png).argmax(axis=1)
    pred_small = predictor.predict_proba(small).argmax(axis=1)
    print(f"model: {args.model}")
    print(f"images: {len(y)}")
    print(f"deskew: {use_deskew}")
    print(f"accuracy_{args.size}px_dark_on_light: {np.mean(pred_big == y):.4f}")
    print(f"accuracy_28px: {np.mean(pred_small == y):.4f}")
    print(f"agreement_with_28px: {np.mean(pred_big == pred_small):.4f}")
    print(f"agreement_28px_png_with_evaluate: {np.mean(pred_png == pred_small):.4f}")
    print(f"to_mnist_ms_per_image: {1000 * seconds / len(y):.2f}")


if __name__ == "__main__":
    main()
