"""A cold server in a real browser: Home's first screen comes from the shipped pictures, and the pages opened while
the warm-up loads torch beside them are drawn whole."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ERRORS, ROOT, drawn, playwright_or_skip, running_app
from vae.analysis.pictures import HomePictures, home_key
from vae.runfile import read_json

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()


@pytest.fixture(scope="module")
def cold(tmp_path_factory, full_mnist_root):
    """A freshly started server over what git ships in checkpoints/ (the runs and their views, nothing computed
    here), with full MNIST: what a visitor of a shared app that has just woken up meets."""
    directory = tmp_path_factory.mktemp("shipped")
    listed = subprocess.run(["git", "ls-files", "-z", "--", "checkpoints"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    folder = directory / "checkpoints"
    env = {"VAE_CHECKPOINT_DIR": str(folder), "VAE_DATA_DIR": str(full_mnist_root), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield url, folder, browser
        browser.close()


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


SOURCES = "Array.from(document.querySelectorAll('[data-testid=stImage] img'), i => i.src)"


def _sources(page) -> list[str]:
    return page.evaluate(f"() => {SOURCES}")


def _shown_images(page) -> list[bytes]:
    return [page.request.get(src).body() for src in _sources(page)]


def _shipped_pictures(folder, name: str) -> HomePictures:
    return HomePictures.from_json(read_json(folder / f"{name}.pt", home_key("mnist")))


def test_a_cold_home_shows_the_shipped_pictures_and_the_next_page_is_drawn_beside_the_warm_up(cold):
    url, folder, browser = cold
    home = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    home.goto(url)  # the server's very first request
    home.get_by_role("heading", name="VAE Lab").first.wait_for(timeout=60_000)
    drawn(home)
    _no_errors(home)
    shipped = _shipped_pictures(folder, "mlp-d20-b1")
    assert _shown_images(home) == [shipped.chain_png, shipped.samples_png]

    # A second visitor, at once: a deep link while the warm-up is loading torch and the default run.
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(f"{url}/latent")
    other.get_by_role("heading", name="Latent space").first.wait_for(timeout=60_000)
    drawn(other)
    _no_errors(other)
    assert other.locator(".js-plotly-plot").count() >= 1
    other.reload()
    other.get_by_role("heading", name="Latent space").first.wait_for(timeout=60_000)
    drawn(other)
    _no_errors(other)

    # Back on Home, another shipped run: its own shipped pictures, once the rerun has replaced the first run's.
    before = _sources(home)
    picker = home.get_by_role("combobox", name="Run", exact=True)
    picker.click()
    picker.fill("conv-d10-b4")
    picker.press("Enter")
    sync_api.expect(picker).to_have_value("conv-d10-b4  ·  conv d=10 β=4 on mnist", timeout=30_000)
    home.wait_for_function(f"old => {SOURCES}.every(src => !old.includes(src))", arg=before, timeout=60_000)
    drawn(home)
    _no_errors(home)
    shipped = _shipped_pictures(folder, "conv-d10-b4")
    assert _shown_images(home) == [shipped.chain_png, shipped.samples_png]
