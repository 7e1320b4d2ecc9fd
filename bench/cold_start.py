"""The first minute on a cold server: every page as the first visit of a new browser session, on a fresh server.

    VAE_DATA_DIR=../shared/data python bench/app_speed.py --cold [--servers 3] [--baseline REV] [--pause 2]

For each fresh server (``--servers`` of them), Home is opened first, as the very first request; then every other
page, each in a browser context of its own (a new session, an empty browser cache), in the sidebar's order,
``--pause`` seconds after the one before was drawn (2 by default: a person reads a page before opening the next;
0: at once, which leaves the second page to wait for the warm-up's torch). A time runs from the navigation to the
page's content on screen: its heading, its script idle and every element drawn (no placeholder left waiting for its
component's code, every image loaded, every plotly chart drawn). Below each page: its first screen (a new visitor's
first run draws a box where each plotly chart goes and its charts in a rerun, ``ui.charts``: the page's first run
drawn, boxes and all), and the time to the script's end alone. Then, on the
same server, a person switches pages with the default run loaded (``tests.browser_support.TOUR``, twice), and the
server's RSS is read at the end.

What is measured is a clean checkout of the last commit (a git worktree), as a host deploys it: each server starts
with the files git has, and the views that an earlier server computed are removed first (``git clean -X``). With
``--baseline REV``, a checkout of REV is measured the same way, server for server, and both are printed side by
side: before and after, in one invocation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DRAWN,
    IDLE,
    drawn,
    free_port,
    rss_mb,
    settle,
    start_server,
    switch_all,
)
from ui.charts import FIRST_PAINT_MARK, PLACEHOLDER

# The first run drawn: everything in it on screen, and either the component that ends a first run with boxes has
# marked the browser's timeline (ui.charts: it comes last, two frames after it is mounted) or the script is idle
# with no box (a page without charts).
FIRST_SCREEN = f"""() => ({DRAWN})() && (performance.getEntriesByName({json.dumps(FIRST_PAINT_MARK)}).length > 0
    || (document.querySelector({json.dumps(IDLE)}) !== null && !document.body.innerText.includes({json.dumps(PLACEHOLDER)})))"""
# Every chart drawn: the script idle, nothing waiting for its code (a chart while plotly.js loads), no box left,
# and each plotly chart laid out.
CHARTS_DRAWN = f"""() => ({DRAWN})() && document.querySelector({json.dumps(IDLE)}) !== null
    && !document.body.innerText.includes({json.dumps(PLACEHOLDER)})
    && Array.from(document.querySelectorAll('.js-plotly-plot')).every(p => p._fullLayout)"""

# (URL path, the heading that says the page is drawn), Home first: the very first request.
PAGES = [
    ("", "VAE Lab"),
    ("train", "Train a VAE"),
    ("runs", "Runs & loss curves"),
    ("latent", "Latent space"),
    ("explorer", "Latent explorer"),
    ("interpolation", "Interpolation"),
    ("generate", "Generate"),
    ("diagnostics", "Diagnostics"),
    ("disentanglement", "Disentanglement"),
    ("draw", "Draw a digit"),
]


def first_visits(browser, root: Path, pause: float) -> dict[str, float]:
    """One fresh server of a clean checkout: each page's first visit, in a session of its own, in seconds."""
    subprocess.run(["git", "clean", "-fdqX", "--", "checkpoints"], cwd=root, check=True)  # what a server computed
    port = free_port()
    # PYTHONPATH: the server's pages import the ``vae`` and ``ui`` of that checkout.
    server = start_server({"VAE_OFFLINE": "1", "PYTHONPATH": str(root)}, port, root=root)
    times = {}
    try:
        for path, heading in PAGES:
            if path and not (root / "pages" / f"{path}.py").exists():
                continue  # a page this checkout does not have yet (a baseline from before it)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            began = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/{path}")
            page.get_by_role("heading", name=heading).first.wait_for(timeout=120_000)
            page.wait_for_function(FIRST_SCREEN, timeout=120_000)
            times[FIRST + heading] = time.perf_counter() - began
            page.wait_for_selector(IDLE, timeout=120_000)  # the first run's end
            times[SCRIPT_IDLE + heading] = time.perf_counter() - began
            drawn(page, timeout=120_000)
            page.wait_for_function(CHARTS_DRAWN, timeout=120_000)
            times[heading] = time.perf_counter() - began
            time.sleep(pause)
            context.close()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        settle(page, timeout=120_000)
        switch_all(page)  # each page once more in this session: its first switches fill its caches
        times[SWITCH] = statistics.median(switch_all(page) + switch_all(page))
        times[RSS] = rss_mb(server.pid)
        page.close()
    finally:
        server.terminate()
        server.wait()
    return times


SWITCH = "page switch, median"
RSS = "server RSS (MB)"
FIRST = "  first screen: "  # the same visit, timed to its first run on screen
SCRIPT_IDLE = "  script idle: "  # the same visit, timed only to its script's end (what this bench timed before)


def _row(values: list[float], unit: str = "s") -> str:
    return f"median {statistics.median(values):.2f} {unit}, max {max(values):.2f} {unit}"


def measure(roots: dict[str, Path], servers: int, pause: float) -> dict[str, dict[str, list[float]]]:
    """Every page's first visits on ``servers`` fresh servers of each checkout, taking turns."""
    results: dict[str, dict[str, list[float]]] = {label: {} for label in roots}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(servers):
            for label, root in roots.items():
                for heading, seconds in first_visits(browser, root, pause).items():
                    results[label].setdefault(heading, []).append(seconds)
                print(f"server {i + 1}, {label}: done", flush=True)
        browser.close()
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="cold-server first visits of every page")
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also measure this revision, server for server")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds on each page before the next (2)")
    args = parser.parse_args(argv)
    revisions = {"baseline": args.baseline, "now": "HEAD"} if args.baseline else {"now": "HEAD"}
    with tempfile.TemporaryDirectory(prefix="vae-cold-") as scratch:
        roots = {label: Path(scratch) / label for label in revisions}
        for label, rev in revisions.items():
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(roots[label]), rev], cwd=ROOT, check=True)
        try:
            results = measure(roots, args.servers, args.pause)
        finally:
            for root in roots.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(root)], cwd=ROOT, check=False)
    print(f"{args.servers} fresh servers each; {args.pause:g} s on each page before the next")
    for heading in [row for _, title in PAGES for row in (title, FIRST + title, SCRIPT_IDLE + title)] + [SWITCH, RSS]:
        unit = "MB" if heading == RSS else "s"
        cells = [
            f"{label}: {_row(results[label][heading], unit) if heading in results[label] else '—'}" for label in roots
        ]
        print(f"{heading:36} " + " | ".join(cells))
