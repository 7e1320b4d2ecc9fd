"""The two reference VAEs behind one interface: ``encode(x) -> posterior``, ``decode(z) -> logits``."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from vae.data.facts import IMAGE_SIZE
from vae.model.config import MLP_HIDDEN, VAEConfig
from vae.model.size import CRITIC_HIDDEN

IMAGE_SHAPE = (1, *IMAGE_SIZE)
T = TypeVar("T")
N_PIXELS = 784
# In-place ReLUs save an allocation per activation.
ACTIVATION_LAYERS: dict[str, Callable[[], nn.Module]] = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode and give the caller's mode back afterwards, whatever it was."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def in_eval_mode(function: Callable[..., T]) -> Callable[..., T]:
    """Decorates ``function(model, ...)`` to run under ``eval_mode(model)``."""

    @functools.wraps(function)
    def wrapper(model: nn.Module, *args: Any, **kwargs: Any) -> T:
        with eval_mode(model):
            return function(model, *args, **kwargs)

    return wrapper


class DiagonalGaussian:
    """The posterior q(z|x) = N(mu, diag(exp(logvar))), with ``mu`` and ``logvar`` of shape ``[B, D]``."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mu = mu
        self.logvar = logvar

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def rsample(self, generator: torch.Generator | None = None, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): differentiable in mu and logvar (Kingma & Welling 2013).

        Returns ``[*sample_shape, B, D]``: ``(k,)`` draws k samples per image, as the IWAE bound needs.
        """
        shape = (*sample_shape, *self.mu.shape)
        eps = torch.randn(shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        return self.mu + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mu

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent dimension, closed form (Kingma & Welling 2013, App. B). ``[B, D]``."""
        return -0.5 * (1 + self.logvar - self.mu.pow(2) - self.logvar.exp())

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over latent dimensions. ``[B]``."""
        return self.kl_per_dim().sum(dim=1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) for ``z`` of shape ``[..., B, D]``. Returns ``[..., B]``."""
        return (-0.5 * (((z - self.mu) / self.std) ** 2 + self.logvar + math.log(2 * math.pi))).sum(-1)


def prior_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log p(z) under the prior N(0, I) for ``z`` ``[..., D]``. Returns ``[...]``."""
    return (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)


class VAE(nn.Module):
    """Shared interface. Subclasses set ``latent_dim`` and implement ``encode`` and ``decode``."""

    latent_dim: int

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """``x`` ``[B, 1, 28, 28]`` in [0, 1] -> posterior over ``[B, D]``."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` ``[B, D]`` -> Bernoulli logits ``[B, 1, 28, 28]``; apply sigmoid only to draw."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        """Encode, sample with the reparameterisation trick, decode. Returns (logits, posterior)."""
        posterior = self.encode(x)
        return self.decode(posterior.rsample(generator)), posterior


class MLPVAE(VAE):
    """784-h1-…-(mu, logvar)-…-h1-784; by default 784-400-d-400-784, as in pytorch/examples ``vae/main.py``.

    ``hidden`` lists the encoder's widths and the decoder mirrors them: ``(200, 200)`` with ``tanh`` is
    the one-stochastic-layer model of Burda et al. 2015. The default keeps the module names of earlier
    runs (``encoder.1``, ``decoder.0``, ``decoder.2``), so their checkpoints load unchanged.
    """

    def __init__(self, latent_dim: int, hidden: tuple[int, ...] = (MLP_HIDDEN,), activation: str = "relu") -> None:
        super().__init__()
        self.latent_dim = latent_dim
        act = ACTIVATION_LAYERS[activation]
        encoder: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in itertools.pairwise((N_PIXELS, *hidden)):
            encoder += [nn.Linear(width_in, width_out), act()]
        self.encoder = nn.Sequential(*encoder)
        # One layer emits mu and logvar together: a single matmul instead of two.
        self.to_posterior = nn.Linear(hidden[-1], 2 * latent_dim)
        decoder: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise((latent_dim, *reversed(hidden))):
            decoder += [nn.Linear(width_in, width_out), act()]
        self.decoder = nn.Sequential(*decoder, nn.Linear(hidden[0], N_PIXELS), nn.Unflatten(1, IMAGE_SHAPE))
        if activation == "tanh":
            # Glorot & Bengio 2010's uniform init, made for tanh units and used by Burda et al. 2015.
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_uniform_(layer.weight)
                    nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        mu, logvar = self.to_posterior(self.encoder(x)).chunk(2, dim=1)
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that adds its bias as a separate op; same parameters and state_dict keys.

    On the CPU, oneDNN's bias gradient for a transposed convolution is many times slower than a plain
    sum over the batch and pixels. Adding the bias afterwards lets autograd take the plain sum, which
    shortens a conv epoch under bf16 autocast; in fp32 the two ways cost about the same. The readings
    are in the README's measured figures (``bench/train_speed.py --arch conv``).
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        output_padding = self._output_padding(
            x, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation
        )  # as nn.ConvTranspose2d does
        y = F.conv_transpose2d(
            x, self.weight, None, self.stride, self.padding, output_padding, self.groups, self.dilation
        )
        if self.bias is None:
            return y
        # In y's dtype: under bf16 autocast an fp32 bias would promote the whole activation to fp32.
        return y + self.bias.to(y.dtype).view(1, -1, 1, 1)


class ConvVAE(VAE):
    """Two stride-2 convolutions down to 64x7x7, and three transposed convolutions back up."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        self.to_posterior = nn.Linear(64 * 7 * 7, 2 * latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ReLU(inplace=True),
            ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True),
            ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(inplace=True),
            ConvTranspose2d(32, 1, 3, stride=1, padding=1),
        )
        # oneDNN's convolutions are faster with channels-last weights and inputs, and in-place ReLUs save
        # an allocation per activation (bench/train_speed.py --arch conv).
        self.to(memory_format=torch.channels_last)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        x = x.contiguous(memory_format=torch.channels_last)
        mu, logvar = self.to_posterior(self.encoder(x)).chunk(2, dim=1)
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


# FactorVAE's discriminator. Kim & Mnih use 6 layers of 1,000 units; that costs several times the VAE's own step
# on 2 CPU cores, so this one has 3 hidden layers of 256 (CRITIC_HIDDEN; LeakyReLU 0.2, as theirs), over a d ≤ 64
# code.


class Critic(nn.Module):
    """FactorVAE's discriminator: codes ``[B, D]`` -> logits ``[B, 2]`` of (from q(z), from the product of its
    marginals). Saved in the run with the model (``model.critic``), so a continued FactorVAE run carries it on."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise((latent_dim, *CRITIC_HIDDEN)):
            layers += [nn.Linear(width_in, width_out), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(CRITIC_HIDDEN[-1], 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def build_model(config: VAEConfig) -> VAE:
    """A freshly initialised model for ``config`` (seed the global RNG first for reproducible weights). A FactorVAE
    carries its discriminator as ``model.critic``, so the run file keeps it with the weights."""
    model: VAE = (
        MLPVAE(config.latent_dim, config.hidden, config.activation)
        if config.arch == "mlp"
        else ConvVAE(config.latent_dim)
    )
    if config.objective == "factor-vae":
        model.critic = Critic(config.latent_dim)
    return model


def vae_parameters(model: VAE) -> list[nn.Parameter]:
    """The encoder's and decoder's parameters: all but a FactorVAE's critic, which has an optimiser of its own."""
    return [p for name, p in model.named_parameters() if not name.startswith("critic.")]


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype for ``torch.autocast`` during training, or None for plain fp32.

    ``auto`` picks bfloat16 only where it is native: CUDA with bf16 support, or a CPU with AVX512-BF16;
    elsewhere it would be emulated and slower.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and torch.cpu._is_avx512_bf16_supported():
        return torch.bfloat16
    return None


def resolve_device(requested: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is absent raises ``ValueError``."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        return torch.device(next(name for name in ("cuda", "mps", "cpu") if available[name]))
    if not available.get(requested, False):
        raise ValueError(f"device: {requested!r} is not available on this machine")
    return torch.device(requested)
