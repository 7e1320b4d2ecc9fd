"""The latent space forming, epoch by epoch: which epochs keep a frame, which test digits it follows,
and how the frames are projected and aligned for the Latent space page's animation."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vae.analysis import encode_mu
from vae.models import VAE

FRAME_POINTS = 1000  # test digits whose 2-D positions are kept after every epoch
FRAME_RECONS = 3  # test digits whose reconstructions are kept after every epoch
FRAME_SEED = 0
MAX_FRAMES = 50  # a longer run keeps a frame every few epochs: ~7 KB each


def frame_epochs(epochs: int) -> Callable[[int], bool]:
    """Whether a run of ``epochs`` epochs keeps its latent frame after a given epoch: every epoch up to
    ``MAX_FRAMES`` epochs, else every k-th one and the last."""
    every = -(-epochs // MAX_FRAMES)  # ceil
    return lambda epoch: epoch % every == 0 or epoch == epochs


def frame_subset(
    n_test: int, points: int = FRAME_POINTS, recons: int = FRAME_RECONS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed, seeded test indices: ``points`` for the moving scatter (sorted) and the first ``recons`` of
    them for the panel of reconstructions. The same for every run on the same test set."""
    order = torch.randperm(n_test, generator=torch.Generator().manual_seed(FRAME_SEED))[: min(points, n_test)]
    # Copies, not views: torch.save would otherwise store the whole permutation behind them (80 KB for MNIST).
    return order.sort().values.clone(), order[: min(recons, len(order))].clone()


def pca_2d(mu: torch.Tensor) -> torch.Tensor:
    """The first two principal components of ``mu`` ``[N, D]`` (D >= 2), centred. Returns ``[N, 2]``."""
    centred = mu.double() - mu.double().mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    return (centred @ v[:2].T).float()


def align_frames(frames: torch.Tensor) -> torch.Tensor:
    """Rotate (or reflect) each frame of ``frames`` ``[E, N, 2]`` onto the last one by orthogonal
    Procrustes, so that an animation of PCA projections neither spins nor flips. Returns ``[E, N, 2]``.

    Each frame is centred; R = U Vᵀ from the SVD of Aᵀ B minimises ||A R - B|| over orthogonal R.
    """
    frames = frames.double()
    frames = frames - frames.mean(dim=1, keepdim=True)
    target = frames[-1]
    u, _, vh = torch.linalg.svd(frames.transpose(1, 2) @ target)  # [E, 2, 2]
    return (frames @ (u @ vh)).float()


def latent_frame(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """One frame of the forming latent space for the images ``x`` ``[N, 1, 28, 28]``: μ itself for
    d = 2, else this epoch's 2-D PCA of μ (align the frames afterwards). Returns ``[N, 2]``."""
    mu = encode_mu(model, x)
    return mu if mu.shape[1] == 2 else pca_2d(mu)
