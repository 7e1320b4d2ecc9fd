"""Image grids as PNG, and Home's pictures of a run: its walk between class means and its samples from the prior.
Light on purpose (numpy; torch only to draw): reading a stored picture needs no torch.

Home's pictures are drawn here for the app and for ``scripts/build_pretrained.py`` alike, and kept as the run's
``home-DATA`` view (``vae.views``): the shipped runs ship theirs, so a cold server shows Home before torch loads.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vae.views import PNG_SIGNATURE

if TYPE_CHECKING:
    import torch

    from vae.models import VAE

HOME_STEPS = 8  # images per leg of the walk
HOME_SAMPLES = 12
SAMPLE_COLUMNS = 4
HOME_SCALE = 2  # each pixel drawn as 2 × 2: digits of 28 pixels are too small to read on a screen
HOME_SEED = 0


def image_grid(images: np.ndarray | torch.Tensor, ncols: int, pad: int = 1) -> np.ndarray:
    """Tile ``[N, H, W]`` images into one ``[rows*(H+pad)-pad, ncols*(W+pad)-pad]`` array, filling with 1.0 gaps."""
    images = np.asarray(images)
    n, h, w = images.shape
    ncols = max(1, min(ncols, n))
    rows = -(-n // ncols)
    grid = np.ones((rows * (h + pad) - pad, ncols * (w + pad) - pad), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return grid


def to_uint8(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Intensities in [0, 1] -> uint8 for PNG export, white digits on black as in MNIST."""
    return (np.clip(np.asarray(images), 0.0, 1.0) * 255).round().astype(np.uint8)


def png_bytes(grid: np.ndarray) -> bytes:
    """A uint8 image ``[H, W]`` as PNG (lossless: JPEG smears 28-pixel digits)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid).save(buffer, format="PNG")
    return buffer.getvalue()


def scaled_grid(images: np.ndarray | torch.Tensor, ncols: int, scale: int) -> np.ndarray:
    """``[N, 28, 28]`` intensities as one uint8 grid, each pixel a ``scale`` × ``scale`` block (crisp, not blurred)."""
    grid = to_uint8(image_grid(images, ncols))
    return np.kron(grid, np.ones((scale, scale), dtype=np.uint8))


@dataclass(frozen=True)
class HomePictures:
    """Home's pictures of one run on one dataset: PNG bytes, and what the walk goes through."""

    chain_caption: str
    chain_png: bytes | None  # None when a class of the walk has no test image (its mean is undefined)
    samples_png: bytes

    def to_json(self) -> dict[str, str | None]:
        encode = lambda png: base64.b64encode(png).decode("ascii") if png is not None else None
        return {
            "chain_caption": self.chain_caption,
            "chain": encode(self.chain_png),
            "samples": encode(self.samples_png),
        }

    @classmethod
    def from_json(cls, value: dict) -> HomePictures | None:
        """The pictures of a stored view, or None when it is not what ``to_json`` writes (two PNGs and a caption)."""
        try:
            chain = None if value["chain"] is None else base64.b64decode(value["chain"], validate=True)
            samples = base64.b64decode(value["samples"], validate=True)
            caption = value["chain_caption"]
        except (KeyError, TypeError, ValueError):
            return None
        pngs = [samples] + ([chain] if chain is not None else [])
        if not isinstance(caption, str) or len(caption) > 200 or not all(p.startswith(PNG_SIGNATURE) for p in pngs):
            return None
        return cls(caption, chain, samples)


def home_key(data_name: str) -> str:
    """The view that holds Home's pictures of a run on the dataset ``data_name`` (its class means depend on it)."""
    return f"home-{data_name}"


def draw_home(model: VAE, means: np.ndarray, class_names: tuple[str, ...]) -> HomePictures:
    """Home's pictures: the walk through the default chain of class means ``[C, D]``, one row per leg, and
    ``HOME_SAMPLES`` decodings of z ~ N(0, I) from ``HOME_SEED``."""
    import torch

    from vae.analysis import decode_images, default_chain, interpolate_chain, sample_prior

    means = torch.from_numpy(np.asarray(means, dtype=np.float32))
    chain = default_chain(len(class_names))
    arrow = " → ".join(class_names[c] for c in chain)
    caption = f"Walking between mean latents: {arrow}, one row per leg"
    chain_png = None
    if not bool(means[list(chain)].isnan().any()):
        path = interpolate_chain(means, chain, HOME_STEPS).flatten(0, 1)  # one row per leg
        chain_png = png_bytes(scaled_grid(decode_images(model, path), HOME_STEPS, HOME_SCALE))
    samples = sample_prior(model, HOME_SAMPLES, seed=HOME_SEED)
    return HomePictures(caption, chain_png, png_bytes(scaled_grid(samples, SAMPLE_COLUMNS, HOME_SCALE)))
