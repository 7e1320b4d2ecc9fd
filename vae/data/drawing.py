"""A drawing or a photo of a digit, prepared the way MNIST was made (LeCun et al. 1998).

The digit's bounding box is scaled to fit a 20x20 box, keeping its aspect ratio, then placed in a
28x28 field so that its centre of mass sits at the centre.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FIELD = 28
BOX = 20
INK_THRESHOLD = 0.1


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` pixels (uint8 or float) -> ink intensities ``[H, W]`` in [0, 1].

    Transparent pixels count as background; a light background (paper) is inverted so ink is bright.
    """
    array = np.asarray(image, dtype=np.float32)
    if array.max(initial=0) > 1.0:
        array = array / 255.0
    if array.ndim == 3:
        gray = array[..., :3].mean(axis=2)
        if array.shape[2] == 4:
            alpha = array[..., 3]
            opaque = gray[alpha > 0.5]
            # Composite onto a backdrop unlike the ink: white behind dark ink, black behind light ink.
            backdrop = 1.0 if opaque.size and np.median(opaque) < 0.5 else 0.0
            gray = gray * alpha + backdrop * (1 - alpha)
        array = gray
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D image or one with colour channels, got shape {np.shape(image)}")
    if np.median(array) > 0.5:  # dark ink on light paper
        array = 1.0 - array
    return np.clip(array, 0.0, 1.0)


def _lanczos(crop: np.ndarray, width: int, height: int) -> np.ndarray:
    """``crop`` ``[h, w]`` uint8 resized to ``[height, width]`` by PIL's Lanczos filter, rows first, then columns, each
    pass rounded to 8 bits: two one-way resizes fix the order, which PIL otherwise picks by the shape."""
    image = Image.fromarray(crop).resize((width, crop.shape[0]), Image.Resampling.LANCZOS)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def mnist_style(image: np.ndarray) -> np.ndarray:
    """Crop the ink, fit it into 20x20, and centre it by mass in 28x28. Returns ``[28, 28]`` float32 in [0, 1].

    Raises ``ValueError`` for an image with no ink. The centre of mass is taken over the 8-bit resized digit in
    integers, so that its ties round alike here and in the browser's port.
    """
    gray = to_grayscale(image)
    rows, cols = np.nonzero(gray > INK_THRESHOLD)
    if rows.size == 0:
        raise ValueError("the image is empty: draw a digit, or upload a picture of one")
    crop = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = BOX / max(crop.shape)
    height, width = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    # Rounded, not truncated: a grey level v comes back from to_grayscale's float32 as v − 1e-5 for some v.
    small = _lanczos(np.round(crop * 255).astype(np.uint8), width, height).astype(np.int64)
    mass = int(small.sum())
    if mass == 0:
        raise ValueError("the image is empty: draw a digit, or upload a picture of one")
    com_r = int((small.sum(axis=1) * np.arange(height)).sum()) / mass
    com_c = int((small.sum(axis=0) * np.arange(width)).sum()) / mass
    top = int(np.clip(round((FIELD - 1) / 2 - com_r), 0, FIELD - height))
    left = int(np.clip(round((FIELD - 1) / 2 - com_c), 0, FIELD - width))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top : top + height, left : left + width] = small / 255.0
    return field


def nearest(query: np.ndarray, points: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` rows of ``points`` ``[N, D]`` closest to ``query`` ``[D]``, nearest first."""
    distances = np.linalg.norm(points - query[None, :], axis=1)
    k = min(k, len(points))
    idx = np.argpartition(distances, k - 1)[:k]
    return idx[np.argsort(distances[idx])]
