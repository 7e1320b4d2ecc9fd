"""Pictures for a projector (issue #40): the chain strip reads one labelled leg a row, on the Interpolation page and on
Home alike, and a traversal from a test image shows that image (and its reconstruction) before its rows."""

from __future__ import annotations

import io

import numpy as np
import pytest
import streamlit
import torch
from PIL import Image

from tests.conftest import open_page
from vae.analysis.latents import decode_images, encode_mu, traversal_start
from vae.analysis.pictures import (
    HOME_SCALE,
    HOME_STEPS,
    ROW_GAP,
    chain_grid,
    draw_home,
    labelled_rows,
    to_uint8,
    traversal_grid,
)
from vae.data.datasets import to_float
from vae.model.config import VAEConfig
from vae.model.networks import build_model

TILE = 28


def _tile(picture: np.ndarray, row: int, col: int, left: int, scale: int) -> np.ndarray:
    """The uint8 tile at (``row``, ``col``) of a ``labelled_rows`` picture whose tiles begin ``left`` pixels in."""
    top, x = row * (TILE + ROW_GAP) * scale, left + col * (TILE + 1) * scale
    return picture[top : top + TILE * scale, x : x + TILE * scale]


def _left(picture: np.ndarray, columns: int, scale: int) -> int:
    """Where the tiles begin: the label column's width, from the picture's width and its widest row's tiles."""
    return picture.shape[1] - (columns * (TILE + 1) - 1) * scale


def _scaled(image: np.ndarray | torch.Tensor, scale: int) -> np.ndarray:
    return np.kron(to_uint8(image), np.ones((scale, scale), dtype=np.uint8))


def _label_has_ink(picture: np.ndarray, row: int, left: int, scale: int) -> bool:
    top = row * (TILE + ROW_GAP) * scale
    return bool((picture[top : top + TILE * scale, :left] < 128).any())


@pytest.mark.parametrize("scale", [1, 3])
def test_the_chain_grid_is_one_labelled_row_per_leg(scale):
    legs, steps = 4, 8
    images = torch.linspace(0.05, 0.95, legs * steps).reshape(legs, steps, 1, 1).expand(-1, -1, TILE, TILE)
    picture = chain_grid(images, ["9", "4", "2", "6", "1"], scale)
    assert picture.dtype == np.uint8
    assert picture.shape[0] == scale * (legs * (TILE + ROW_GAP) - ROW_GAP)  # one row per leg, never wrapped
    left = _left(picture, steps, scale)
    assert left > 0
    for leg in range(legs):
        assert _label_has_ink(picture, leg, left, scale), f"leg {leg} has no label"
        for step in range(steps):
            assert np.array_equal(_tile(picture, leg, step, left, scale), _scaled(images[leg, step], scale))
    assert len(np.unique(_tile(picture, 0, 0, left, scale))) == 1  # nearest neighbour: each pixel one flat block
    with pytest.raises(ValueError):
        chain_grid(images, ["9", "4"], scale)  # four legs join five classes


def test_a_leg_label_names_its_two_classes():
    one = torch.zeros(1, 2, TILE, TILE)
    width = lambda names: _left(chain_grid(one, names, 1), 2, 1)
    assert width(["Pullover", "Sneaker"]) > width(["9", "4"])  # the names themselves are drawn, not a number


def test_labelled_rows_of_unequal_length_keep_each_row_to_its_own_tiles():
    rows = [torch.full((2, TILE, TILE), 0.5), torch.zeros(5, TILE, TILE)]
    picture = labelled_rows(rows, ["a", "b"], 1)
    left = _left(picture, 5, 1)
    assert np.array_equal(_tile(picture, 0, 1, left, 1), _scaled(rows[0][1], 1))
    assert (_tile(picture, 0, 2, left, 1) == 255).all()  # past the short row: background, not a stale tile


def test_homes_chain_picture_is_the_same_one_labelled_leg_a_row():
    model = build_model(VAEConfig(latent_dim=3, seed=0))
    means = torch.randn(10, 3, generator=torch.Generator().manual_seed(0)).numpy()
    pictures = draw_home(model, means, tuple(str(c) for c in range(10)))
    assert pictures.chain_caption.startswith("Walking between mean latents: 9 → 4 → 2 → 6 → 1")
    picture = np.asarray(Image.open(io.BytesIO(pictures.chain_png)))
    assert picture.shape[0] == HOME_SCALE * (4 * (TILE + ROW_GAP) - ROW_GAP)
    left = _left(picture, HOME_STEPS, HOME_SCALE)
    first = decode_images(model, torch.from_numpy(means[[9]]))[0]
    assert np.array_equal(_tile(picture, 0, 0, left, HOME_SCALE), _scaled(first, HOME_SCALE))
    assert all(_label_has_ink(picture, leg, left, HOME_SCALE) for leg in range(4))


def test_a_traversal_from_a_test_image_shows_that_image_and_its_reconstruction_first(small_data):
    model = build_model(VAEConfig(latent_dim=4, seed=0))
    x = small_data.test_x[7]  # [1, 28, 28] uint8
    mu, start = traversal_start(model, x)
    assert torch.equal(mu, encode_mu(model, x[None])[0])
    assert torch.equal(start[0], to_float(x)[0]) and torch.equal(start[1], decode_images(model, mu[None])[0])

    rows = torch.rand(3, 11, TILE, TILE, generator=torch.Generator().manual_seed(0))
    scale = 3
    picture = traversal_grid(rows, [2, 0, 1], scale, start=start, start_label="test 7")
    assert picture.shape[0] == scale * (4 * (TILE + ROW_GAP) - ROW_GAP)  # the image's row, then one per latent
    left = _left(picture, 11, scale)
    assert np.array_equal(_tile(picture, 0, 0, left, scale), _scaled(to_float(x)[0], scale))  # the image itself
    assert np.array_equal(_tile(picture, 0, 1, left, scale), _scaled(start[1], scale))
    assert np.array_equal(_tile(picture, 1, 0, left, scale), _scaled(rows[0, 0], scale))
    assert all(_label_has_ink(picture, r, left, scale) for r in range(4))
    without = traversal_grid(rows, [2, 0, 1], scale)
    assert without.shape[0] == scale * (3 * (TILE + ROW_GAP) - ROW_GAP)


def _spy_images(monkeypatch) -> list[tuple[np.ndarray, str | None]]:
    """Every picture a page hands ``st.image``, with its caption, as it draws them."""
    shown: list[tuple[np.ndarray, str | None]] = []
    original = streamlit.image

    def image(picture, caption=None, *args, **kwargs):
        shown.append((np.asarray(picture), caption))
        return original(picture, caption, *args, **kwargs)

    monkeypatch.setattr(streamlit, "image", image)
    return shown


def test_the_interpolation_page_draws_one_labelled_leg_a_row(app, monkeypatch):
    shown = _spy_images(monkeypatch)
    at = open_page(app, "pages/interpolation.py", "tiny-d4")
    assert not at.exception and not at.error
    strip = shown[0][0]
    scale = HOME_SCALE
    assert strip.shape[0] == scale * (4 * (TILE + ROW_GAP) - ROW_GAP)  # 9 → 4 → 2 → 6 → 1: four legs, four rows
    left = _left(strip, 8, scale)
    for leg in range(4):
        assert _label_has_ink(strip, leg, left, scale)
        if leg:  # each leg starts where the one above ended: the rows are the legs
            assert np.array_equal(_tile(strip, leg, 0, left, scale), _tile(strip, leg - 1, 7, left, scale))
    assert any(c.value.endswith("one row per leg") for c in at.caption)

    shown.clear()
    next(s for s in at.slider if s.label == "Steps per pair").set_value(3).run()
    assert not at.exception
    strip = shown[0][0]
    assert strip.shape[0] == scale * (4 * (TILE + ROW_GAP) - ROW_GAP)  # still four rows, now three images each
    assert _left(strip, 3, scale) == left


def _first_tile_is(picture: np.ndarray, image: torch.Tensor, columns: int, scale: int) -> bool:
    return np.array_equal(_tile(picture, 0, 0, _left(picture, columns, scale), scale), _scaled(image, scale))


def test_generates_traversal_from_a_test_image_shows_that_image_first(app, monkeypatch):
    from vae.data.datasets import load_dataset

    shown = _spy_images(monkeypatch)
    at = open_page(app, "pages/generate.py", "tiny-d4")
    next(r for r in at.radio if r.label == "Around").set_value("a test image").run()
    shown.clear()
    next(n for n in at.number_input if n.label == "Test image").set_value(5).run()
    assert not at.exception
    picture, caption = shown[-1]  # the traversal is the page's last picture
    assert _first_tile_is(picture, to_float(load_dataset("mnist-5k").test_x[5])[0], 11, 2)
    assert picture.shape[0] == 2 * (2 * (TILE + ROW_GAP) - ROW_GAP)  # the image's row, then the traversal
    assert caption.startswith("first, test image 5 (") and "its reconstruction" in caption


@pytest.mark.slow
def test_the_disentanglement_traversals_from_a_test_image_show_that_image_first(shapes_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP
    from vae.data.datasets import load_dataset

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(shapes_dir))
    at = open_page(AppTest.from_file(APP, default_timeout=120).run(), "pages/disentanglement.py", "shapes-b4")
    shown = _spy_images(monkeypatch)
    next(r for r in at.radio if r.label == "Start from").set_value("a test image").run()
    next(s for s in at.slider if s.label == "Test image").set_value(12).run()
    assert not at.exception
    picture, _ = shown[-1]
    assert _first_tile_is(picture, to_float(load_dataset("shapes").test_x[12])[0], 9, 3)
    assert any("**test 12**: the image, then its reconstruction" in m.value for m in at.markdown)
    assert "The first row is the test image itself" in " ".join(c.value for c in at.caption)
