"""Known datasets: the four standard IDX file names, where each dataset is published, its checksums.

Every source the download stage accepts ends up as the same four files, named as LeCun's MNIST
distribution names them (http://yann.lecun.com/exdb/mnist/). This module is data only (no network,
no heavy imports), so :mod:`mnistlab.core.params` can validate ``data.source`` against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
#: The four standard names, in the order train images, train labels, test images, test labels.
FILE_NAMES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
#: The same names by role (stages/prepare.py reads data/raw through this).
STANDARD_FILES: Mapping[str, str] = MappingProxyType({
    "train_images": TRAIN_IMAGES, "train_labels": TRAIN_LABELS,
    "test_images": TEST_IMAGES, "test_labels": TEST_LABELS,
})
#: Optional checksum list in a source folder, in ``sha256sum`` format ("<hex>  <name>" per line).
SHA256SUMS = "SHA256SUMS"
#: Record of what came from where, written beside the four files.
SOURCE_JSON = "source.json"
#: ``data.source`` value naming the real MNIST sample shipped in the repository (data/sample).
SAMPLE = "sample"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset published as the four standard IDX files on one or more mirrors.

    Parameters
    ----------
    name : str
        The ``data.source`` value that selects it.
    mirrors : tuple of str
        Folder URLs, tried in order; each holds the four :data:`FILE_NAMES`. A trailing ``/`` is
        added when missing.
    md5 : mapping of str to str
        Published MD5 of each file, by file name; a download that does not match is rejected.
    homepage : str
        Where the dataset and its checksums are published (for messages and ``source.json``).
    """

    name: str
    mirrors: tuple[str, ...]
    md5: Mapping[str, str]
    homepage: str = ""

    def __post_init__(self) -> None:
        if not self.mirrors:
            raise ValueError(f"dataset {self.name!r}: no mirrors")
        if set(self.md5) != set(FILE_NAMES):
            raise ValueError(f"dataset {self.name!r}: expected an MD5 for each of {', '.join(FILE_NAMES)}")
        object.__setattr__(self, "mirrors", tuple(m if m.endswith("/") else m + "/" for m in self.mirrors))
        object.__setattr__(self, "md5", MappingProxyType({k: v.lower() for k, v in self.md5.items()}))


#: MNIST (LeCun, Cortes, Burges). yann.lecun.com no longer serves the files reliably; the first
#: mirror is PyTorch's (``torchvision.datasets.MNIST.mirrors``), the second the CVDF copy that
#: TensorFlow's loaders use. Both serve the original files, so the original MD5s apply.
MNIST = Dataset(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    md5={
        TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
        TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
        TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
    },
    homepage="http://yann.lecun.com/exdb/mnist/",
)

#: Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando Research). The first mirror is the download
#: location in the dataset's README; the second is the copy in Zalando's GitHub repository
#: (data/fashion/). MD5s from the README's table; both mirrors serve the same bytes.
FASHION_MNIST = Dataset(
    name="fashion-mnist",
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    md5={
        TRAIN_IMAGES: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        TRAIN_LABELS: "25c81989df183df01b3e8a0aad5dffbe",
        TEST_IMAGES: "bef4ecab320f06d8554ea6380940ec79",
        TEST_LABELS: "bb300cfdad3c16e7a12a480ee83cd310",
    },
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

#: Datasets selectable by name in ``data.source``.
DATASETS: Mapping[str, Dataset] = MappingProxyType({d.name: d for d in (MNIST, FASHION_MNIST)})
#: Every named ``data.source`` value (anything else must be a folder, a URL or a .csv file).
SOURCE_NAMES = (*DATASETS, SAMPLE)
