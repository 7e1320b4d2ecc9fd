"""How big a config's model is and what training it costs, told without building it (no torch).

The config refuses a model whose run file could not be read back (``vae.settings.MAX_PARAMETERS``), and the app prices a
training by its floating-point operations (``vae.server.limits``). ``tests/test_cost.py`` holds each count to
the model that ``vae.model.networks.build_model`` builds.
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

from vae.data.facts import IMAGE_SIZE


class VAEConfig(Protocol):
    """What the counts read of a ``vae.model.config.VAEConfig`` (named here, not imported: the config calls these)."""

    arch: str
    hidden: tuple[int, ...]
    latent_dim: int
    objective: str


PIXELS = math.prod(IMAGE_SIZE)
BYTES_PER_PARAMETER = 12  # weights, exp_avg, exp_avg_sq
# A training step costs about three forward passes (the forward, and twice its multiply-adds backward), 2 FLOPs
# a multiply-add.
FLOPS_PER_MAC_TRAINED = 6
# ConvVAE (vae.model.networks): (in channels, out channels, input side, output side, stride-1 kernel side), each 3 x 3.
_CONV_ENCODER = ((1, 32, 28, 14), (32, 64, 14, 7))
_CONV_DECODER = ((64, 64, 7, 14), (64, 32, 14, 28), (32, 1, 28, 28))  # transposed: one MAC per input pixel
_CONV_FLAT = 64 * 7 * 7
_KERNEL = 3 * 3
CRITIC_HIDDEN = (256, 256, 256)  # FactorVAE's discriminator (vae.model.networks.Critic)


def _linear(widths: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, multiply-adds an image) of a stack of dense layers through ``widths``."""
    pairs = list(itertools.pairwise(widths))
    return sum(a * b + b for a, b in pairs), sum(a * b for a, b in pairs)


def _vae_size(config: VAEConfig) -> tuple[int, int]:
    """(parameters, forward multiply-adds an image) of the encoder and decoder, critic left out."""
    d = config.latent_dim
    if config.arch == "mlp":
        hidden = config.hidden
        enc = _linear((PIXELS, *hidden))
        post = _linear((hidden[-1], 2 * d))
        dec = _linear((d, *reversed(hidden), PIXELS))
        return enc[0] + post[0] + dec[0], enc[1] + post[1] + dec[1]
    params = sum(a * b * _KERNEL + b for a, b, _, _ in _CONV_ENCODER + _CONV_DECODER)
    macs = sum(a * b * _KERNEL * out**2 for a, b, _, out in _CONV_ENCODER)
    macs += sum(a * b * _KERNEL * side**2 for a, b, side, _ in _CONV_DECODER)
    post, dec = _linear((_CONV_FLAT, 2 * d)), _linear((d, _CONV_FLAT))
    return params + post[0] + dec[0], macs + post[1] + dec[1]


def parameter_count(config: VAEConfig) -> int:
    """Every parameter the run file stores weights and Adam's moments for: the VAE's and a FactorVAE's critic's."""
    critic = _linear((config.latent_dim, *CRITIC_HIDDEN, 2))[0] if config.objective == "factor-vae" else 0
    return _vae_size(config)[0] + critic


def forward_macs(config: VAEConfig) -> int:
    """Multiply-adds to encode and decode one image (the critic, a few percent at most, left out)."""
    return _vae_size(config)[1]


def training_gflop(config: VAEConfig, images: int) -> float:
    """The training's cost in GFLOP (10^9 floating-point operations) over ``images`` images seen."""
    return FLOPS_PER_MAC_TRAINED * forward_macs(config) * images / 1e9


def file_megabytes(config: VAEConfig) -> float:
    """About how many MB the run's file takes with its optimiser state (history left out)."""
    return BYTES_PER_PARAMETER * parameter_count(config) / 2**20
