"""The Draw page's drawing pads in a real browser (#41: our own components; with the run in the browser,
``ui.browser_draw``, #39, and for a model over the browser's bound ``ui.sketch``), on a server the test starts:
a deep link as its first request, a digit drawn with the mouse, a reload, a second visitor, and Clear."""

from __future__ import annotations

import pytest

from tests.browser_support import ERRORS, chromium, one_run_server_env, playwright_or_skip, running_app, settle
from vae.browser.model import MAX_WEB_ENV

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()
PAD = "canvas[aria-label='Drawing pad']"


@pytest.fixture(params=["browser", "server"])
def app_url(request, tmp_path):
    """The pad with the run in the browser (``ui.browser_draw``), and the plain pad of a model over the browser's
    bound (``ui.sketch``), whose drawing the server prepares."""
    env = one_run_server_env(tmp_path)
    if request.param == "server":
        env[MAX_WEB_ENV] = "0"
    with running_app(env) as (url, _):
        yield url, request.param


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


def _visitor(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url + "/draw")
    page.get_by_role("heading", name="Draw a digit").first.wait_for(timeout=60_000)
    page.locator(PAD).wait_for(timeout=30_000)
    settle(page)
    return page


def _draw_a_one(page) -> None:
    """A vertical stroke down the middle of the pad, as a person draws a 1."""
    box = page.locator(PAD).bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + i * 0.5, box["y"] + 40 + i * 20)
    page.mouse.up()


def _analysed(page) -> None:
    page.get_by_text("Where it lands").wait_for(timeout=30_000)
    settle(page)
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()


def test_a_digit_drawn_with_the_mouse_is_encoded_and_a_reload_starts_a_clean_pad(app_url, browser):
    app_url, where = app_url
    page = _visitor(browser, app_url)
    assert page.get_by_text("Draw a digit in the box").count() == 1
    assert page.locator(".vae-draw").count() == (where == "browser")  # which pad this is
    _draw_a_one(page)
    _analysed(page)
    stranger = _visitor(browser, app_url)  # another visitor's pad is their own
    assert stranger.get_by_text("Draw a digit in the box").count() == 1
    assert stranger.get_by_text("Where it lands").count() == 0
    page.get_by_role("button", name="Clear").click()
    page.get_by_text("Draw a digit in the box").wait_for(timeout=30_000)
    _draw_a_one(page)
    _analysed(page)
    page.reload()  # a new session: a blank pad, and no analysis of a digit it does not show
    page.locator(PAD).wait_for(timeout=60_000)
    page.get_by_text("Draw a digit in the box").wait_for(timeout=30_000)
    assert page.get_by_text("Where it lands").count() == 0
