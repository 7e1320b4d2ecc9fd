"""The β-VAE family as disentanglement_lib trains it: the ELBO plus one regularizer per objective.

Every objective minimises ``recon + regularizer``, where the regularizer reads the KL terms, the posterior and
the sampled codes (disentanglement_lib's ``regularizer(kl_loss, z_mean, z_logvar, z_sampled)``,
``methods/unsupervised/vae.py``). Each returns its extra term too, so that it is logged beside recon and KL:

| objective | regularizer | logged extra term | reference |
|---|---|---|---|
| ``beta-vae`` | β·KL | none | Higgins et al. 2017 |
| ``annealed-vae`` | γ·\\|KL − C\\|, C ramping to C_max | none (C is logged) | Burgess et al. 2018 |
| ``beta-tcvae`` | KL + (β − 1)·TC, TC by minibatch-weighted sampling | TC | Chen et al. 2018 |
| ``factor-vae`` | KL + γ·TC, TC by a discriminator's density ratio | TC | Kim & Mnih 2018 |
| ``dip-vae-i`` | KL + λ_od·Σ off-diag(Cov μ)² + λ_d·Σ (diag(Cov μ) − 1)² | the penalty | Kumar et al. 2018 |
| ``dip-vae-ii`` | the same on Cov z = E[diag σ²] + Cov μ | the penalty | Kumar et al. 2018 |

Free bits (a KL floor per latent dimension) applies to the KL term of every objective.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from vae.model.config import VAEConfig
from vae.model.losses import LossTerms
from vae.model.networks import Critic, DiagonalGaussian

# disentanglement_lib's discriminator optimiser for FactorVAE: Adam(1e-4, β1 = 0.5, β2 = 0.9).
CRITIC_LR = 1e-4
CRITIC_BETAS = (0.5, 0.9)


class Regularized(NamedTuple):
    """What the optimiser minimises (a scalar), and the objective's extra term for the log (a scalar; 0 if none)."""

    objective: torch.Tensor
    extra: torch.Tensor


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each latent dimension of ``z`` ``[B, D]`` shuffled across the batch on its own: a sample of the product of
    q(z)'s marginals (Kim & Mnih 2018, Algorithm 1)."""
    index = torch.argsort(torch.rand(z.shape, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, index)


def critic_loss(critic: Critic, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The discriminator's cross-entropy on codes ``[B, D]`` (label 0) and their permutation (label 1); ``z`` is
    detached, so only the critic learns from it."""
    z = z.detach()
    logits = critic(torch.cat([z, permute_dims(z, generator)]))
    labels = torch.cat([torch.zeros(len(z)), torch.ones(len(z))]).long().to(z.device)
    return F.cross_entropy(logits, labels)


def minibatch_tc(z: torch.Tensor, posterior: DiagonalGaussian, n_data: int) -> torch.Tensor:
    """Total correlation KL(q(z) || Π_j q(z_j)) estimated by minibatch-weighted sampling (Chen et al. 2018, eq. 5)
    from codes ``z`` ``[B, D]`` drawn from ``posterior`` over a dataset of ``n_data`` images. A scalar, in nats."""
    batch = len(z)
    # log q(z_i | x_j) per dimension: [B, B, D]
    log_q = -0.5 * (
        ((z[:, None] - posterior.mu[None]) ** 2) / posterior.logvar[None].exp()
        + posterior.logvar[None]
        + math.log(2 * math.pi)
    )
    log_norm = math.log(batch * n_data)
    log_qz = torch.logsumexp(log_q.sum(dim=2), dim=1) - log_norm  # [B]
    log_prod_marginals = (torch.logsumexp(log_q, dim=1) - log_norm).sum(dim=1)  # [B]
    return (log_qz - log_prod_marginals).mean()


def dip_penalty(posterior: DiagonalGaussian, lambda_od: float, lambda_d: float, *, second_kind: bool) -> torch.Tensor:
    """DIP-VAE's moment matching (Kumar et al. 2018): push Cov[μ] (I) or Cov[z] (II), over the batch, to I."""
    mu = posterior.mu
    centred = mu - mu.mean(dim=0)
    cov = centred.T @ centred / len(mu)  # E[μμᵀ] − E[μ]E[μ]ᵀ, as disentanglement_lib computes it
    if second_kind:
        cov = cov + torch.diag(posterior.logvar.exp().mean(dim=0))
    diag = torch.diagonal(cov)
    off_diag = cov - torch.diag(diag)
    return lambda_od * off_diag.pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()


def regularized(
    config: VAEConfig,
    terms: LossTerms,
    posterior: DiagonalGaussian,
    z: torch.Tensor,
    *,
    beta: float,
    capacity: float,
    n_data: int,
    critic: Critic | None = None,
) -> Regularized:
    """``config.objective``'s training objective for one batch: ``terms`` as ``vae.model.losses.vae_loss`` gave them,
    the ``posterior`` over ``[B, D]`` and the codes ``z`` ``[B, D]`` the decoder read. ``beta`` and ``capacity``
    are their values at this step (warm-up, the capacity ramp); ``n_data`` is the training set's size."""
    kl = terms.kl_per_dim.clamp(min=config.free_bits).sum() if config.free_bits > 0 else terms.kl
    zero = torch.zeros((), device=kl.device)
    kind = config.objective
    if kind == "beta-vae":
        return Regularized(terms.recon + beta * kl, zero)
    if kind == "annealed-vae":
        return Regularized(terms.recon + config.capacity_gamma * (kl - capacity).abs(), zero)
    if kind == "beta-tcvae":
        tc = minibatch_tc(z, posterior, n_data)
        return Regularized(terms.recon + kl + (beta - 1) * tc, tc)
    if kind == "factor-vae":
        if critic is None:
            raise ValueError("factor-vae needs its critic (model.critic)")
        logits = critic(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()  # log D(z) / (1 − D(z)) estimates log q(z) / Π q(z_j)
        return Regularized(terms.recon + kl + config.factor_gamma * tc, tc)
    lambda_d = config.dip_lambda_d_in_effect
    penalty = dip_penalty(posterior, config.dip_lambda_od, lambda_d, second_kind=kind == "dip-vae-ii")
    return Regularized(terms.recon + kl + penalty, penalty)
