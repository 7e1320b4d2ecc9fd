"""Which datasets are on disk, and where, told without loading them: light on purpose (no torch), so that
the CLI can check its flags and default to full MNIST in an instant."""

from __future__ import annotations

from pathlib import Path

from vae.settings import data_root

IMAGE_SIZE = (28, 28)  # every dataset here: MNIST's digits, Fashion-MNIST's articles and the drawn shapes
FULL_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
OFFLINE_DATASET = "mnist-5k"
GENERATED_DATASET = "shapes"  # drawn by vae.shapes, never downloaded
# Binarized MNIST, as in the likelihood literature: each dataset here, binarized from the one it names.
BINARIZED = {"binarized-mnist": "mnist", "binarized-mnist-5k": OFFLINE_DATASET}
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def raw_dir(name: str, root: Path) -> Path:
    return root / FULL_DATASETS[name] / "raw"


def find(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def is_available(name: str, root: Path | None = None) -> bool:
    """Whether all four files of a full dataset are on disk (no network is touched)."""
    name = BINARIZED.get(name, name)
    if name in (OFFLINE_DATASET, GENERATED_DATASET):
        return True
    raw = raw_dir(name, root or data_root())
    return all(find(raw, stem) for pair in SPLITS.values() for stem in pair)


def default_dataset(root: Path | None = None) -> str:
    """``mnist`` when its files are on disk, else the offline ``mnist-5k``."""
    return "mnist" if is_available("mnist", root) else OFFLINE_DATASET


def loaded_name(name: str, root: Path | None = None) -> str | None:
    """The name of the data that loading ``name`` gives, where that is known without loading it: ``name`` when its
    files are on disk or it is made here; None when it would be downloaded first, or a stand-in would replace it."""
    return name if is_available(name, root) else None
