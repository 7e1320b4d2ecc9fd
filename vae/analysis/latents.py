"""What the pages show: encodings, digit means, interpolation, decoding, sampling and embeddings.

Everything runs without gradients and returns CPU tensors; images are ``[N, 28, 28]`` float in
[0, 1]. Numpy appears only at the edges (``vae.analysis.pictures`` turns images into PNG): the 2-D
embeddings, which come from numpy libraries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from vae.data.datasets import batches, to_float
from vae.model.networks import IMAGE_SHAPE, VAE, eval_mode

ENCODE_BATCH_SIZE = 2000
DEFAULT_CHAIN = (9, 4, 2, 6, 1)
INTERPOLATION_METHODS = ("linear", "spherical")
EMBEDDING_NAMES = {"tsne": "t-SNE", "pca": "PCA"}  # method -> how a page writes it
EMBEDDING_METHODS = tuple(EMBEDDING_NAMES)


def default_chain(n_classes: int) -> tuple[int, ...]:
    """The classes a chain walks through by default: 9 → 4 → 2 → 6 → 1 for ten classes, else every class in turn
    (square → ellipse → heart for shapes)."""
    return DEFAULT_CHAIN if max(DEFAULT_CHAIN) < n_classes else tuple(range(n_classes))


@torch.inference_mode()
def encode_mu(model: VAE, x: torch.Tensor, batch_size: int = ENCODE_BATCH_SIZE) -> torch.Tensor:
    """Posterior means for ``x`` ``[N, 1, 28, 28]`` (uint8 or float). Returns ``[N, D]``."""
    device = next(model.parameters()).device
    with eval_mode(model):
        parts = [model.encode(batch).mu.cpu() for batch in batches(x, batch_size, device)]
    return torch.cat(parts) if parts else torch.empty(0, model.latent_dim)


def digit_means(mu: torch.Tensor, labels: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Mean latent of each class. ``mu`` ``[N, D]``, ``labels`` ``[N]`` -> ``[n_classes, D]``.

    A class with no examples gets NaNs, so a caller cannot mistake it for the origin.
    """
    sums = torch.zeros(n_classes, mu.shape[1], dtype=mu.dtype).index_add_(0, labels, mu)
    counts = torch.bincount(labels, minlength=n_classes).to(mu.dtype).unsqueeze(1)
    return sums / counts


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line from ``a`` to ``b`` (``[D]``) at fractions ``t`` ``[T]``. Returns ``[T, D]``."""
    t = t.to(a.dtype).unsqueeze(1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models). ``[D]``, ``[T]`` -> ``[T, D]``.

    The angle and norm are interpolated separately, so the path stays near the shell of norm
    about sqrt(D) where the prior's mass lies, instead of cutting through the low-norm middle.
    """
    t = t.to(a.dtype).unsqueeze(1)
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a == 0 or norm_b == 0:
        return lerp(a, b, t.squeeze(1))
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = torch.arccos((unit_a @ unit_b).clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # parallel ends: no arc, so fall back (opposite ends, ω ≈ π, are not caught)
        return lerp(a, b, t.squeeze(1))
    sin_omega = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / sin_omega
    return direction * ((1 - t) * norm_a + t * norm_b)


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """``steps`` points from ``a`` to ``b`` inclusive. Returns ``[steps, D]``."""
    if steps < 2:
        raise ValueError("steps must be at least 2 (the two endpoints)")
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATION_METHODS)}; got {method!r}")
    t = torch.linspace(0, 1, steps)
    path = lerp(a, b, t) if method == "linear" else slerp(a, b, t)
    path[0], path[-1] = a, b  # exact endpoints, whatever the float error of the path
    return path


def interpolate_chain(means: torch.Tensor, chain: Sequence[int], steps: int, method: str = "linear") -> torch.Tensor:
    """Walk ``means[chain[0]] -> means[chain[1]] -> ...`` with ``steps`` points per leg, both ends included.

    ``means`` ``[C, D]``. Returns the legs ``[len(chain) - 1, steps, D]``; each leg starts where the
    previous one ended (``chain_path`` joins them into one path).
    """
    if len(chain) < 2:
        raise ValueError("a chain needs at least two classes")
    bad = [c for c in chain if not 0 <= c < len(means)]
    if bad:
        raise ValueError(f"classes {bad} are outside 0..{len(means) - 1}")
    return torch.stack([interpolate(means[a], means[b], steps, method) for a, b in itertools.pairwise(chain)])


def chain_path(legs: torch.Tensor) -> torch.Tensor:
    """The legs ``[L, S, D]`` of ``interpolate_chain`` as one path with shared ends. Returns ``[L * (S - 1) + 1, D]``."""
    return torch.cat([legs[0], legs[1:, 1:].reshape(-1, legs.shape[-1])])


def parse_chain(text: str, n_classes: int = 10) -> list[int]:
    """``"9, 4 2-6 1"`` -> ``[9, 4, 2, 6, 1]``. Raises ``ValueError`` with a readable message."""
    tokens = [tok for tok in text.replace(",", " ").replace("-", " ").replace("→", " ").split() if tok]
    try:
        chain = [int(tok) for tok in tokens]
    except ValueError:
        raise ValueError(f"the chain must be class numbers separated by spaces or commas; got {text!r}") from None
    if len(chain) < 2:
        raise ValueError("the chain needs at least two classes")
    if any(not 0 <= c < n_classes for c in chain):
        raise ValueError(f"classes must be between 0 and {n_classes - 1}")
    return chain


@torch.inference_mode()
def decode_images(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Decode ``z`` ``[N, D]`` to pixel intensities ``[N, 28, 28]`` in [0, 1] (sigmoid of the logits)."""
    device = next(model.parameters()).device
    with eval_mode(model):
        return torch.sigmoid(model.decode(z.to(device, torch.float32))).squeeze(1).cpu()


@torch.inference_mode()
def reconstruct(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Decode the posterior mean of ``x`` ``[N, 1, 28, 28]``. Returns ``[N, 28, 28]``."""
    return decode_images(model, encode_mu(model, x))


def sample_prior(model: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images decoded from z ~ N(0, I), seeded. Returns ``[n, 28, 28]``."""
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return decode_images(model, z)


def manifold_grid(model: VAE, n: int = 15, span: float = 0.95) -> torch.Tensor:
    """For a 2-D latent: decode a grid at normal quantiles in [1 - span, span]. Returns ``[n, n, 28, 28]``.

    Rows run from high z2 at the top to low at the bottom, like a plot's y axis.
    """
    if model.latent_dim != 2:
        raise ValueError("the manifold grid needs a 2-D latent space")
    quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(1 - span, span, n))
    z1, z2 = torch.meshgrid(quantiles, quantiles.flip(0), indexing="xy")
    images = decode_images(model, torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1))
    return images.reshape(n, n, *IMAGE_SHAPE[1:])


def traverse(model: VAE, base: torch.Tensor, dim: int, values: torch.Tensor) -> torch.Tensor:
    """Vary latent ``dim`` of ``base`` ``[D]`` over ``values`` ``[T]``, others fixed. Returns ``[T, 28, 28]``."""
    if not 0 <= dim < model.latent_dim:
        raise ValueError(f"dimension must be in 0..{model.latent_dim - 1}")
    z = base.to(torch.float32).repeat(len(values), 1)
    z[:, dim] = values
    return decode_images(model, z)


def traversal_start(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where a traversal from the test image ``x`` ``[1, 28, 28]`` (uint8 or float) starts: its posterior mean
    ``[D]``, and the image beside its reconstruction from that mean ``[2, 28, 28]``, to show before the traversal."""
    mu = encode_mu(model, x[None])[0]
    return mu, torch.stack([to_float(x).reshape(IMAGE_SHAPE[1:]), decode_images(model, mu[None])[0]])


def pca_fit(mu: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``[D]`` and first principal axes ``[n_components, D]`` of ``mu`` ``[N, D]``, each axis signed so
    that its largest entry is positive (as scikit-learn's PCA does). numpy only: the pages that project latents
    do not wait for scikit-learn to import."""
    mu = np.asarray(mu, dtype=np.float64)
    mean = mu.mean(axis=0)
    _, _, vt = np.linalg.svd(mu - mean, full_matrices=False)
    axes = vt[:n_components]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return mean, axes * signs[:, None]


def pca_project(mu: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``mu`` ``[N, D]`` in the plane of ``pca_fit``'s axes: ``[N, n_components]`` float32."""
    return ((np.asarray(mu, dtype=np.float64) - mean) @ axes.T).astype(np.float32)


def embed_2d(
    mu: np.ndarray, method: str = "tsne", *, perplexity: float = 30.0, seed: int = 0, n_jobs: int = 2
) -> np.ndarray:
    """Project latents ``[N, D]`` to ``[N, 2]``. 2-D input is returned as it is.

    ``tsne`` uses openTSNE's FFT-accelerated gradients with PCA initialisation; ``pca`` is exact.
    """
    mu = np.asarray(mu, dtype=np.float32)
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"method must be one of {', '.join(EMBEDDING_METHODS)}; got {method!r}")
    if mu.shape[1] == 2:
        return mu.copy()
    if method == "pca":
        return pca_project(mu, *pca_fit(mu))
    from openTSNE import TSNE

    # Perplexity must leave room for 3 * perplexity neighbours.
    perplexity = float(min(perplexity, max(2.0, (len(mu) - 1) / 3.0)))
    # 250 iterations after the 250 of early exaggeration, instead of openTSNE's 500, and exact
    # neighbours below 20k points: a fraction of the time, with the same 5-NN label accuracy
    # (bench/embedding_speed.py).
    embedding = TSNE(
        perplexity=perplexity,
        initialization="pca",
        n_iter=250,
        neighbors="exact" if len(mu) <= 20_000 else "auto",
        random_state=seed,
        n_jobs=n_jobs,
        verbose=False,
    ).fit(mu)
    return np.asarray(embedding, dtype=np.float32)


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN label accuracy of a 2-D embedding: how well it keeps the classes apart."""
    from sklearn.neighbors import KNeighborsClassifier

    neighbours = KNeighborsClassifier(n_neighbors=k + 1).fit(points, labels)
    idx = neighbours.kneighbors(points, return_distance=False)[:, 1:]  # drop each point itself
    votes = labels[idx]
    predicted = np.array([np.bincount(row).argmax() for row in votes])
    return float((predicted == labels).mean())


def latent_norms(path: torch.Tensor) -> np.ndarray:
    """Euclidean norm of each point of a latent path ``[..., D]``. Returns ``[...]``."""
    return path.norm(dim=-1).numpy()


def decode_grid(model: VAE, x_range: tuple[float, float], y_range: tuple[float, float], n: int) -> torch.Tensor:
    """For a 2-D latent: decode an evenly spaced ``n`` x ``n`` grid over the rectangle, as a plot shows
    it (rows from high z2 at the top to low at the bottom). Returns ``[n, n, 28, 28]``."""
    if model.latent_dim != 2:
        raise ValueError("the grid needs a 2-D latent space")
    if n < 1:
        raise ValueError("the grid needs at least one point per side")
    z1 = torch.linspace(x_range[0], x_range[1], n)
    z2 = torch.linspace(y_range[1], y_range[0], n)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    images = decode_images(model, torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1))
    return images.reshape(n, n, *IMAGE_SHAPE[1:])


def start_point(
    kind: str,
    latent_dim: int,
    *,
    means: torch.Tensor | None = None,
    digit: int = 0,
    mu: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """A starting latent ``[D]`` for the explorer: ``origin``, a digit's ``mean`` (``means`` ``[C, D]``),
    a test image's ``mu`` (``[D]``) or a ``prior`` draw with ``seed``."""
    if kind == "origin":
        return torch.zeros(latent_dim)
    if kind == "mean":
        if means is None or not 0 <= digit < len(means):
            raise ValueError(f"no mean latent for class {digit}")
        return means[digit].float()
    if kind == "mu":
        if mu is None:
            raise ValueError("a test image's μ is needed")
        return mu.float()
    if kind == "prior":
        return torch.randn(latent_dim, generator=torch.Generator().manual_seed(seed))
    raise ValueError(f"start must be origin, mean, mu or prior; got {kind!r}")
