"""The interpolation's scrubber in the browser (#39): the path maths of ``ui/browser_path.js`` held to
``vae.analysis.latents`` in headless Chromium, the scrubber on a fresh server (a drag redraws with no message to the server,
and its ends are the class means, decoded), the weights shared with the explorer's board, and crafted text that
stays text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests import browser_support
from tests.browser_support import ERRORS, IDLE, ROOT, goto, running_app
from ui import browser_model
from vae.analysis import precompute
from vae.analysis.latents import (
    INTERPOLATION_METHODS,
    chain_path,
    decode_images,
    interpolate_chain,
    lerp,
    slerp,
)
from vae.browser.model import PIXEL_BOUND, export_decoder, unpack
from vae.data.datasets import load_test_split
from vae.model.networks import MLPVAE
from vae.runfile import load_run

PWNED = "window.__pwned = 1"
CRAFTED = f'<img src=x onerror="{PWNED}"><script>{PWNED}</script>'
PATH_TOLERANCE = 1e-5  # float64 in the browser against torch's float32
BOARD = ".vae-path[data-frames]"  # drawn at least once
SCRUBBER = ".vae-path input[type=range]"
# Imports a module's source (a blob URL, as the component loads its own) and keeps it on window under ``name``.
IMPORT = """async ([js, name]) => {
  const url = URL.createObjectURL(new Blob([js], { type: "text/javascript" }));
  window[name] = await import(url);
}"""
MOUNT = """([name, packed, asked]) => {
  const bin = atob(packed), data = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
  const setTriggerValue = (trigger, value) => window[asked].push([trigger, value]);
  window[name].default({ parentElement: document.body, data, setTriggerValue, setStateValue: () => {} });
}"""


def _blank_with_modules(chromium, html: str = ""):
    """A blank page holding the scrubber's module as ``window.path`` and the explorer's board as ``window.board``."""
    page = chromium.new_page()
    page.set_content(f"<html><body>{html}</body></html>")
    page.evaluate(IMPORT, [browser_model.PATH_JS, "path"])
    page.evaluate(IMPORT, [browser_model.BOARD_JS, "board"])
    return page


def _seeded_means(dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Ten class means ``[10, D]``, seeded: class 0 at the origin (slerp's zero-norm fallback), class 5 a multiple of
    class 3 (its parallel fallback), class 8 a hair off class 7 (4e-6 rad at d = 2: just over the fallback's 1e-6). For d = 2,
    classes 1 and 3 are 0.6° short of opposite: there torch's float32 slerp is 1.3e-3 off its own float64 (1/sin ω
    magnifies float32's rounding), so the pairs are held to vae.analysis.latents in float64."""
    generator = torch.Generator().manual_seed(dim)
    means = torch.randn(10, dim, generator=generator) * 1.5
    means[0] = 0
    means[5] = 2.5 * means[3]
    means[8] = means[7] + 1e-4 * torch.randn(dim, generator=generator)
    return means.to(dtype)


# --- The payload, in Python -----------------------------------------------------------------------------------


def _tiny_web():
    torch.manual_seed(0)
    return export_decoder(MLPVAE(2, hidden=(8,)), probes=8)


def test_the_scrubber_is_sent_only_numbers_and_plain_text_and_the_weights_once():
    web = _tiny_web()
    walk = browser_model.Walk(CRAFTED, [CRAFTED + "\x00\n", "x" * 1000], np.array([[0.5, -1.0], [2.0, 0.25]]), "linear")
    plane = (np.zeros((5, 2)), np.arange(5))
    header, blobs = unpack(browser_model.path_payload(web, "k1", walk, with_model=True, plane=plane))
    text = [header["title"], *header["names"]]
    assert all(s.isprintable() and len(s) <= browser_model.MAX_TEXT for s in text)
    assert header["names"][0] == CRAFTED and header["title"] == CRAFTED  # as text: the scrubber sets textContent
    assert header["means"] == [[0.5, -1.0], [2.0, 0.25]] and header["method"] == "linear"
    assert set(blobs) == {"weights", "scales", "biases", "points", "labels"}, "the plane rides with the weights"
    assert header["model"]["key"] == "k1"
    header, blobs = unpack(browser_model.path_payload(web, "k1", walk, with_model=False))
    assert "model" not in header and blobs == {}, "the weights go once per session"
    bad = [
        browser_model.Walk("t", ["a", "b"], np.array([[np.nan, 0], [0, 0]]), "linear"),
        browser_model.Walk("t", ["a", "b"], np.zeros((2, 2)), "cubic"),
        browser_model.Walk("t", ["a"], np.zeros((1, 2)), "linear"),
        browser_model.Walk("t", ["a", "b"], np.zeros((2, 3)), "linear"),
    ]
    for walk in bad:
        with pytest.raises(ValueError):
            browser_model.path_payload(web, "k1", walk, with_model=False)


def test_a_new_chain_resets_the_scrubber_but_a_new_method_does_not():
    web = _tiny_web()
    walk = browser_model.Walk("t", ["9", "4"], np.array([[0.5, -1.0], [2.0, 0.25]]), "linear")
    first = unpack(browser_model.path_payload(web, "k", walk, False))[0]["token"]
    spherical = browser_model.Walk("t", ["9", "4"], walk.means, "spherical")
    assert unpack(browser_model.path_payload(web, "k", spherical, False))[0]["token"] == first
    other = browser_model.Walk("t", ["9", "2"], np.array([[0.5, -1.0], [1.0, 0.0]]), "linear")
    assert unpack(browser_model.path_payload(web, "k", other, False))[0]["token"] != first


# --- The path maths against vae.analysis.latents, in the browser --------------------------------------------------------


@pytest.fixture(scope="module")
def path_page(chromium):
    page = _blank_with_modules(chromium)
    yield page
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # float32: the strip's own path
@pytest.mark.parametrize("dim", [2, 20])
@pytest.mark.parametrize("method", INTERPOLATION_METHODS)
def test_the_browser_walks_the_chain_as_vae_analysis_does(path_page, dim, method, dtype):
    means = _seeded_means(dim, dtype)
    chain, steps = [9, 4, 0, 2, 3, 5, 3, 7, 8, 1, 1], 9  # past the origin, parallel, near-parallel and equal ends
    path = chain_path(interpolate_chain(means, chain, steps, method))  # [(K - 1)(S - 1) + 1, D]
    places = [k / (steps - 1) for k in range(len(path))]
    answer = path_page.evaluate(
        "([ends, method, places]) => places.map((s) => window.path.VaeLabPath.at(ends, method, s))",
        [means[chain].tolist(), method, places],
    )
    ours = np.array([a["z"] for a in answer])
    assert np.isfinite(ours).all() and np.abs(ours - path.numpy()).max() <= PATH_TOLERANCE
    legs = [a["leg"] for a in answer]
    assert legs[0] == 0 and legs[-1] == len(chain) - 2 and legs == sorted(legs), "one leg after another"
    assert answer[-1]["t"] == 1 and answer[steps - 1] == {**answer[steps - 1], "leg": 1, "t": 0}


@pytest.mark.browser
@pytest.mark.parametrize("dim", [2, 20])
def test_lerp_and_slerp_match_torch_between_any_two_means(path_page, dim):
    """Every pair of the seeded means, at fractions off the strip's grid, and slerp's fallbacks among them."""
    means = _seeded_means(dim, torch.float64)
    t = torch.rand(13, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    pairs = [(a, b) for a in range(10) for b in range(10)]
    expected = {"lerp": [lerp(means[a], means[b], t) for a, b in pairs]}
    expected["slerp"] = [slerp(means[a], means[b], t) for a, b in pairs]
    for name, points in expected.items():
        answer = path_page.evaluate(
            "([name, ends, t]) => ends.map(([a, b]) => t.map((f) => window.path.VaeLabPath[name](a, b, f)))",
            [name, [[means[a].tolist(), means[b].tolist()] for a, b in pairs], t.tolist()],
        )
        ours, torch_points = np.array(answer), torch.stack(points).numpy()
        assert np.isfinite(ours).all(), f"{name}: a fallback is missing"
        assert np.abs(ours - torch_points).max() <= PATH_TOLERANCE, name


# --- The scrubber alone: crafted text, the missing weights, the weights shared with the explorer ------------------


def _mount(page, name: str, packed: bytes) -> list:
    page.evaluate("() => { window.asked = []; }")
    page.evaluate(MOUNT, [name, browser_support.b64(packed), "asked"])
    return page.evaluate("() => window.asked")


@pytest.mark.browser
def test_crafted_text_reaches_the_scrubber_as_text_and_nothing_runs(chromium):
    web = _tiny_web()
    walk = browser_model.Walk(CRAFTED, [CRAFTED, "4", CRAFTED], np.array([[0.0, 1.0], [1.0, 0.0], [-1, 0]]), "linear")
    page = _blank_with_modules(chromium, browser_model._PATH_HTML)
    _mount(page, "path", browser_model.path_payload(web, "k", walk, with_model=True))
    page.wait_for_selector(BOARD, timeout=10_000)
    assert page.locator(".vae-path .leg").text_content() == f"{CRAFTED} → 4"
    assert page.locator(".vae-path .stops span").all_text_contents() == [CRAFTED, "4", CRAFTED]
    assert CRAFTED in page.locator("canvas.digit").get_attribute("aria-label")
    assert page.locator(".vae-path img, .vae-path script").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    page.close()


@pytest.mark.browser
def test_the_scrubber_asks_once_for_lost_weights_and_uses_the_explorers(chromium):
    web = _tiny_web()
    walk = browser_model.Walk("run", ["9", "4"], np.array([[0.0, 1.0], [1.0, 0.0]]), "spherical")
    html = browser_model._PATH_HTML
    page = _blank_with_modules(chromium, html)
    assert _mount(page, "path", browser_model.path_payload(web, "k", walk, False)) == [["missing", "k"]]
    assert _mount(page, "path", browser_model.path_payload(web, "k", walk, False)) == [], "asked once"
    assert page.locator(BOARD).count() == 0
    assert _mount(page, "path", browser_model.path_payload(web, "k", walk, True)) == []
    page.wait_for_selector(BOARD, timeout=10_000)
    page.evaluate("() => globalThis.__vaeLabModels.clear()")  # lost again, later: asked again
    assert _mount(page, "path", browser_model.path_payload(web, "k", walk, False)) == [["missing", "k"]]
    page.close()

    page = _blank_with_modules(chromium, browser_model._HTML + html)
    board = browser_model.Board(
        "run", [browser_model.Dim(0, "z0", True)], np.zeros(2), "s", 4.0, np.zeros((28, 28)), ""
    )
    page.evaluate(
        """([packed]) => { const bin = atob(packed), data = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
        window.board.default({ parentElement: document.querySelector(".vae-board").parentElement, data,
          setTriggerValue: () => {}, setStateValue: () => {} }); }""",
        [browser_support.b64(browser_model.board_payload(web, "k", board, with_model=True))],
    )
    page.wait_for_selector(".vae-board[data-frames]", timeout=10_000)
    assert _mount(page, "path", browser_model.path_payload(web, "k", walk, False)) == [], "the explorer's weights"
    page.wait_for_selector(BOARD, timeout=10_000)
    page.close()


# --- The Interpolation page on a fresh server -------------------------------------------------------------------

CRAFTED_RUN = '<img src=x onerror="window.__pwned = 1">'  # a file name may hold all of this, but no "/"


def _expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def _settle_idle(page) -> None:
    page.wait_for_selector(IDLE, timeout=90_000)


def _visitor(chromium, url: str, path: str, heading: str):
    """A new browser context whose first request is a deep link to ``path``; with the data frames its page sends
    over Streamlit's websocket, and the sizes of those it receives, counted from the start."""
    page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sent: list[object] = []
    received: list[int] = []

    def watch(ws) -> None:
        ws.on("framesent", lambda frame: sent.append(frame))
        ws.on("framereceived", lambda frame: received.append(len(frame)))

    page.on("websocket", watch)
    page.goto(url + path)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=120_000)
    _settle_idle(page)
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
    return page, sent, received


def _pixels(page) -> np.ndarray:
    """The scrubber's last decoded picture ``[784]``, in [0, 1], as the browser computed it (before the canvas's
    rounding to bytes)."""
    return np.array(page.locator(".vae-path").evaluate("root => Array.from(root.__vaePath.pixels)"))


def _place(page) -> float:
    return float(page.locator(BOARD).get_attribute("data-s"))


def _scrub(page, fractions: list[float]) -> list[bool]:
    """Press the scrubber's thumb at the path's start, drag it through ``fractions`` of its track and release.
    Waits for the board's next frame after every move; answers, for each move, whether the script was idle."""
    page.locator(SCRUBBER).scroll_into_view_if_needed()  # below the strip: off screen until scrolled to
    board, box = page.locator(BOARD), page.locator(SCRUBBER).bounding_box()
    thumb = 8  # px: Chromium's thumb is 16 px wide, so its centre runs from 8 px in to 8 px short of the end
    x = lambda f: box["x"] + thumb + f * (box["width"] - 2 * thumb)
    y = box["y"] + box["height"] / 2
    page.mouse.move(x(0), y)
    page.mouse.down()
    idle = []
    for f in fractions:
        frames = board.get_attribute("data-frames")
        page.mouse.move(x(f), y)
        _expect(board).not_to_have_attribute("data-frames", frames, timeout=5_000)  # drawn on the move itself
        idle.append(page.locator(IDLE).count() == 1)
    page.mouse.up()
    return idle


def _server_means(run_path: Path, monkeypatch) -> tuple[torch.Tensor, object]:
    """The class means ``[C, D]`` the server computed for the run at ``run_path`` (the embedded stand-in digits),
    and the run."""
    monkeypatch.setenv("VAE_DATA_DIR", str(run_path.parent.parent / "no-data"))
    monkeypatch.setenv("VAE_OFFLINE", "1")
    run = load_run(run_path)
    data = load_test_split(run.config.dataset)
    mu = precompute.test_latents(run_path, lambda: run.model, data)
    return torch.from_numpy(precompute.class_means(mu, data)), run


def _decoded(run, z: torch.Tensor) -> np.ndarray:
    return decode_images(run.model, z.reshape(1, -1))[0].reshape(-1).numpy()


@pytest.mark.browser
def test_scrubbing_the_path_decodes_in_the_browser_with_no_message_to_the_server(chromium, tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    run_path = folder / f"{CRAFTED_RUN}.pt"
    shutil.copy(ROOT / "checkpoints" / "mlp-d2-b1.pt", run_path)
    (folder / "shipped.json").write_text(json.dumps({"runs": [CRAFTED_RUN]}))
    env = {"VAE_CHECKPOINT_DIR": str(folder), "VAE_DATA_DIR": str(tmp_path / "no-data"), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _):
        page, sent, received = _visitor(chromium, url, "/interpolation", "Interpolation")
        page.locator(BOARD).wait_for(timeout=60_000)
        means, run = _server_means(run_path, monkeypatch)
        chain = [9, 4, 2, 6, 1]  # the page's default chain
        weights = len(export_decoder(run.model).weights)
        assert max(received) > weights, "the weights came with the first visit"
        assert page.locator(".vae-path .leg").text_content() == "9 → 4"
        assert _place(page) == 0 and np.abs(_pixels(page) - _decoded(run, means[9])).max() <= PIXEL_BOUND

        quiet, start = len(sent), _pixels(page)
        idle = _scrub(page, [0.05 * i for i in range(1, 8)] + [1.1])  # to the far end, past the track
        assert all(idle) and len(sent) == quiet, f"{len(sent) - quiet} messages to the server during the scrub"
        assert _place(page) == len(chain) - 1 and page.locator(".vae-path .leg").text_content() == "6 → 1"
        assert np.abs(_pixels(page) - _decoded(run, means[1])).max() <= PIXEL_BOUND
        idle = _scrub(page, [0.4, 0.42])  # back to the middle of the second leg: 4 → 2
        assert all(idle) and len(sent) == quiet and not np.array_equal(_pixels(page), start)
        s = _place(page)
        leg, t = int(s), s - int(s)
        assert page.locator(".vae-path .leg").text_content() == "4 → 2" and 0 < t < 1
        assert page.locator(".vae-path .fraction").text_content() == f"t = {t:.2f}"
        z = lerp(means[chain[leg]], means[chain[leg + 1]], torch.tensor([t]))[0]
        assert np.abs(_pixels(page) - _decoded(run, z)).max() <= PIXEL_BOUND

        page.get_by_text("spherical", exact=True).first.click()  # a rerun of the strip: the scrubber keeps its place
        _expect(page.locator(BOARD)).to_have_attribute("data-method", "spherical", timeout=60_000)
        _settle_idle(page)
        z = slerp(means[chain[leg]], means[chain[leg + 1]], torch.tensor([t]))[0]
        assert _place(page) == s and np.abs(_pixels(page) - _decoded(run, z)).max() <= PIXEL_BOUND

        assert CRAFTED_RUN in page.locator(".vae-path canvas.digit").get_attribute("aria-label")
        assert page.locator("img[src=x]").count() == 0, "the run's name became markup"
        assert page.evaluate("() => window.__pwned") is None

        page.evaluate("() => globalThis.__vaeLabModels.clear()")  # the tab lost its weights: it asks, once
        frames = page.locator(BOARD).get_attribute("data-frames")
        page.get_by_text("linear", exact=True).first.click()
        _expect(page.locator(BOARD)).to_have_attribute("data-method", "linear", timeout=60_000)
        _expect(page.locator(BOARD)).not_to_have_attribute("data-frames", frames, timeout=60_000)
        assert page.evaluate("() => globalThis.__vaeLabModels.size") == 1

        seen = len(received)  # on to the explorer: its board finds the weights and its plane's points in the tab
        goto(page, "Latent explorer")
        page.locator(".vae-board[data-frames]").wait_for(timeout=60_000)
        assert max(received[seen:]) < weights, "the explorer was sent the weights again"
        assert page.evaluate("() => [...globalThis.__vaeLabModels.values()][0].labels.length") > 0

        stranger, _, received = _visitor(chromium, url, "/explorer", "Latent explorer")  # the other way round
        stranger.locator(".vae-board[data-frames]").wait_for(timeout=60_000)
        seen = len(received)
        goto(stranger, "Interpolation")
        stranger.locator(BOARD).wait_for(timeout=60_000)
        assert max(received[seen:]) < weights, "the scrubber was sent the weights again"
        assert stranger.locator(ERRORS).count() == 0


@pytest.mark.browser
def test_a_decoder_over_the_bound_keeps_the_strip_alone(chromium, tmp_path):
    from tests.browser_support import one_run_server_env
    from vae.browser.model import MAX_WEB_ENV

    with running_app({**one_run_server_env(tmp_path), MAX_WEB_ENV: "0"}) as (url, _):
        page, _, _ = _visitor(chromium, url, "/interpolation", "Interpolation")
        page.locator("[data-testid=stImage] img").first.wait_for(timeout=60_000)
        _settle_idle(page)
        assert page.locator(".vae-path").count() == 0 and page.get_by_text("Scrub along").count() == 0
