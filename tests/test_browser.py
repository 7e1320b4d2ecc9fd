"""The main path in a real browser: Debian's chromium driven by playwright against `streamlit run`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"
ARTIFACTS = ROOT / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run` on a free loopback port, with a checkpoint folder holding one shipped run."""
    directory = tmp_path_factory.mktemp("browser_runs")
    shutil.copy(ROOT / "checkpoints" / "mlp-d2-b1.pt", directory)
    (directory / "shipped.json").write_text('{"runs": ["mlp-d2-b1"]}')
    port = _free_port()
    # An empty data root: the app must stand on the embedded mnist-5k, as it does offline on first open.
    empty_data = tmp_path_factory.mktemp("no_data")
    env = {**os.environ, "VAE_CHECKPOINT_DIR": str(directory), "VAE_DATA_DIR": str(empty_data), "VAE_OFFLINE": "1"}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("streamlit did not start")
    yield f"http://127.0.0.1:{port}", directory
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def _settle(page, timeout: float = 60_000) -> None:
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_timeout(300)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def _goto(page, title: str, heading: str | None = None) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading or title).first.wait_for()
    _settle(page)


def test_train_then_explore_the_new_model(page, server):
    url, directory = server
    page.goto(url)
    _settle(page)
    page.get_by_text("VAE Lab").first.wait_for()
    _no_errors(page)
    assert page.get_by_text("offline mnist-5k").count() > 0
    _shot(page, "home")

    _goto(page, "Train", "Train a VAE")
    page.get_by_label("Run name", exact=True).fill("browser-run")
    # The conv model takes a few seconds on mnist-5k: long enough to watch the curves move.
    page.get_by_test_id("stSelectbox").filter(has_text="Architecture").click()
    page.get_by_role("option", name="conv").click()
    page.get_by_test_id("stFormSubmitButton").get_by_role("button").click()

    progress = page.get_by_test_id("stProgress")
    progress.wait_for(timeout=30_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    first_text = page.get_by_test_id("stProgress").first.inner_text()
    page.get_by_text("Finished and saved").wait_for(timeout=180_000)
    _settle(page)
    assert page.get_by_test_id("stProgress").count() == 1
    assert page.get_by_test_id("stProgress").inner_text() != first_text, "progress never updated"
    _no_errors(page)
    _shot(page, "train")
    assert (directory / "browser-run.pt").exists()

    page.get_by_role("link", name="Explore browser-run in Latent space").click()
    _settle(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for(timeout=60_000)
    _shot(page, "latent")
    page.get_by_text("browser-run has a 2-D latent space").wait_for()
    _no_errors(page)
    _shot(page, "latent")

    _goto(page, "Interpolation")
    page.get_by_text("images: 9 → 4 → 2 → 6 → 1").wait_for()
    page.get_by_test_id("stImage").nth(1).wait_for()  # the chain strip and the two-image strip
    _no_errors(page)
    _shot(page, "interpolation")

    for title, heading in (("Runs & loss curves", None), ("Generate", None), ("Home", "VAE Lab")):
        _goto(page, title, heading)
        _no_errors(page)
        _shot(page, title.split()[0].lower())
