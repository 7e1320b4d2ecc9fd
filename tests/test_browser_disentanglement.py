"""The Disentanglement page in a real browser: a deep link as a fresh server's first request, a reload, a second
user, and the traversal slider at its edges."""

from __future__ import annotations

import shutil

import pytest

from tests.browser_support import ERRORS, chromium_page, playwright_or_skip, running_app, settle

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()


@pytest.fixture(scope="module")
def server(shapes_template, tmp_path_factory):
    """A freshly started server over the tiny MNIST runs and two tiny shapes runs (β = 1 and 4)."""
    directory = tmp_path_factory.mktemp("browser_shapes") / "runs"
    shutil.copytree(shapes_template, directory)
    env = {"VAE_CHECKPOINT_DIR": str(directory), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _):
        yield url


def _scores_shown(page) -> dict[str, str]:
    metrics = page.get_by_test_id("stMetric")
    metrics.first.wait_for(timeout=60_000)
    return {
        m.get_by_test_id("stMetricLabel").inner_text(): m.get_by_test_id("stMetricValue").inner_text()
        for m in metrics.all()
    }


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def test_a_deep_link_reload_second_user_and_slider_edges(server):
    with chromium_page() as page:
        page.goto(f"{server}/disentanglement")  # the very first request this server gets
        page.get_by_role("heading", name="Disentanglement").first.wait_for(timeout=120_000)
        settle(page, 120_000)
        first = _scores_shown(page)
        assert set(first) == {"MIG", "FactorVAE score", "DCI disentanglement"}
        # The heatmap and the β figure (two βs on one config), and the traversal grid.
        assert page.locator(".js-plotly-plot").count() == 2
        assert page.get_by_test_id("stImage").count() >= 1
        _no_errors(page)
        # From a test image, the slider at both ends: the last test image, then the first.
        page.get_by_text("a test image", exact=True).click()
        settle(page, 120_000)
        slider = page.get_by_role("slider").first
        for key in ("End", "Home"):
            slider.focus()
            page.keyboard.press(key)
            settle(page, 120_000)
            _no_errors(page)
        # Choose the other run, then reload mid-way: the page comes back whole, on the router's layout.
        page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
        page.get_by_role("option").filter(has_text="shapes-b1").click()
        settle(page, 120_000)
        page.reload()
        page.get_by_role("heading", name="Disentanglement").first.wait_for(timeout=120_000)
        settle(page, 120_000)
        assert set(_scores_shown(page)) == {"MIG", "FactorVAE score", "DCI disentanglement"}
        assert page.get_by_test_id("stSidebarNav").get_by_text("Disentanglement", exact=True).count() == 1
        _no_errors(page)
    with chromium_page() as other:  # a second user, in a browser of their own
        other.goto(f"{server}/disentanglement")
        other.get_by_role("heading", name="Disentanglement").first.wait_for(timeout=120_000)
        settle(other, 120_000)
        assert _scores_shown(other) == first  # the default run's stored scores, whatever the first user chose
        _no_errors(other)
