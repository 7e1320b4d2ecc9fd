"""What a plotly chart costs a new visitor's browser, whatever the app: a two-line Streamlit app, drawn with and
without one small chart, each time in a new browser context (an empty cache), as bench/cold_start.py opens pages.

    python bench/plotly_floor.py [--tries 5]

The difference is the floor under the first visit of any page with a plotly chart: the browser fetches, compiles
and starts plotly.js before it draws the chart, on the same cores as the server here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, drawn, free_port, start_server

APP = textwrap.dedent(
    """
    import plotly.graph_objects as go
    import streamlit as st

    st.title("Floor")
    chart = st.query_params.get("chart")
    if chart == "plotly":
        st.plotly_chart(go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2])))
    elif chart == "vega":
        st.bar_chart({"y": [3, 1, 2]})
    elif chart == "svg":
        st.image('<svg xmlns="http://www.w3.org/2000/svg" width="90" height="30"><rect width="30" height="30"/></svg>')
    else:
        st.write("no chart")
    """
)


def visit(browser, url: str) -> float:
    """Seconds from navigating a new browser context to ``url`` to every element drawn."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    began = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", name="Floor").wait_for(timeout=60_000)
    drawn(page)
    seconds = time.perf_counter() - began
    context.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"none": [], "plotly": [], "vega": [], "svg": []}
    with tempfile.TemporaryDirectory(prefix="vae-floor-") as scratch, sync_playwright() as p:
        (Path(scratch) / "streamlit_app.py").write_text(APP)
        port = free_port()
        server = start_server({}, port, root=Path(scratch))
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for _ in range(args.tries):
                for chart, values in times.items():
                    values.append(visit(browser, f"http://127.0.0.1:{port}/?chart={chart}"))
        finally:
            browser.close()
            server.terminate()
            server.wait()
    for label, values in times.items():
        print(f"chart {label:7} median {statistics.median(values):.2f} s, range {min(values):.2f}-{max(values):.2f} s")


if __name__ == "__main__":
    main()
