"""The encoder in the visitor's browser (#39, the Draw page): ``vae.browser.encoder``'s export and the JavaScript
forward pass of ``ui.browser_model`` held to torch's posterior in headless Chromium."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from tests import browser_support
from tests.browser_support import ROOT
from vae.browser.encoder import encoder_fits_browser, export_encoder, torch_posterior
from vae.browser.model import pack
from vae.data.datasets import to_float
from vae.model.networks import MLPVAE, ConvVAE
from vae.runfile import load_run

SHIPPED = ("mlp-d2-b1", "mlp-d20-b1", "conv-d2-b1", "conv-d20-b1")
BOUND = 1e-3  # max abs difference in μ and log σ² from torch's float32
# Runs the page's own encoder on base64 packed bytes and base64 float32 images [N·784]; answers base64 float32
# [N, 2·D]: each image's μ then log σ².
ENCODE = """([packed, images, n]) => {
  const model = VaeLabDecoder.load(decode64(packed));
  const pixels = new Float32Array(decode64(images).buffer), d = model.latentDim, out = new Float32Array(n * 2 * d);
  for (let i = 0; i < n; i++) {
    const { mu, logvar } = VaeLabDecoder.encode(model, pixels.subarray(i * 784, (i + 1) * 784));
    out.set(mu, i * 2 * d); out.set(logvar, i * 2 * d + d);
  }
  return encode64(out);
}"""


@pytest.fixture(scope="module")
def encoder_page(chromium):
    """A blank page holding the JavaScript forward pass that the boards run (``ui.browser_model.DECODER_JS``)."""
    return browser_support.forward_pass_page(chromium)


def _js_posterior(page, model, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    web = export_encoder(model)
    packed = browser_support.b64(pack(web.header("k"), web.blobs()))
    flat = browser_support.b64(images.reshape(len(images), -1).numpy().astype("<f4").tobytes())
    answer = page.evaluate(ENCODE, [packed, flat, len(images)])
    both = np.frombuffer(base64.b64decode(answer), "<f4").reshape(len(images), 2, -1)
    return both[:, 0], both[:, 1]


@pytest.mark.browser
@pytest.mark.parametrize("name", SHIPPED)
def test_the_browser_encoder_matches_torch_on_1000_test_images(encoder_page, small_data, name):
    model = load_run(ROOT / "checkpoints" / f"{name}.pt").model
    assert encoder_fits_browser(model)
    images = to_float(small_data.test_x[:1000])
    mu, logvar = _js_posterior(encoder_page, model, images)
    want_mu, want_logvar = torch_posterior(model, images)
    error = max(np.abs(mu - want_mu).max(), np.abs(logvar - want_logvar).max())
    print(f"{name}: {len(web_bytes(model)):,} bytes, max abs difference {error:.2e}")  # pytest -rP: the figures
    assert error <= BOUND, f"{name}: max abs difference {error:.2e}"


@pytest.mark.browser
def test_every_encoder_layer_is_computed_as_torch_does(encoder_page):
    """Small random models of both kinds (dense, tanh, convolution, flatten): a wrong index would be far off."""
    torch.manual_seed(0)
    images = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    for model in (MLPVAE(3, hidden=(16, 8), activation="tanh"), ConvVAE(3)):
        mu, logvar = _js_posterior(encoder_page, model, images)
        want_mu, want_logvar = torch_posterior(model, images)
        assert np.abs(mu - want_mu).max() < 1e-5 and np.abs(logvar - want_logvar).max() < 1e-5


def web_bytes(model) -> bytes:
    web = export_encoder(model)
    return pack(web.header("k"), web.blobs())
