"""The app under load (issue #35): many sessions walking the pages while two trainings run, on one server.

    python bench/load.py [--sessions 50] [--pages 12] [--at-once 5]

A fresh server on a copy of the shipped runs. Two browser sessions start a training each on Train (a conv model
on the embedded digits, long enough to outlast the walk); then ``--sessions`` sessions, ``--at-once`` of them at a
time, each in a browser context of its own, open Home and click through ``--pages`` pages of the sidebar in a
seeded order. A page run is timed from the click to the script idle with its heading drawn. Reported: the page runs,
the script exceptions seen (``stException``: 0 are allowed), and the median and p95 of a page run. Every number
comes from this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, running_app

# (sidebar title, heading): every page of the router.
PAGES = [
    ("Home", "VAE Lab"),
    ("Train", "Train a VAE"),
    ("Runs & loss curves", "Runs & loss curves"),
    ("Latent space", "Latent space"),
    ("Latent explorer", "Latent explorer"),
    ("Interpolation", "Interpolation"),
    ("Generate", "Generate"),
    ("Diagnostics", "Diagnostics"),
    ("Disentanglement", "Disentanglement"),
    ("Draw a digit", "Draw a digit"),
]
TRAINING = "/train?arch=conv&latent_dim=2&epochs=200&dataset=mnist-5k"
EXCEPTION = "[data-testid='stException']"
TIMEOUT_MS = 180_000


async def _settle(page) -> None:
    await page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)


async def start_training(browser, url: str, name: str) -> None:
    """A session that starts a training and leaves its tab open (its live view redraws every few seconds)."""
    page = await (await browser.new_context()).new_page()
    await page.goto(url + TRAINING)
    await page.get_by_role("heading", name="Train a VAE").first.wait_for(timeout=TIMEOUT_MS)
    await _settle(page)
    await page.get_by_label("Run name", exact=True).fill(name)
    await page.get_by_role("button", name="Start training").click()
    await page.get_by_text(f"Your training: {name}").wait_for(timeout=TIMEOUT_MS)


async def session(browser, url: str, pages: int, seed: int, times: list[float], exceptions: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.get_by_role("heading", name="VAE Lab").first.wait_for(timeout=TIMEOUT_MS)
        await _settle(page)
        rng = random.Random(seed)
        for _ in range(pages):
            title, heading = rng.choice(PAGES)
            began = time.perf_counter()
            await page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
            await page.get_by_role("heading", name=heading).first.wait_for(timeout=TIMEOUT_MS)
            await _settle(page)
            times.append(time.perf_counter() - began)
            for text in await page.locator(EXCEPTION).all_inner_texts():
                exceptions.append(f"{title}: {text[:200]}")
    finally:
        await context.close()


async def main(args: argparse.Namespace) -> None:
    runs = Path(tempfile.mkdtemp(prefix="vae-load-"))
    for item in (ROOT / "checkpoints").iterdir():
        if item.suffix == ".pt" or item.name == "shipped.json" or item.name == ".views":
            (shutil.copytree if item.is_dir() else shutil.copy)(item, runs / item.name)
    env = {"VAE_CHECKPOINT_DIR": str(runs), "VAE_OFFLINE": "1"}
    times: list[float] = []
    exceptions: list[str] = []
    with running_app(env) as (url, _):
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            await asyncio.gather(*(start_training(browser, url, f"load-{i}") for i in range(2)))
            began = time.perf_counter()
            gate = asyncio.Semaphore(args.at_once)

            async def one(i: int) -> None:
                async with gate:
                    await session(browser, url, args.pages, i, times, exceptions)

            await asyncio.gather(*(one(i) for i in range(args.sessions)))
            wall = time.perf_counter() - began
            await browser.close()
    shutil.rmtree(runs, ignore_errors=True)
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{args.sessions} sessions × {args.pages} page runs, {args.at_once} at once, 2 trainings running")
    print(f"page runs: {len(times)} in {wall:.0f} s; script exceptions: {len(exceptions)}")
    print(
        f"page run (click to idle): median {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s"
    )
    for line in exceptions[:10]:
        print("  exception:", line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--at-once", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
