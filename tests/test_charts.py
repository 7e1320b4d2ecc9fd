"""A session's first run draws boxes where its plotly charts go and the component that asks for the rerun drawing
them (``ui.charts``), in AppTest, which runs no JavaScript: the next run, whatever brings it, draws the charts. The
order in a real browser (the page painted, then plotly.js fetched, then the charts) is
``tests/test_browser_first_paint.py``'s."""

from __future__ import annotations

import pytest

from tests.conftest import APP
from ui.charts import PLACEHOLDER


def _boxes(at) -> int:
    return sum(PLACEHOLDER in c.value for c in at.caption)


@pytest.fixture
def first_run(run_dir, monkeypatch):
    """A new session whose first request is ``page`` (a deep link), run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))

    def run(page: str):
        at = AppTest.from_file(APP, default_timeout=60)
        at.switch_page(page)
        return at.run()

    return run


@pytest.mark.parametrize("page, charts", [("pages/diagnostics.py", 1), ("pages/latent.py", 1), ("pages/runs.py", 2)])
def test_a_first_run_draws_boxes_then_the_next_run_draws_the_charts(first_run, page, charts):
    at = first_run(page)
    assert not at.exception and not at.get("plotly_chart")
    assert _boxes(at) == charts and len(at.get("bidi_component")) == 1  # the component that asks, once
    at.run()  # the rerun the component asks for once the browser has painted
    assert not at.exception and len(at.get("plotly_chart")) == charts
    assert _boxes(at) == 0 and not at.get("bidi_component")


def test_a_first_run_without_charts_leaves_the_session_drawing_them(first_run):
    at = first_run("pages/home.py")
    assert not at.get("bidi_component") and _boxes(at) == 0
    at.switch_page("pages/diagnostics.py")
    at.run()
    assert at.get("plotly_chart") and _boxes(at) == 0
