"""Which datasets are on disk, and where, told without loading them: light on purpose (no torch), so that
the CLI can check its flags and default to full MNIST in an instant. What each dataset is comes from its
facts (``vae.data.facts``); the names below are read from there."""

from __future__ import annotations

from pathlib import Path

from vae.data.facts import DOWNLOADED, EMBEDDED, FACTS, GENERATED, dataset_facts, named
from vae.settings import data_root

# Each downloaded dataset -> torchvision's folder for it under the data root.
FULL_DATASETS = {name: FACTS[name].folder for name in named(DOWNLOADED)}
(OFFLINE_DATASET,) = named(EMBEDDED)  # the stand-in when a full dataset cannot be had
(GENERATED_DATASET,) = named(GENERATED)
# Binarized MNIST, as in the likelihood literature: each dataset here, binarized from the one it names.
BINARIZED = {f.name: f.binarized_from for f in FACTS.values() if f.binarized_from}
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
    facts = dataset_facts(BINARIZED.get(name, name))
    if facts.source != DOWNLOADED:
        return True
    raw = raw_dir(facts.name, root or data_root())
    return all(find(raw, stem) for pair in SPLITS.values() for stem in pair)


def default_dataset(root: Path | None = None) -> str:
    """``mnist`` when its files are on disk, else the offline ``mnist-5k``."""
    return "mnist" if is_available("mnist", root) else OFFLINE_DATASET


def loaded_name(name: str, root: Path | None = None) -> str | None:
    """The name of the data that loading ``name`` gives, where that is known without loading it: ``name`` when its
    files are on disk or it is made here; None when it would be downloaded first, or a stand-in would replace it."""
    return name if is_available(name, root) else None
