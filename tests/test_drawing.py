import numpy as np
import pytest

from vae.data.drawing import mnist_style, nearest, to_grayscale


def _stroke(size: int = 280) -> np.ndarray:
    """A thick vertical bar with a foot, drawn off-centre in the top-left, like a hasty '1'."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[20:200, 40:70] = 255
    canvas[170:200, 20:110] = 255
    return canvas


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / image.sum()), float((cols * image).sum() / image.sum())


def test_a_stroke_becomes_a_centred_20_pixel_digit():
    digit = mnist_style(_stroke())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert 0.0 <= digit.min() and digit.max() <= 1.0
    rows, cols = np.nonzero(digit > 0.1)
    assert max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) in (19, 20, 21)
    com_r, com_c = _centre_of_mass(digit)
    assert abs(com_r - 13.5) <= 1.0 and abs(com_c - 13.5) <= 1.0


def test_dark_ink_on_paper_and_rgba_canvases_are_handled():
    paper = 255 - _stroke()
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., :3] = _stroke()[..., None]
    rgba[..., 3] = 255
    reference = mnist_style(_stroke())
    assert np.allclose(mnist_style(paper), reference, atol=1e-6)
    assert np.allclose(mnist_style(rgba), reference, atol=1e-6)
    assert to_grayscale(paper).max() == 1.0
    transparent = np.zeros((280, 280, 4), dtype=np.uint8)  # dark ink on a transparent PNG
    transparent[..., 3] = _stroke()
    assert np.allclose(mnist_style(transparent), reference, atol=1e-6)


def test_an_empty_drawing_is_refused():
    with pytest.raises(ValueError, match="empty"):
        mnist_style(np.zeros((100, 100)))


def test_nearest_orders_by_distance():
    points = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 2.0]])
    assert nearest(np.array([0.1, 0.0]), points, k=3).tolist() == [0, 2, 3]
