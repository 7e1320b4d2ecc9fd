"""Shared fixtures: small slices of the embedded MNIST and tiny seeded models."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from vae.config import VAEConfig
from vae.data import Dataset, is_available, load_dataset

ROOT = Path(__file__).resolve().parent.parent

# Tests never wait on the network: full datasets come from VAE_DATA_DIR or not at all.
os.environ.setdefault("VAE_OFFLINE", "1")
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def mnist_5k() -> Dataset:
    return load_dataset("mnist-5k")


@pytest.fixture(scope="session")
def small_data(mnist_5k: Dataset) -> Dataset:
    """1,024 train and 200 test digits of the embedded set."""
    return dataclasses.replace(
        mnist_5k,
        train_x=mnist_5k.train_x[:1024],
        train_y=mnist_5k.train_y[:1024],
        test_x=mnist_5k.test_x[:200],
        test_y=mnist_5k.test_y[:200],
    )


@pytest.fixture
def tiny_config() -> VAEConfig:
    return VAEConfig(dataset="mnist-5k", arch="mlp", latent_dim=2, epochs=2, batch_size=128, seed=0)


@pytest.fixture(scope="session")
def full_mnist_root() -> Path:
    root = Path(os.environ.get("VAE_DATA_DIR", "data"))
    if not is_available("mnist", root):
        pytest.skip(f"full MNIST not found under {root} (set VAE_DATA_DIR)")
    return root
