"""Burda, Grosse & Salakhutdinov 2015 (Importance Weighted Autoencoders), Table 1, the VAE trained with
k = 1: its model and optimiser, its learning-rate schedule, and the figures it reports.

The shipped run ``burda-vae-k1`` is trained with ``CONFIG`` and stored with ``REFERENCE`` beside its own
measurement, which Diagnostics shows; the README's reproduction table is checked against ``REFERENCE``.
"""

from __future__ import annotations

from vae.model.config import VAEConfig

STAGES = 8  # i = 0…7: stage i lasts 3^i epochs at lr · 10^(-i/7)
EPOCHS = (3**STAGES - 1) // 2  # 3,280: every stage
IW_K = 5000  # importance samples per test image for the reported −log p(x)

REFERENCE = {
    "source": "Burda, Grosse & Salakhutdinov 2015, Importance Weighted Autoencoders, Table 1: MNIST, "
    "one stochastic layer, VAE trained with k = 1",
    "iw_k": IW_K,
    "nll": 86.76,
    "active_units": 19,
    "epochs": EPOCHS,
}

# 784-200-200-50 tanh on dynamically binarized MNIST, Adam with ε 1e-4, batch 20, their schedule.
CONFIG = VAEConfig(
    dataset="binarized-mnist",
    arch="mlp",
    hidden=(200, 200),
    activation="tanh",
    latent_dim=50,
    batch_size=20,
    epochs=EPOCHS,
    lr_schedule="burda",
    adam_eps=1e-4,
    precision="fp32",
)


def stage(epoch: int) -> int:
    """The stage i of 0-based epoch ``epoch``: epochs 0 | 1-3 | 4-12 | 13-39 | …; after the last, the last."""
    i = 0
    while (3 ** (i + 1) - 1) // 2 <= epoch:  # (3^(i+1) - 1) / 2 epochs come before stage i + 1
        i += 1
    return i
