"""Constants of the MNIST format, defined once for the whole package.

Sources: LeCun, Cortes and Burges, "The MNIST database of handwritten digits"
(yann.lecun.com/exdb/mnist): 28x28 grey images of the digits 0-9. The pixel mean and standard
deviation (of pixels scaled to [0, 1], over the 60,000 training images) are the values used by
pytorch/examples ``mnist/main.py`` (``transforms.Normalize((0.1307,), (0.3081,))``).
"""

#: Side of an MNIST image, pixels.
IMAGE_SIZE = 28
#: Number of classes (the digits 0-9).
N_CLASSES = 10
#: Mean and standard deviation of MNIST training pixels scaled to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# The robustness stage's per-image correctness file (``data/evaluation/robustness_correct.npz``),
# written by mnistlab.evaluation.robustness.save_correct and read by mnistlab.evidence.claims.
#: Name of the uncorrupted MNIST-C set (the official archive's folder name).
IDENTITY = "identity"
#: Key of the MNIST-C set names (str, :data:`IDENTITY` first).
MNIST_C_SETS = "mnist_c_sets"
#: Key of one model's MNIST-C correctness, bool (sets, images).
MNIST_C_KEY = "mnist_c.{model}"
