"""Image grids as PNG, and Home's pictures of a run: its walk between class means and its samples from the prior.
Light on purpose (numpy; torch only to draw): reading a stored picture needs no torch.

Home's pictures are drawn here for the app and for ``scripts/build_pretrained.py`` alike, and kept as the run's
``home-DATA`` view (``vae.runfile.views``): the shipped runs ship theirs, so a cold server shows Home before torch
loads.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vae.runfile.views import PNG_SIGNATURE

if TYPE_CHECKING:
    import torch

    from vae.model.networks import VAE

HOME_STEPS = 8  # images per leg of the walk
HOME_SAMPLES = 12
SAMPLE_COLUMNS = 4
HOME_SCALE = 2  # each pixel drawn as 2 × 2: digits of 28 pixels are too small to read on a screen
HOME_SEED = 0
ROW_GAP = 3  # white pixels between two labelled rows (1 between tiles), so each row reads as one unit
LABEL_MARGIN = 3  # white pixels either side of a row's label
GLYPH_HEIGHT = 11  # Pillow's built-in bitmap font: 6 pixels a character, 11 high
# "→" as ink: the bitmap font is Latin-1 only, and a font file would make the picture depend on the machine.
ARROW = np.array(
    [
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [1, 1, 1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 1, 0, 0],
    ],
    dtype=bool,
)


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


def text_ink(text: str) -> np.ndarray:
    """``text`` as ink ``[GLYPH_HEIGHT, W]`` bool, in Pillow's built-in bitmap font: crisp at any scale, and the
    same on every machine. "→" is drawn from ``ARROW``; any other character outside Latin-1 becomes "?"."""
    from PIL import Image, ImageDraw, ImageFont

    # Pillow 10.0 has no load_default_imagefont; its load_default is that bitmap font.
    font = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()
    arrow = np.zeros((GLYPH_HEIGHT, ARROW.shape[1] + 4), dtype=bool)  # 2 pixels either side, not a 6-pixel space
    arrow[4 : 4 + len(ARROW), 2 : 2 + ARROW.shape[1]] = ARROW  # centred on the digits' middle row
    pieces = text.split("→")
    parts = []
    for i, piece in enumerate(pieces):
        if i:
            parts.append(arrow)
        piece = piece.lstrip() if i else piece
        piece = piece.rstrip() if i < len(pieces) - 1 else piece
        piece = piece.encode("latin-1", "replace").decode("latin-1")
        width = int(font.getlength(piece))
        if width:
            image = Image.new("L", (width, GLYPH_HEIGHT), 0)
            ImageDraw.Draw(image).text((0, 0), piece, fill=255, font=font)
            parts.append(np.asarray(image) > 127)
    return np.concatenate(parts, axis=1) if parts else np.zeros((GLYPH_HEIGHT, 0), dtype=bool)


def labelled_rows(rows: Sequence[np.ndarray | torch.Tensor], labels: Sequence[str], scale: int) -> np.ndarray:
    """Rows of ``[N_r, H, W]`` intensities, each led by its label in dark ink on white, as one uint8 picture whose
    pixels are ``scale`` × ``scale`` blocks (nearest neighbour: crisp on a projector). Rows sit ``ROW_GAP`` apart,
    tiles 1 apart. Returns ``[scale * (R * (H + ROW_GAP) - ROW_GAP), scale * (label + max_r N_r * (W + 1) - 1)]``."""
    if len(rows) != len(labels) or not len(rows):
        raise ValueError(f"one label a row: {len(rows)} rows, {len(labels)} labels")
    strips = [image_grid(row, len(row)) for row in rows]  # each [H, N_r * (W + 1) - 1]
    h = strips[0].shape[0]
    inks = [text_ink(label)[:h] for label in labels]  # a tile lower than the font would crop it
    inked = max(ink.shape[1] for ink in inks)
    left = inked + 2 * LABEL_MARGIN if inked else 0
    picture = np.ones((len(rows) * (h + ROW_GAP) - ROW_GAP, left + max(s.shape[1] for s in strips)), np.float32)
    for r, (ink, strip) in enumerate(zip(inks, strips, strict=True)):
        top = r * (h + ROW_GAP)
        label = picture[top + (h - len(ink)) // 2 :, LABEL_MARGIN:][: len(ink), : ink.shape[1]]
        label[ink] = 0.0
        picture[top : top + h, left : left + strip.shape[1]] = strip
    return np.kron(to_uint8(picture), np.ones((scale, scale), dtype=np.uint8))


def chain_grid(legs: np.ndarray | torch.Tensor, names: Sequence[str], scale: int) -> np.ndarray:
    """The decoded legs ``[L, S, H, W]`` of a walk through the classes ``names`` (``L + 1`` of them) as one uint8
    picture: one leg a row, labelled "a → b", so a room reads the walk leg by leg (``labelled_rows``)."""
    if len(names) != len(legs) + 1:
        raise ValueError(f"{len(legs)} legs join {len(legs) + 1} classes, not {len(names)}")
    return labelled_rows(list(legs), [f"{a} → {b}" for a, b in itertools.pairwise(names)], scale)


def traversal_grid(
    rows: np.ndarray | torch.Tensor,
    dims: Sequence[int],
    scale: int,
    start: np.ndarray | torch.Tensor | None = None,
    start_label: str = "",
) -> np.ndarray:
    """Latent traversals ``[R, T, H, W]`` as one uint8 picture, row r labelled "z{dims[r]}". With ``start``
    ``[K, H, W]`` (the test image the traversal starts from, then its reconstruction), that comes first as its
    own row labelled ``start_label``: it is the image whose other latents every row holds fixed."""
    if len(rows) != len(dims):
        raise ValueError(f"one latent a row: {len(rows)} rows, {len(dims)} latents")
    shown, labels = list(rows), [f"z{dim}" for dim in dims]
    if start is not None:
        shown, labels = [start, *shown], [start_label, *labels]
    return labelled_rows(shown, labels, scale)


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


# Part of the view's key: a change to how Home's pictures are drawn gets a new one, so that pictures stored by the
# older drawing (users' runs too) are drawn anew. 2: the chain strip with one labelled row per leg (#40).
HOME_DRAWING = 2


def home_key(data_name: str) -> str:
    """The view that holds Home's pictures of a run on the dataset ``data_name`` (its class means depend on it)."""
    return f"home{HOME_DRAWING}-{data_name}"


def draw_home(model: VAE, means: np.ndarray, class_names: tuple[str, ...]) -> HomePictures:
    """Home's pictures: the walk through the default chain of class means ``[C, D]``, one row per leg, and
    ``HOME_SAMPLES`` decodings of z ~ N(0, I) from ``HOME_SEED``."""
    import torch

    from vae.analysis.latents import decode_images, default_chain, interpolate_chain, sample_prior

    means = torch.from_numpy(np.asarray(means, dtype=np.float32))
    chain = default_chain(len(class_names))
    names = [class_names[c] for c in chain]
    caption = f"Walking between mean latents: {' → '.join(names)}, one row per leg"
    chain_png = None
    if not bool(means[list(chain)].isnan().any()):
        legs = interpolate_chain(means, chain, HOME_STEPS)  # [L, HOME_STEPS, D]
        images = decode_images(model, legs.flatten(0, 1)).unflatten(0, legs.shape[:2])  # [L, HOME_STEPS, 28, 28]
        chain_png = png_bytes(chain_grid(images, names, HOME_SCALE))  # the Interpolation page's strip, as drawn there
    samples = sample_prior(model, HOME_SAMPLES, seed=HOME_SEED)
    return HomePictures(caption, chain_png, png_bytes(scaled_grid(samples, SAMPLE_COLUMNS, HOME_SCALE)))
