"""The shapes dataset and the disentanglement metrics, on constructed codes whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vae.analysis import disentanglement as dis
from vae.data.datasets import load_dataset, shapes

SIZES = np.array(shapes.FACTOR_SIZES)


def perfect(factors: torch.Tensor) -> np.ndarray:
    """One latent per factor, each a scaled copy of its factor: perfectly disentangled ``[B, 5]``."""
    return factors.numpy() / SIZES


def rotated(factors: torch.Tensor) -> np.ndarray:
    """The perfect codes under a fixed random rotation: the same information, spread over every latent."""
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]
    return perfect(factors) @ rotation


def blind_to_shape(factors: torch.Tensor) -> np.ndarray:
    """The perfect codes with shape's latent replaced by noise: no latent knows the shape."""
    codes = perfect(factors)
    codes[:, 0] = np.random.default_rng(1).normal(size=len(codes))
    return codes


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_factor_combination_draws_a_distinct_image_in_frame() -> None:
    assert shapes.N_IMAGES == 3 * 6 * 40 * 16 * 16
    factors = shapes.all_factors()
    images = shapes.render(factors)[:, 0]  # [N, 28, 28]
    assert images.dtype == torch.uint8 and images.shape == (shapes.N_IMAGES, 28, 28)
    # Anti-aliased: partial coverage exists; every image holds a shape.
    assert bool(((images > 0) & (images < 255)).any()) and bool((images.flatten(1).amax(1) == 255).all())
    # A shape moved by one position is the same picture one pixel over (integer shifts).
    step_x = factors[:, 3] < shapes.N_POSITIONS - 1
    moved = factors[step_x].clone()
    moved[:, 3] += 1
    assert torch.equal(shapes.render(moved)[:, 0, :, 1:], images[step_x][:, :, :-1])
    # Distinct combinations give distinct images, except where a shape's symmetry makes two orientations one:
    # a square turned by 90°, an ellipse by 180°. Scale, position and (for a heart) orientation always show.
    heart = factors[:, 0] == 2
    flat = images[heart].flatten(1)
    assert len(torch.unique(flat, dim=0)) == int(heart.sum())


def test_render_is_deterministic_and_refuses_bad_indices() -> None:
    factors = shapes.sample_factors(32, seeded())
    assert torch.equal(shapes.render(factors), shapes.render(factors.clone()))
    with pytest.raises(ValueError, match="below"):
        shapes.render(torch.tensor([[3, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"\[B, 5\]"):
        shapes.render(torch.zeros(4, 3, dtype=torch.int64))


def test_the_dataset_splits_once_with_its_factors_and_shape_labels() -> None:
    data = load_dataset("shapes")
    assert data.name == "shapes" and data.class_names == shapes.SHAPE_NAMES
    assert len(data.train_x) + len(data.test_x) == shapes.N_IMAGES
    assert len(data.test_x) == round(shapes.N_IMAGES * shapes.TEST_FRACTION)
    assert torch.equal(data.test_y, data.test_factors[:, 0])
    assert torch.equal(data.test_x[:50], shapes.render(data.test_factors[:50]))
    seen = {tuple(f) for f in data.test_factors[:2000].tolist()}
    assert not seen & {tuple(f) for f in data.train_factors.tolist()}  # no image is in both splits


def test_mig_of_perfect_rotated_and_blind_codes() -> None:
    best = dis.mig(perfect, seeded())
    # 1 for every factor but orientation, whose 40 values share 20 bins: its gap is H(v) − log 2 over H(v).
    assert best.per_factor[0] == pytest.approx(1.0, abs=0.02)
    assert best.per_factor[2] == pytest.approx(1 - np.log(2) / np.log(40), abs=0.02)
    assert best.score > 0.9
    assert dis.mig(rotated, seeded()).score < best.score - 0.4
    blind = dis.mig(blind_to_shape, seeded())
    assert blind.per_factor[0] < 0.01  # no latent captures shape
    assert blind.per_factor[1:] == pytest.approx(best.per_factor[1:], abs=0.01)


def test_mig_matches_the_reference_mutual_information() -> None:
    from sklearn.metrics import mutual_info_score  # what disentanglement_lib calls

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 7, 500), rng.integers(0, 4, 500)
    b[:250] = a[:250] % 4
    assert dis.mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-12)


def test_factor_vae_score_of_perfect_rotated_and_dead_codes() -> None:
    assert dis.factor_vae_score(perfect, seeded(), n_train=500, n_eval=300).score == 1.0
    assert dis.factor_vae_score(rotated, seeded(), n_train=500, n_eval=300).score < 0.9

    def with_dead_latent(factors: torch.Tensor) -> np.ndarray:
        return np.c_[perfect(factors), np.full(len(factors), 0.3)]  # a constant: pruned, never votes

    scored = dis.factor_vae_score(with_dead_latent, seeded(), n_train=500, n_eval=300)
    assert scored.score == 1.0 and scored.active == (0, 1, 2, 3, 4)
    assert dis.factor_vae_score(lambda f: np.zeros((len(f), 3)), seeded()).score == 0.0


def test_dci_of_constructed_importances() -> None:
    assert dis.dci_from_importance(np.eye(5)) == pytest.approx(1.0)
    assert dis.dci_from_importance(np.ones((5, 5))) == pytest.approx(0.0, abs=1e-9)
    assert dis.dci_from_importance(np.zeros((5, 5))) == 0.0


# The SHA-256 of every stamp the shipped shapes runs were trained and scored on: a change to the drawing (a
# rounding, a float type, a shape's outline) must be a deliberate one that rebuilds them.
STAMPS_SHA256 = "1f14a287032eb6254247a5756d1b34f52eaddae4e6bc4697292230dc529d1f88"


def test_the_drawing_is_the_one_the_shipped_runs_learned() -> None:
    import hashlib

    assert hashlib.sha256(shapes.stamps().numpy().tobytes()).hexdigest() == STAMPS_SHA256


def test_no_test_image_has_a_pixel_identical_training_image() -> None:
    """Squares repeat every 90° and ellipses every 180°: a split of factor combinations put 63% of the test images
    in the training set too. The split keeps each class of identical images on one side."""
    train, test = shapes.split()
    assert len(train) + len(test) == shapes.N_IMAGES
    assert abs(len(test) / shapes.N_IMAGES - shapes.TEST_FRACTION) < 0.001

    def distinct(factors: torch.Tensor) -> set[bytes]:
        pixels = shapes.render(factors).reshape(len(factors), -1).numpy()
        return {row.tobytes() for row in pixels}

    assert not distinct(train) & distinct(test)
    # Every shape, scale, orientation and position is still tested.
    for column, size in enumerate(shapes.FACTOR_SIZES):
        assert len(test[:, column].unique()) == size


def test_image_classes_join_exactly_the_identical_images() -> None:
    square_0, square_90 = [0, 5, 0, 7, 7], [0, 5, 10, 7, 7]  # orientation 10 of 40 is a quarter turn
    heart_0, heart_90 = [2, 5, 0, 7, 7], [2, 5, 10, 7, 7]
    classes = shapes.image_classes(torch.tensor([square_0, square_90, heart_0, heart_90]))
    assert classes[0] == classes[1] and len(set(classes.tolist())) == 3
