"""Burda et al.'s setup in a real browser: a shared link presets it, it trains, and Diagnostics sets the
shipped reproduction beside the paper's figures."""

from __future__ import annotations

import shutil

import pytest

from tests.browser_support import ERRORS, ROOT, chromium_page, goto, playwright_or_skip, running_app, settle

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()
expect = sync_api.expect  # retries until the value is there: an expander's fields are drawn after the click

LINK = (
    "/train?dataset=binarized-mnist-5k&hidden=32,16&activation=tanh&latent_dim=4&lr_schedule=burda"
    "&adam_eps=0.0001&batch_size=100&epochs=2"
)


def test_burdas_setup_from_a_link_trains_and_the_shipped_run_meets_the_paper(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(ROOT / "checkpoints" / "burda-vae-k1.pt", runs)
    (runs / "shipped.json").write_text('{"runs": ["burda-vae-k1"]}')
    env = {"VAE_CHECKPOINT_DIR": str(runs), "VAE_DATA_DIR": str(tmp_path / "no-data"), "VAE_OFFLINE": "1"}
    with running_app(env) as (url, _), chromium_page() as page:
        page.goto(url + LINK)  # the first request: a deep link on a fresh server
        page.get_by_role("heading", name="Train a VAE").first.wait_for(timeout=60_000)
        settle(page)
        form = page.get_by_test_id("stForm")
        expect(form.get_by_role("combobox", name="Dataset")).to_have_value("binarized-mnist-5k", timeout=30_000)
        form.get_by_text("MLP layers and optimiser").click()
        expect(form.get_by_role("textbox", name="MLP hidden layers")).to_have_value("32,16", timeout=30_000)
        expect(form.get_by_role("combobox", name="MLP activation")).to_have_value("tanh", timeout=30_000)
        expect(form.get_by_role("combobox", name="Learning-rate schedule")).to_have_value("burda", timeout=30_000)
        form.get_by_label("Run name", exact=True).fill("burda-tiny")
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("Finished and saved").wait_for(timeout=180_000)
        settle(page)
        assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
        assert (runs / "burda-tiny.pt").exists()

        goto(page, "Diagnostics")
        page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="burda-vae-k1").first.click()
        settle(page)
        page.get_by_role("heading", name="Against the published figure").wait_for(timeout=60_000)
        main = page.get_by_test_id("stMain")
        assert main.get_by_text("the paper's 86.76").count() == 1
        assert main.get_by_text("the paper's 19").count() == 1
        assert main.get_by_text("Burda, Grosse & Salakhutdinov 2015", exact=False).count() >= 1
        assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
