"""``shapes``: a dSprites-style dataset whose true factors are known, drawn here, with no download.

dSprites (Matthey et al. 2017) draws a white shape on black for every combination of five factors. This one
keeps dSprites' factors and their counts but draws at the lab's 28 x 28, where positions stay distinct only
one pixel apart: 16 of them in x and in y rather than 32.

| factor | values |
|---|---|
| shape | 3: square, ellipse, heart |
| scale | 6, from 0.5 to 1 |
| orientation | 40, over 2π |
| position x | 16 |
| position y | 16 |

An image is a pure function of its factor indices. The 720 shape × scale × orientation stamps are drawn once,
anti-aliased by 8 × 8 supersampling, and a position only moves a stamp by whole pixels, so a batch for any factor
values costs one gather (``render``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from vae.data.facts import IMAGE_SIZE, dataset_facts

SHAPES_FACTS = dataset_facts("shapes")
SHAPE_NAMES = SHAPES_FACTS.class_names
_COUNTS = dict(SHAPES_FACTS.factors)  # the factors' names and counts live in vae.data.facts; their values here
N_SCALES = _COUNTS["scale"]
N_ORIENTATIONS = _COUNTS["orientation"]
N_POSITIONS = _COUNTS["position x"]
SIDE = IMAGE_SIZE[0]
CENTRE = SIDE // 2  # a stamp's centre, on a pixel corner
FIRST_CENTRE = 6  # position 0's centre; the last is FIRST_CENTRE + N_POSITIONS - 1 = 21
RADIUS = 6.0  # px: the farthest a shape at scale 1 reaches from its centre, so every position stays in frame
SUPERSAMPLING = 8
SPLIT_SEED = 2017
TEST_FRACTION = 0.1


@dataclass(frozen=True)
class Factor:
    """One generative factor: its name and its values' names (index i means value i)."""

    name: str
    values: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.values)


_VALUES = {
    "shape": SHAPE_NAMES,
    "scale": tuple(f"{s:.1f}" for s in np.linspace(0.5, 1.0, N_SCALES)),
    "orientation": tuple(f"{360 * i / N_ORIENTATIONS:g}°" for i in range(N_ORIENTATIONS)),
    "position x": tuple(str(i) for i in range(N_POSITIONS)),
    "position y": tuple(str(i) for i in range(_COUNTS["position y"])),
}
FACTORS = tuple(Factor(name, _VALUES[name]) for name, _ in SHAPES_FACTS.factors)
FACTOR_SIZES = tuple(f.size for f in FACTORS)
N_IMAGES = math.prod(FACTOR_SIZES)  # 184,320


def _inside(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether the points (x, y), in units of the shape's reach (at most 1 from its centre), are inside it."""
    if shape == "square":
        half = 1 / math.sqrt(2)  # its corners reach 1
        return (np.abs(x) <= half) & (np.abs(y) <= half)
    if shape == "ellipse":
        return x**2 + (y / 0.5) ** 2 <= 1
    # The classic heart curve, (u² + v² − 1)³ ≤ u² v³, spans u in ±1.14 and v in [−1, 1.24]; no point of it is
    # more than 1.25 from (0, 0.25), so that is its centre and its reach. Tip down: image rows grow downward.
    u, v = x * 1.25, -y * 1.25 + 0.25
    return (u**2 + v**2 - 1) ** 3 <= u**2 * v**3


@lru_cache(maxsize=1)
def stamps() -> torch.Tensor:
    """Every shape × scale × orientation, centred on a ``SIDE`` canvas: uint8 ``[3, 6, 40, 28, 28]``."""
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING
    grid = (np.arange(SIDE)[:, None] + offsets).reshape(-1) - CENTRE  # sample coordinates, px (float64: see below)
    ys, xs = np.meshgrid(grid, grid, indexing="ij")  # [28*8, 28*8]
    reach = (RADIUS * np.linspace(0.5, 1.0, N_SCALES))[:, None, None]  # [6, 1, 1]
    out = np.empty((len(SHAPE_NAMES), N_SCALES, N_ORIENTATIONS, SIDE, SIDE), dtype=np.uint8)
    for o in range(N_ORIENTATIONS):
        angle = 2 * math.pi * o / N_ORIENTATIONS
        # Rotate the sample points the other way, which turns the shape by +angle; every scale at once.
        rx = (math.cos(angle) * xs + math.sin(angle) * ys) / reach  # [6, 224, 224]
        ry = (-math.sin(angle) * xs + math.cos(angle) * ys) / reach
        for s, shape in enumerate(SHAPE_NAMES):
            covered = _inside(shape, rx, ry).reshape(N_SCALES, SIDE, SUPERSAMPLING, SIDE, SUPERSAMPLING)
            # Samples fall exactly on a square's edges, so float32 would move pixels: the shipped runs were
            # trained on these float64 images, and a test holds the drawing to them.
            out[s, :, o] = np.rint(covered.mean(axis=(2, 4)) * 255)
    return torch.from_numpy(out)


@lru_cache(maxsize=1)
def _padded() -> torch.Tensor:
    """``stamps()`` flattened to ``[720, 28 + 2m, 28 + 2m]``, padded by the largest shift m."""
    m = _max_shift()
    return torch.nn.functional.pad(stamps().reshape(-1, SIDE, SIDE), (m, m, m, m))


def _max_shift() -> int:
    return max(CENTRE - FIRST_CENTRE, FIRST_CENTRE + N_POSITIONS - 1 - CENTRE)


def render(factors: torch.Tensor) -> torch.Tensor:
    """Images for factor indices ``[B, 5]`` (shape, scale, orientation, x, y): uint8 ``[B, 1, 28, 28]``."""
    factors = torch.as_tensor(factors, dtype=torch.int64)
    if factors.ndim != 2 or factors.shape[1] != len(FACTORS):
        raise ValueError(f"factors must be [B, {len(FACTORS)}]; got {tuple(factors.shape)}")
    high = torch.tensor(FACTOR_SIZES)
    if factors.numel() and (bool((factors < 0).any()) or bool((factors >= high).any())):
        raise ValueError(f"factor indices must be below {FACTOR_SIZES}")
    stamp = (factors[:, 0] * N_SCALES + factors[:, 1]) * N_ORIENTATIONS + factors[:, 2]
    m = _max_shift()
    # A stamp moved by (dx, dy) is the padded stamp read from (m - dy, m - dx).
    top = m - (FIRST_CENTRE + factors[:, 4] - CENTRE)
    left = m - (FIRST_CENTRE + factors[:, 3] - CENTRE)
    span = torch.arange(SIDE)
    rows = (top[:, None] + span)[:, :, None]  # [B, 28, 1]
    cols = (left[:, None] + span)[:, None, :]  # [B, 1, 28]
    return _padded()[stamp[:, None, None], rows, cols].unsqueeze(1)


def all_factors() -> torch.Tensor:
    """Every combination of factor indices, in mixed-radix order (the last factor fastest): ``[N_IMAGES, 5]``."""
    axes = [torch.arange(n) for n in FACTOR_SIZES]
    return torch.cartesian_prod(*axes)


def sample_factors(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` combinations of factor indices drawn uniformly and independently: ``[n, 5]`` int64."""
    return torch.stack([torch.randint(0, size, (n,), generator=generator) for size in FACTOR_SIZES], dim=1)


def image_classes(factors: torch.Tensor) -> torch.Tensor:
    """For factor indices ``[N, 5]``, the index ``[N]`` int64 of each one's image among the distinct images they
    render, numbered in byte order: equal indices, pixel-identical images."""
    pixels = np.ascontiguousarray(render(factors).reshape(len(factors), -1).numpy())
    keys = pixels.view(np.dtype((np.void, pixels.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64))


@lru_cache(maxsize=1)
def split() -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed seeded split of all combinations: (train factors ``[N - T, 5]``, test factors ``[T, 5]``).

    Whole classes of pixel-identical images fall on one side: a square turned by 90° or an ellipse by 180° draws
    the same pixels, and a split of combinations put 63% of the test images in the training set too. The classes
    are shuffled with ``SPLIT_SEED`` and taken for test until they hold ``TEST_FRACTION`` of the images.
    """
    factors = all_factors()
    classes = image_classes(factors)
    n_classes = int(classes.max()) + 1
    sizes = torch.bincount(classes, minlength=n_classes)
    order = torch.randperm(n_classes, generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test_classes = int(torch.searchsorted(sizes[order].cumsum(0), round(N_IMAGES * TEST_FRACTION))) + 1
    in_test = torch.zeros(n_classes, dtype=torch.bool)
    in_test[order[:n_test_classes]] = True
    test = in_test[classes]
    return factors[~test], factors[test]
