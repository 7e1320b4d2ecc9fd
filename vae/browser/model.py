"""A run's decoder as plain numbers, for a forward pass in the visitor's browser (#39).

``export_decoder`` walks the decoder's layers in order and writes each as an op (dense, relu, tanh, reshape,
transposed convolution) with its weights and biases in little-endian blobs; ``pack`` puts a JSON header and the
blobs in one ``bytes``. Nothing in it is code: the browser reads numbers, a few fixed op names and text, so a run
file cannot make the page evaluate anything. The browser's interpreter of these ops is
``ui.browser_model.DECODER_JS``; ``tests/test_browser_decoder.py`` holds it to torch within ``PIXEL_BOUND``.

Weights go in 2 bytes where that keeps every pixel within ``SPARE_BOUND`` of torch's on a seeded probe of latents
(the rest of ``PIXEL_BOUND`` is left for the browser's summation order), else as float32. Of the 2-byte formats
the one with the smaller error is taken. float16 alone is off by 0.8-4.2e-3 on the shipped runs over the
explorer's ±4 σ (its 11-bit mantissa), leaving no spare on any of them; so there is also ``int16``: 16-bit
integers with one float32 scale per row (dense: per output unit; transposed convolution: per input channel), up
to 5 bits finer where a row's weights are near its largest: 1.1-4.2e-4 on the MNIST runs. Biases are few and
always float32. ``bench/browser_decoder.py`` prints the figures.
"""

from __future__ import annotations

import copy
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vae.model.networks import VAE, eval_mode
from vae.settings import setting

FORMAT = 1
MAGIC = b"VAEW"
PIXEL_BOUND = 1e-3  # max abs pixel difference from torch that the browser's decoder is held to
SPARE_BOUND = PIXEL_BOUND / 2  # a 2-byte format is taken only when its own error leaves this much spare
# Above the setting MAX_WEB_ENV (1 M decoder parameters by default: 2-4 MB to send a visitor before the first
# redraw) the explorer keeps the server path; every shipped run is well under it (the largest, 323 k); 0 keeps
# every model on the server.
MAX_WEB_ENV = "VAE_MAX_WEB_PARAMETERS"
PROBE_RANGE = 4.0  # latents are probed uniformly over ±4 prior σ: the explorer's slider range
PROBE_COUNT = 256
INT16_MAX = 32767
COMPACT = ("int16", "float16")  # the 2-byte formats, tried before float32
WEIGHTED = (nn.Linear, nn.ConvTranspose2d)


@dataclass(frozen=True)
class WebDecoder:
    """A decoder ready for the browser: ``latent_dim`` in, 784 pixels out, ``ops`` read in order.

    ``errors`` holds the probe's max abs pixel difference from torch for each 2-byte format (``inf`` where one
    overflows); ``dtype`` says which format ``weights`` holds. ``scales`` is empty unless it is ``int16``.
    """

    latent_dim: int
    dtype: str
    ops: tuple[dict[str, Any], ...]
    weights: bytes
    scales: bytes
    biases: bytes
    errors: dict[str, float]

    @property
    def nbytes(self) -> int:
        """Bytes of weights, scales and biases as shipped."""
        return len(self.weights) + len(self.scales) + len(self.biases)

    def header(self, key: str) -> dict[str, Any]:
        """The model's description: numbers, fixed names, and ``key`` (the run's version, hex digits), under which
        the browser caches the weights."""
        ops = [dict(op) for op in self.ops]
        return {"format": FORMAT, "key": key, "latent_dim": self.latent_dim, "dtype": self.dtype, "ops": ops}

    def blobs(self) -> dict[str, bytes]:
        return {"weights": self.weights, "scales": self.scales, "biases": self.biases}


def decoder_parameters(model: VAE) -> int:
    """How many parameters the decoder has (what the browser would be sent)."""
    return sum(p.numel() for p in model.decoder.parameters())


def max_web_parameters() -> int:
    """The bound in force: the setting ``VAE_MAX_WEB_PARAMETERS`` (``vae.settings``)."""
    return setting(MAX_WEB_ENV)


def fits_browser(model: VAE) -> bool:
    """Whether the browser path takes this model: its decoder is within the bound and made only of known layers."""
    return decoder_parameters(model) <= max_web_parameters() and all(_known(m) for m in model.decoder)


def _known(module: nn.Module) -> bool:
    if isinstance(module, nn.ConvTranspose2d):
        square = module.kernel_size[0] == module.kernel_size[1] and module.stride[0] == module.stride[1]
        plain = module.groups == 1 and module.dilation == (1, 1) and module.padding[0] == module.padding[1]
        return square and plain and module.output_padding[0] == module.output_padding[1]
    if isinstance(module, nn.Unflatten):
        return module.dim == 1  # [B, C·H·W] -> [B, C, H, W], as both models unflatten
    return isinstance(module, (nn.Linear, nn.ReLU, nn.Tanh))


def _op(module: nn.Module) -> dict[str, Any]:
    """One decoder layer as the browser reads it (``ValueError`` for one it cannot run)."""
    if not _known(module):
        raise ValueError(f"the browser decoder has no {type(module).__name__} layer")
    return op_of(module)


def op_of(module: nn.Module) -> dict[str, Any]:
    """A layer as the browser reads it: the one vocabulary of ops (``ui/browser_decoder.js`` runs them) for the
    decoder here and the encoder (``vae.browser.encoder``), each of which checks first that it knows the layer."""
    if isinstance(module, nn.Linear):
        return {"op": "dense", "in": module.in_features, "out": module.out_features}
    if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
        conv = {
            "op": "convT" if isinstance(module, nn.ConvTranspose2d) else "conv",
            "in": module.in_channels,
            "out": module.out_channels,
            "k": module.kernel_size[0],
            "stride": module.stride[0],
            "pad": module.padding[0],
        }
        if isinstance(module, nn.ConvTranspose2d):
            # As vae.model.networks.ConvTranspose2d and nn.ConvTranspose2d use it with no output size given.
            conv["outpad"] = module.output_padding[0]
        return conv
    if isinstance(module, nn.Unflatten):
        return {"op": "reshape", "shape": [int(s) for s in module.unflattened_size]}
    if isinstance(module, nn.Flatten):
        return {"op": "flatten"}  # C·H·W, torch's order
    return {"op": "relu" if isinstance(module, nn.ReLU) else "tanh"}


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` as ``[rows, row]``: dense ``[out, in]`` as it is, transposed conv ``[in, out·k·k]``."""
    return weight.detach().float().cpu().reshape(weight.shape[0], -1)


def _encoded(weight: torch.Tensor, dtype: str) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(the weights as the browser will hold them, float32 of ``weight``'s shape; what is shipped; the scales)."""
    rows = _rows(weight)
    if dtype == "float32":
        return rows.reshape(weight.shape), rows.numpy().astype("<f4"), np.zeros(0, "<f4")
    if dtype == "float16":
        half = rows.half()
        return half.float().reshape(weight.shape), half.numpy().astype("<f2"), np.zeros(0, "<f4")
    peak = rows.abs().amax(dim=1, keepdim=True)
    scale = torch.where(peak > 0, peak / INT16_MAX, torch.ones_like(peak))  # an all-zero row: any scale
    q = torch.round(rows / scale).clamp(-INT16_MAX, INT16_MAX)
    # q · scale rounded to float32, as the browser computes it: q has 16 bits, so the product is exact first.
    return (q * scale).reshape(weight.shape), q.numpy().astype("<i2"), scale.flatten().numpy().astype("<f4")


def probe_latents(latent_dim: int, n: int = PROBE_COUNT, seed: int = 0) -> torch.Tensor:
    """``[n, latent_dim]`` latents uniform over ±``PROBE_RANGE``, seeded."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, latent_dim, generator=generator) * 2 - 1) * PROBE_RANGE


@torch.inference_mode()
def torch_pixels(model: VAE, z: torch.Tensor) -> np.ndarray:
    """The reference: torch's float32 pixels ``[N, 784]`` for latents ``z`` ``[N, D]``."""
    with eval_mode(model):
        return torch.sigmoid(model.decode(z.float())).reshape(len(z), -1).numpy()


@torch.inference_mode()
def browser_pixels(model: VAE, z: torch.Tensor, dtype: str) -> np.ndarray:
    """Pixels ``[N, 784]`` as the browser computes them for latents ``z`` ``[N, D]``: the decoder with its weights
    as ``dtype`` ships them, in float64."""
    rounded = copy.deepcopy(model.decoder).double().eval()
    for module in rounded.modules():
        if isinstance(module, WEIGHTED):
            module.weight.copy_(_encoded(module.weight, dtype)[0].double())
    return torch.sigmoid(rounded(z.double())).reshape(len(z), -1).numpy()


def format_error(model: VAE, z: torch.Tensor, dtype: str, reference: np.ndarray | None = None) -> float:
    """Max abs pixel difference from torch's float32 decoder (``reference``, ``torch_pixels`` when None) of the
    browser's pixels with the weights in ``dtype`` (``z`` ``[N, D]``); ``inf`` where a weight overflows the format
    (saturated pixels could hide it)."""
    weights = [m.weight for m in model.decoder.modules() if isinstance(m, WEIGHTED)]
    if not all(torch.isfinite(_encoded(w, dtype)[0]).all() for w in weights):
        return float("inf")
    reference = torch_pixels(model, z) if reference is None else reference
    error = float(np.abs(browser_pixels(model, z, dtype) - reference).max())
    return error if np.isfinite(error) else float("inf")


def export_decoder(model: VAE, probes: int = PROBE_COUNT, seed: int = 0, dtype: str | None = None) -> WebDecoder:
    """``model``'s decoder as plain numbers (``ValueError`` for a layer the browser cannot run): in the 2-byte
    format with the smaller probe error when that is within ``SPARE_BOUND``, else float32; or in ``dtype``."""
    ops = [_op(module) for module in model.decoder]
    z = probe_latents(model.latent_dim, probes, seed)
    reference = torch_pixels(model, z)
    errors = {name: format_error(model, z, name, reference) for name in COMPACT}
    best = min(COMPACT, key=errors.__getitem__)
    dtype = dtype or (best if errors[best] <= SPARE_BOUND else "float32")
    weights, scales, biases = [], [], []
    at = {"w": 0, "s": 0, "b": 0}
    for op, module in zip(ops, model.decoder, strict=True):
        if isinstance(module, WEIGHTED):
            _, shipped, scale = _encoded(module.weight, dtype)
            bias = module.bias.detach().float().cpu() if module.bias is not None else torch.zeros(op["out"])
            op.update(at)
            weights.append(shipped.ravel())
            scales.append(scale)
            biases.append(bias.numpy().astype("<f4"))
            at = {"w": at["w"] + shipped.size, "s": at["s"] + scale.size, "b": at["b"] + bias.numel()}
    return WebDecoder(
        latent_dim=model.latent_dim,
        dtype=dtype,
        ops=tuple(ops),
        weights=np.concatenate(weights).tobytes(),
        scales=np.concatenate(scales).tobytes(),
        biases=np.concatenate(biases).tobytes(),
        errors=errors,
    )


def pack(header: dict[str, Any], blobs: dict[str, bytes]) -> bytes:
    """One ``bytes`` for the browser: ``MAGIC``, the header's length (uint32, little-endian), the header as JSON
    (finite numbers only) with ``blobs: {name: [offset, length]}`` added, then each blob at a 4-byte boundary."""
    places, at = {}, 0
    for name, blob in blobs.items():
        places[name] = [at, len(blob)]
        at += -(-len(blob) // 4) * 4
    text = json.dumps({**header, "blobs": places}, allow_nan=False, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)  # so the blobs start 4-byte aligned
    body = b"".join(blob + b"\0" * (-len(blob) % 4) for blob in blobs.values())
    return MAGIC + struct.pack("<I", len(text)) + text + body


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``pack``'s inverse (as the browser reads it); ``ValueError`` for anything else."""
    if data[:4] != MAGIC or len(data) < 8:
        raise ValueError("not a packed web model")
    (length,) = struct.unpack("<I", data[4:8])
    header = json.loads(data[8 : 8 + length])
    start = 8 + length
    blobs = {name: data[start + at : start + at + n] for name, (at, n) in header.pop("blobs").items()}
    return header, blobs
