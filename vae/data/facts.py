"""Every fact about each dataset, in one table, so that a new dataset cannot be half-registered: where its images
come from, its class names, the most training images it can have, its true factors. Light on purpose (no torch,
nothing of ``vae`` imported): the config's choices, the limits, the run-file schema and the data loaders all read
it, and the app's first screen is drawn before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

IMAGE_SIZE = (28, 28)  # every dataset here: MNIST's digits, Fashion-MNIST's articles and the drawn shapes

# Where a dataset's images come from.
DOWNLOADED = "downloaded"  # MNIST's raw idx files (torchvision's layout) under the data root, fetched when missing
EMBEDDED = "embedded"  # 5,000 real MNIST digits shipped in vae/data/embedded/: always on disk
GENERATED = "generated"  # drawn from known factors by vae.data.shapes, never downloaded
SOURCES = (DOWNLOADED, EMBEDDED, GENERATED)

DIGIT_NAMES = tuple(str(d) for d in range(10))
FASHION_NAMES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")
MNIST_5K_IMAGES = 5_000
MNIST_5K_TEST_PER_CLASS = 100  # a stratified test split of 1,000: 100 per digit


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset, told without loading it."""

    name: str
    source: str  # one of SOURCES
    class_names: tuple[str, ...]  # label i is class_names[i]
    # The most training images it can have (a stand-in, such as mnist-5k for a missing mnist, has fewer): what a
    # training is priced by in optimizer steps, before any image is loaded.
    max_train_images: int
    folder: str = ""  # DOWNLOADED: its folder under the data root, as torchvision lays it out
    # DOWNLOADED: where its files are served, tried in order, and each gz file's name and MD5 (torchvision's list).
    mirrors: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    binarized_from: str = ""  # a binarized dataset: the dataset whose intensities its pixels are drawn from
    # GENERATED: each true factor's name and number of values, in the order of an image's factor indices.
    factors: tuple[tuple[str, int], ...] = ()

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.factors)


def _binarized(name: str, source: DatasetFacts) -> DatasetFacts:
    """Binarized MNIST, as in the likelihood literature: ``source``'s images, each pixel drawn from its intensity."""
    return dataclasses.replace(source, name=name, binarized_from=source.name)


# dSprites' factors (Matthey et al. 2017) at 28 x 28: vae.data.shapes draws an image for each combination of them.
SHAPES_FACTORS = (("shape", 3), ("scale", 6), ("orientation", 40), ("position x", 16), ("position y", 16))
SHAPE_NAMES = ("square", "ellipse", "heart")

_MNIST = DatasetFacts(
    "mnist",
    DOWNLOADED,
    DIGIT_NAMES,
    60_000,
    folder="MNIST",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    files=(
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
)
_MNIST_5K = DatasetFacts(
    "mnist-5k", EMBEDDED, DIGIT_NAMES, MNIST_5K_IMAGES - MNIST_5K_TEST_PER_CLASS * len(DIGIT_NAMES)
)
FACTS = {
    facts.name: facts
    for facts in (
        _MNIST,
        DatasetFacts(
            "fashion-mnist",
            DOWNLOADED,
            FASHION_NAMES,
            60_000,
            folder="FashionMNIST",
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            files=(
                ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            ),
        ),
        _MNIST_5K,
        _binarized("binarized-mnist", _MNIST),
        _binarized("binarized-mnist-5k", _MNIST_5K),
        # Every combination of the factors is one image; the split keeps some for test, so training has fewer.
        DatasetFacts("shapes", GENERATED, SHAPE_NAMES, math.prod(n for _, n in SHAPES_FACTORS), factors=SHAPES_FACTORS),
    )
}
DATASET_NAMES = tuple(FACTS)


def dataset_facts(name: str) -> DatasetFacts:
    """The facts of dataset ``name``; ``ValueError`` (one line, naming the choices) for an unknown name."""
    try:
        return FACTS[name]
    except (KeyError, TypeError):
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}") from None


def named(source: str) -> tuple[str, ...]:
    """The datasets whose images come from ``source`` (not binarized ones), in the table's order."""
    return tuple(f.name for f in FACTS.values() if f.source == source and not f.binarized_from)
