"""Epoch time of VAE Lab's loop against the classic DataLoader + ToTensor loop, back to back.

    VAE_DATA_DIR=../shared/data python bench/train_speed.py                 # 3 epochs each, MLP
    VAE_DATA_DIR=../shared/data python bench/train_speed.py --epochs 10     # also compares final test loss
    VAE_DATA_DIR=../shared/data python bench/train_speed.py --arch conv --epochs 3
    VAE_DATA_DIR=../shared/data python bench/train_speed.py --arch conv --epochs 2 --compile

The classic loop is pytorch/examples ``vae/main.py``: torchvision's MNIST with ``ToTensor``,
a shuffling ``DataLoader`` at batch 128, the same architecture, Adam at 1e-3, and its test
loss summed over the test set with one posterior sample per image. For ``--arch conv`` the
classic model is the reference conv VAE written the usual way (NCHW tensors, fp32, sigmoid +
BCE); channels-last, bf16 autocast and the separate transposed-conv bias are VAE Lab's changes.
Epoch times cover the training passes only; both loops evaluate the test set outside them.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.foreign_models import ExamplesVAE, SeedsConvVAE
from vae.data.datasets import load_dataset
from vae.data.files import SPLITS
from vae.model.config import VAEConfig
from vae.settings import data_root
from vae.training.loop import EpochMetrics, train
from vae.training.runs import prepare

CACHE = Path.home() / ".cache" / "vae-lab" / "torchvision"


class ClassicMLP(ExamplesVAE):
    """pytorch/examples vae/main.py, verbatim in structure (the copy the import tests use)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x.view(-1, 784))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


class ClassicConv(SeedsConvVAE):
    """The reference conv VAE as it is usually written (the design notes' own): contiguous NCHW tensors,
    out-of-place ReLUs, fp32. The import tests use the same copy."""

    def __init__(self, latent_dim: int = 20) -> None:
        super().__init__(latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z).view(-1, 784), mu, logvar


def classic_loss(recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    return bce - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def torchvision_root() -> Path:
    """torchvision wants the raw files beside an extracted copy: build that in our own cache, never in the data dir."""
    raw = CACHE / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    source = data_root() / "MNIST" / "raw"
    for pair in SPLITS.values():
        for stem in pair:
            if not (raw / stem).exists():
                with gzip.open(source / f"{stem}.gz", "rb") as src, open(raw / stem, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return CACHE


def classic(arch: str, epochs: int, seed: int) -> tuple[list[float], float]:
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    root = torchvision_root()
    train_set = datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor())
    test_set = datasets.MNIST(root, train=False, download=False, transform=transforms.ToTensor())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=128, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=128, shuffle=False)
    model = ClassicMLP() if arch == "mlp" else ClassicConv()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        model.train()
        began = time.perf_counter()
        for x, _ in train_loader:
            optimizer.zero_grad()
            loss = classic_loss(*model(x), x)
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - began)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for x, _ in test_loader:
            total += classic_loss(*model(x), x).item()
    return times, total / len(test_set)


def ours(arch: str, epochs: int, seed: int, compile_model: bool = False) -> tuple[list[float], float]:
    data = load_dataset("mnist")
    if data.name != "mnist":
        raise SystemExit(f"full MNIST is needed: {data.notice}")
    config, model, data = prepare(VAEConfig(dataset="mnist", arch=arch, latent_dim=20, epochs=epochs, seed=seed), data)
    if compile_model:
        # The encoder and decoder stacks hold all the compute; the first epoch pays for compiling.
        model.encoder = torch.compile(model.encoder)
        model.decoder = torch.compile(model.decoder)
    metrics = [e for e in train(model, config, data) if isinstance(e, EpochMetrics)]
    return [e.train_seconds for e in metrics], metrics[-1].test["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=("mlp", "conv"), default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time VAE Lab's loop with torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.arch}, {args.epochs} epochs each")
    classic_times, classic_loss_value = classic(args.arch, args.epochs, args.seed)
    our_times, our_loss = ours(args.arch, args.epochs, args.seed)
    c, o = statistics.median(classic_times), statistics.median(our_times)
    print(f"classic DataLoader+ToTensor: median epoch {c:.2f} s  {[round(t, 2) for t in classic_times]}")
    print(f"VAE Lab in-memory loop:      median epoch {o:.2f} s  {[round(t, 2) for t in our_times]}")
    print(f"ratio (ours / classic): {o / c:.2f}   (target <= 0.5)")
    print(f"test loss after {args.epochs} epochs: classic {classic_loss_value:.2f}, ours {our_loss:.2f} nats/image")
    if args.compile:
        began = time.perf_counter()
        compiled_times, compiled_loss = ours(args.arch, args.epochs, args.seed, compile_model=True)
        total = time.perf_counter() - began
        print(
            f"with torch.compile: epochs {[round(t, 2) for t in compiled_times]} s (the first includes compiling), "
            f"{total:.1f} s in all with evaluations, against {sum(our_times):.1f} s of eager training epochs; "
            f"test loss {compiled_loss:.2f}"
        )


if __name__ == "__main__":
    main()
