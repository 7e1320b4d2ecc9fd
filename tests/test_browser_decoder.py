"""The decoder in the visitor's browser (#39): ``vae.browser.model``'s export, the JavaScript forward pass of
``ui.browser_model`` held to torch in headless Chromium, the explorer's board on a fresh server (a drag redraws
with no message to the server), and crafted text that stays text."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from tests import browser_support
from tests.browser_support import (
    ERRORS,
    IDLE,
    ROOT,
    goto,
    running_app,
    settle,
)
from ui import browser_model
from vae.browser.model import (
    MAX_WEB_ENV,
    PIXEL_BOUND,
    browser_pixels,
    export_decoder,
    fits_browser,
    pack,
    probe_latents,
    torch_pixels,
    unpack,
)
from vae.model.networks import MLPVAE, ConvVAE
from vae.runfile import load_run

SHIPPED = ("mlp-d2-b1", "mlp-d20-b1", "conv-d2-b1", "conv-d20-b1")
PWNED = "window.__pwned = 1"
CRAFTED = f'<img src=x onerror="{PWNED}"><script>{PWNED}</script>'
# Runs the page's own decoder on base64 packed bytes and latents [[z]], and answers base64 float32 pixels [N·784].
DECODE = """([packed, zs]) => {
  const model = VaeLabDecoder.load(decode64(packed)), out = new Float32Array(zs.length * 784);
  zs.forEach((z, n) => out.set(VaeLabDecoder.decode(model, z), n * 784));
  return encode64(out);
}"""


@pytest.fixture(scope="module")
def decoder_page(chromium):
    """A blank page holding the JavaScript decoder that the board runs (``ui.browser_model.DECODER_JS``)."""
    return browser_support.forward_pass_page(chromium)


def _js_pixels(page, packed: bytes, z: torch.Tensor) -> np.ndarray:
    answer = page.evaluate(DECODE, [browser_support.b64(packed), z.tolist()])
    return np.frombuffer(base64.b64decode(answer), "<f4").reshape(len(z), -1)


# --- The export, in Python ----------------------------------------------------------------------------------


def test_a_packed_model_unpacks_whole_and_a_non_finite_header_is_refused():
    blobs = {"a": b"\x01\x02\x03", "b": b"", "c": bytes(range(9))}
    header, back = unpack(pack({"key": "ab12", "n": [1, 2.5]}, blobs))
    assert header == {"key": "ab12", "n": [1, 2.5]} and back == blobs
    with pytest.raises(ValueError):
        pack({"limit": float("nan")}, {})
    with pytest.raises(ValueError):
        unpack(b"GIF89a" + bytes(20))


def test_the_bound_and_unknown_layers_keep_a_model_on_the_server(monkeypatch):
    torch.manual_seed(0)
    model = MLPVAE(2)
    assert fits_browser(model)
    monkeypatch.setenv(MAX_WEB_ENV, "0")
    assert not fits_browser(model)
    monkeypatch.delenv(MAX_WEB_ENV)
    model.decoder.insert(1, nn.Sigmoid())
    assert not fits_browser(model)
    with pytest.raises(ValueError, match="no Sigmoid layer"):
        export_decoder(model)


def test_float16_that_overflows_is_never_shipped():
    torch.manual_seed(0)
    model = MLPVAE(2, hidden=(8,))
    with torch.no_grad():
        model.decoder[0].weight[0, 0] = 1e6  # past float16's 65,504
    web = export_decoder(model, probes=16)
    assert web.errors["float16"] == float("inf") and web.dtype != "float16"


def test_the_board_is_sent_only_numbers_and_plain_text():
    torch.manual_seed(0)
    web = export_decoder(MLPVAE(2, hidden=(8,)), probes=16)
    board = browser_model.Board(
        title=CRAFTED,
        dims=[browser_model.Dim(1, CRAFTED + "\x00\n", True), browser_model.Dim(0, "z0", False)],
        start=np.array([0.5, -1.0]),
        start_token="0123abcd",
        limit=4.0,
        start_image=np.full((28, 28), 0.5),
        start_caption="x" * 1000,
        plane=(np.zeros((5, 2)), np.arange(5)),
    )
    header, blobs = unpack(browser_model.board_payload(web, "k1", board, with_model=True))

    def leaves(value):
        if isinstance(value, dict):
            return [leaf for v in value.values() for leaf in leaves(v)]
        return [leaf for v in value for leaf in leaves(v)] if isinstance(value, list) else [value]

    assert all(isinstance(leaf, (int, float, str, bool)) for leaf in leaves(header))
    assert all(
        leaf.isprintable() and len(leaf) <= browser_model.MAX_TEXT for leaf in leaves(header) if isinstance(leaf, str)
    )
    assert header["dims"][0]["label"] == CRAFTED  # as text; the board puts it into textContent
    assert set(blobs) == {"start", "weights", "scales", "biases", "points", "labels"} and blobs["start"][0] == 128
    header, blobs = unpack(browser_model.board_payload(web, "k1", board, with_model=False))
    assert "model" not in header and set(blobs) == {"start"}, "the weights go once per session"
    with pytest.raises(ValueError, match="not a finite number"):
        browser_model.board_payload(web, "k1", dataclasses.replace(board, start=np.array([np.inf, 0])), False)


# --- The JavaScript decoder against torch ---------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", SHIPPED)
def test_the_browser_decoder_matches_torch_on_1000_latents(decoder_page, name):
    model = load_run(ROOT / "checkpoints" / f"{name}.pt").model
    web = export_decoder(model)
    assert web.dtype == "int16", f"{name}'s weights go as {web.dtype}: {web.errors}"
    z = probe_latents(model.latent_dim, 1000, seed=1)  # uniform over the explorer's ±4 σ, not the probe's seed
    ours = _js_pixels(decoder_page, pack(web.header("k"), web.blobs()), z)
    error = np.abs(ours - torch_pixels(model, z)).max()
    assert error <= PIXEL_BOUND, f"{name}: max abs pixel difference {error:.2e}"


@pytest.mark.browser
@pytest.mark.parametrize("dtype", ["int16", "float16", "float32"])
def test_each_weight_format_decodes_as_its_rounded_weights_do(decoder_page, dtype):
    """Every format and layer (dense, tanh, transposed convolution), exactly: a wrong index would be far off."""
    torch.manual_seed(0)
    for model in (MLPVAE(3, hidden=(16, 8), activation="tanh"), ConvVAE(3)):
        web = export_decoder(model, probes=8, dtype=dtype)
        z = probe_latents(3, 20, seed=2)
        ours = _js_pixels(decoder_page, pack(web.header("k"), web.blobs()), z)
        assert np.abs(ours - browser_pixels(model, z, dtype)).max() < 1e-6


@pytest.mark.browser
def test_crafted_text_reaches_the_board_as_text_and_nothing_runs(chromium):
    torch.manual_seed(0)
    web = export_decoder(MLPVAE(2, hidden=(8,)), probes=8)
    dims = [browser_model.Dim(0, CRAFTED, True), browser_model.Dim(1, "z1", True)]
    board = browser_model.Board(CRAFTED, dims, np.zeros(2), CRAFTED, 4.0, np.zeros((28, 28)), CRAFTED, None)
    page = chromium.new_page()
    page.set_content(f"<html><body>{browser_model._HTML}</body></html>")
    mount = """async ([js, packed]) => {
      const url = URL.createObjectURL(new Blob([js], { type: "text/javascript" }));
      const board = (await import(url)).default, bin = atob(packed), data = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
      board({ parentElement: document.body, data, setTriggerValue: () => {}, setStateValue: () => {} });
    }"""
    page.evaluate(
        mount, [browser_model.BOARD_JS, browser_support.b64(browser_model.board_payload(web, "k", board, True))]
    )
    page.wait_for_selector(".vae-board[data-frames]", timeout=10_000)
    assert page.locator(".slider .name").first.text_content() == CRAFTED
    assert page.locator("figcaption").first.text_content() == CRAFTED
    assert CRAFTED in page.locator("canvas.digit").nth(1).get_attribute("aria-label")
    assert page.locator(".vae-board img, .vae-board script").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    page.close()


# --- The explorer on a fresh server ---------------------------------------------------------------------------

BOARD = ".vae-board[data-frames]"  # drawn at least once
CRAFTED_RUN = '<img src=x onerror="window.__pwned = 1">'  # a file name may hold all of this, but no "/"


@contextlib.contextmanager
def _app(tmp_path, files: dict[str, str], **env: str):
    """A fresh server on a folder of shipped runs copied under new names (``files``: name -> shipped run)."""
    folder = tmp_path / f"runs-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name, source in files.items():
        shutil.copy(ROOT / "checkpoints" / f"{source}.pt", folder / f"{name}.pt")
    (folder / "shipped.json").write_text(json.dumps({"runs": list(files)}))
    settings = {"VAE_CHECKPOINT_DIR": str(folder), "VAE_DATA_DIR": str(tmp_path / "no-data"), "VAE_OFFLINE": "1"}
    with running_app({**settings, **env}) as (url, _):
        yield url


def _visitor(chromium, url: str, board: bool = True):
    """A new browser context whose first request is a deep link to the explorer; with the data frames its page
    sends over Streamlit's websocket, counted from the start."""
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent: list[object] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.goto(url + "/explorer")
    page.get_by_role("heading", name="Latent explorer").wait_for(timeout=90_000)
    if board:
        page.locator(BOARD).wait_for(timeout=60_000)
    settle(page)
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
    return page, sent


def _expect(locator):
    """Playwright's ``expect`` (imported once a fixture has found playwright)."""
    from playwright.sync_api import expect

    return expect(locator)


def _z(page) -> list[float]:
    return [float(v) for v in page.locator(BOARD).get_attribute("data-z").split()]


def _digit(page) -> str:
    return page.locator("canvas.digit").nth(1).evaluate("canvas => canvas.toDataURL()")


def _drag(page, box: dict, points: list[tuple[float, float]]) -> list[bool]:
    """Press at the first of ``points`` (fractions of ``box``), move through the rest and release. Waits for the
    board's next frame after every move; answers, for each move, whether the script was idle (no rerun)."""
    idle = browser_support.move_through(page, box, points, BOARD, lambda: page.locator(IDLE).count() == 1)
    page.mouse.up()
    return idle


@pytest.mark.browser
def test_the_explorer_redraws_on_every_drag_event_with_no_message_to_the_server(chromium, tmp_path):
    with _app(tmp_path, {"mlp-d2-b1": "mlp-d2-b1"}) as url:
        page, sent = _visitor(chromium, url)
        assert _z(page) == [0.0, 0.0], "the origin is the default start"
        before, quiet = _digit(page), len(sent)
        plane = page.locator("canvas.plane").bounding_box()
        idle = _drag(page, plane, [(0.5 + 0.02 * i, 0.5 - 0.01 * i) for i in range(16)])
        assert all(idle) and len(sent) == quiet, f"{len(sent) - quiet} messages to the server during the drag"
        limit = float(page.locator(".slider input").first.get_attribute("max"))  # the plane spans ±limit too
        assert _z(page)[0] == pytest.approx(0.6 * limit, abs=0.1) and _z(page)[0] > 1.0
        assert _z(page)[1] == pytest.approx(0.3 * limit, abs=0.1) and _digit(page) != before
        slider = page.locator(".slider input").first.bounding_box()
        moved = _z(page)
        idle = _drag(page, slider, [(0.5, 0.5), *[(0.5 - 0.03 * i, 0.5) for i in range(1, 9)]])
        assert all(idle) and len(sent) == quiet and _z(page) != moved, "the slider moved the point, on the client"
        _tab_keeps_the_point_and_gets_lost_weights_again(page)

        page.get_by_role("button", name="Back to the start point").click()
        _expect(page.locator(BOARD)).to_have_attribute("data-z", "0.000 0.000", timeout=5_000)
        page.get_by_text("a digit mean").click()  # moving on is the server's: the board starts from the mean
        _expect(page.locator(BOARD)).not_to_have_attribute("data-z", "0.000 0.000", timeout=30_000)
        assert len(sent) > quiet
        mean = _z(page)

        page.reload()  # a new session: the weights come again and the board starts afresh
        page.locator(BOARD).wait_for(timeout=60_000)
        settle(page)
        assert _z(page) == [0.0, 0.0] and page.locator(ERRORS).count() == 0
        _drag(page, plane, [(0.5, 0.5), (0.3, 0.3)])
        stranger, _ = _visitor(chromium, url)  # another visitor's board is their own
        assert _z(stranger) == [0.0, 0.0] and _z(page) != [0.0, 0.0] and _z(page) != mean


def _tab_keeps_the_point_and_gets_lost_weights_again(page) -> None:
    """Away to Home and back: the board comes back where it was left. Then the tab loses its weights, and the
    next rerun (the manifold toggle) finds it asking for them once and drawing again."""
    where = _z(page)
    goto(page, "Home", "VAE Lab")
    goto(page, "Latent explorer")
    page.locator(BOARD).wait_for(timeout=30_000)
    assert _z(page) == where
    page.evaluate("() => globalThis.__vaeLabModels.clear()")
    frames = page.locator(BOARD).get_attribute("data-frames")
    page.get_by_text("Show the decoded manifold underneath").click()
    _expect(page.locator(BOARD)).not_to_have_attribute("data-frames", frames, timeout=30_000)
    assert page.evaluate("() => globalThis.__vaeLabModels.size") == 1 and _z(page) == where


@pytest.mark.browser
def test_a_model_over_the_bound_keeps_the_server_sliders(chromium, tmp_path):
    with _app(tmp_path, {"mlp-d2-b1": "mlp-d2-b1"}, **{MAX_WEB_ENV: "0"}) as url:
        page, _ = _visitor(chromium, url, board=False)
        sliders = page.get_by_test_id("stSlider").filter(has_text="· KL").get_by_role("slider")
        _expect(sliders).to_have_count(2, timeout=30_000)
        image = page.locator("[data-testid=stImage] img").last
        image.wait_for(timeout=30_000)
        settle(page)
        assert page.locator(".vae-board").count() == 0
        before = image.get_attribute("src")
        sliders.first.focus()
        sliders.first.press("ArrowRight")
        _expect(image).not_to_have_attribute("src", before, timeout=30_000)


@pytest.mark.browser
def test_a_crafted_run_name_cannot_inject_script_into_the_explorer(chromium, tmp_path):
    with _app(tmp_path, {CRAFTED_RUN: "mlp-d2-b1"}) as url:
        page, _ = _visitor(chromium, url)
        assert CRAFTED_RUN in page.locator("canvas.digit").nth(1).get_attribute("aria-label")
        assert page.locator("img[src=x]").count() == 0, "the run's name became markup"
        assert page.evaluate("() => window.__pwned") is None
