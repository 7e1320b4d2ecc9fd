"""A run's encoder as plain numbers, for the Draw page's posterior in the visitor's browser (#39).

The same packed form as ``vae.browser.model``'s decoder (``WebDecoder``, ``pack``): ops read in order, weights in
little-endian blobs, nothing that is code. The encoder's ops are ``dense``, ``relu`` and ``tanh`` as the
decoder's, plus ``conv`` (``nn.Conv2d``, square kernel and stride, weights ``[out, in, k, k]``) and ``flatten``
(torch's C·H·W order). The last op is the posterior's head: its output is μ then log σ², ``latent_dim`` each.
Weights ship as float32: the encoder's error reaches the decoder through μ, and float32 keeps the browser's
arithmetic (float64 over float32 weights) within float32's own rounding of torch's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vae.browser.model import WebDecoder, max_web_parameters, op_of
from vae.model.networks import VAE, eval_mode

WEIGHTED = (nn.Linear, nn.Conv2d)


def encoder_layers(model: VAE) -> list[nn.Module]:
    """The encoder's layers in order, ending with the posterior's head (``[B, 1, 28, 28]`` -> ``[B, 2·D]``)."""
    return [*model.encoder, model.to_posterior]


def _known(module: nn.Module) -> bool:
    """Whether the browser runs this encoder layer (``vae.browser.model.op_of`` writes it)."""
    if isinstance(module, nn.Conv2d):
        square = module.kernel_size[0] == module.kernel_size[1] and module.stride[0] == module.stride[1]
        plain = module.groups == 1 and module.dilation == (1, 1) and module.padding[0] == module.padding[1]
        return square and plain and module.padding_mode == "zeros"
    if isinstance(module, nn.Flatten):
        return module.start_dim == 1 and module.end_dim == -1
    return isinstance(module, (nn.Linear, nn.ReLU, nn.Tanh))


def encoder_fits_browser(model: VAE) -> bool:
    """Whether the Draw page's browser path takes this model: its encoder within the bound, of known layers."""
    layers = encoder_layers(model)
    parameters = sum(p.numel() for layer in layers for p in layer.parameters())
    return parameters <= max_web_parameters() and all(_known(layer) for layer in layers)


def export_encoder(model: VAE) -> WebDecoder:
    """``model``'s encoder as plain numbers, float32 (``ValueError`` for a layer the browser cannot run)."""
    layers = encoder_layers(model)
    unknown = [type(layer).__name__ for layer in layers if not _known(layer)]
    if unknown:
        raise ValueError(f"the browser encoder has no {unknown[0]} layer")
    ops = [op_of(layer) for layer in layers]
    weights, biases = [], []
    at = {"w": 0, "s": 0, "b": 0}
    for op, layer in zip(ops, layers, strict=True):
        if isinstance(layer, WEIGHTED):
            weight = layer.weight.detach().float().cpu().contiguous().numpy().astype("<f4").ravel()
            bias = layer.bias.detach().float().cpu().numpy().astype("<f4") if layer.bias is not None else None
            bias = bias if bias is not None else np.zeros(op["out"], "<f4")
            op.update(at)
            weights.append(weight)
            biases.append(bias)
            at = {"w": at["w"] + weight.size, "s": 0, "b": at["b"] + bias.size}
    return WebDecoder(
        latent_dim=model.latent_dim,
        dtype="float32",
        ops=tuple(ops),
        weights=np.concatenate(weights).tobytes(),
        scales=b"",
        biases=np.concatenate(biases).tobytes(),
        errors={},
    )


@torch.inference_mode()
def torch_posterior(model: VAE, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The reference: torch's float32 (μ, log σ²), each ``[N, D]``, for images ``[N, 1, 28, 28]`` in [0, 1]."""
    with eval_mode(model):
        posterior = model.encode(images.float())
    return posterior.mu.numpy(), posterior.logvar.numpy()
