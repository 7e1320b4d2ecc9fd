"""#40's lecture pictures and scales in a real browser, as a teacher meets them: each page's first request a deep
link to a freshly started server, on a run trained for the test."""

from __future__ import annotations

import pytest

from tests.browser_support import ERRORS, choose, chromium_page, playwright_or_skip, running_app, settle

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()

EPOCHS = 3
TILE_PX = 28 * 2  # the strip's scale: each pixel a 2 × 2 block


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_data):
    from vae.model.config import VAEConfig
    from vae.training.runs import train_run

    directory = tmp_path_factory.mktemp("lecture_runs")
    for _ in train_run(
        VAEConfig(dataset="mnist-5k", latent_dim=2, epochs=EPOCHS), "lecture", directory, data=small_data
    ):
        pass
    env = {"VAE_CHECKPOINT_DIR": str(directory), "VAE_DATA_DIR": str(tmp_path_factory.mktemp("no")), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _):
        yield url


@pytest.fixture
def page(server):
    with chromium_page() as page:  # a new browser each time: every page below is a first visit
        yield page


def _first_visit(page, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    settle(page)
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()


def test_the_chain_strip_is_one_labelled_leg_a_row(page, server):
    _first_visit(page, server + "/interpolation", "Interpolation")
    caption = page.get_by_text("one row per leg").first
    caption.wait_for()
    text = caption.inner_text()  # "33 images: 9 → 4 → 2 → 6 → 1, lerp, one row per leg"
    legs = text.split(":", 1)[1].split(",")[0].count("→")
    steps = (int(text.split(" images")[0].split()[-1]) - 1) // legs + 1
    page.locator("[data-testid=stImage] img").first.wait_for()
    sizes = page.locator("[data-testid=stImage] img").evaluate_all("i => i.map(x => [x.naturalWidth, x.naturalHeight])")
    width, height = max(sizes, key=lambda size: size[1])  # the strip: the tallest picture on the page
    assert legs >= 2 and legs * TILE_PX <= height < (legs + 1) * TILE_PX, (legs, height)  # a row per leg
    assert width >= steps * TILE_PX + TILE_PX // 2, (steps, width)  # and a margin that names the leg ("9 → 4")


def test_a_traversal_from_a_test_image_shows_that_image_first(page, server):
    _first_visit(page, server + "/generate", "Generate")
    page.get_by_text("a test image", exact=True).click()
    page.get_by_text("first, test image 0").wait_for(timeout=30_000)
    settle(page)


def test_the_loss_curves_start_after_the_first_epoch_until_asked(page, server):
    _first_visit(page, server + "/runs", "Runs & loss curves")
    toggle = page.get_by_text("Show the first epoch")
    toggle.wait_for()
    # The x-axis' left end, read afresh from the DOM each time (a redraw replaces the chart's element).
    left_end = "() => { const p = document.querySelector('.js-plotly-plot'); return p && p._fullLayout ? p._fullLayout.xaxis.range[0] : null; }"
    page.wait_for_function(left_end)
    titles = page.evaluate(
        "() => document.querySelector('.js-plotly-plot')._fullLayout.annotations.map(a => a.text).join(' | ')"
    )
    assert "Reconstruction (nats per image)" in titles and "KL (nats per image)" in titles, titles
    cropped = page.evaluate(left_end)
    toggle.click()
    page.wait_for_function(f"c => {{ const now = ({left_end})(); return now !== null && now < c; }}", arg=cropped)


@pytest.mark.parametrize("size", [56, 336])
def test_the_walk_exports_at_the_chosen_size_with_sharp_pixels(page, server, size):
    """#40: the strip (PNG) and the walk (GIF) are downloaded at the size chosen, each pixel of a digit a block."""
    from PIL import Image

    _first_visit(page, server + "/interpolation", "Interpolation")
    choose(page, "Export size", f"{size} px a frame")
    settle(page)
    with page.expect_download(timeout=90_000) as png:
        page.get_by_role("button", name="Download the strip (PNG)").click()
    with page.expect_download(timeout=90_000) as gif:
        page.get_by_role("button", name="Download GIF").click()
    strip = Image.open(png.value.path())
    walk = Image.open(gif.value.path())
    assert walk.size == (size, size) and walk.n_frames > 2
    frame = walk.convert("L")
    block = size // 28
    pixels = frame.load()
    for y in range(0, size, block):  # nearest-neighbour: each block one grey level
        for x in range(0, size, block):
            assert len({pixels[x + i, y + j] for i in range(block) for j in range(block)}) == 1
    assert strip.height >= 4 * size and strip.width >= 8 * size, strip.size  # 4 legs × 8 steps by default
