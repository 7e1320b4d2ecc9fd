"""How the app feels in a real browser: cold start, page switches, interpolation redraws, memory.

    VAE_DATA_DIR=../shared/data python bench/app_speed.py

Drives `streamlit run` with Debian's chromium. Every figure is the median of several tries; a
try ends when the new content is drawn and the script is idle again. Memory is the server's
RSS after every page has been opened with full MNIST and a run loaded.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, goto, settle, start_server

PAGES = [("Home", "VAE Lab"), ("Runs & loss curves", None), ("Latent space", None), ("Interpolation", None),
         ("Generate", None), ("Train", "Train a VAE")]  # fmt: skip


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(action) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def cold_start(browser, env: dict[str, str]) -> float:
    """From launching the server to the first page drawn and idle."""
    port = free_port()
    began = time.perf_counter()
    server = start_server(env, port)
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{port}")
    page.get_by_role("heading", name="VAE Lab").first.wait_for(timeout=60_000)
    settle(page)
    elapsed = time.perf_counter() - began
    page.close()
    server.terminate()
    server.wait()
    return elapsed


def switch_all(page) -> list[float]:
    return [timed(lambda t=title, h=heading: goto(page, t, h)) for title, heading in PAGES]


def redraw_interpolation(page, steps: int) -> float:
    slider = page.get_by_test_id("stSlider").filter(has_text="Steps per pair").get_by_role("slider")

    def act() -> None:
        slider.press("ArrowRight")
        page.get_by_text(f"{4 * (steps - 1) + 1} images:").wait_for()
        settle(page)

    return timed(act)


def main() -> None:
    # The shipped runs, linked into a scratch folder, so the run trained below never lands in the repo.
    scratch = Path(tempfile.mkdtemp(prefix="vae-bench-runs-"))
    for path in (ROOT / "checkpoints").iterdir():
        (scratch / path.name).symlink_to(path)
    env = {"VAE_CHECKPOINT_DIR": str(scratch)}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        starts = [cold_start(browser, env) for _ in range(3)]
        print(f"cold start to an interactive first page: median {statistics.median(starts):.2f} s  "
              f"{[round(s, 2) for s in starts]}  (target <= 5 s)")  # fmt: skip

        port = free_port()
        server = start_server(env, port)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}")
        settle(page)
        page.get_by_test_id("stSelectbox").first.click()
        page.get_by_role("option", name="conv-d20-b1").first.click()
        settle(page)
        first = switch_all(page)  # loads the run, the dataset and the latents: not a switch a user repeats
        warm = switch_all(page) + switch_all(page)
        print(f"first visit of each page (cold caches): {[round(t, 2) for t in first]}")
        print(f"page switch with a run loaded: median {statistics.median(warm):.2f} s, max {max(warm):.2f} s "
              "(target <= 1 s)")  # fmt: skip

        goto(page, "Interpolation")
        redraws = [redraw_interpolation(page, steps) for steps in range(9, 16)]
        print(f"interpolation redraw: median {1000 * statistics.median(redraws):.0f} ms "
              f"{[round(1000 * r) for r in redraws]} (target <= 300 ms)")  # fmt: skip
        print(f"server RSS with full MNIST and a run loaded: {rss_mb(server.pid):.0f} MB (target <= 1024 MB)")

        # Other pages while a training runs in the background of another session.
        trainer = browser.new_page()
        trainer.goto(f"http://127.0.0.1:{port}")
        settle(trainer)
        goto(trainer, "Train", "Train a VAE")
        trainer.get_by_test_id("stSelectbox").filter(has_text="Architecture").click()
        trainer.get_by_role("option", name="conv").click()
        trainer.get_by_label("Run name", exact=True).fill(f"bench-{int(time.time())}")
        trainer.get_by_test_id("stFormSubmitButton").get_by_role("button").click()
        trainer.get_by_test_id("stProgress").wait_for()
        busy = switch_all(page) + switch_all(page)
        print(f"page switch while another session trains: median {statistics.median(busy):.2f} s, "
              f"max {max(busy):.2f} s (target <= 1 s)")  # fmt: skip
        trainer.get_by_role("button", name="Stop").click()
        print(f"server RSS at the end: {rss_mb(server.pid):.0f} MB")
        server.terminate()
        server.wait()
        browser.close()
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
