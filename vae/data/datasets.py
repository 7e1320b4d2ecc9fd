"""Datasets as in-memory tensors: images ``[N, 1, 28, 28]`` uint8, labels ``[N]`` int64.

Images stay uint8, a quarter of the memory of float32 (47 MB instead of 188 MB for MNIST's
training split), and become float32 in [0, 1] one batch at a time through ``to_float`` or ``batches``.

Full MNIST and Fashion-MNIST are read from a data root (``VAE_DATA_DIR``, default the repository's ``data/``) in
torchvision's raw layout, gz or extracted. Missing files are downloaded when the machine is
online; when that fails too, 5,000 real MNIST digits shipped in ``vae/data/embedded/`` stand in. ``shapes`` is drawn
here from its known factors (``vae.data.shapes``), and carries each image's factor indices. What each dataset is (its
source, class names, factors) is told once, in ``vae.data.facts``.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from vae.data import shapes
from vae.data.download import download
from vae.data.facts import EMBEDDED, GENERATED, IMAGE_SIZE, MNIST_5K_TEST_PER_CLASS, dataset_facts
from vae.data.files import BINARIZED, GENERATED_DATASET, OFFLINE_DATASET, SPLITS, find, is_available, raw_dir
from vae.settings import data_root
from vae.vocabulary import DataError

BINARIZE_TEST_SEED = 0
MNIST_5K_SPLIT_SEED = 1234


@dataclass(frozen=True)
class Dataset:
    """Train and test splits of one dataset, held in memory.

    ``name`` is the dataset actually loaded; ``notice`` says why it differs from what was asked
    for (empty when it does not).
    """

    name: str
    train_x: torch.Tensor  # [N, 1, 28, 28] uint8; to_float() gives float32 in [0, 1]
    train_y: torch.Tensor  # [N] int64
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    source: str
    notice: str = ""
    # Binarized data: training batches are drawn pixel by pixel, x ~ Bernoulli(intensity), afresh at every
    # pass; test_x is binarized once, with a fixed seed, so every evaluation sees the same images.
    dynamic_binarization: bool = False
    # A dataset drawn from known factors (``shapes``): the factors, and each image's factor indices ``[N, F]``
    # int64; the labels are then the first factor's indices. Empty and None for MNIST-like data.
    factors: tuple[shapes.Factor, ...] = ()
    train_factors: torch.Tensor | None = None
    test_factors: torch.Tensor | None = None

    def train_batch(
        self, index: torch.Tensor, generator: torch.Generator, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """The training images at ``index`` ``[B]`` as float32 ``[B, 1, 28, 28]`` on ``device``: in [0, 1],
        or in {0, 1} drawn with ``generator`` when the dataset is binarized."""
        x = self.train_x[index]
        if self.dynamic_binarization:
            return binarize(x.to(device), generator)
        return to_float(x.to(device))


def binarize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """uint8 intensities ``[...]`` -> float32 {0, 1}, each pixel 1 with probability ``x / 255``.

    Exact for uint8: u is uniform on {0, …, 254}, so P(u < x) = x / 255, with no float copy of the image first.
    """
    u = torch.randint(0, 255, x.shape, dtype=torch.uint8, generator=generator, device=x.device)
    return (u < x).float()


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as float32 in [0, 1]: uint8 pixels are scaled by 1/255, float images pass through unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def batches(x: torch.Tensor, batch_size: int, device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """``x`` ``[N, 1, 28, 28]`` (uint8 or float) as float32 batches ``[<=batch_size, 1, 28, 28]`` on ``device``.

    Each batch is converted on its own, so a pass over a split never holds a float copy of all of it.
    """
    for start in range(0, len(x), batch_size):
        yield to_float(x[start : start + batch_size].to(device))


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gz or plain) into a uint8 array, checking its header against its size."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            payload = f.read()
        (magic,) = struct.unpack(">I", payload[:4])
        ndim = magic & 0xFF
        if magic >> 8 != 0x08 or ndim not in (1, 3):
            raise DataError(f"{path}: not an idx file of unsigned bytes (magic {magic:#x})")
        shape = struct.unpack(f">{ndim}I", payload[4 : 4 + 4 * ndim])
        data = np.frombuffer(payload, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(shape)):
            raise DataError(f"{path}: header says {shape} but holds {data.size} bytes")
        return data.reshape(shape)
    except (OSError, EOFError, struct.error, zlib.error) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from exc


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    if images.shape[0] != labels.shape[0] or images.shape[1:] != IMAGE_SIZE:
        raise DataError(f"images {images.shape} and labels {labels.shape} do not pair up as 28x28 digits")
    # np.array copies: read_idx's arrays view a read-only buffer that torch must not write through.
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def _load_full(name: str, root: Path) -> Dataset:
    raw = raw_dir(name, root)
    tensors = []
    for images_stem, labels_stem in SPLITS.values():
        images_path, labels_path = find(raw, images_stem), find(raw, labels_stem)
        if images_path is None or labels_path is None:
            raise FileNotFoundError(f"{raw}: {images_stem} or {labels_stem} missing")
        tensors.extend(_to_tensors(read_idx(images_path), read_idx(labels_path)))
    return Dataset(name, *tensors, class_names=dataset_facts(name).class_names, source=str(raw))


# The offline default, shipped in the repository: idx files as MNIST's own, 0.8 MB (vae/data/embedded/README.md).
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
MNIST_5K_FILES = ("mnist-5k-images-idx3-ubyte.gz", "mnist-5k-labels-idx1-ubyte.gz")


def _load_mnist_5k() -> Dataset:
    """5,000 real MNIST digits (500 per class) with a fixed, stratified train/test split (4000/1000)."""
    images_path, labels_path = (EMBEDDED_DIR / name for name in MNIST_5K_FILES)
    images, labels = read_idx(images_path), read_idx(labels_path)
    rng = np.random.default_rng(MNIST_5K_SPLIT_SEED)
    class_names = dataset_facts(OFFLINE_DATASET).class_names
    test_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:MNIST_5K_TEST_PER_CLASS] for c in range(len(class_names))]
    )
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_idx] = True
    # Shuffle within each split so that neither is ordered by class.
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(test_idx)
    return Dataset(
        OFFLINE_DATASET,
        *_to_tensors(images[train_idx], labels[train_idx]),
        *_to_tensors(images[test_idx], labels[test_idx]),
        class_names=class_names,
        source=f"{images_path.parent.name}/{images_path.name}",
    )


def _load_shapes() -> Dataset:
    """``shapes``, drawn from its factors (``vae.data.shapes``), with the fixed seeded train/test split."""
    return shapes_dataset(*shapes.split())


def shapes_dataset(train_factors: torch.Tensor, test_factors: torch.Tensor) -> Dataset:
    """``shapes`` drawn for the given factor indices (``[N, 5]`` and ``[T, 5]`` int64): its whole split, or a
    few images of it for a quick test."""
    return Dataset(
        GENERATED_DATASET,
        shapes.render(train_factors),
        train_factors[:, 0].clone(),
        shapes.render(test_factors),
        test_factors[:, 0].clone(),
        class_names=dataset_facts(GENERATED_DATASET).class_names,
        source="drawn by vae.data.shapes (dSprites' factors at 28x28)",
        factors=shapes.FACTORS,
        train_factors=train_factors,
        test_factors=test_factors,
    )


def _binarized(source: Dataset) -> Dataset:
    """``source`` as binarized MNIST: its test split binarized once (as 0/255 uint8), its training split kept
    as intensities for ``Dataset.train_batch`` to binarize afresh."""
    name = next(binarized for binarized, base in BINARIZED.items() if base == source.name)
    generator = torch.Generator().manual_seed(BINARIZE_TEST_SEED)
    test_x = binarize(source.test_x, generator).to(torch.uint8).mul_(255)
    notice = f"{source.notice}, binarized the same way" if source.notice else ""
    return dataclasses.replace(
        source,
        name=name,
        test_x=test_x,
        notice=notice,
        dynamic_binarization=True,
        source=f"{source.source}, binarized (test seed {BINARIZE_TEST_SEED})",
    )


def _load(name: str, root: str, allow_download: bool) -> Dataset:
    """Dataset ``name`` read, drawn or downloaded afresh (``load_dataset`` and ``load_test_split`` keep it)."""
    facts = dataset_facts(name)
    if facts.binarized_from:
        return _binarized(_load(facts.binarized_from, root, allow_download))
    if facts.source == EMBEDDED:
        return _load_mnist_5k()
    if facts.source == GENERATED:
        return _load_shapes()
    root_path = Path(root)
    download_error = ""
    try:
        if allow_download and not is_available(name, root_path):
            try:
                download(name, raw_dir(name, root_path))
            except OSError as exc:
                download_error = f"{exc}; "  # said first: why the files below are still missing
        return _load_full(name, root_path)
    except (OSError, DataError) as exc:
        notice = f"{name} is not available ({download_error}{exc}); using the offline mnist-5k subset instead"
        return dataclasses.replace(_load_mnist_5k(), notice=notice)


def load_dataset(name: str, root: Path | None = None, *, allow_download: bool | None = None) -> Dataset:
    """Load a dataset by name, falling back to ``mnist-5k`` when a full one cannot be had.

    Downloads are on unless ``VAE_OFFLINE=1``. Results are cached per process (read-only tensors).
    """
    dataset_facts(name)  # an unknown name: ValueError, naming the choices
    return _load_cached(name, *_where(root, allow_download))


def _where(root: Path | None, allow_download: bool | None) -> tuple[str, bool]:
    """The caches' key beside the name: the data root, resolved, and whether a download may be tried."""
    if allow_download is None:
        allow_download = os.environ.get("VAE_OFFLINE", "") not in ("1", "true", "yes")
    return str((root or data_root()).resolve()), allow_download


_load_cached = lru_cache(maxsize=5)(_load)  # training and the CLI: whole datasets, read once per process


def test_split(data: Dataset) -> Dataset:
    """``data`` with its test split alone: the training split ``[0, 1, 28, 28]``, empty. What the app's pages read
    (they draw, encode and measure test images; trainings load their own data in their own process), at a tenth of
    the memory: ``shapes``' training split alone is 130 MB."""
    empty = slice(0, 0)
    return dataclasses.replace(
        data,
        train_x=data.train_x[empty].clone(),
        train_y=data.train_y[empty].clone(),
        train_factors=None if data.train_factors is None else data.train_factors[empty].clone(),
    )


@lru_cache(maxsize=5)  # a few MB each: no dataset's whole training split is kept for them
def _load_test_split(name: str, root: str, allow_download: bool) -> Dataset:
    return test_split(_load(name, root, allow_download))


def load_test_split(name: str, root: Path | None = None, *, allow_download: bool | None = None) -> Dataset:
    """``load_dataset(name)``'s test split alone (``test_split``), with the same fallback and notice; cached per
    process without the training split, which is read, drawn or downloaded only for the moment of loading."""
    dataset_facts(name)
    return _load_test_split(name, *_where(root, allow_download))
