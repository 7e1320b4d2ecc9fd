"""The first minute on a cold server: every page as the first visit of a new browser session, on a fresh server.

    VAE_DATA_DIR=../shared/data python bench/app_speed.py --cold [--servers 3] [--baseline REV]

For each fresh server (``--servers`` of them), Home is opened first, as the very first request; then every other
page, each in a browser context of its own (a new session), in the sidebar's order. A time runs from the
navigation to the page's heading on screen and its script idle, so that a page that computes (Latent space: encode
the test set, t-SNE) is timed to its content. With ``--baseline REV``, the same is done, server for server, on a
checkout of REV (a git worktree), and both are printed side by side: before and after, in one invocation.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, settle, start_server

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


def first_visits(browser, root: Path) -> dict[str, float]:
    """One fresh server: each page's first visit, in a session of its own, in seconds."""
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
            settle(page, timeout=120_000)
            times[heading] = time.perf_counter() - began
            context.close()
    finally:
        server.terminate()
        server.wait()
    return times


def _row(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"


def measure(roots: dict[str, Path], servers: int) -> dict[str, dict[str, list[float]]]:
    """Every page's first visits on ``servers`` fresh servers of each checkout, taking turns."""
    results: dict[str, dict[str, list[float]]] = {label: {} for label in roots}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(servers):
            for label, root in roots.items():
                for heading, seconds in first_visits(browser, root).items():
                    results[label].setdefault(heading, []).append(seconds)
                print(f"server {i + 1}, {label}: done", flush=True)
        browser.close()
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="cold-server first visits of every page")
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also measure this revision, server for server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vae-cold-") as scratch:
        roots = {"now": ROOT}
        if args.baseline:
            baseline = Path(scratch) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=ROOT, check=True)
            roots = {"baseline": baseline, "now": ROOT}
        try:
            results = measure(roots, args.servers)
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
    for _, heading in PAGES:
        cells = [f"{label}: {_row(results[label][heading]) if heading in results[label] else '—'}" for label in roots]
        print(f"{heading:20} " + " | ".join(cells))
