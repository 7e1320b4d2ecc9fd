import math

import numpy as np
import pytest
import torch

from vae.analysis.latents import (
    chain_path,
    decode_images,
    digit_means,
    embed_2d,
    encode_mu,
    interpolate,
    interpolate_chain,
    knn_accuracy,
    manifold_grid,
    parse_chain,
    sample_prior,
    slerp,
    traverse,
)
from vae.analysis.pictures import image_grid
from vae.model.config import VAEConfig
from vae.training.runs import prepare


@pytest.fixture(scope="module")
def model2d(small_data):
    _, model, _ = prepare(VAEConfig(latent_dim=2), small_data)
    return model


def test_digit_means_average_each_class():
    mu = torch.tensor([[0.0, 0.0], [2.0, 2.0], [10.0, -10.0]])
    means = digit_means(mu, torch.tensor([0, 0, 2]), n_classes=3)
    assert means[0].tolist() == [1.0, 1.0] and means[2].tolist() == [10.0, -10.0]
    assert torch.isnan(means[1]).all()  # an absent class is NaN, never the origin


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_both_methods_hit_their_endpoints_exactly(method):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, generator=g), torch.randn(8, generator=g)
    path = interpolate(a, b, 7, method)
    assert path.shape == (7, 8) and torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_keeps_the_norm_between_equal_norm_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    b = b / b.norm() * a.norm()
    norms = slerp(a, b, torch.linspace(0, 1, 11)).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, a.norm().item()), rtol=1e-5)
    # lerp cuts through the middle, slerp does not
    assert interpolate(a, b, 11, "linear").norm(dim=1)[5] < norms[5] - 1e-3


def test_chain_shares_the_ends_of_its_legs():
    means = torch.arange(10, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    legs = interpolate_chain(means, [9, 4, 2, 6, 1], steps=5)
    assert legs.shape == (4, 5, 3)
    assert torch.equal(legs[1:, 0], legs[:-1, -1]), "each leg starts where the last one ended"
    path = chain_path(legs)
    assert path.shape == (4 * 4 + 1, 3)
    assert path[:, 0].tolist()[::4] == [9, 4, 2, 6, 1]
    with pytest.raises(ValueError, match="outside"):
        interpolate_chain(means, [9, 12], 3)


@pytest.mark.parametrize(
    ("text", "expected"), [("9, 4, 2, 6, 1", [9, 4, 2, 6, 1]), ("3 8", [3, 8]), ("1→7-0", [1, 7, 0])]
)
def test_parse_chain(text, expected):
    assert parse_chain(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1, x", "1, 10"])
def test_parse_chain_refuses_bad_input(text):
    with pytest.raises(ValueError):
        parse_chain(text)


def test_decoding_helpers_shapes(model2d, small_data):
    mu = encode_mu(model2d, small_data.test_x[:50])
    assert mu.shape == (50, 2)
    images = decode_images(model2d, mu)
    assert images.shape == (50, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert np.array_equal(sample_prior(model2d, 6, seed=3), sample_prior(model2d, 6, seed=3))
    assert manifold_grid(model2d, n=4).shape == (4, 4, 28, 28)
    assert traverse(model2d, torch.zeros(2), 1, torch.linspace(-2, 2, 5)).shape == (5, 28, 28)


def test_image_grid_layout():
    images = np.zeros((5, 28, 28), dtype=np.float32)
    grid = image_grid(images, ncols=3, pad=2)
    assert grid.shape == (2 * 30 - 2, 3 * 30 - 2)
    assert grid[28:30].min() == 1.0  # the gap row


def test_embeddings_separate_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 10)) * 10
    labels = np.repeat(np.arange(3), 60)
    points = centres[labels] + rng.normal(size=(180, 10))
    for method in ("pca", "tsne"):
        emb = embed_2d(points, method, perplexity=30, seed=0)
        assert emb.shape == (180, 2) and np.isfinite(emb).all()
        assert knn_accuracy(emb, labels) > 0.95
    assert math.isclose(knn_accuracy(np.zeros((2, 2)) + np.arange(2)[:, None], np.array([0, 1]), k=1), 0.0)


def test_pca_is_scikit_learns_without_importing_it():
    """The pages' PCA (numpy) gives scikit-learn's axes, signs included, and the same plane."""
    from sklearn.decomposition import PCA

    from vae.analysis.latents import pca_fit, pca_project

    x = (np.random.default_rng(0).normal(size=(500, 6)) * np.arange(1, 7)).astype(np.float32)
    reference = PCA(n_components=2).fit(x)
    mean, axes = pca_fit(x)
    assert np.allclose(axes, reference.components_, atol=1e-6)
    assert np.allclose(pca_project(x, mean, axes), reference.transform(x), atol=1e-4)
