"""The main path in a real browser: Debian's chromium driven by playwright against `streamlit run`."""

from __future__ import annotations

import shutil

import pytest

from tests.browser_support import ERRORS, ROOT, chromium_page, goto, playwright_or_skip, running_app, settle

ARTIFACTS = ROOT / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run` on a free loopback port, with a checkpoint folder holding one shipped run."""
    directory = tmp_path_factory.mktemp("browser_runs")
    shutil.copy(ROOT / "checkpoints" / "mlp-d2-b1.pt", directory)
    (directory / "shipped.json").write_text('{"runs": ["mlp-d2-b1"]}')
    # An empty data root: the app must stand on the embedded mnist-5k, as it does offline on first open.
    empty_data = tmp_path_factory.mktemp("no_data")
    env = {"VAE_CHECKPOINT_DIR": str(directory), "VAE_DATA_DIR": str(empty_data), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _):
        yield url, directory


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def test_train_then_explore_the_new_model(page, server):
    url, directory = server
    page.goto(url)
    settle(page)
    page.get_by_text("VAE Lab").first.wait_for()
    _no_errors(page)
    assert page.get_by_text("offline mnist-5k").count() > 0
    _shot(page, "home")

    goto(page, "Train", "Train a VAE")
    page.get_by_label("Run name", exact=True).fill("browser-run")
    # The conv model takes a few seconds on mnist-5k: long enough to watch the curves move.
    page.get_by_role("combobox", name="Architecture", exact=True).click()
    page.get_by_role("option", name="conv").click()
    page.get_by_role("button", name="Start training").click()

    progress = page.get_by_test_id("stProgress")
    progress.wait_for(timeout=30_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    first_text = page.get_by_test_id("stProgress").first.inner_text()
    page.get_by_text("Finished and saved").wait_for(timeout=180_000)
    settle(page)
    assert page.get_by_test_id("stProgress").count() == 1
    assert page.get_by_test_id("stProgress").inner_text() != first_text, "progress never updated"
    _no_errors(page)
    _shot(page, "train")
    assert (directory / "browser-run.pt").exists()

    page.get_by_role("link", name="Explore browser-run in Latent space").click()
    settle(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    _shot(page, "latent")
    page.get_by_text("browser-run has a 2-D latent space").wait_for()
    _no_errors(page)
    _shot(page, "latent")

    goto(page, "Interpolation")
    page.get_by_text("images: 9 → 4 → 2 → 6 → 1").wait_for()
    page.get_by_test_id("stImage").nth(1).wait_for()  # the chain strip and the two-image strip
    _no_errors(page)
    _shot(page, "interpolation")

    goto(page, "Draw a digit")
    canvas = page.locator("canvas[aria-label='Drawing pad']").first  # ui.sketch's pad
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.15
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 21):  # a slanted stroke: a '1'
        page.mouse.move(x0 - 2 * i, y0 + 9 * i, steps=2)
    page.mouse.up()
    page.get_by_text("Nearest test digits in latent space").wait_for(timeout=30_000)
    settle(page)
    _no_errors(page)
    _shot(page, "draw")

    for title, heading in (
        ("Runs & loss curves", None),
        ("Generate", None),
        ("Diagnostics", None),
        ("Home", "VAE Lab"),
    ):
        goto(page, title, heading)
        _no_errors(page)
        _shot(page, title.split()[0].lower())


def test_an_uncaught_error_shows_a_stranger_no_traceback_and_no_path(page, tmp_path):
    """The shipped .streamlit/config.toml, on a script that fails: the visitor sees that it failed, never where."""
    from tests.browser_support import free_port, start_server

    shutil.copytree(ROOT / ".streamlit", tmp_path / ".streamlit")
    secret = str(tmp_path / "server-side" / "path.py")
    (tmp_path / "streamlit_app.py").write_text(
        f"import streamlit as st\nst.write('drawn')\nraise ValueError({secret!r})\n"
    )
    port = free_port()
    process = start_server({}, port, root=tmp_path)
    stranger = page.context.browser.new_page()  # the module's browser: one playwright at a time
    try:
        stranger.goto(f"http://127.0.0.1:{port}")
        stranger.get_by_test_id("stException").wait_for(timeout=60_000)
        shown = stranger.get_by_test_id("stMain").inner_text()
        assert "drawn" in shown and "This app has encountered an error" in shown
        for leak in (secret, "Traceback", "ValueError", str(ROOT), str(tmp_path)):
            assert leak not in shown, leak
    finally:
        stranger.close()
        process.kill()
