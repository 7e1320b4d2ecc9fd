"""The latent explorer, the forming latent space and the home page, in a real browser."""

from __future__ import annotations

import json

import pytest

from tests.browser_support import ERRORS, chromium_page, playwright_or_skip, running_app, settle

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()

EPOCHS = 3
BOARD_IMAGE = "[data-testid=stImage] img"


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data):
    """A server with a fresh 2-D MLP with a 3-epoch history ("plane", the newest, so the default) and a 3-D one."""
    from vae.model.config import VAEConfig
    from vae.training.runs import train_run

    directory = tmp_path_factory.mktemp("explore_runs")
    for _ in train_run(VAEConfig(dataset="mnist-5k", latent_dim=3, epochs=1), "other", directory, data=small_data):
        pass
    for _ in train_run(VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=EPOCHS), "plane", directory, data=small_data):
        pass
    env = {
        "VAE_CHECKPOINT_DIR": str(directory),
        "VAE_DATA_DIR": str(tmp_path_factory.mktemp("no_data")),
        "VAE_OFFLINE": "1",
        "VAE_MAX_WEB_PARAMETERS": "0",  # the explorer's server path; its browser path: test_browser_decoder.py
    }
    with running_app(env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def _open_explorer(page, server: str) -> None:
    page.goto(server + "/explorer")
    page.get_by_role("heading", name="Latent explorer").wait_for()
    page.get_by_test_id("stSlider").filter(has_text="· KL").first.wait_for()
    page.locator(BOARD_IMAGE).last.wait_for()
    settle(page)


def _board_src(page) -> str:
    return page.locator(BOARD_IMAGE).last.get_attribute("src")


def _slider_values(page) -> list[float]:
    sliders = page.get_by_test_id("stSlider").filter(has_text="· KL").get_by_role("slider")
    return [float(sliders.nth(i).input_value()) for i in range(sliders.count())]


def test_home_shows_a_picture_on_its_first_screen(page, server):
    page.goto(server)
    settle(page)
    first = page.locator("[data-testid=stImage] img").first
    first.wait_for()
    box = first.bounding_box()
    assert box["height"] > 40 and box["y"] + box["height"] < 1000, f"the picture is not on the first screen: {box}"
    assert first.evaluate("img => img.complete && img.naturalWidth > 0")
    _no_errors(page)


def test_a_slider_move_on_explorer_changes_the_decoded_digit(page, server):
    _open_explorer(page, server)
    _no_errors(page)
    before, values = _board_src(page), _slider_values(page)
    assert values == [0.0, 0.0]
    slider = page.get_by_test_id("stSlider").filter(has_text="· KL").get_by_role("slider").first
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    page.wait_for_function(
        "([sel, old]) => { const imgs = document.querySelectorAll(sel); const img = imgs[imgs.length - 1];"
        " return img && img.getAttribute('src') !== old && img.complete; }",
        arg=[BOARD_IMAGE, before],
    )
    settle(page)
    assert _slider_values(page)[0] == pytest.approx(0.5)
    assert _board_src(page) != before
    _no_errors(page)


def test_a_click_on_empty_space_in_the_plane_decodes_that_spot(page, server):
    _open_explorer(page, server)
    before = _board_src(page)
    chart = page.get_by_test_id("stPlotlyChart").first
    chart.wait_for()
    spec = chart.locator(".js-plotly-plot").first
    spec.wait_for()
    x_range, y_range = spec.evaluate("el => [el._fullLayout.xaxis.range, el._fullLayout.yaxis.range]")
    area = chart.locator(".nsewdrag").first.bounding_box()
    # A corner of the plane, far from the test digits, which sit near the origin.
    target = (x_range[0] + 0.1 * (x_range[1] - x_range[0]), y_range[0] + 0.9 * (y_range[1] - y_range[0]))
    px = area["x"] + (target[0] - x_range[0]) / (x_range[1] - x_range[0]) * area["width"]
    py = area["y"] + (y_range[1] - target[1]) / (y_range[1] - y_range[0]) * area["height"]
    page.mouse.click(px, py)
    page.wait_for_function(
        "([sel, old]) => { const imgs = document.querySelectorAll(sel); const img = imgs[imgs.length - 1];"
        " return img && img.getAttribute('src') !== old; }",
        arg=[BOARD_IMAGE, before],
        timeout=30_000,
    )
    settle(page)
    z = _slider_values(page)  # sliders in KL order: match them by label
    labels = page.get_by_test_id("stSlider").filter(has_text="· KL").all_inner_texts()
    by_dim = {int(text.split("z", 1)[1].split(" ")[0]): value for text, value in zip(labels, z, strict=True)}
    spacing = (x_range[1] - x_range[0]) / 59
    assert by_dim[0] == pytest.approx(target[0], abs=spacing)
    assert by_dim[1] == pytest.approx(target[1], abs=spacing)
    _no_errors(page)


def test_latent_space_plays_one_frame_per_epoch(page, server):
    page.goto(server + "/latent")
    page.get_by_role("heading", name="Watch it form, epoch by epoch").wait_for()
    settle(page)
    page.get_by_text(f"Play the {EPOCHS} epochs of plane").click()
    settle(page)
    plot = page.locator(".js-plotly-plot").filter(has=page.locator(".updatemenu-container")).first
    plot.wait_for()
    frames = plot.evaluate("el => el._transitionData._frames.map(f => f.name)")
    assert frames == [str(e) for e in range(1, EPOCHS + 1)]
    steps = plot.evaluate("el => el._fullLayout.sliders[0].steps.length")
    assert steps == EPOCHS
    plot.get_by_text("▶ Play").click()  # plays without an error
    page.wait_for_timeout(500)
    _no_errors(page)
    assert json.dumps(frames)


def test_compare_with_draws_a_second_run_beside_the_first(page, server):
    page.goto(server + "/latent")
    page.get_by_role("heading", name="Latent space").first.wait_for()
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    settle(page)
    charts = page.get_by_test_id("stPlotlyChart").count()
    assert charts == 1, "one plane before a second run is chosen"
    page.get_by_role("combobox", name="Compare with").click()
    page.get_by_role("option").filter(has_text="other").first.click()
    page.get_by_text("other · mlp d=3").wait_for(timeout=60_000)
    page.get_by_test_id("stPlotlyChart").nth(1).wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_test_id("stPlotlyChart").count() == 2
    _no_errors(page)
