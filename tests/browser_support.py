"""Driving `streamlit run` in Debian's chromium: shared by the browser tests and the benches in bench/."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import words
from ui.charts import PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = words(
    "--no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run"
)
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


def playwright_or_skip():
    """Playwright's sync API, or the calling test module skipped where Debian's chromium or playwright is missing."""
    import shutil

    import pytest

    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int, timeout: float = 60, root: Path = ROOT) -> subprocess.Popen:
    """Start the app (of the checkout at ``root``) on a loopback port and wait until it accepts connections."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(root / "streamlit_app.py"),
        "--server.port",
        str(port),
        *words("--server.address 127.0.0.1 --server.headless true"),
    ]
    process = subprocess.Popen(
        command,
        cwd=root,
        env={**os.environ, "VAE_WARM_UP": "1", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("streamlit did not start")


@contextlib.contextmanager
def running_app(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run`` on a free loopback port for the block: (its URL, the process). Killed at the end."""
    port = free_port()
    process = start_server(env, port)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.kill()
        process.wait(timeout=20)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's chromium, driven by playwright, for the block: a browser, whose contexts are separate visitors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def chromium_page(viewport: tuple[int, int] = (1400, 1000)) -> Iterator[object]:
    """A page of Debian's chromium, driven by playwright, for the block."""
    with chromium() as browser:
        yield browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})


def b64(data: bytes) -> str:
    """``data`` as base64 text: how a test hands bytes to a page's JavaScript (``atob`` there)."""
    import base64

    return base64.b64encode(data).decode("ascii")


# The browser's forward pass (``ui.browser_model.DECODER_JS``) on a blank page, with base64 both ways: a test
# hands it packed weights and float32 arrays, and reads float32 answers back.
FORWARD_PASS_HELPERS = """
window.VaeLabDecoder = VaeLabDecoder;
window.decode64 = (text) => { const bin = atob(text), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; };
window.encode64 = (floats) => { const raw = new Uint8Array(floats.buffer); let text = "";
  for (let i = 0; i < raw.length; i += 8192) text += String.fromCharCode(...raw.subarray(i, i + 8192));
  return btoa(text); };
"""


def forward_pass_page(browser) -> object:
    """A blank page of ``browser`` holding the JavaScript forward pass that the boards run, and base64 helpers."""
    from ui.browser_model import DECODER_JS

    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(content=DECODER_JS + "\n" + FORWARD_PASS_HELPERS)
    return page


def move_through(page, box: dict, points: list[tuple[float, float]], board: str, seen) -> list[object]:
    """Press at the first of ``points`` (fractions of ``box``) and move through the rest without releasing. After
    each move, wait for the ``board``'s next frame (its ``data-frames``) and note ``seen()``: the notes, in order."""
    from playwright.sync_api import expect

    drawn_board = page.locator(board)
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    notes = []
    for x, y in at[1:]:
        frames = drawn_board.get_attribute("data-frames")
        page.mouse.move(x, y)
        expect(drawn_board).not_to_have_attribute("data-frames", frames, timeout=5_000)  # drawn on the move itself
        notes.append(seen())
    return notes


def one_run_server_env(tmp_path: Path, run: str = "mlp-d2-b1") -> dict[str, str]:
    """The settings of a server on a checkpoint folder of its own that ships a copy of one shipped ``run``, offline,
    with no full dataset (the embedded digits stand in)."""
    import shutil

    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(ROOT / "checkpoints" / f"{run}.pt", runs)
    (runs / "shipped.json").write_text(f'{{"runs": ["{run}"]}}')
    return {"VAE_CHECKPOINT_DIR": str(runs), "VAE_DATA_DIR": str(tmp_path / "no-data"), "VAE_OFFLINE": "1"}


# No box left where a chart goes (a new visitor's first run is followed by the rerun that draws its charts,
# ui.charts), and no element waiting for its code (a chart while plotly.js loads).
CHARTS_COME = f"""() => !document.body.innerText.includes({json.dumps(PLACEHOLDER)})
    && !document.querySelector("[data-testid=stSkeleton]")"""


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script is idle and a first visit's charts are drawn (no box stands for one, none loads)."""
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function(CHARTS_COME, timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)


# Every element drawn: none is still a placeholder waiting for its component's code, and every image has loaded.
DRAWN = """() => !document.querySelector("[data-testid=stSkeleton]")
    && Array.from(document.querySelectorAll("[data-testid=stMain] img")).every(i => i.complete && i.naturalWidth > 0)"""


def drawn(page, timeout: float = 60_000) -> None:
    """Wait until the script is idle and what it drew is on screen (``settle`` waits for the script alone)."""
    settle(page, timeout)
    page.wait_for_function(DRAWN, timeout=timeout)


def choose(page, label: str, option: str, timeout: float = 60_000) -> None:
    """Pick ``option`` in the selectbox named ``label``, opening its list again if a rerun closed it meanwhile."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_role("combobox", name=label, exact=True)
    choice = page.get_by_role("option", name=option, exact=True)
    deadline = time.monotonic() + timeout / 1000
    while True:
        settle(page, timeout)
        box.click()
        try:
            choice.click(timeout=5_000)
            return
        except PlaywrightTimeout:  # the list closed (a rerun redrew the box) before the option could be clicked
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")


def goto(page, title: str, heading: str | None = None) -> None:
    """Click a page in the sidebar and wait until its heading is drawn and the script is idle."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    page.get_by_role("heading", name=heading or title).first.wait_for()
    settle(page)


# A tour of the sidebar that a person makes once a run is loaded: (title, heading), None when they are the same.
TOUR = [
    ("Home", "VAE Lab"),
    ("Runs & loss curves", None),
    ("Latent space", None),
    ("Interpolation", None),
    ("Generate", None),
    ("Train", "Train a VAE"),
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def switch_all(page) -> list[float]:
    """Seconds for each page switch of ``TOUR``, each to its heading drawn and the script idle."""
    return [timed(lambda t=title, h=heading: goto(page, t, h)) for title, heading in TOUR]
