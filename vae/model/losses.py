"""The ELBO's named terms (the β-VAE family builds on them: ``vae.model.objectives``), in per-image units (nats
per image for BCE).

Sum over pixels and latent dimensions, average over the batch: averaging the reconstruction
over pixels while summing the KL silently multiplies beta by 784.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from vae.model.networks import DiagonalGaussian


class LossTerms(NamedTuple):
    """``loss = recon + beta * kl``; each a scalar tensor averaged over the batch, ``kl_per_dim`` is ``[D]``."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """Per-image reconstruction error, summed over pixels. ``logits``, ``x``: ``[B, 1, 28, 28]`` -> ``[B]``.

    ``bce`` is -log p(x|z) under a Bernoulli decoder, in nats. ``mse`` is the squared error of
    ``sigmoid(logits)``, summed over pixels.
    """
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif kind == "mse":
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    else:
        raise ValueError(f"likelihood must be 'bce' or 'mse', got {kind!r}")
    return per_pixel.flatten(1).sum(dim=1)


def vae_loss(
    logits: torch.Tensor, x: torch.Tensor, posterior: DiagonalGaussian, beta: float = 1.0, likelihood: str = "bce"
) -> LossTerms:
    """Negative beta-ELBO averaged over the batch. With ``beta=1`` and ``bce``, ``loss`` is exactly -ELBO."""
    recon_term = reconstruction_loss(logits, x, likelihood).mean()
    kl_per_dim = posterior.kl_per_dim().mean(dim=0)
    kl = kl_per_dim.sum()
    return LossTerms(recon_term + beta * kl, recon_term, kl, kl_per_dim)
