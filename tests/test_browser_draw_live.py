"""The Draw page with the run in the browser (#39, ``ui.browser_draw``): the posterior moves while the visitor draws,
with no message to the server; the server then analyses the very digit the browser prepared; the browser prepares
it as ``vae.data.drawing.mnist_style`` does; and what the pad sends is checked. Each first request a deep link to a
freshly started server."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import browser_support
from tests.browser_support import ERRORS, IDLE, chromium, one_run_server_env, playwright_or_skip, running_app, settle
from ui.browser_draw import decode_digit
from vae.data.drawing import mnist_style

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()
BOARD = ".vae-draw"
PAD = "canvas[aria-label='Drawing pad']"


def _visitor(browser, url: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent: list[object] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.goto(url + "/draw")
    page.get_by_role("heading", name="Draw a digit").first.wait_for(timeout=60_000)
    page.locator(BOARD + "[data-frames]").wait_for(timeout=60_000)
    settle(page)
    return page, sent


def _stroke(page, points: list[tuple[float, float]]) -> list[tuple[str, bool]]:
    """Draw through ``points`` (fractions of the pad) without releasing; after each move, wait for the board's
    next frame and note its μ and whether the script was idle."""
    board = page.locator(BOARD)
    return browser_support.move_through(
        page,
        page.locator(PAD).bounding_box(),
        points,
        BOARD,
        lambda: (board.get_attribute("data-mu"), page.locator(IDLE).count() == 1),
    )


def _servers_mu(page) -> list[float]:
    """The star the server drew at its own μ of the digit ("your digit" on the plotly map)."""
    page.get_by_text("Where it lands").wait_for(timeout=30_000)
    settle(page)
    star = page.evaluate(
        "() => document.querySelector('.js-plotly-plot')._fullData.filter(t => t.name === 'your digit')"
        ".map(t => [t.x[0], t.y[0]])[0]"
    )
    return [float(v) for v in star]


@pytest.mark.parametrize("run", ["mlp-d2-b1", "conv-d20-b1"])
def test_the_posterior_moves_while_drawing_and_the_server_analyses_the_same_digit(tmp_path, run):
    with running_app(one_run_server_env(tmp_path, run)) as (url, _), chromium() as browser:
        page, sent = _visitor(browser, url)
        quiet = len(sent)
        seen = _stroke(page, [(0.5 + 0.005 * i, 0.15 + 0.07 * i) for i in range(11)])
        assert all(idle for _, idle in seen) and len(sent) == quiet, f"{len(sent) - quiet} messages while drawing"
        moving = [mu for mu, _ in seen]
        assert all(moving) and len(set(moving)) > 3, moving  # μ shown from the first move, and moving
        page.mouse.up()
        browser_mu = np.array([float(v) for v in page.locator(BOARD).get_attribute("data-mu").split()])
        servers = np.array(_servers_mu(page))  # for d > 2 the server's star is μ on the test set's first two PCs
        if len(browser_mu) == 2:
            assert np.abs(servers - browser_mu).max() < 2e-3  # the same digit, the same model (μ shown to 3 places)
        else:
            assert len(browser_mu) == 20 and np.isfinite(servers).all()
        assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()

        stranger, _ = _visitor(browser, url)  # another visitor's pad is their own
        assert stranger.locator(BOARD).get_attribute("data-mu") == ""
        assert stranger.get_by_text("Where it lands").count() == 0
        page.reload()  # a new session: a blank pad, and no analysis of a digit it does not show
        page.locator(BOARD + "[data-frames]").wait_for(timeout=60_000)
        settle(page)
        assert page.get_by_text("Where it lands").count() == 0 and page.locator(BOARD).get_attribute("data-mu") == ""


# Strokes in fractions of the pad: a "2", a tall narrow "1" (its box shrinks far more in height than in width, where
# PIL would pick the passes' order by itself), and a short wide bar (whose centre of mass can tie).
STROKES = {
    "two": [(0.3, 0.3), (0.6, 0.25), (0.7, 0.4), (0.4, 0.8), (0.65, 0.8)],
    "one": [(0.5, 0.1), (0.51, 0.5), (0.52, 0.9)],
    "bar": [(0.2, 0.5), (0.5, 0.5), (0.8, 0.5)],
}


@pytest.mark.parametrize("stroke", STROKES)
def test_the_browser_prepares_a_drawing_as_mnist_style_does(tmp_path, stroke):
    """The pad's own pixels, prepared in Python, against the digit the browser prepared and sent: the same."""
    with running_app(one_run_server_env(tmp_path)) as (url, _), chromium() as browser:
        page, _ = _visitor(browser, url)
        _stroke(page, STROKES[stroke])
        page.mouse.up()
        png = page.locator(PAD).evaluate("c => c.toDataURL('image/png')").split(",", 1)[1]
        drawing = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))).convert("RGBA"))
        ours = page.locator("canvas.digit").first.evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))"
        )
        difference = np.abs(np.array(ours, dtype=np.float32).reshape(28, 28) / 255 - mnist_style(drawing))
        print(f"{stroke}: prepared digit, browser against vae.data.drawing: max {difference.max():.4f}")
        assert difference.max() < 1e-6


@pytest.mark.parametrize(
    "value",
    ["a string", [0] * 783, [0] * 785, [256] + [0] * 783, [-1] + [0] * 783, [0.5] + [0] * 783, [True] + [0] * 783],
)
def test_what_the_pad_sends_is_784_grey_levels_or_refused_in_one_line(value):
    with pytest.raises(ValueError) as refused:
        decode_digit(value)
    assert "\n" not in str(refused.value)


def test_a_digit_from_the_pad_is_read_as_grey_levels():
    digit = decode_digit(list(range(256)) * 3 + [255] * 16)
    assert digit.shape == (28, 28) and digit.dtype == np.float32 and digit[0, 1] == pytest.approx(1 / 255)
    assert decode_digit(None) is None


CRAFTED_RUN = '<img src=x onerror="window.__pwned = 1">'  # a file name may hold all of this, but no "/"


def test_a_crafted_run_name_reaches_the_pad_as_text_and_nothing_runs(tmp_path):
    env = one_run_server_env(tmp_path)
    runs = Path(env["VAE_CHECKPOINT_DIR"])
    (runs / "mlp-d2-b1.pt").rename(runs / f"{CRAFTED_RUN}.pt")
    (runs / "shipped.json").write_text(json.dumps({"runs": [CRAFTED_RUN]}))
    with running_app(env) as (url, _), chromium() as browser:
        page, _ = _visitor(browser, url)
        _stroke(page, [(0.5, 0.2), (0.5, 0.5), (0.5, 0.8)])
        page.mouse.up()
        page.get_by_text("Where it lands").wait_for(timeout=30_000)
        label = page.locator("canvas.digit").nth(1).get_attribute("aria-label")
        assert label.startswith(CRAFTED_RUN)  # the name, as text
        assert page.locator(f"{BOARD} img, {BOARD} script").count() == 0
        assert page.evaluate("() => window.__pwned") is None
