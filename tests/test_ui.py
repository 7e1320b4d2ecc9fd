"""Pure helpers of the UI module."""

import numpy as np
import pytest

from ui import curves, figures, widgets
from vae.analysis import pictures


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"selection": {"points": [{"customdata": 17, "x": 0.1}]}}, 17),
        ({"selection": {"points": [{"customdata": [42]}, {"customdata": [3]}]}}, 42),
        ({"selection": {"points": []}}, None),
        ({"selection": {"points": [{"x": 1.0}]}}, None),
        ({}, None),
        (None, None),
    ],
)
def test_selected_point_maps_back_through_customdata(event, expected):
    assert widgets.selected_point_index(event) == expected


def test_png_bytes_round_trip():
    from io import BytesIO

    from PIL import Image

    grid = (np.arange(56 * 28) % 256).astype(np.uint8).reshape(56, 28)
    image = Image.open(BytesIO(pictures.png_bytes(grid)))
    assert image.size == (28, 56) and np.array_equal(np.asarray(image), grid)


def test_epoch_series_split_train_dashed_and_test_solid():
    epochs = [
        {"epoch": e, "train": {"recon": 3.0, "kl": 1.0, "loss": 4.0}, "test": {"recon": 2.0, "kl": 1.0, "loss": 3.0}}
        for e in (1, 2)
    ]
    train, test = curves.epoch_series(epochs, "run")
    assert (train["dash"], test["dash"]) == ("dash", "solid")
    assert train["x"] == [1, 2] and test["recon"] == [2.0, 2.0]
    figure = curves.loss_figure([train, test])
    assert len(figure.data) == 6  # two series on three panels


def test_server_config_keeps_reruns_cheap():
    """Two Streamlit defaults cost this app most of its responsiveness on 2 cores (bench/app_speed.py)."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False  # a full gc.collect(2) after every rerun: ~110 ms
    assert config["server"]["fileWatcherType"] == "none"  # the watcher tripled the first Latent space visit
    assert config["server"]["maxUploadSize"] == 50


@pytest.mark.parametrize(("n", "kind"), [(2000, "scatter"), (figures.SVG_MAX_POINTS + 1, "scattergl")])
def test_latent_scatter_draws_few_points_as_svg_and_many_with_webgl(n, kind):
    rng = np.random.default_rng(0)
    fig = figures.latent_scatter(rng.normal(size=(n, 2)), rng.integers(0, 10, n), tuple("0123456789"), "z")
    assert {trace.type for trace in fig.data} == {kind}
    assert sum(len(trace.x) for trace in fig.data) == n


def test_latent_scatter_margins_fit_the_legend_without_a_second_draw():
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    labels = np.arange(10)
    fashion = figures.latent_scatter(np.zeros((10, 2)), labels, names, "PC")
    digits = figures.latent_scatter(np.zeros((10, 2)), labels, tuple("0123456789"), "PC")
    assert fashion.layout.margin.autoexpand is False  # plotly would otherwise draw, measure and draw again
    assert fashion.data[0].name == "0: T-shirt/top" and fashion.layout.margin.r >= 7 * len("0: T-shirt/top")
    assert digits.layout.margin.r >= 7 * len("your digit") > 7 * len("label")  # what Draw adds still fits
    assert fashion.layout.margin.r > digits.layout.margin.r
