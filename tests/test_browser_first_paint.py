"""#41: a new visitor's first page is on screen before the browser fetches plotly.js, and its charts follow by
themselves; later pages of the same session draw their charts at once (ui.charts). In headless Chromium, each
first request a deep link to a freshly started server."""

from __future__ import annotations

import json

import pytest

from tests.browser_support import ERRORS, chromium, drawn, goto, one_run_server_env, playwright_or_skip, running_app
from ui.charts import PLACEHOLDER

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()

# Before any script of the page runs: note when the placeholder first shows, and when a chart is first drawn.
WATCH = """
window.__seen = {};
new MutationObserver(() => {
    const now = performance.now();
    if (!window.__seen.placeholder && document.body && document.body.innerText.includes(PLACEHOLDER)) window.__seen.placeholder = now;
    if (!window.__seen.chart && document.querySelector('.js-plotly-plot')) window.__seen.chart = now;
}).observe(document, {childList: true, subtree: true, characterData: true});
""".replace("PLACEHOLDER", json.dumps(PLACEHOLDER))

PLOTLY_FETCHED = """() => {
    const chunk = performance.getEntriesByType('resource').find(e => e.name.includes('PlotlyChart'));
    return chunk ? chunk.startTime : null;
}"""


@pytest.mark.parametrize("path, heading", [("diagnostics", "Diagnostics"), ("runs", "Runs & loss curves")])
def test_a_first_visit_draws_the_page_before_plotly_and_then_its_charts(tmp_path, path, heading):
    with running_app(one_run_server_env(tmp_path)) as (url, _), chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.add_init_script(WATCH)
        page.goto(f"{url}/{path}")
        page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
        page.wait_for_function("() => document.querySelector('.js-plotly-plot') && window.__seen.chart", timeout=60_000)
        drawn(page)
        seen = page.evaluate("() => window.__seen")
        fetched = page.evaluate(PLOTLY_FETCHED)
        assert seen.get("placeholder") is not None, seen  # the first paint held a box where the chart goes
        assert fetched is not None and seen["placeholder"] < fetched < seen["chart"], (seen, fetched)
        assert page.get_by_text(PLACEHOLDER).count() == 0  # every box was replaced by its chart
        assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()

        # The same session, another page with a chart: drawn at once, no box first.
        page.evaluate("() => { window.__seen = {}; }")
        goto(page, "Latent space")
        page.wait_for_function("() => window.__seen.chart", timeout=60_000)
        assert "placeholder" not in page.evaluate("() => window.__seen")
