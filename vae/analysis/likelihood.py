"""How good a model is as a density: KL per latent dimension, active units, and the importance-weighted
bound on −log p(x) (Burda et al. 2015). Runs without gradients; returns CPU values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from vae.analysis.latents import ENCODE_BATCH_SIZE
from vae.data.datasets import batches
from vae.model.networks import VAE, in_eval_mode, prior_log_prob

ACTIVE_UNIT_THRESHOLD = 0.01


@torch.inference_mode()
@in_eval_mode
def latent_diagnostics(model: VAE, x: torch.Tensor, batch_size: int = ENCODE_BATCH_SIZE) -> dict[str, object]:
    """Per-dimension KL and activity over ``x`` ``[N, 1, 28, 28]`` (uint8 or float).

    ``kl_per_dim`` ``[D]`` is the mean KL(q(z_u|x) || N(0, 1)) in nats; dimension u is *active* when
    Cov_x(E_q[z_u]) > 0.01 (Burda et al. 2015), i.e. its posterior mean varies with the input.
    """
    device = next(model.parameters()).device
    kl_sum = torch.zeros(model.latent_dim, dtype=torch.float64)
    mus = []
    for batch in batches(x, batch_size, device):
        posterior = model.encode(batch)
        kl_sum += posterior.kl_per_dim().double().sum(0).cpu()
        mus.append(posterior.mu.cpu())
    mu = torch.cat(mus)
    variance = mu.double().var(dim=0, unbiased=False)
    active = variance > ACTIVE_UNIT_THRESHOLD
    return {
        "kl_per_dim": (kl_sum / len(x)).tolist(),
        "mu_variance": variance.tolist(),
        "active_units": int(active.sum()),
        "active": active.tolist(),
    }


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) under a Bernoulli decoder, summed over pixels: ``logits`` ``[n, B, P]``, ``x`` ``[B, P]`` -> ``[n, B]``.

    x·l − softplus(l), with softplus(l) = max(l, 0) + log(1 + e^−|l|): log rather than log1p, which is
    scalar code here, as it is inside ``binary_cross_entropy_with_logits`` (README, measured figures:
    the IW bound); the rounding costs at most 1e-7 nats a pixel.
    """
    softplus = logits.abs().neg_().exp_().add_(1).log_().add_(logits.clamp(min=0))
    return torch.einsum("nbp,bp->nb", logits, x) - softplus.sum(-1)


@torch.inference_mode()
@in_eval_mode
def iw_nll_per_image(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    max_batch_elements: int = 40_000,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Importance-weighted estimates of -log p(x) in nats, one per image of ``x`` ``[N, 1, 28, 28]``: ``[N]``
    float64, with ``k`` samples each (Burda et al. 2015).

    -log p(x) ~= -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x).
    k = 1 is a one-sample -ELBO; the bound tightens towards the true -log p(x) as k grows, never
    passing it in expectation. Needs a Bernoulli (BCE) decoder.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    images_per_batch = max(1, max_batch_elements // k)
    estimates = []
    done = 0
    for batch in batches(x, images_per_batch, device):  # [B, 1, 28, 28]
        posterior = model.encode(batch)
        pixels = batch.flatten(1)  # [B, P]
        samples_per_chunk = max(1, max_batch_elements // len(batch))
        log_w = []
        for chunk_start in range(0, k, samples_per_chunk):
            z = posterior.rsample(generator, (min(k - chunk_start, samples_per_chunk),))  # [n, B, D]
            logits = model.decode(z.flatten(0, 1)).view(len(z), len(batch), -1)  # [n, B, P]
            log_w.append(bernoulli_log_prob(logits, pixels) + prior_log_prob(z) - posterior.log_prob(z))
        log_w_all = torch.cat(log_w).double()  # [k, B]
        estimates.append(-(torch.logsumexp(log_w_all, dim=0) - math.log(k)).cpu())
        done += len(batch)
        if progress is not None:
            progress(min(1.0, done / len(x)))
    return torch.cat(estimates) if estimates else torch.zeros(0, dtype=torch.float64)


def iw_nll(model: VAE, x: torch.Tensor, k: int, **options: Any) -> float:
    """The mean of ``iw_nll_per_image``: nats per image over ``x``."""
    return float(iw_nll_per_image(model, x, k, **options).mean())
