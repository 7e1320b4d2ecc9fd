import math

import pytest
import torch
from torch import nn

from vae.model.config import VAEConfig
from vae.model.losses import reconstruction_loss, vae_loss
from vae.model.networks import MLPVAE, ConvTranspose2d, ConvVAE, DiagonalGaussian, build_model


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("latent_dim", [2, 16])
def test_shapes(arch, latent_dim):
    torch.manual_seed(0)
    model = build_model(VAEConfig(arch=arch, latent_dim=latent_dim))
    x = torch.rand(5, 1, 28, 28)
    posterior = model.encode(x)
    assert posterior.mu.shape == posterior.logvar.shape == (5, latent_dim)
    assert model.decode(posterior.rsample()).shape == (5, 1, 28, 28)
    logits, _ = model(x)
    assert logits.shape == (5, 1, 28, 28)
    assert posterior.kl().shape == (5,)
    assert posterior.kl_per_dim().shape == (5, latent_dim)


def test_reference_parameter_counts():
    # 784-400-(2x20)-400-784 and the conv stack of the design documents.
    mlp = sum(p.numel() for p in MLPVAE(20).parameters())
    assert mlp == (784 * 400 + 400) + (400 * 40 + 40) + (20 * 400 + 400) + (400 * 784 + 784)
    conv = ConvVAE(20)
    shapes = [tuple(m.weight.shape) for m in conv.modules() if hasattr(m, "weight")]
    assert shapes == [
        (32, 1, 3, 3),
        (64, 32, 3, 3),
        (40, 3136),
        (3136, 20),
        (64, 64, 3, 3),
        (64, 32, 3, 3),
        (32, 1, 3, 3),
    ]


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    zero = DiagonalGaussian(torch.zeros(3, 4), torch.zeros(3, 4))
    assert torch.equal(zero.kl(), torch.zeros(3))
    g = torch.Generator().manual_seed(0)
    other = DiagonalGaussian(torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g))
    assert (other.kl() > 0).all()


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    q = DiagonalGaussian(
        torch.randn(1, 3, generator=g, dtype=torch.float64), torch.randn(1, 3, generator=g, dtype=torch.float64)
    )
    z = q.mu + q.std * torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    log_p = (-0.5 * (z**2 + math.log(2 * math.pi))).sum(-1)
    mc = (q.log_prob(z) - log_p).mean()
    assert mc.item() == pytest.approx(q.kl().item(), rel=0.02)


def test_gradients_flow_through_the_reparameterisation():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    z = DiagonalGaussian(mu, logvar).rsample(torch.Generator().manual_seed(0))
    (z**2).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_loss_terms_are_per_image_and_beta_weighted():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=g)
    logits = torch.randn(4, 1, 28, 28, generator=g)
    q = DiagonalGaussian(torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g))
    terms = vae_loss(logits, x, q, beta=3.0)
    bce = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 4
    assert terms.recon.item() == pytest.approx(bce.item(), rel=1e-4)
    assert terms.kl.item() == pytest.approx(q.kl().mean().item(), rel=1e-6)
    assert terms.kl_per_dim.shape == (5,)
    assert terms.kl_per_dim.sum().item() == pytest.approx(terms.kl.item(), rel=1e-6)
    assert terms.loss.item() == pytest.approx(terms.recon.item() + 3.0 * terms.kl.item(), rel=1e-6)


def test_mse_recon_sums_squared_error_over_pixels():
    x = torch.zeros(2, 1, 28, 28)
    logits = torch.zeros(2, 1, 28, 28)  # sigmoid -> 0.5 everywhere
    assert reconstruction_loss(logits, x, "mse").tolist() == pytest.approx([784 * 0.25] * 2)
    with pytest.raises(ValueError, match="likelihood"):
        reconstruction_loss(logits, x, "l1")


@pytest.mark.parametrize("stride, output_padding", [(2, 1), (1, 0)])
def test_separate_bias_transposed_conv_matches_torchs(stride, output_padding):
    torch.manual_seed(0)
    ours = ConvTranspose2d(8, 4, 3, stride=stride, padding=1, output_padding=output_padding)
    reference = nn.ConvTranspose2d(8, 4, 3, stride=stride, padding=1, output_padding=output_padding)
    reference.load_state_dict(ours.state_dict())  # same parameters, same keys: old checkpoints load unchanged
    x = torch.randn(3, 8, 7, 7, requires_grad=True)
    outputs = [layer(x) for layer in (ours, reference)]
    torch.testing.assert_close(outputs[0], outputs[1])
    grad = torch.randn_like(outputs[0])
    grads = [
        torch.autograd.grad(y, (x, layer.weight, layer.bias), grad) for y, layer in zip(outputs, (ours, reference))
    ]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ours(x).dtype == torch.bfloat16  # the fp32 bias must not promote the activation back to fp32
    if stride == 2:  # an explicit output size picks the output padding, as in torch's layer
        size = [14, 14] if output_padding else [13, 13]
        torch.testing.assert_close(ours(x, output_size=size), reference(x, output_size=size))
