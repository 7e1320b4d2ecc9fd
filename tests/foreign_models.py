"""Copies of models trained elsewhere, as their own code writes them: for the import tests and the benches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py, as published (latent size 20 there; any d here)."""

    def __init__(self, d: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, d)
        self.fc22 = nn.Linear(400, d)
        self.fc3 = nn.Linear(d, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    @staticmethod
    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld


class SeedsConvVAE(nn.Module):
    """The conv VAE printed in ../shared/seeds/000: its modules and names, MSE + KL loss."""

    def __init__(self, d: int = 10) -> None:
        super().__init__()
        self.Encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.FC_mu = nn.Linear(3136, d)
        self.FC_logvar = nn.Linear(3136, d)
        self.Decoder = nn.Sequential(
            nn.Linear(d, 3136),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),
            nn.Sigmoid(),
        )

    def encode(self, x):
        h = self.Encoder(x)
        return self.FC_mu(h), self.FC_logvar(h)

    def decode(self, z):
        return self.Decoder(z)

    @staticmethod
    def loss_function(recon_x, x, mu, logvar):
        mse = F.mse_loss(recon_x, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return mse + kld
